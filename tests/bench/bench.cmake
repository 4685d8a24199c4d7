# tests/bench/bench.cmake: micro-benchmarks, built with everything and run by
# hand or by `make bench` (not by ctest: timings are not pass/fail).
# Included from CMakeLists.txt: include(tests/bench/bench.cmake)
add_executable(policy_bench ${CMAKE_SOURCE_DIR}/tests/bench/policy_bench.c)
target_link_libraries(policy_bench PRIVATE corder_core PkgConfig::LUA)
