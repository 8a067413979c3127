// Fake processes for the agent's tests: the /proc and /sys/class/kfd files
// the classifier reads, under a FakeRoot (GPREEMPT_BPF_ROOT).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fake_root.h"

// Tests name only the fields that matter: FakeProc{.pid = 7, .env = {...}}.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace gp::test {

struct FakeProc {
  pid_t pid = 0;
  std::string comm = "python3";
  std::map<std::string, std::string> env;
  std::string cgroup = "0::/user.slice/user-0.slice/session-1.scope\n";  // the whole /proc/PID/cgroup
  std::vector<std::uint32_t> gpus;  // vram_<id> entries of its KFD sysfs directory
  std::uint32_t uid = 0;
  std::string exe = "/usr/bin/python3";
  bool kfd = true;            // listed in /sys/class/kfd/kfd/proc
  bool environ_readable = true;
};

inline void add_fake_proc(const FakeRoot& root, const FakeProc& p) {
  const std::string d = fmt::format("/proc/{}", p.pid);
  root.write(d + "/status", fmt::format("Name:\t{}\nTgid:\t{}\nPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nTracerPid:\t0\n", p.comm,
                                        p.pid, p.pid, p.uid, p.uid, p.uid, p.uid));
  root.write(d + "/comm", p.comm + "\n");
  root.write(d + "/cgroup", p.cgroup);
  if (p.environ_readable) {
    std::string env;
    for (const auto& [k, v] : p.env) {
      env += k + "=" + v;
      env.push_back('\0');
    }
    root.write(d + "/environ", env);
  }
  std::error_code ec;
  std::filesystem::create_symlink(p.exe, root.path() + d + "/exe", ec);
  if (p.kfd) {
    const std::string k = fmt::format("/sys/class/kfd/kfd/proc/{}", p.pid);
    root.mkdir(k + "/queues");
    root.write(k + "/pasid", "32770\n");
    for (auto gpu : p.gpus) {
      root.write(fmt::format("{}/vram_{}", k, gpu), "0\n");
      root.write(fmt::format("{}/sdma_{}", k, gpu), "0\n");
      root.mkdir(fmt::format("{}/stats_{}", k, gpu));
    }
  }
}

}  // namespace gp::test
