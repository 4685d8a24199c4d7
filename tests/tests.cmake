# Tests, all run by ctest: C unit tests (tests/unit/test_*.c), busted specs
# through the corder Lua module (tests/spec/), end-to-end specs that start
# the real binary and talk TCP (tests/e2e/), and example clients.
file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  # Tests of the policy host need Lua; the engine's own tests run without it.
  if(name MATCHES "^test_policy")
    target_link_libraries(${name} PRIVATE corder_core PkgConfig::LUA)
  else()
    target_link_libraries(${name} PRIVATE corder_engine)
  endif()
  add_test(NAME unit/${name} COMMAND ${name})
  set_tests_properties(unit/${name} PROPERTIES ENVIRONMENT
    "CORDER_ROOT=${CMAKE_SOURCE_DIR}")
endforeach()
# The policy budget's other clock: where the watchdog thread cannot run
# (CORDER_POLICY_WATCHDOG=0 stands for that), the count hook keeps it.
foreach(name test_policy test_policy_watchdog)
  add_test(NAME unit/${name}_counted COMMAND ${name})
  set_tests_properties(unit/${name}_counted PROPERTIES ENVIRONMENT
    "CORDER_ROOT=${CMAKE_SOURCE_DIR};CORDER_POLICY_WATCHDOG=0")
endforeach()

# The durability specs' failing disk (tests/lib/failsync.c), LD_PRELOADed
# into a server: a plain shared object, found by the specs in CORDER_BUILD.
add_library(failsync MODULE ${CMAKE_SOURCE_DIR}/tests/lib/failsync.c)
set_target_properties(failsync PROPERTIES PREFIX "")
target_link_libraries(failsync PRIVATE ${CMAKE_DL_LIBS})
# The sender thread's spec's slow reader (tests/lib/slowsend.c), the same way.
add_library(slowsend MODULE ${CMAKE_SOURCE_DIR}/tests/lib/slowsend.c)
set_target_properties(slowsend PROPERTIES PREFIX "")
target_link_libraries(slowsend PRIVATE ${CMAKE_DL_LIBS})

# busted runs under lua5.4 explicitly (plain `busted` may be 5.1).
set(BUSTED lua5.4 /usr/bin/busted)
set(SPEC_ENV
  "LUA_CPATH=${CMAKE_BINARY_DIR}/?.so\;\;"
  "LUA_PATH=${CMAKE_SOURCE_DIR}/tests/?.lua\;${CMAKE_SOURCE_DIR}/tests/lib/?.lua\;\;"
  "CORDER_BIN=${CMAKE_BINARY_DIR}/corder"
  "CORDER_ROOT=${CMAKE_SOURCE_DIR}"
  "CORDER_BUILD=${CMAKE_BINARY_DIR}")
if(CORDER_SANITIZE)
  # The module is loaded into a plain lua5.4, so the ASan runtime must come first.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE ASAN_LIB OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libubsan.so
                  OUTPUT_VARIABLE UBSAN_LIB OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND SPEC_ENV "LD_PRELOAD=${ASAN_LIB}:${UBSAN_LIB}"
       "ASAN_OPTIONS=detect_leaks=0" "CORDER_SANITIZED=1")
endif()

# The private PostgreSQL cluster of the @pg entries (SPEC C1).
# In /tmp: the user postgres must reach it (PostgreSQL does not run as root).
string(MD5 PG_TEST_TAG "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${PG_TEST_TAG}" 0 10 PG_TEST_TAG)
set(PG_TEST_DIR /tmp/corder-pg-${PG_TEST_TAG})
add_test(NAME pg/start COMMAND bash ${CMAKE_SOURCE_DIR}/tests/lib/pg.sh start ${PG_TEST_DIR})
add_test(NAME pg/stop COMMAND bash ${CMAKE_SOURCE_DIR}/tests/lib/pg.sh stop ${PG_TEST_DIR})
set_tests_properties(pg/start PROPERTIES FIXTURES_SETUP pg TIMEOUT 600)
set_tests_properties(pg/stop PROPERTIES FIXTURES_CLEANUP pg)

foreach(dir spec e2e policies)
  file(GLOB SPECS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${dir}/*_spec.lua)
  foreach(spec ${SPECS})
    get_filename_component(name ${spec} NAME_WE)
    if(NOT name MATCHES "^pg_")
      add_test(NAME ${dir}/${name}
               COMMAND ${BUSTED} --output=TAP ${spec}
               WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
      set_tests_properties(${dir}/${name} PROPERTIES ENVIRONMENT "${SPEC_ENV}" TIMEOUT 600)
    endif()
    # SPEC C1: the HQ, sync and chain specs run again with HQ on PostgreSQL, in a
    # private cluster (tests/lib/pg.sh) that the fixture starts once and
    # stops at the end. Specs named pg_* need PostgreSQL and run only so.
    # Under the sanitizers only those: the second run of the others takes
    # CI minutes and covers the same C as the pg_* specs (hq_store_pg.c).
    if(CORDER_SANITIZE)
      set(PG_AGAIN "^pg_")
    else()
      set(PG_AGAIN "^(hq|sync|pg|chain)_")
    endif()
    if(dir STREQUAL "e2e" AND name MATCHES "${PG_AGAIN}")
      add_test(NAME ${dir}/${name}@pg
               COMMAND ${BUSTED} --output=TAP ${spec}
               WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
      set_tests_properties(${dir}/${name}@pg PROPERTIES
        ENVIRONMENT "${SPEC_ENV};CORDER_HQ_BACKEND=pg;CORDER_PG_DIR=${PG_TEST_DIR}"
        FIXTURES_REQUIRED pg TIMEOUT 600)
    endif()
  endforeach()
endforeach()
