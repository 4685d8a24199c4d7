# tests/fuzz/fuzz.cmake: libFuzzer targets (clang), built only with
# -DCORDER_FUZZ=ON. Included from CMakeLists.txt after the core:
#   if(CORDER_FUZZ)
#     include(tests/fuzz/fuzz.cmake)
#   endif()
# tests/fuzz/run.sh also works without that line: it passes this file as
# CMAKE_PROJECT_INCLUDE, and the file then defers itself to the end of the
# top-level CMakeLists.txt, when corder_core exists.
if(NOT CORDER_FUZZ OR TARGET fuzz_dispatch)
  return()
endif()
if(NOT TARGET corder_core)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL include ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "CORDER_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
endif()

# The whole core is instrumented for coverage and checked by the sanitizers;
# only the fuzz targets link libFuzzer's main.
set(FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
               -fno-omit-frame-pointer -g)
# clang warns where gcc does not; -Werror stays for the gcc build.
target_compile_options(corder_engine PRIVATE ${FUZZ_FLAGS} -fsanitize=fuzzer-no-link -Wno-error)
target_compile_options(corder_core PRIVATE ${FUZZ_FLAGS} -fsanitize=fuzzer-no-link -Wno-error)
foreach(name dispatch policy upload)
  add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  target_compile_options(fuzz_${name} PRIVATE ${FUZZ_FLAGS} -fsanitize=fuzzer)
  target_compile_definitions(fuzz_${name} PRIVATE CORDER_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_${name} PRIVATE corder_core PkgConfig::LUA)
endforeach()
# The order document round trip (fuzz_order.c), a block of its own.
foreach(name order)
  add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  target_compile_options(fuzz_${name} PRIVATE ${FUZZ_FLAGS} -fsanitize=fuzzer)
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_${name} PRIVATE corder_core PkgConfig::LUA)
endforeach()
