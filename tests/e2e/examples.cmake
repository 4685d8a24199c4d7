# examples.cmake: builds examples/client.c and runs both example clients
# against a live server (tests/e2e/run_example.sh starts and stops it).
# Included from the top-level CMakeLists.txt after tests/tests.cmake.
add_executable(example_client ${CMAKE_SOURCE_DIR}/examples/client.c)
target_link_libraries(example_client PRIVATE PkgConfig::EVENT PkgConfig::JANSSON)

set(EXAMPLE_SEED ${CMAKE_SOURCE_DIR}/examples/seed.json)
if(NOT EXISTS ${EXAMPLE_SEED})
  set(EXAMPLE_SEED ${CMAKE_SOURCE_DIR}/tests/e2e/seed.json)
endif()
set(RUN_EXAMPLE sh ${CMAKE_SOURCE_DIR}/tests/e2e/run_example.sh $<TARGET_FILE:corder>
    ${EXAMPLE_SEED} ${CMAKE_SOURCE_DIR}/policies)

add_test(NAME examples/client_c COMMAND ${RUN_EXAMPLE} $<TARGET_FILE:example_client>)
add_test(NAME examples/client_lua
         COMMAND ${RUN_EXAMPLE} lua5.4 ${CMAKE_SOURCE_DIR}/examples/client.lua)
set_tests_properties(examples/client_c examples/client_lua PROPERTIES TIMEOUT 120)

# README.md's first session, run as written (with corder call).
add_test(NAME examples/readme_session
         COMMAND ${RUN_EXAMPLE} lua5.4 ${CMAKE_SOURCE_DIR}/tests/e2e/readme_session.lua
                 ${CMAKE_SOURCE_DIR}/README.md $<TARGET_FILE:corder>)
set_tests_properties(examples/readme_session PROPERTIES TIMEOUT 60)
