# Runs at install time (install(SCRIPT) from RiftPackaging.cmake): renders systemd/*.service.in
# for the prefix being installed to and installs the units into <prefix>/lib/systemd/system.
# Set before this runs: RIFT_UNITS, RIFT_UNIT_TEMPLATES, RIFT_UNIT_STAGING, RIFT_BINDIR_REL.
if(IS_ABSOLUTE "${RIFT_BINDIR_REL}")
  set(BINDIR "${RIFT_BINDIR_REL}")
else()
  set(BINDIR "${CMAKE_INSTALL_PREFIX}/${RIFT_BINDIR_REL}")
endif()
foreach(unit IN LISTS RIFT_UNITS)
  configure_file("${RIFT_UNIT_TEMPLATES}/${unit}.service.in" "${RIFT_UNIT_STAGING}/${unit}.service"
                 @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${RIFT_UNIT_STAGING}/${unit}.service")
endforeach()
