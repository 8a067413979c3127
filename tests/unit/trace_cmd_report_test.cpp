// `report` as the user runs it: argument parsing, output, exit codes.
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trace_test_util.h"

namespace gp::cli {
namespace {

using trace::testing::golden_path;

struct Result {
  int code = -1;
  std::string out;
  std::string error;  // UserError or CLI11 parse error text
};

Result run(std::vector<std::string> args) {
  CLI::App app("gpreempt-bpf");
  Selected sel;
  add_report(app, sel);
  app.require_subcommand(1);
  std::vector<const char*> argv{"gpreempt-bpf"};
  for (const auto& a : args) argv.push_back(a.c_str());
  Result r;
  std::ostringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    r.code = sel.run();
  } catch (const CLI::ParseError& e) {
    r.code = e.get_exit_code();
    r.error = e.what();
  } catch (const UserError& e) {
    r.code = e.code;
    r.error = e.what();
  }
  std::cout.rdbuf(old);
  r.out = captured.str();
  return r;
}

TEST(TraceCmdReport, TextReport) {
  Result r = run({"report", golden_path("trace_exp1_one_model.jsonl")});
  EXPECT_EQ(r.code, 0) << r.error;
  EXPECT_NE(r.out.find("Analysis 1: queue count over time"), std::string::npos);
  EXPECT_NE(r.out.find("✅ PID 4242 (python3: python3 model_a.py) uses 2 queues"), std::string::npos) << r.out;
}

TEST(TraceCmdReport, JsonAndPerfetto) {
  std::string out = trace::testing::temp_path("cmd.perfetto.json");
  Result r = run({"report", "--json", "--perfetto", out, golden_path("trace_exp3_concurrent.jsonl")});
  ASSERT_EQ(r.code, 0) << r.error;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "gpreempt-bpf-report");
  EXPECT_EQ(j["traces"][0]["processes"].size(), 2u);
  EXPECT_TRUE(nlohmann::json::parse(trace::testing::read_text(out)).contains("traceEvents"));
}

TEST(TraceCmdReport, Version1AndVersion2AndVersion3FilesTogether) {
  Result r = run({"report", golden_path("trace_v1_exp1_one_model.jsonl"), golden_path("trace_v2_exp3_concurrent.jsonl"),
                  golden_path("trace_exp3_concurrent.jsonl")});
  EXPECT_EQ(r.code, 0) << r.error;
  EXPECT_NE(r.out.find("✅ PID 4242 (python3: python3 model_a.py) uses 2 queues"), std::string::npos) << r.out;
}

TEST(TraceCmdReport, NewerVersionIsRefusedWithTheReason) {
  std::string path = trace::testing::temp_path("v4.jsonl");
  std::string text = trace::testing::read_text(golden_path("trace_exp1_one_model.jsonl"));
  const std::string v3 = "\"version\":3,";
  ASSERT_NE(text.find(v3), std::string::npos);
  text.replace(text.find(v3), v3.size(), "\"version\":4,");
  trace::testing::write_text(path, text);
  Result r = run({"report", path});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.error.rfind(path + ":1: trace format version 4 is newer than this build of gpreempt-bpf", 0), 0u)
      << r.error;
  EXPECT_EQ(r.out, "");
}

TEST(TraceCmdReport, MissingFileIsAParseError) {
  Result r = run({"report", "/nonexistent/trace.jsonl"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.error.find("/nonexistent/trace.jsonl"), std::string::npos) << r.error;
}

TEST(TraceCmdReport, CorruptFileFailsWithLineNumberAndPrintsNothing) {
  std::string path = trace::testing::temp_path("corrupt.jsonl");
  std::string text = trace::testing::read_text(golden_path("trace_exp1_one_model.jsonl"));
  text.insert(text.find('\n') + 1, "{oops}\n");
  trace::testing::write_text(path, text);
  Result r = run({"report", golden_path("trace_exp1_one_model.jsonl"), path});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.error.rfind(path + ":2: not JSON", 0), 0u) << r.error;
  EXPECT_EQ(r.out, "");
}

TEST(TraceCmdReport, TruncatedNeedsTheFlag) {
  std::string path = trace::testing::temp_path("truncated.jsonl");
  std::string text = trace::testing::read_text(golden_path("trace_exp1_one_model.jsonl"));
  text.erase(text.rfind("{\"type\":\"trailer\""));
  trace::testing::write_text(path, text);
  Result strict = run({"report", path});
  EXPECT_EQ(strict.code, 1);
  EXPECT_NE(strict.error.find("truncated trace"), std::string::npos);
  Result lenient = run({"report", "--allow-truncated", path});
  EXPECT_EQ(lenient.code, 0) << lenient.error;
  EXPECT_NE(lenient.out.find("⚠️ truncated: no trailer"), std::string::npos);
}

}  // namespace
}  // namespace gp::cli
