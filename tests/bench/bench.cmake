# tests/bench/bench.cmake: micro-benchmarks and the load tools of `make bench`
# (tests/bench/run.sh), built with everything and run by hand or by
# `make bench`. Timings are not pass/fail, with one exception: the
# regression guard bench/guard (tests/bench/guard.sh), a ratio to the
# storage limit with a floor, in the normal build only (the sanitizers slow
# the engine, not SQLite's fsync) and alone (RUN_SERIAL).
# Included from CMakeLists.txt: include(tests/bench/bench.cmake)
add_executable(policy_bench ${CMAKE_SOURCE_DIR}/tests/bench/policy_bench.c)
target_link_libraries(policy_bench PRIVATE corder_core PkgConfig::LUA)

# The load generator: N libevent connections driving a live `corder serve`.
add_executable(loadgen ${CMAKE_SOURCE_DIR}/tests/bench/loadgen.c)
target_link_libraries(loadgen PRIVATE PkgConfig::EVENT PkgConfig::JANSSON)

# The storage limit: the rows of order.create straight into SQLite.
add_executable(sqlite_limit ${CMAKE_SOURCE_DIR}/tests/bench/sqlite_limit.c)
target_link_libraries(sqlite_limit PRIVATE corder_core PkgConfig::LUA)

# Which B-trees a store's WAL frames belong to (docs/performance.md, "Where the WAL bytes go").
add_executable(wal_pages ${CMAKE_SOURCE_DIR}/tests/bench/wal_pages.c)
target_link_libraries(wal_pages PRIVATE PkgConfig::SQLITE)

# Fills a store with N orders (one real, the rest copied by SQL).
add_executable(prefill ${CMAKE_SOURCE_DIR}/tests/bench/prefill.c)
target_link_libraries(prefill PRIVATE corder_core PkgConfig::LUA)

# F12: order.find / customer.find timings on a store made by prefill --customers.
add_executable(find_bench ${CMAKE_SOURCE_DIR}/tests/bench/find_bench.c)
target_link_libraries(find_bench PRIVATE corder_core PkgConfig::LUA)
# HQ ingest: many stores uploading to one or several HQ processes at once.
add_executable(hq_ingest ${CMAKE_SOURCE_DIR}/tests/bench/hq_ingest.c)
target_link_libraries(hq_ingest PRIVATE Threads::Threads)

if(NOT CORDER_SANITIZE)
  # The floors make bench reads the two unmet targets against still floor them.
  add_test(NAME bench/floors COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bench/floors.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(bench/floors PROPERTIES LABELS bench TIMEOUT 300)
  add_test(NAME bench/guard COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bench/guard.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(bench/guard PROPERTIES LABELS bench RUN_SERIAL TRUE TIMEOUT 600)
endif()
