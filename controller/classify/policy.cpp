#include "classify/policy.h"

#include <fnmatch.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace gp {

std::string_view to_string(Role r) {
  switch (r) {
    case Role::Online: return "online";
    case Role::Offline: return "offline";
    case Role::Ignored: return "ignored";
  }
  return "?";
}

namespace {

std::string located(const std::string& file, SourceLoc loc, const std::string& msg) {
  if (loc.line <= 0) return fmt::format("{}: {}", file, msg);
  return fmt::format("{}:{}:{}: {}", file, loc.line, loc.col, msg);
}

}  // namespace

PolicyError::PolicyError(const std::string& file, SourceLoc loc, const std::string& msg)
    : UserError(located(file, loc, msg), 2), loc_(loc) {}

bool Policy::needs_env() const {
  for (const auto& r : rules)
    if (!r.match.env.empty()) return true;
  return false;
}

bool Policy::needs_exe() const {
  for (const auto& r : rules)
    if (!r.match.exe.empty()) return true;
  return false;
}

namespace {

SourceLoc loc_of(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "undefined";
  }
}

// yaml-cpp keeps duplicate keys (iteration shows both) and gives every node,
// keys included, its position: each check below names the offending node.
class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& msg) const {
    throw PolicyError(file_, loc_of(at), msg);
  }

  std::string scalar(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, fmt::format("{} must be a string, not {}", what, kind_name(n)));
    return n.Scalar();
  }

  Role role(const YAML::Node& n, const std::string& what) const {
    const std::string s = scalar(n, what);
    if (s == "online") return Role::Online;
    if (s == "offline") return Role::Offline;
    if (s == "ignored") return Role::Ignored;
    fail(n, fmt::format("{} must be online, offline or ignored, not \"{}\"", what, s));
  }

  // A glob or a list of globs.
  std::vector<std::string> globs(const YAML::Node& n, const std::string& what) const {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
    } else if (n.IsSequence()) {
      for (const auto& e : n) out.push_back(scalar(e, what + " entry"));
      if (out.empty()) fail(n, what + " must not be an empty list");
    } else {
      fail(n, fmt::format("{} must be a glob or a list of globs, not {}", what, kind_name(n)));
    }
    for (const auto& g : out)
      if (g.empty()) fail(n, what + ": empty glob (use \"*\" to match anything)");
    return out;
  }

  static bool parse_u32(std::string_view s, std::uint32_t& v) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
  }

  UidRange uid_range(const YAML::Node& n) const {
    const std::string s = scalar(n, "uid");
    UidRange r;
    const auto bad = [&] { fail(n, fmt::format("uid must be a number or a range \"LO-HI\", not \"{}\"", s)); };
    const std::size_t dash = s.find('-');
    if (dash == std::string::npos) {
      if (!parse_u32(s, r.lo)) bad();
      r.hi = r.lo;
    } else {
      if (!parse_u32(std::string_view(s).substr(0, dash), r.lo) ||
          !parse_u32(std::string_view(s).substr(dash + 1), r.hi))
        bad();
      if (r.lo > r.hi) fail(n, fmt::format("uid range \"{}\" is empty (LO > HI)", s));
    }
    return r;
  }

  static bool valid_env_name(const std::string& s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
  }

  Match match(const YAML::Node& n) const {
    if (!n.IsMap()) fail(n, fmt::format("match must be a mapping of cgroup, env, exe, comm, uid; not {}", kind_name(n)));
    Match m;
    std::set<std::string> seen;
    for (const auto& kv : n) {
      const std::string key = scalar(kv.first, "a match key");
      if (!seen.insert(key).second) fail(kv.first, fmt::format("duplicate key \"{}\" in match", key));
      const YAML::Node& v = kv.second;
      if (key == "cgroup") {
        m.cgroup = globs(v, "match.cgroup");
      } else if (key == "exe") {
        m.exe = globs(v, "match.exe");
      } else if (key == "comm") {
        m.comm = globs(v, "match.comm");
        for (const auto& g : m.comm)
          if (g.find_first_of("*?[") == std::string::npos && g.size() > 15)
            fail(v, fmt::format("match.comm \"{}\" can never match: the kernel's comm is at most 15 characters", g));
      } else if (key == "uid") {
        if (v.IsSequence()) {
          for (const auto& e : v) m.uid.push_back(uid_range(e));
          if (m.uid.empty()) fail(v, "match.uid must not be an empty list");
        } else {
          m.uid.push_back(uid_range(v));
        }
      } else if (key == "env") {
        if (!v.IsMap()) fail(v, fmt::format("match.env must be a mapping NAME: glob, not {}", kind_name(v)));
        std::set<std::string> names;
        for (const auto& e : v) {
          const std::string name = scalar(e.first, "an environment variable name");
          if (!valid_env_name(name)) fail(e.first, fmt::format("\"{}\" is not an environment variable name", name));
          if (!names.insert(name).second) fail(e.first, fmt::format("duplicate variable \"{}\" in match.env", name));
          EnvMatch em{name, std::nullopt};
          if (!e.second.IsNull()) em.value_glob = scalar(e.second, "match.env." + name);
          m.env.push_back(std::move(em));
        }
        if (m.env.empty()) fail(v, "match.env must name at least one variable");
      } else {
        fail(kv.first, fmt::format("unknown match key \"{}\" (expected cgroup, env, exe, comm or uid)", key));
      }
    }
    if (seen.empty()) fail(n, "match needs at least one of cgroup, env, exe, comm, uid (use default: for the rest)");
    return m;
  }

  Rule rule(const YAML::Node& n, std::set<std::string>& names) const {
    if (!n.IsMap()) fail(n, fmt::format("a rule must be a mapping with name, role and match; not {}", kind_name(n)));
    Rule r;
    r.loc = loc_of(n);
    bool have_name = false, have_role = false, have_match = false;
    std::set<std::string> seen;
    for (const auto& kv : n) {
      const std::string key = scalar(kv.first, "a rule key");
      if (!seen.insert(key).second) fail(kv.first, fmt::format("duplicate key \"{}\" in rule", key));
      if (key == "name") {
        r.name = scalar(kv.second, "name");
        if (r.name.empty()) fail(kv.second, "name must not be empty");
        if (r.name == "default") fail(kv.second, "\"default\" names the default role; choose another rule name");
        if (!names.insert(r.name).second) fail(kv.second, fmt::format("duplicate rule name \"{}\"", r.name));
        have_name = true;
      } else if (key == "role") {
        r.role = role(kv.second, "role");
        have_role = true;
      } else if (key == "match") {
        r.match = match(kv.second);
        have_match = true;
      } else {
        fail(kv.first, fmt::format("unknown rule key \"{}\" (expected name, role, match)", key));
      }
    }
    if (!have_name) fail(n, "rule has no name");
    if (!have_role) fail(n, fmt::format("rule \"{}\" has no role", r.name));
    if (!have_match) fail(n, fmt::format("rule \"{}\" has no match", r.name));
    return r;
  }

  Policy policy(const YAML::Node& root) const {
    Policy p;
    p.file = file_;
    if (!root.IsDefined() || root.IsNull()) throw PolicyError(file_, {}, "the policy is empty");
    if (!root.IsMap()) fail(root, "the policy must be a mapping with version, default and rules");
    bool have_version = false, have_rules = false;
    std::set<std::string> seen;
    for (const auto& kv : root) {
      const std::string key = scalar(kv.first, "a top-level key");
      if (!seen.insert(key).second) fail(kv.first, fmt::format("duplicate top-level key \"{}\"", key));
      if (key == "version") {
        const std::string v = scalar(kv.second, "version");
        if (v != "1") fail(kv.second, fmt::format("unsupported policy version \"{}\" (this agent reads version 1)", v));
        have_version = true;
      } else if (key == "default") {
        p.default_role = role(kv.second, "default");
      } else if (key == "rules") {
        if (!kv.second.IsSequence() && !kv.second.IsNull())
          fail(kv.second, fmt::format("rules must be a list, not {}", kind_name(kv.second)));
        std::set<std::string> names;
        for (const auto& r : kv.second) p.rules.push_back(rule(r, names));
        have_rules = true;
      } else {
        fail(kv.first, fmt::format("unknown top-level key \"{}\" (expected version, default, rules)", key));
      }
    }
    if (!have_version) fail(root, "missing \"version: 1\"");
    if (!have_rules) fail(root, "missing \"rules:\" (an empty list is allowed)");
    return p;
  }

 private:
  std::string file_;
};

bool glob_any(const std::vector<std::string>& globs, const std::string& s) {
  for (const auto& g : globs)
    if (::fnmatch(g.c_str(), s.c_str(), 0) == 0) return true;
  return false;
}

// Whether rule m holds for p; sets *env_unknown / *exe_unknown when it could
// not be decided for want of those facts (then it does not hold).
bool holds(const Match& m, const ProcessFacts& p, bool* env_unknown, bool* exe_unknown) {
  if (!m.cgroup.empty() && !glob_any(m.cgroup, p.cgroup_path)) return false;
  if (!m.comm.empty() && !glob_any(m.comm, p.comm)) return false;
  if (!m.uid.empty()) {
    bool ok = false;
    for (const auto& r : m.uid) ok = ok || (p.uid >= r.lo && p.uid <= r.hi);
    if (!ok) return false;
  }
  if (!m.exe.empty()) {
    if (!p.exe) {
      *exe_unknown = true;
      return false;
    }
    if (!glob_any(m.exe, *p.exe)) return false;
  }
  if (!m.env.empty()) {
    if (!p.env) {  // an unreadable environment never selects a role
      *env_unknown = true;
      return false;
    }
    for (const auto& e : m.env) {
      auto it = p.env->find(e.name);
      if (!e.value_glob) {
        if (it != p.env->end()) return false;
      } else if (it == p.env->end() || ::fnmatch(e.value_glob->c_str(), it->second.c_str(), 0) != 0) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

Policy parse_policy(std::string_view yaml_text, const std::string& file_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    throw PolicyError(file_name, {e.mark.line + 1, e.mark.column + 1}, "YAML syntax: " + e.msg);
  }
  return Parser(file_name).policy(root);
}

Policy load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PolicyError(path, {}, fmt::format("cannot read the policy: {}", std::strerror(errno)));
  std::ostringstream s;
  s << in.rdbuf();
  return parse_policy(s.str(), path);
}

std::map<std::string, std::string> parse_environ(std::string_view raw) {
  std::map<std::string, std::string> env;
  std::size_t i = 0;
  while (i < raw.size()) {
    std::size_t z = raw.find('\0', i);
    if (z == std::string_view::npos) z = raw.size();
    const std::string_view kv = raw.substr(i, z - i);
    const std::size_t eq = kv.find('=');
    if (eq != std::string_view::npos && eq > 0)
      env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    i = z + 1;
  }
  return env;
}

Verdict classify(const Policy& policy, const ProcessFacts& p) {
  Verdict v;
  v.role = policy.default_role;
  for (std::size_t i = 0; i < policy.rules.size(); ++i) {
    bool env_unknown = false, exe_unknown = false;
    const bool match = holds(policy.rules[i].match, p, &env_unknown, &exe_unknown);
    if (v.rule < 0) {  // only what could have changed the verdict counts
      v.env_unknown = v.env_unknown || env_unknown;
      v.exe_unknown = v.exe_unknown || exe_unknown;
    }
    if (!match) continue;
    if (v.rule < 0) {
      v.role = policy.rules[i].role;
      v.rule = static_cast<int>(i);
    } else {
      v.also.push_back(static_cast<int>(i));
    }
  }
  return v;
}

std::string rule_name(const Policy& policy, int rule) {
  if (rule < 0 || static_cast<std::size_t>(rule) >= policy.rules.size()) return "default";
  return policy.rules[static_cast<std::size_t>(rule)].name;
}

}  // namespace gp
