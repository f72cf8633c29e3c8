# Install rules and the Debian package (CPack). Included at the end of the top-level
# CMakeLists.txt, once every program target exists.
#
#   cmake --install <build> --prefix <prefix>     programs in <prefix>/bin, units in
#                                                 <prefix>/lib/systemd/system naming
#                                                 <prefix>/bin, setup scripts and templates in
#                                                 <prefix>/share/ringrift
#   cpack -G DEB --config <build>/CPackConfig.cmake   ringrift_<version>_<arch>.deb (prefix /usr)
#
# The units are generated at install time, from systemd/*.service.in, for the prefix actually
# installed to: `cmake --install --prefix`, or /usr inside the package.

set(RIFT_PROGRAMS ringrift-p2p riftctl ringrift-resilience rift-c4 ringrift-job-shim)
set(RIFT_PACKAGE_MAINTAINER "RingRift maintainers <root@localhost>"
    CACHE STRING "Maintainer field of the .deb")

set(rift_installed "")
foreach(prog IN LISTS RIFT_PROGRAMS)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    list(APPEND rift_installed ${prog})
  endif()
endforeach()

# Units for the services whose program is installed.
set(rift_units "")
foreach(prog ringrift-p2p ringrift-resilience)
  if(${prog} IN_LIST rift_installed)
    list(APPEND rift_units ${prog})
  endif()
endforeach()
install(CODE "
  set(RIFT_UNITS \"${rift_units}\")
  set(RIFT_UNIT_TEMPLATES \"${PROJECT_SOURCE_DIR}/systemd\")
  set(RIFT_UNIT_STAGING \"${PROJECT_BINARY_DIR}/packaging/units\")
  set(RIFT_BINDIR_REL \"${CMAKE_INSTALL_BINDIR}\")
")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/RiftInstallUnits.cmake)

# The setup scripts with the templates they render (they find them relative to themselves), and
# the documented example configuration.
set(rift_share ${CMAKE_INSTALL_DATADIR}/ringrift)
install(PROGRAMS deploy/setup_node_resilience.sh deploy/setup_node_resilience_macos.sh
        DESTINATION ${rift_share}/deploy)
install(FILES deploy/lib/setup_common.sh DESTINATION ${rift_share}/deploy/lib)
install(FILES systemd/ringrift-p2p.service.in systemd/ringrift-resilience.service.in
        DESTINATION ${rift_share}/systemd)
install(FILES launchd/com.ringrift.p2p.plist.in launchd/com.ringrift.resilience.plist.in
        DESTINATION ${rift_share}/launchd)
install(FILES config/node.conf.example config/distributed_hosts.yaml.example
        DESTINATION ${rift_share}/config)
file(GLOB rift_docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${rift_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- CPack: one .deb --------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME ringrift)
set(CPACK_PACKAGE_VENDOR "RingRift")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "RingRift cluster control plane: node daemon, resilience watchdog and riftctl")
set(CPACK_PACKAGE_DESCRIPTION
    "ringrift-p2p (membership, leader election, HTTP API, data plane), ringrift-resilience \
(keeps the daemon up, fallback selfplay) and riftctl, with systemd units and the per-node \
setup script (/usr/share/ringrift/deploy/setup_node_resilience.sh).")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_CONTACT "${RIFT_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${RIFT_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Depends: from the shared libraries the programs link (dpkg-shlibdeps), so a node that installs
# the package has everything the daemon needs to start.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "curl, cron, logrotate")
# Install into a staging DESTDIR with the real prefix, so the units generated at install time
# name /usr/bin, not the staging directory.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
