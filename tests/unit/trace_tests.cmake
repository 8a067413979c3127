# Tests of the trace layer (trace/ and the `report` command, controller/cli/report.cpp).
# Included from tests/CMakeLists.txt with:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/unit/trace_tests.cmake)
# Options: GP_TRACE_SANITIZE (default ON) builds the reader mutation test with
# ASan+UBSan; GP_FUZZ (default OFF, clang only) adds the libFuzzer target
# gp_trace_reader_fuzzer.
find_package(GTest REQUIRED)
include(GoogleTest)

set(GP_TRACE_TESTS_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
set(GP_TRACE_SRC_ROOT ${CMAKE_CURRENT_LIST_DIR}/../..)

add_executable(gp_trace_tests
  ${CMAKE_CURRENT_LIST_DIR}/trace_event_json_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_writer_reader_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_histogram_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_report_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_perfetto_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_cmd_report_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trace_test_util.cpp
)
target_precompile_headers(gp_trace_tests PRIVATE <gtest/gtest.h> <nlohmann/json.hpp> <fmt/format.h>)
# gp_cli for the `report` command the CLI tests run.
target_link_libraries(gp_trace_tests PRIVATE gp_trace gp_cli GTest::gtest_main)
gp_fast_test_build(gp_trace_tests 8)
target_compile_definitions(gp_trace_tests PRIVATE GP_TRACE_TEST_DATA="${GP_TRACE_TESTS_ROOT}/data")
gtest_discover_tests(gp_trace_tests DISCOVERY_TIMEOUT 60)

# The reader must survive any input: a seeded mutation test with a fixed
# budget, built from the sources with sanitizers so a bad access fails loudly.
set(GP_TRACE_LIB_SOURCES
  ${GP_TRACE_SRC_ROOT}/trace/event_json.cpp ${GP_TRACE_SRC_ROOT}/trace/format.cpp
  ${GP_TRACE_SRC_ROOT}/trace/reader.cpp ${GP_TRACE_SRC_ROOT}/trace/writer.cpp
  ${GP_TRACE_SRC_ROOT}/trace/histogram.cpp ${GP_TRACE_SRC_ROOT}/trace/analysis.cpp
  ${GP_TRACE_SRC_ROOT}/trace/report.cpp ${GP_TRACE_SRC_ROOT}/trace/perfetto.cpp
  ${GP_TRACE_SRC_ROOT}/trace/event.cpp)
option(GP_TRACE_SANITIZE "Build the trace reader mutation test with ASan and UBSan" ON)
add_executable(gp_trace_reader_mutation_test
  ${GP_TRACE_TESTS_ROOT}/fuzz/trace_reader_mutation_test.cpp
  ${GP_TRACE_TESTS_ROOT}/fuzz/trace_reader_fuzz_target.cpp
  ${GP_TRACE_LIB_SOURCES})
target_include_directories(gp_trace_reader_mutation_test PRIVATE
  ${GP_TRACE_SRC_ROOT} ${GP_TRACE_TESTS_ROOT}/unit)
target_precompile_headers(gp_trace_reader_mutation_test PRIVATE <nlohmann/json.hpp> <fmt/format.h>)
target_link_libraries(gp_trace_reader_mutation_test PRIVATE
  nlohmann_json::nlohmann_json fmt::fmt GTest::gtest_main)
target_compile_definitions(gp_trace_reader_mutation_test PRIVATE GP_TRACE_TEST_DATA="${GP_TRACE_TESTS_ROOT}/data")
# One unity batch: the nine sanitized sources then parse json and fmt once.
set_target_properties(gp_trace_reader_mutation_test PROPERTIES UNITY_BUILD ${GP_UNITY_BUILD} UNITY_BUILD_BATCH_SIZE 16)
if(GP_TRACE_SANITIZE)
  # -O1, the sanitizers' own advice, whatever the build type: at -O3 these
  # nine sanitized sources cost ~20 s more of the suite's build than the
  # 3 s the test then saves in its run.
  target_compile_options(gp_trace_reader_mutation_test PRIVATE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1)
  target_link_options(gp_trace_reader_mutation_test PRIVATE -fsanitize=address,undefined)
endif()
add_test(NAME trace_reader_mutation COMMAND gp_trace_reader_mutation_test)
set_tests_properties(trace_reader_mutation PROPERTIES TIMEOUT 300)

option(GP_FUZZ "Build libFuzzer targets (needs clang)" OFF)
if(GP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GP_FUZZ=ON needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_executable(gp_trace_reader_fuzzer
    ${GP_TRACE_TESTS_ROOT}/fuzz/trace_reader_libfuzzer.cpp
    ${GP_TRACE_TESTS_ROOT}/fuzz/trace_reader_fuzz_target.cpp
    ${GP_TRACE_LIB_SOURCES})
  target_include_directories(gp_trace_reader_fuzzer PRIVATE
    ${GP_TRACE_SRC_ROOT} ${GP_TRACE_TESTS_ROOT}/unit)
  target_link_libraries(gp_trace_reader_fuzzer PRIVATE nlohmann_json::nlohmann_json fmt::fmt)
  target_compile_options(gp_trace_reader_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(gp_trace_reader_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
