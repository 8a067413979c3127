#include <gtest/gtest.h>

#include <string>

#include "classify/policy.h"

using namespace gp;

namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_policy(yaml, "policy.yaml");
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "(no error)";
}

ProcessFacts proc(std::string comm, std::string exe, std::string cgroup, std::uint32_t uid,
                  std::optional<std::map<std::string, std::string>> env) {
  ProcessFacts p;
  p.pid = 4242;
  p.comm = std::move(comm);
  p.exe = std::move(exe);
  p.cgroup_path = std::move(cgroup);
  p.uid = uid;
  p.env = std::move(env);
  return p;
}

}  // namespace

TEST(AgentPolicy, LoadsTheExample) {
  Policy p = load_policy_file(GP_TEST_DATA_DIR "/agent/policy-example.yaml");
  ASSERT_EQ(p.rules.size(), 6u);
  EXPECT_EQ(p.default_role, Role::Ignored);
  EXPECT_EQ(p.rules[0].name, "hami-high");
  EXPECT_EQ(p.rules[0].role, Role::Online);
  EXPECT_EQ(p.rules[0].loc.line, 7);
  EXPECT_EQ(p.rules[0].loc.col, 5);
  EXPECT_EQ(p.rules[4].match.uid.size(), 2u);
  EXPECT_EQ(p.rules[4].match.uid[0].lo, 1000u);
  EXPECT_EQ(p.rules[4].match.uid[0].hi, 1999u);
  EXPECT_FALSE(p.rules[5].match.env[0].value_glob.has_value());
  EXPECT_TRUE(p.needs_env());
  EXPECT_TRUE(p.needs_exe());
}

TEST(AgentPolicy, ClassifiesFirstMatchWins) {
  Policy p = load_policy_file(GP_TEST_DATA_DIR "/agent/policy-example.yaml");
  const std::string burst = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod55c6c714_b240_4dec_9a45_57b61696ab6e.slice/cri-containerd-20.scope";
  const std::string be = "/kubepods/besteffort/pod9a18ffb8-8513-11e7-b26e-7e29fbe2a5a3/d28e";

  auto v = classify(p, proc("python3", "/usr/bin/python3.11", burst, 0, std::map<std::string, std::string>{{"AMD_TASK_PRIORITY", "0"}}));
  EXPECT_EQ(v.role, Role::Online);
  EXPECT_EQ(v.rule, 0);
  v = classify(p, proc("python3", "/usr/bin/python3.11", burst, 0, std::map<std::string, std::string>{{"AMD_TASK_PRIORITY", "1"}}));
  EXPECT_EQ(v.role, Role::Offline);  // hami-low comes before inference-pods
  EXPECT_EQ(v.rule, 1);
  v = classify(p, proc("python3", "/usr/bin/python3.11", burst, 0, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, 2);  // inference-pods: cgroup AND exe
  v = classify(p, proc("llama-server", "/opt/llama-server", burst, 0, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, -1);  // exe does not match
  EXPECT_EQ(v.role, Role::Ignored);
  v = classify(p, proc("x", "/x", be, 0, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, 3);
  v = classify(p, proc("pt_main_thread", "/x", "/user.slice/user-1500.slice/session-2.scope", 1500, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, 4);
  v = classify(p, proc("pt_main_thread", "/x", "/user.slice", 2500, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, 4);
  v = classify(p, proc("pt_main_thread", "/x", "/user.slice", 2000, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, -1);
  v = classify(p, proc("rocminfo", "/opt/rocm/bin/rocminfo", "/", 0, std::map<std::string, std::string>{}));
  EXPECT_EQ(v.rule, 5);
  v = classify(p, proc("rocminfo", "/opt/rocm/bin/rocminfo", "/", 0, std::map<std::string, std::string>{{"AMD_TASK_PRIORITY", "3"}}));
  EXPECT_EQ(v.rule, 1);
}

TEST(AgentPolicy, UnreadableEnvironmentNeverPicksARuleThatNeedsIt) {
  Policy p = load_policy_file(GP_TEST_DATA_DIR "/agent/policy-example.yaml");
  auto v = classify(p, proc("python3", "/usr/bin/python3", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice", 0, std::nullopt));
  EXPECT_EQ(v.rule, 2);  // env rules skipped, the cgroup+exe rule still decides
  EXPECT_TRUE(v.env_unknown);
}

TEST(AgentPolicy, EnvironParsing) {
  static const char lit[] = "A=1\0AMD_TASK_PRIORITY=0\0EMPTY=\0NOEQUALS\0X=a=b\0";
  std::string raw(lit, sizeof lit - 1);
  auto env = parse_environ(raw);
  EXPECT_EQ(env.at("AMD_TASK_PRIORITY"), "0");
  EXPECT_EQ(env.at("EMPTY"), "");
  EXPECT_EQ(env.at("X"), "a=b");
  EXPECT_EQ(env.count("NOEQUALS"), 0u);
}

// Every error names file:line:col of the offending node (1-based).
TEST(AgentPolicyErrors, UnknownRuleKey) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    rolle: online\n    match: {comm: x}\n"),
            "policy.yaml:4:5: unknown rule key \"rolle\" (expected name, role, match)");
}

TEST(AgentPolicyErrors, BadClassValue) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: realtime\n    match: {comm: x}\n"),
            "policy.yaml:4:11: role must be online, offline or ignored, not \"realtime\"");
}

TEST(AgentPolicyErrors, YamlSyntax) {
  std::string e = error_of("version: 1\nrules:\n  - name: a\n    match: {comm: [x}\n");
  EXPECT_EQ(e.rfind("policy.yaml:4:", 0), 0u) << e;
  EXPECT_NE(e.find("YAML syntax"), std::string::npos) << e;
}

TEST(AgentPolicyErrors, BadTabIndentation) {
  std::string e = error_of("version: 1\nrules:\n\t- name: a\n");
  EXPECT_EQ(e.rfind("policy.yaml:3:", 0), 0u) << e;
}

TEST(AgentPolicyErrors, UidRange) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: offline\n    match:\n      uid: [1000, \"2000-1000\"]\n"),
            "policy.yaml:6:19: uid range \"2000-1000\" is empty (LO > HI)");
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: offline\n    match:\n      uid: root\n"),
            "policy.yaml:6:12: uid must be a number or a range \"LO-HI\", not \"root\"");
}

TEST(AgentPolicyErrors, DuplicateRuleName) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - {name: a, role: online, match: {comm: x}}\n"
                     "  - {name: a, role: offline, match: {comm: y}}\n"),
            "policy.yaml:4:12: duplicate rule name \"a\"");
}

TEST(AgentPolicyErrors, DuplicateKey) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: online\n    role: offline\n    match: {comm: x}\n"),
            "policy.yaml:5:5: duplicate key \"role\" in rule");
}

TEST(AgentPolicyErrors, MissingVersionAndRules) {
  EXPECT_EQ(error_of("rules: []\n"), "policy.yaml:1:1: missing \"version: 1\"");
  EXPECT_EQ(error_of("version: 1\n"), "policy.yaml:1:1: missing \"rules:\" (an empty list is allowed)");
  EXPECT_EQ(error_of("version: 2\nrules: []\n"),
            "policy.yaml:1:10: unsupported policy version \"2\" (this agent reads version 1)");
  EXPECT_EQ(error_of(""), "policy.yaml: the policy is empty");
}

TEST(AgentPolicyErrors, EmptyMatchAndBadEnv) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: online\n    match: {}\n"),
            "policy.yaml:5:12: match needs at least one of cgroup, env, exe, comm, uid (use default: for the rest)");
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: online\n    match:\n      env: {1BAD: x}\n"),
            "policy.yaml:6:13: \"1BAD\" is not an environment variable name");
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: online\n    match:\n      env: [A]\n"),
            "policy.yaml:6:12: match.env must be a mapping NAME: glob, not a list");
}

TEST(AgentPolicyErrors, CommLongerThanTheKernelKeeps) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    role: online\n    match: {comm: this_is_longer_than_15}\n"),
            "policy.yaml:5:19: match.comm \"this_is_longer_than_15\" can never match: the kernel's comm is at most 15 characters");
}

TEST(AgentPolicyErrors, MissingFile) {
  try {
    load_policy_file("/nonexistent/policy.yaml");
    FAIL();
  } catch (const PolicyError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/policy.yaml: cannot read the policy: No such file or directory");
  }
}

// A process two rules match gets the first one's role; the verdict names the
// others so the agent can say so.
TEST(AgentPolicy, TheFirstMatchWinsAndTheOthersAreNamed) {
  Policy p = parse_policy(
      "version: 1\n"
      "rules:\n"
      "  - {name: env-offline, role: offline, match: {env: {GPREEMPT_ROLE: offline}}}\n"
      "  - {name: pods, role: online, match: {cgroup: \"*kubepods*\"}}\n"
      "  - {name: anyone, role: ignored, match: {uid: \"0-4294967295\"}}\n",
      "p.yaml");
  auto v = classify(p, proc("x", "/x", "/kubepods.slice/a", 0, std::map<std::string, std::string>{{"GPREEMPT_ROLE", "offline"}}));
  EXPECT_EQ(v.role, Role::Offline);
  EXPECT_EQ(v.rule, 0);
  EXPECT_EQ(v.also, (std::vector<int>{1, 2}));
  EXPECT_EQ(rule_name(p, v.rule), "env-offline");
  EXPECT_EQ(rule_name(p, -1), "default");
}

TEST(AgentPolicy, AnUnreadableExeNeverPicksARuleThatNeedsIt) {
  Policy p = parse_policy("version: 1\ndefault: offline\nrules:\n  - {name: py, role: online, match: {exe: \"*/python3\"}}\n",
                          "p.yaml");
  ProcessFacts f;
  f.comm = "python3";
  auto v = classify(p, f);  // exe not read
  EXPECT_EQ(v.role, Role::Offline);
  EXPECT_EQ(v.rule, -1);
  EXPECT_TRUE(v.exe_unknown);
  f.exe = "/usr/bin/python3";
  EXPECT_EQ(classify(p, f).role, Role::Online);
}

TEST(AgentPolicy, AnEmptyRuleListIsTheDefaultForEveryone) {
  Policy p = parse_policy("version: 1\ndefault: offline\nrules: []\n", "p.yaml");
  EXPECT_TRUE(p.rules.empty());
  EXPECT_EQ(classify(p, ProcessFacts{}).role, Role::Offline);
  EXPECT_FALSE(p.needs_env());
  EXPECT_EQ(parse_policy("version: 1\nrules:\n", "p.yaml").rules.size(), 0u);
}

TEST(AgentPolicyErrors, TheWordDefaultIsNotARuleName) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - {name: default, role: online, match: {comm: x}}\n"),
            "policy.yaml:3:12: \"default\" names the default role; choose another rule name");
}

TEST(AgentPolicyErrors, MissingRoleAndUnknownTopLevelKey) {
  EXPECT_EQ(error_of("version: 1\nrules:\n  - name: a\n    match: {comm: x}\n"), "policy.yaml:3:5: rule \"a\" has no role");
  EXPECT_EQ(error_of("version: 1\nrulez: []\n"),
            "policy.yaml:2:1: unknown top-level key \"rulez\" (expected version, default, rules)");
  EXPECT_EQ(error_of("version: 1\ndefault: nice\nrules: []\n"),
            "policy.yaml:2:10: default must be online, offline or ignored, not \"nice\"");
}

TEST(AgentPolicyErrors, APolicyErrorIsAUserErrorWithExitCodeTwo) {
  try {
    parse_policy("version: 1\nrules: 3\n", "bad.yaml");
    FAIL();
  } catch (const gp::UserError& e) {
    EXPECT_EQ(e.code, 2);
    EXPECT_STREQ(e.what(), "bad.yaml:2:8: rules must be a list, not a scalar");
  }
}
