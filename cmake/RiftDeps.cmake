# Every dependency comes from Debian packages (see docs/ and the README's setup).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(libssh QUIET)
if(RIFT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# Debian ships cpp-httplib as a compiled library with only a pkg-config file, whose cflags carry
# the CPPHTTPLIB_*_SUPPORT defines: every translation unit including <httplib.h> needs them or
# object layouts differ from the library's.
pkg_check_modules(HTTPLIB IMPORTED_TARGET cpp-httplib)
if(HTTPLIB_FOUND)
  add_library(rift_httplib INTERFACE)
  target_link_libraries(rift_httplib INTERFACE PkgConfig::HTTPLIB)
else()
  find_package(httplib REQUIRED)
  add_library(rift_httplib INTERFACE)
  target_link_libraries(rift_httplib INTERFACE httplib::httplib)
endif()

pkg_check_modules(SYSTEMD IMPORTED_TARGET libsystemd)
