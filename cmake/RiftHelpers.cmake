# Warnings and sanitizers live on INTERFACE targets that every rift target links PRIVATE.
add_library(rift_warnings INTERFACE)
target_compile_options(rift_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter
                                               -Werror=unused-result -Werror=return-type)
add_library(rift_sanitizers INTERFACE)
if(RIFT_SANITIZE)
  target_compile_options(rift_sanitizers INTERFACE -fsanitize=address,undefined
                                                   -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(rift_sanitizers INTERFACE -fsanitize=address,undefined)
endif()

# rift_add_library(NAME SOURCES a.cc b.cc DEPS x y PRIVATE_DEPS z)
function(rift_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} rift_warnings
                                                           rift_sanitizers)
endfunction()

# rift_add_executable(NAME SOURCES ... DEPS ...)
function(rift_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} rift_warnings rift_sanitizers)
endfunction()

# rift_add_test(NAME SOURCES ... DEPS ... LABELS unit [TIMEOUT s])
function(rift_add_test name)
  if(NOT RIFT_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest_main GTest::gmock rift_warnings
                                        rift_sanitizers)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
