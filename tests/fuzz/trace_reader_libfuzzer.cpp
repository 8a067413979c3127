// libFuzzer entry point (cmake -DGP_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++).
// Seed it with the golden traces:
//   ./gp_trace_reader_fuzzer -max_total_time=60 corpus/ tests/data/
#include "trace_reader_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gp::trace::fuzz::run_one(data, size);
  return 0;
}
