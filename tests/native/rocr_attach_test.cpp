// The doorbell uprobes (controller/attach/doorbell_probe.cpp) on Debian's REAL
// ROCm runtimes: each libhsa-runtime64 of the fixture (scripts/vm/fetch-rocr.sh:
// ROCr 5.2.3, 6.1.2, 6.4.3, 7.2.4), dlopened by tests/vm/hsa_probe.c running
// under its suite's own loader and libc, in four settings:
//   same_root  a plain process of this machine;
//   chroot     chroot(2) into a minimal root built from the fixture: its maps
//              path carries the chroot prefix, which does not exist under
//              /proc/PID/root (the attach used to fail with ENOENT);
//   decoy      the same chroot, with a copy of the library placed at that
//              prefixed path inside the root: /proc/PID/root + maps path then
//              names another inode, a uprobe there would never fire;
//   pivot_root a new mount namespace whose root is that minimal root (a
//              container): maps shows the path as the process sees it.
// In each, the probe attaches, then the process stores to a hand-made
// doorbell-kind signal through the real hsa_signal_store_*: the uprobe must
// count exactly that store, with its queue and value. ROCr then rejects the
// handle (no SharedSignal magic) and aborts the process, as it does for any
// invalid signal; the test expects that.
//
// The fixture is fetched by ctest's rocr_fixture test (FIXTURES_SETUP) or
// scripts/test.sh; a missing one fails here, it is never skipped.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attach/doorbell_probe.h"

namespace gp::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kLabels[] = {"bookworm", "trixie", "sid", "experimental"};
enum class Setting { SameRoot, Chroot, Decoy, PivotRoot };
const char* setting_name(Setting s) {
  switch (s) {
    case Setting::SameRoot: return "same_root";
    case Setting::Chroot: return "chroot";
    case Setting::Decoy: return "decoy";
    case Setting::PivotRoot: return "pivot_root";
  }
  return "?";
}

fs::path rocr_cache() {
  if (const char* c = std::getenv("GP_CACHE"); c && *c) return fs::path(c) / "rocr";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "gpreempt-bpf" / "rocr";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/root") / ".cache" / "gpreempt-bpf" / "rocr";
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream f(p);
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// One fetched ROCr: paths relative to its root.
struct Fixture {
  fs::path dir, root;
  std::string version, libhsa, loader;
  std::vector<std::string> libpath, runtime_files;

  static Fixture load(const std::string& label) {
    Fixture f;
    f.dir = rocr_cache() / label;
    f.root = f.dir / "root";
    f.version = slurp(f.dir / "version");
    f.libhsa = slurp(f.dir / "libhsa");
    f.loader = slurp(f.dir / "loader");
    std::stringstream lp(slurp(f.dir / "libpath"));
    for (std::string d; std::getline(lp, d, ':');) f.libpath.push_back(d);
    f.runtime_files = lines_of(f.dir / "runtime-files");
    return f;
  }
};

// The command that runs the probe under the fixture's loader, with paths
// under `prefix` ("/" inside a chroot, the fixture root outside).
std::vector<std::string> probe_argv(const Fixture& f, const std::string& prefix, const std::string& probe) {
  std::string libpath;
  for (const auto& d : f.libpath) libpath += (libpath.empty() ? "" : ":") + prefix + d;
  return {prefix + f.loader, "--library-path", libpath, probe, "--lib", prefix + f.libhsa, "--hold", "stdin"};
}

// A minimal root: the loader, libhsa and everything it loads (runtime-files,
// symlinks kept), and the probe as /hsa-probe.
void build_root(const Fixture& f, const fs::path& root) {
  for (const auto& rel : f.runtime_files) {
    const fs::path from = f.root / rel, to = root / rel;
    fs::create_directories(to.parent_path());
    fs::copy(from, to, fs::copy_options::copy_symlinks | fs::copy_options::overwrite_existing);
  }
  fs::copy_file(GP_HSA_PROBE, root / "hsa-probe", fs::copy_options::overwrite_existing);
  fs::permissions(root / "hsa-probe", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                          fs::perms::others_read | fs::perms::others_exec);
}

// pivot_root(2) into `root` inside the calling (child) process's own new mount
// namespace. Returns an errno-style step name on failure.
const char* enter_pivot_root(const char* root) {
  if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS)";
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "mount --make-rprivate /";
  if (::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr) != 0) return "mount --bind root root";
  if (::chdir(root) != 0) return "chdir root";
  ::mkdir(".old-root", 0700);
  if (::syscall(SYS_pivot_root, ".", ".old-root") != 0) return "pivot_root";
  if (::chdir("/") != 0) return "chdir /";
  if (::umount2("/.old-root", MNT_DETACH) != 0) return "umount the old root";
  ::rmdir("/.old-root");
  return nullptr;
}

// The probe process: stdin and stdout are pipes to the test.
struct ProbeProcess {
  pid_t pid = -1;
  int in = -1, out = -1;
  std::string buffered;

  ~ProbeProcess() {
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  void start(const std::vector<std::string>& argv, Setting s, const fs::path& root) {
    int pin[2], pout[2];
    ASSERT_EQ(::pipe2(pin, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(pout, O_CLOEXEC), 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::string root_s = root.string();
    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(pin[0], 0);
      ::dup2(pout[1], 1);
      const char* failed = nullptr;
      if (s == Setting::Chroot || s == Setting::Decoy) {
        if (::chroot(root_s.c_str()) != 0) failed = "chroot";
        else if (::chdir("/") != 0) failed = "chdir /";
      } else if (s == Setting::PivotRoot) {
        failed = enter_pivot_root(root_s.c_str());
      }
      if (!failed) {
        ::execv(args[0], args.data());
        failed = "execv";
      }
      std::fprintf(stderr, "child: %s: %s\n", failed, std::strerror(errno));
      ::_exit(127);
    }
    ::close(pin[0]);
    ::close(pout[1]);
    in = pin[1];
    out = pout[0];
  }

  // The next JSON line with "step" == step (skipping others), within 30 s.
  json wait_step(const std::string& step) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      for (auto nl = buffered.find('\n'); nl != std::string::npos; nl = buffered.find('\n')) {
        std::string line = buffered.substr(0, nl);
        buffered.erase(0, nl + 1);
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.value("step", "") == step) return j;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return json();
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return json();
      char buf[4096];
      ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) return json();
      buffered.append(buf, static_cast<std::size_t>(n));
    }
  }

  void send(const std::string& line) {
    ASSERT_EQ(::write(in, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }

  int wait_exit() {
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return status;
      }
      ::usleep(10'000);
    }
    return -1;
  }
};

struct Case {
  const char* label;
  Setting setting;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label << "/" << setting_name(c.setting); }

class RocrAttach : public ::testing::TestWithParam<Case> {};

TEST_P(RocrAttach, TheDoorbellProbeAttachesToTheRealRuntimeAndCountsItsStore) {
  const Case c = GetParam();
  const fs::path dir = rocr_cache() / c.label;
  ASSERT_TRUE(fs::exists(dir / "complete"))
      << "the real-runtime fixture " << dir << " is missing: scripts/vm/fetch-rocr.sh " << c.label
      << " fetches it (ctest's rocr_fixture test and scripts/test.sh run it first)";
  const Fixture f = Fixture::load(c.label);
  ASSERT_FALSE(f.runtime_files.empty()) << dir / "runtime-files";

  // A fresh root for the chroot and namespace settings, in a directory whose
  // path does not exist inside it.
  char tmpl[] = "/tmp/gp-rocr-root.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path top = tmpl, root = top / "root";
  struct Cleanup {
    fs::path p;
    ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
  } cleanup{top};

  std::vector<std::string> argv;
  if (c.setting == Setting::SameRoot) {
    argv = probe_argv(f, f.root.string() + "/", GP_HSA_PROBE);
  } else {
    build_root(f, root);
    argv = probe_argv(f, "/", "/hsa-probe");
  }
  const fs::path real_lib = fs::path(f.root / f.libhsa);
  if (c.setting == Setting::Decoy) {
    // The chroot prefix + the library's path, inside the root: another inode
    // (a copy of the same library, so its symbols resolve and the attach
    // itself succeeds; only its uprobe would never fire).
    const fs::path resolved = fs::canonical(root / f.libhsa);  // the real file, symlinks followed
    const fs::path decoy = root / resolved.relative_path();
    fs::create_directories(decoy.parent_path());
    fs::copy_file(resolved, decoy);
    ASSERT_NE(fs::status(decoy).permissions(), fs::perms::unknown);
  }

  ProbeProcess p;
  p.start(argv, c.setting, root);
  ASSERT_GT(p.pid, 0);
  auto start = p.wait_step("start");
  ASSERT_TRUE(start.is_object()) << "the probe printed nothing under " << f.loader;
  auto dl = p.wait_step("dlopen");
  ASSERT_TRUE(dl.is_object() && dl.value("ok", false)) << dl.dump();
  auto hold = p.wait_step("hold");
  ASSERT_TRUE(hold.is_object()) << "the probe did not reach its hold";
  std::printf("%s %s: ROCr %s, glibc %s, pid %d\n", c.label, setting_name(c.setting), f.version.c_str(),
              start.value("glibc", "?").c_str(), p.pid);

  std::string why;
  auto probe = DoorbellProbe::load(nullptr, &why);
  ASSERT_TRUE(probe) << why;
  ASSERT_EQ(probe->attach(p.pid), "") << "setting " << setting_name(c.setting);
  const std::string lib = probe->library(p.pid);
  EXPECT_NE(lib.find("libhsa-runtime64.so"), std::string::npos) << lib;
  struct stat attached {}, real {};
  ASSERT_EQ(::stat(probe->attached_file(p.pid).c_str(), &attached), 0) << probe->attached_file(p.pid);
  ASSERT_EQ(::stat(real_lib.c_str(), &real), 0);
  if (c.setting == Setting::SameRoot) {
    EXPECT_EQ(attached.st_ino, real.st_ino) << "the same root maps the fixture's own file";
  }
  std::printf("  maps path %s -> attached through %s\n", lib.c_str(), probe->attached_file(p.pid).c_str());

  const char* fn = c.setting == Setting::SameRoot ? "relaxed" : "screlease";
  p.send(std::string("fake-doorbell ") + fn + " 41\n");
  auto store = p.wait_step("fake_doorbell");
  ASSERT_TRUE(store.is_object());
  const int status = p.wait_exit();
  ASSERT_NE(status, -1) << "the probe did not end after the store";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
      << "ROCr aborts on the hand-made signal (invalid handle); status " << status;

  const auto n = probe->counts(static_cast<pid_t>(start.value("pid", 0)));
  EXPECT_EQ(n.doorbells, 1u) << "the uprobe on " << lib << " did not see the store to the doorbell signal ("
                             << setting_name(c.setting) << ")";
  EXPECT_EQ(n.other, 0u);
  EXPECT_EQ(n.last_value, 41u);
  EXPECT_EQ(n.last_queue, std::stoull(store.value("queue", "0"), nullptr, 16));
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const char* l : kLabels)
    for (Setting s : {Setting::SameRoot, Setting::Chroot, Setting::Decoy, Setting::PivotRoot}) out.push_back({l, s});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Real, RocrAttach, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.label) + "_" + setting_name(i.param.setting);
                         });

}  // namespace
}  // namespace gp::test
