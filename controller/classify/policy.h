// The agent's policy: which role each KFD process gets, as an ordered list of
// rules read from YAML (docs/agent.md#the-policy-file).
//
//   version: 1
//   default: ignored                  # the role of a KFD process no rule matches
//   rules:
//     - name: hami-high               # unique; shown by --check-policy and in the agent's state
//       role: online                  # online | offline | ignored
//       match:                        # every key given must hold (AND); a list is any of (OR)
//         env: {AMD_TASK_PRIORITY: "0"}       # NAME: glob of the value; NAME: null = unset
//         cgroup: "*kubepods-burstable*"      # glob(s) on the /proc/PID/cgroup path
//         exe: ["/usr/bin/python3*", "*/vllm"]  # glob(s) on the /proc/PID/exe link
//         comm: "pt_main_thread"              # glob(s) on /proc/PID/comm
//         uid: [0, "1000-1999"]               # real uid, or inclusive range(s)
//
// The first rule that matches wins. Globs are fnmatch(3) without FNM_PATHNAME
// ('*' also matches '/'). Pure: no /proc access here (classify/classifier.h
// gathers the facts).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gp {

enum class Role { Online, Offline, Ignored };
std::string_view to_string(Role r);

struct SourceLoc {
  int line = 0;  // 1-based; 0: no position (a file that cannot be read)
  int col = 0;
};

struct UidRange {
  std::uint32_t lo = 0, hi = 0;  // inclusive
};

struct EnvMatch {
  std::string name;
  std::optional<std::string> value_glob;  // nullopt: the variable must be unset
};

struct Match {
  std::vector<std::string> cgroup, exe, comm;  // any glob of a list may match
  std::vector<EnvMatch> env;                   // all must hold
  std::vector<UidRange> uid;                   // any range may hold
};

struct Rule {
  std::string name;
  Role role = Role::Ignored;
  Match match;
  SourceLoc loc;
};

struct Policy {
  std::string file;
  Role default_role = Role::Ignored;
  std::vector<Rule> rules;
  // Only then does the agent read /proc/PID/environ (which needs ptrace read
  // access to the process) or /proc/PID/exe.
  bool needs_env() const;
  bool needs_exe() const;
};

// "FILE:LINE:COL: message" (1-based), or "FILE: message" without a position.
// Exit code 2, like every other bad argument.
class PolicyError : public UserError {
 public:
  PolicyError(const std::string& file, SourceLoc loc, const std::string& msg);
  SourceLoc loc() const { return loc_; }

 private:
  SourceLoc loc_;
};

Policy parse_policy(std::string_view yaml_text, const std::string& file_name);
Policy load_policy_file(const std::string& path);

// What a rule can look at.
struct ProcessFacts {
  pid_t pid = 0;
  std::uint32_t uid = 0;
  std::string comm;
  std::optional<std::string> exe;                         // nullopt: not read, or unreadable
  std::string cgroup_path;
  std::optional<std::map<std::string, std::string>> env;  // nullopt: not read, or unreadable
};

struct Verdict {
  Role role = Role::Ignored;
  int rule = -1;              // index into Policy::rules; -1 = the default
  std::vector<int> also;      // later rules that match too (the first one won)
  // A rule needed the environment (or exe) and it could not be read: such a
  // rule is skipped, never chosen on a guess.
  bool env_unknown = false;
  bool exe_unknown = false;
};

Verdict classify(const Policy& policy, const ProcessFacts& p);
// The rule's name, or "default".
std::string rule_name(const Policy& policy, int rule);

// The NUL-separated text of /proc/PID/environ.
std::map<std::string, std::string> parse_environ(std::string_view raw);

}  // namespace gp
