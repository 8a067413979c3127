// Runs gpreempt-bpf (GP_BINARY, set for the unit tests by tests/CMakeLists.txt)
// as a user would from a shell: what it printed on stdout and stderr together,
// and its exit code (128 when it did not exit, e.g. killed by a signal).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace gp::test {

struct CmdResult {
  int code = -1;    // -1: the shell could not be started
  std::string out;  // stdout + stderr
};

inline CmdResult run_shell(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return r;
}

// `PREFIX gpreempt-bpf ARGS`; a prefix such as "setpriv --reuid=65534 ..."
// runs it as another user.
inline CmdResult run_gp(const std::string& args, const std::string& prefix = "") {
  return run_shell(prefix + " " GP_BINARY " " + args + " 2>&1");
}

inline bool has(const CmdResult& r, const std::string& s) { return r.out.find(s) != std::string::npos; }

}  // namespace gp::test
