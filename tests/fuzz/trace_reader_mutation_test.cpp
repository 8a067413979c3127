// The reader's fuzz test for ctest: seeded mutations of the golden traces
// with a fixed budget, so every run executes the same inputs (a failure
// reproduces) and the suite's time stays bounded. Built with ASan+UBSan
// (GP_TRACE_SANITIZE) so a bad access aborts instead of passing silently.
//
// Mutations are both blind (bytes) and structure-aware (a JSON value of a
// line replaced by an extreme one), because a byte flip almost never gets
// past the JSON parser into the analyses.
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "trace_reader_fuzz_target.h"

namespace gp::trace::fuzz {
namespace {

using nlohmann::json;

constexpr std::uint32_t kSeed = 0x6770726d;  // fixed: the same inputs every run
constexpr int kIterations = 3000;

std::string slurp(const std::string& name) {
  std::ifstream in(std::string(GP_TRACE_TEST_DATA) + "/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + '\n';
  return s;
}

class Mutator {
 public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}

  std::string mutate(const std::string& seed_text) {
    switch (pick(8)) {
      case 0: return flip_bytes(seed_text);
      case 1: return truncate(seed_text);
      case 2: return shuffle_lines(seed_text);
      case 3: return duplicate_or_drop_line(seed_text);
      default: return replace_json_value(seed_text);  // the most productive one
    }
  }

 private:
  std::size_t pick(std::size_t n) { return n ? std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_) : 0; }

  std::string flip_bytes(std::string s) {
    for (std::size_t n = 1 + pick(8); n-- && !s.empty();) s[pick(s.size())] = static_cast<char>(pick(256));
    return s;
  }
  std::string truncate(const std::string& s) { return s.substr(0, pick(s.size() + 1)); }
  std::string shuffle_lines(const std::string& s) {
    auto v = lines_of(s);
    if (v.size() > 1) std::swap(v[pick(v.size())], v[pick(v.size())]);
    return joined(v);
  }
  std::string duplicate_or_drop_line(const std::string& s) {
    auto v = lines_of(s);
    if (v.empty()) return s;
    std::size_t i = pick(v.size());
    if (pick(2)) v.insert(v.begin() + static_cast<long>(i), v[i]);
    else v.erase(v.begin() + static_cast<long>(i));
    return joined(v);
  }

  json extreme_value() {
    static const json values[] = {
        0, 1, -1, 15, 16, 100, 101, 255, 256, 65535, 4294967295ull, 4294967296ull, 18446744073709551615ull,
        -9223372036854775807ll - 1, 1.5, -0.0, 1e300, "", "0x", "0xffffffffffffffff", "0x10000000000000000",
        "queue_add", "queue_remove", "queue_state", "preempt", "preempt_victim", "process_sweep", "dbg_suspend",
        "active", "suspended", "compute", "sdma", "aql", "\xc3\x28", nullptr, true, json::array(),
        json::array({"active", "evicted", "suspended"}), json::array({"has_queue"}), json::object()};
    return values[pick(std::size(values))];
  }

  // Replace one value (at any depth) of one line by an extreme one.
  std::string replace_json_value(const std::string& s) {
    auto v = lines_of(s);
    if (v.empty()) return s;
    std::size_t i = pick(v.size());
    json j = json::parse(v[i], nullptr, false);
    if (j.is_discarded() || !j.is_object()) return flip_bytes(s);
    std::vector<json::json_pointer> leaves;
    collect(j, json::json_pointer(), leaves);
    for (std::size_t n = 1 + pick(3); n-- && !leaves.empty();) {
      const auto& at = leaves[pick(leaves.size())];
      if (j.contains(at)) j[at] = extreme_value();  // an earlier replacement may have removed it
    }
    v[i] = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return joined(v);
  }

  static void collect(const json& j, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
    if (!at.empty()) out.push_back(at);
    if (j.is_object())
      for (const auto& [k, v] : j.items()) collect(v, at / k, out);
    else if (j.is_array())
      for (std::size_t i = 0; i < j.size(); ++i) collect(j[i], at / i, out);
  }

  std::mt19937 rng_;
};

TEST(TraceReaderFuzz, SeedsAreAccepted) {
  for (const char* f : {"trace_exp1_one_model.jsonl", "trace_exp3_concurrent.jsonl", "trace_v1_exp3_concurrent.jsonl"}) {
    std::string s = slurp(f);
    ASSERT_FALSE(s.empty()) << f;
    EXPECT_EQ(run_one(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), 2) << f;
  }
}

TEST(TraceReaderFuzz, NoMutationCrashesTheReaderOrTheAnalyses) {
  const std::vector<std::string> seeds = {slurp("trace_exp1_one_model.jsonl"), slurp("trace_exp3_concurrent.jsonl"),
                                          slurp("trace_exp2_model_b_run1.jsonl"),
                                          slurp("trace_v1_exp3_concurrent.jsonl")};
  Mutator m(kSeed);
  int accepted = 0, rejected = 0;
  for (int i = 0; i < kIterations; ++i) {
    std::string input = m.mutate(seeds[static_cast<std::size_t>(i) % seeds.size()]);
    if (i % 3 == 0) input = m.mutate(input);  // stack a second mutation now and then
    int ok = 0;
    ASSERT_NO_THROW(ok = run_one(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()))
        << "iteration " << i << " input:\n" << input;
    (ok ? accepted : rejected)++;
  }
  // Both sides must be exercised, or the budget is being wasted on one path.
  EXPECT_GT(accepted, kIterations / 20) << "too few mutated traces reached the analyses";
  EXPECT_GT(rejected, kIterations / 4) << "too few mutated traces were rejected";
  std::printf("mutation test: %d accepted (analysed), %d rejected\n", accepted, rejected);
}

TEST(TraceReaderFuzz, Garbage) {
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 200; ++i) {
    std::string s(std::uniform_int_distribution<int>(0, 300)(rng), '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(run_one(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), 0);
  }
}

}  // namespace
}  // namespace gp::trace::fuzz
