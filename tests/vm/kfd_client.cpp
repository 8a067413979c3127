// kfd-client: a small, dependency-free client of the real /dev/kfd for the VM
// test tier. It issues exactly the ioctls a scenario asks for and prints one
// JSON object per operation on stdout (rc, errno and what the kernel returned),
// so scenarios can compare what was done with what gpreempt-bpf saw.
//
// Exit status: 0 when every requested operation was issued (whatever the
// kernel answered: that is in the JSON), 1 when /dev/kfd could not be opened
// or a system call outside the KFD protocol failed, 64 on a usage error.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dlfcn.h>

#include "bpf/kfd_uapi.h"
#include "fake_amd_signal.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFail = 1;
constexpr int kExitUsage = 64;

// ---- output ---------------------------------------------------------------

// Builds one JSON object; values are numbers, booleans or plain strings
// (no escaping needed for what this tool prints, but quotes are escaped).
class Json {
 public:
  Json& num(const char* k, long long v) {
    add(k, std::to_string(v));
    return *this;
  }
  Json& unum(const char* k, unsigned long long v) {
    add(k, std::to_string(v));
    return *this;
  }
  Json& hex(const char* k, unsigned long long v) {
    char b[32];
    std::snprintf(b, sizeof b, "\"0x%llx\"", v);
    add(k, b);
    return *this;
  }
  Json& str(const char* k, std::string_view v) {
    std::string s = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    add(k, s + "\"");
    return *this;
  }
  Json& boolean(const char* k, bool v) {
    add(k, v ? "true" : "false");
    return *this;
  }
  Json& raw(const char* k, const std::string& v) {
    add(k, v);
    return *this;
  }
  // rc/errno of one system call, with the errno's name for humans.
  Json& result(long rc, int err) {
    num("rc", rc);
    num("errno", rc < 0 ? err : 0);
    if (rc < 0) str("errname", errname(err));
    return *this;
  }
  void print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }
  static std::string errname(int err) {
    const char* n = strerrorname_np(err);
    return n ? n : std::to_string(err);
  }

 private:
  void add(const char* k, const std::string& v) {
    if (!body_.empty()) body_ += ',';
    body_ += '"';
    body_ += k;
    body_ += "\":";
    body_ += v;
  }
  std::string body_;
};

Json op_json(const char* op) {
  Json j;
  j.str("op", op).num("pid", getpid()).num("tid", gettid());
  return j;
}

[[noreturn]] void usage(const char* msg = nullptr) {
  if (msg) std::fprintf(stderr, "kfd-client: %s\n", msg);
  std::fprintf(stderr,
               "usage: kfd-client COMMAND [options]\n"
               "  version                       GET_VERSION\n"
               "  open-exit                     open /dev/kfd and exit without closing it\n"
               "  create-queue --gpu-id N --type T --priority P --percent Q --ring-size S\n"
               "               [--ring-addr auto|N]   CREATE_QUEUE (T: number or compute|sdma|compute_aql|sdma_xgmi)\n"
               "  destroy-queue --qid N          DESTROY_QUEUE\n"
               "  update-queue --qid N [--priority P] [--percent Q] [--ring-size S] [--ring-addr auto|N]\n"
               "  burst N [--op create|destroy|update|mixed]   N ioctls as fast as possible\n"
               "  runtime-target [--stdin] [--delay-enable-ms N] [--enable-after-file PATH]\n"
               "                                open /dev/kfd, (wait N ms, or until PATH exists: a debugger\n"
               "                                may attach before hsa_init), RUNTIME_ENABLE, wait for\n"
               "                                SIGTERM/SIGINT (or stdin EOF), RUNTIME_DISABLE, exit (a\n"
               "                                stand-in ROCm process). With --stdin, lines are commands on a\n"
               "                                secondary KFD context (KFD 1.19+): 'secondary' (open /dev/kfd\n"
               "                                again + CREATE_PROCESS), 'secondary-create', 'secondary-destroy\n"
               "                                QID', 'secondary-close'. Every EINTR retried is counted\n"
               "                                ('eintr' in the JSON; libhsakmt retries them too)\n"
               "  online-target [--hsa-lib PATH] [--ring-every-ms N] [--open-kfd]\n"
               "                                a stand-in online ROCm process: maps PATH (default\n"
               "                                /opt/rocm/lib/libhsa-runtime64.so.1, the tests' stand-in), with\n"
               "                                --open-kfd then opens /dev/kfd (a KFD process, as ROCr's is), and\n"
               "                                rings an AQL queue's doorbell through its\n"
               "                                hsa_signal_store_screlease per stdin line 'ring' (a store to a\n"
               "                                completion signal per 'complete'), or every N ms; exits on\n"
               "                                SIGTERM/SIGINT, or stdin EOF without --ring-every-ms\n"
               "  debug-session --target PID [--qids 1,2,3]\n"
               "                                PTRACE_SEIZE + DBG_TRAP ENABLE, SUSPEND, RESUME, DISABLE\n"
               "Every operation prints one JSON line.\n");
  std::exit(kExitUsage);
}

// ---- argument parsing -------------------------------------------------------

struct Args {
  std::map<std::string, std::string> opts;
  std::vector<std::string> positional;
};

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      std::string key = s.substr(2);
      auto eq = key.find('=');
      if (eq != std::string::npos) {
        a.opts[key.substr(0, eq)] = key.substr(eq + 1);
      } else if (key == "stdin" || key == "open-kfd") {
        a.opts[key] = "1";
      } else {
        if (i + 1 >= argc) usage(("missing value for " + s).c_str());
        a.opts[key] = argv[++i];
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

unsigned long long to_num(const std::string& key, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 0);
  if (errno || end == v.c_str() || *end) usage(("bad number for --" + key + ": " + v).c_str());
  return n;
}

unsigned long long opt_num(const Args& a, const std::string& key, std::optional<unsigned long long> def) {
  auto it = a.opts.find(key);
  if (it == a.opts.end()) {
    if (!def) usage(("--" + key + " is required").c_str());
    return *def;
  }
  return to_num(key, it->second);
}

std::uint32_t queue_type(const Args& a) {
  auto it = a.opts.find("type");
  if (it == a.opts.end()) return GP_KFD_QUEUE_TYPE_COMPUTE_AQL;
  const std::string& t = it->second;
  if (t == "compute") return GP_KFD_QUEUE_TYPE_COMPUTE;
  if (t == "sdma") return GP_KFD_QUEUE_TYPE_SDMA;
  if (t == "compute_aql") return GP_KFD_QUEUE_TYPE_COMPUTE_AQL;
  if (t == "sdma_xgmi") return GP_KFD_QUEUE_TYPE_SDMA_XGMI;
  if (t == "sdma_by_eng_id") return GP_KFD_QUEUE_TYPE_SDMA_BY_ENG_ID;
  return static_cast<std::uint32_t>(to_num("type", t));
}

// ---- /dev/kfd ---------------------------------------------------------------

// A ring, read and write pointer in this process's memory, so the addresses
// pass KFD's access_ok() checks and the kernel reaches the gpu_id lookup.
struct FakeRing {
  alignas(4096) unsigned char ring[8192];
  std::uint64_t rptr = 0;
  std::uint64_t wptr = 0;
};
FakeRing g_ring;

std::uint64_t ring_addr(const Args& a) {
  auto it = a.opts.find("ring-addr");
  if (it == a.opts.end() || it->second == "auto") return reinterpret_cast<std::uint64_t>(g_ring.ring);
  return to_num("ring-addr", it->second);
}

// Opens /dev/kfd; on failure prints the open result and exits: nothing else
// a command does makes sense without it.
int open_kfd() {
  int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  int err = errno;
  auto j = op_json("open");
  j.result(fd < 0 ? -1 : 0, err);
  if (fd < 0) {
    j.print();
    std::exit(kExitFail);
  }
  j.num("fd", fd).print();
  return fd;
}

// EINTR returns retried so far, as libhsakmt's kmtIoctl retries them.
unsigned long g_eintr = 0;

long kfd_ioctl(int fd, unsigned long req, void* arg, int* err) {
  long rc;
  do {
    rc = ioctl(fd, req, arg);
    if (rc < 0 && errno == EINTR) ++g_eintr;
  } while (rc < 0 && errno == EINTR);
  *err = errno;
  return rc;
}

// AMDKFD_IOC_CREATE_PROCESS (KFD 1.19+): turn this fd into a secondary KFD
// context of the calling process (include/uapi/linux/kfd_ioctl.h).
constexpr unsigned long kIocCreateProcess = _IO('K', 0x27);

gp_kfd_create_queue_args create_args(const Args& a) {
  gp_kfd_create_queue_args c{};
  c.ring_base_address = ring_addr(a);
  c.write_pointer_address = reinterpret_cast<std::uint64_t>(&g_ring.wptr);
  c.read_pointer_address = reinterpret_cast<std::uint64_t>(&g_ring.rptr);
  c.ring_size = static_cast<std::uint32_t>(opt_num(a, "ring-size", 4096));
  c.gpu_id = static_cast<std::uint32_t>(opt_num(a, "gpu-id", std::nullopt));
  c.queue_type = queue_type(a);
  c.queue_percentage = static_cast<std::uint32_t>(opt_num(a, "percent", 100));
  c.queue_priority = static_cast<std::uint32_t>(opt_num(a, "priority", 7));
  return c;
}

int cmd_version() {
  int fd = open_kfd();
  gp_kfd_get_version_args v{};
  int err = 0;
  long rc = kfd_ioctl(fd, GP_KFD_IOC_GET_VERSION, &v, &err);
  op_json("version")
      .result(rc, err)
      .unum("major", v.major_version)
      .unum("minor", v.minor_version)
      .boolean("debug_api", rc == 0 && v.major_version == 1 && v.minor_version >= GP_KFD_DEBUG_API_MINOR)
      .print();
  return kExitOk;
}

int cmd_open_exit() {
  open_kfd();
  // Exit without close(): the kernel tears the KFD process down at exit,
  // which is the path the process-exit events come from.
  std::_Exit(kExitOk);
}

int cmd_create(const Args& a) {
  int fd = open_kfd();
  auto c = create_args(a);
  int err = 0;
  long rc = kfd_ioctl(fd, GP_KFD_IOC_CREATE_QUEUE, &c, &err);
  op_json("create_queue")
      .result(rc, err)
      .unum("gpu_id", c.gpu_id)
      .unum("queue_type", c.queue_type)
      .unum("priority", c.queue_priority)
      .unum("percent", c.queue_percentage)
      .unum("ring_size", c.ring_size)
      .hex("ring_addr", c.ring_base_address)
      .unum("qid", c.queue_id)
      .print();
  return kExitOk;
}

int cmd_destroy(const Args& a) {
  int fd = open_kfd();
  gp_kfd_destroy_queue_args d{};
  d.queue_id = static_cast<std::uint32_t>(opt_num(a, "qid", std::nullopt));
  int err = 0;
  long rc = kfd_ioctl(fd, GP_KFD_IOC_DESTROY_QUEUE, &d, &err);
  op_json("destroy_queue").result(rc, err).unum("qid", d.queue_id).print();
  return kExitOk;
}

gp_kfd_update_queue_args update_args(const Args& a) {
  gp_kfd_update_queue_args u{};
  u.queue_id = static_cast<std::uint32_t>(opt_num(a, "qid", std::nullopt));
  u.ring_base_address = ring_addr(a);
  u.ring_size = static_cast<std::uint32_t>(opt_num(a, "ring-size", 4096));
  u.queue_percentage = static_cast<std::uint32_t>(opt_num(a, "percent", 100));
  u.queue_priority = static_cast<std::uint32_t>(opt_num(a, "priority", 7));
  return u;
}

int cmd_update(const Args& a) {
  int fd = open_kfd();
  auto u = update_args(a);
  int err = 0;
  long rc = kfd_ioctl(fd, GP_KFD_IOC_UPDATE_QUEUE, &u, &err);
  op_json("update_queue")
      .result(rc, err)
      .unum("qid", u.queue_id)
      .unum("priority", u.queue_priority)
      .unum("percent", u.queue_percentage)
      .unum("ring_size", u.ring_size)
      .print();
  return kExitOk;
}

// N ioctls back to back. Every one is a queue ioctl that the KFD handler
// validates and refuses (no GPU), so each produces exactly one ioctl event.
int cmd_burst(const Args& a) {
  if (a.positional.empty()) usage("burst needs a count");
  unsigned long long n = to_num("count", a.positional[0]);
  std::string op = a.opts.count("op") ? a.opts.at("op") : "mixed";
  if (op != "create" && op != "destroy" && op != "update" && op != "mixed") usage("bad --op");
  int fd = open_kfd();
  Args ca;
  ca.opts = {{"gpu-id", "0x4242"}, {"type", "compute_aql"}, {"priority", "5"}, {"percent", "50"},
             {"ring-size", "4096"}};
  ca.opts.insert(a.opts.begin(), a.opts.end());
  Args ua = ca;
  ua.opts["qid"] = ca.opts.count("qid") ? ca.opts["qid"] : "900";
  const auto cargs = create_args(ca);
  const auto uargs = update_args(ua);
  const std::uint32_t qid = static_cast<std::uint32_t>(to_num("qid", ua.opts["qid"]));
  unsigned long long counts[3] = {0, 0, 0}, ok[3] = {0, 0, 0};
  std::map<int, unsigned long long> errs;
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned long long i = 0; i < n; ++i) {
    int which = op == "create" ? 0 : op == "destroy" ? 1 : op == "update" ? 2 : static_cast<int>(i % 3);
    int err = 0;
    long rc;
    if (which == 0) {
      auto c = cargs;
      rc = kfd_ioctl(fd, GP_KFD_IOC_CREATE_QUEUE, &c, &err);
    } else if (which == 1) {
      gp_kfd_destroy_queue_args d{};
      d.queue_id = qid;
      rc = kfd_ioctl(fd, GP_KFD_IOC_DESTROY_QUEUE, &d, &err);
    } else {
      auto u = uargs;
      rc = kfd_ioctl(fd, GP_KFD_IOC_UPDATE_QUEUE, &u, &err);
    }
    ++counts[which];
    if (rc == 0) ++ok[which]; else ++errs[err];
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string e = "{";
  for (auto& [k, v] : errs) {
    if (e.size() > 1) e += ',';
    e += "\"" + Json::errname(k) + "\":" + std::to_string(v);
  }
  e += "}";
  op_json("burst")
      .unum("n", n)
      .unum("create", counts[0])
      .unum("destroy", counts[1])
      .unum("update", counts[2])
      .unum("create_ok", ok[0])
      .unum("destroy_ok", ok[1])
      .unum("update_ok", ok[2])
      .unum("qid", qid)
      .unum("gpu_id", cargs.gpu_id)
      .raw("errors", e)
      .num("usec", static_cast<long long>(secs * 1e6))
      .print();
  return kExitOk;
}

// Blocks SIGTERM/SIGINT and returns a signalfd for them, so waiting for the
// end of a session is a poll() and the handlers never interrupt an ioctl.
int signal_fd() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigprocmask(SIG_BLOCK, &s, nullptr);
  return signalfd(-1, &s, SFD_CLOEXEC);
}

// One stdin command of runtime-target on its secondary KFD context.
void secondary_command(const std::string& line, int* sec) {
  int err = 0;
  if (line == "secondary") {
    *sec = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    err = errno;
    op_json("secondary_open").result(*sec < 0 ? -1 : 0, err).num("fd", *sec).print();
    if (*sec < 0) return;
    long rc = kfd_ioctl(*sec, kIocCreateProcess, nullptr, &err);
    op_json("create_process").result(rc, err).num("fd", *sec).print();
  } else if (line == "secondary-create") {
    Args ca;
    ca.opts = {{"gpu-id", "0x4242"}, {"type", "compute_aql"}};
    auto c = create_args(ca);
    long rc = kfd_ioctl(*sec, GP_KFD_IOC_CREATE_QUEUE, &c, &err);
    op_json("secondary_create_queue").result(rc, err).unum("qid", c.queue_id).print();
  } else if (line.rfind("secondary-destroy ", 0) == 0) {
    gp_kfd_destroy_queue_args d{};
    d.queue_id = static_cast<std::uint32_t>(to_num("qid", line.substr(18)));
    long rc = kfd_ioctl(*sec, GP_KFD_IOC_DESTROY_QUEUE, &d, &err);
    op_json("secondary_destroy_queue").result(rc, err).unum("qid", d.queue_id).print();
  } else if (line == "secondary-close") {
    int rc = close(*sec);
    err = errno;
    op_json("secondary_close").result(rc, err).print();
    *sec = -1;
  } else if (!line.empty()) {
    op_json("unknown_command").str("line", line).print();
  }
}

int cmd_runtime_target(const Args& a) {
  int sfd = signal_fd();
  if (sfd < 0) {
    std::perror("signalfd");
    return kExitFail;
  }
  int fd = open_kfd();
  // Like ROCr between open(/dev/kfd) and hsa_init's RUNTIME_ENABLE: a
  // debugger that ENABLEs in this window makes RUNTIME_ENABLE block until it
  // answers with SEND_RUNTIME_EVENT. SIGTERM meanwhile stays pending.
  if (auto delay = opt_num(a, "delay-enable-ms", 0)) {
    op_json("delay").unum("ms", delay).print();
    timespec ts{static_cast<time_t>(delay / 1000), static_cast<long>(delay % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
  }
  if (auto it = a.opts.find("enable-after-file"); it != a.opts.end()) {
    op_json("wait_file").str("path", it->second).print();
    while (access(it->second.c_str(), F_OK) != 0) usleep(20000);
  }
  gp_kfd_runtime_enable_args r{};
  r.r_debug = 0;
  r.mode_mask = GP_KFD_RUNTIME_ENABLE_MODE_ENABLE_MASK;
  int err = 0;
  const auto t0 = std::chrono::steady_clock::now();
  op_json("runtime_enable_begin").print();
  long rc = kfd_ioctl(fd, GP_KFD_IOC_RUNTIME_ENABLE, &r, &err);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  op_json("runtime_enable")
      .result(rc, err)
      .hex("capabilities_mask", r.capabilities_mask)
      .unum("eintr", g_eintr)
      .num("ms", static_cast<long long>(ms.count()))
      .print();
  op_json("ready").print();
  int sec = -1;  // the secondary context's fd
  std::string pending;
  pollfd p[2] = {{sfd, POLLIN, 0}, {0, POLLIN, 0}};
  int nfds = a.opts.count("stdin") ? 2 : 1;
  const char* why = "signal";
  for (;;) {
    int n = poll(p, nfds, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = "poll error";
      break;
    }
    if (p[0].revents) {
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) why = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
      break;
    }
    if (nfds == 2 && p[1].revents) {
      char buf[256];
      ssize_t got = read(0, buf, sizeof buf);
      if (got <= 0) {
        why = "stdin EOF";
        break;
      }
      pending.append(buf, static_cast<std::size_t>(got));
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
        secondary_command(pending.substr(0, nl), &sec);
    }
  }
  if (sec >= 0) close(sec);
  gp_kfd_runtime_enable_args d{};
  d.mode_mask = 0;  // mode without the enable bit = RUNTIME_DISABLE
  rc = kfd_ioctl(fd, GP_KFD_IOC_RUNTIME_ENABLE, &d, &err);
  op_json("runtime_disable").result(rc, err).str("woken_by", why).print();
  return kExitOk;
}

int cmd_online_target(const Args& a) {
  using gp::test::FakeAmdSignal;
  auto it = a.opts.find("hsa-lib");
  const std::string lib = it == a.opts.end() ? "/opt/rocm/lib/libhsa-runtime64.so.1" : it->second;
  void* so = dlopen(lib.c_str(), RTLD_NOW);
  if (!so) {
    op_json("dlopen").str("error", dlerror()).print();
    return kExitFail;
  }
  auto store = reinterpret_cast<gp::test::HsaSignalStore>(dlsym(so, "hsa_signal_store_screlease"));
  if (!store) {
    op_json("dlsym").str("error", "no hsa_signal_store_screlease").print();
    return kExitFail;
  }
  const auto every_ms = opt_num(a, "ring-every-ms", 0);
  // After the runtime is mapped, like ROCr (libhsakmt opens /dev/kfd in
  // hsa_init): whoever classifies the new KFD process finds the library.
  if (a.opts.count("open-kfd")) open_kfd();
  int sfd = signal_fd();
  // One queue: amd_queue_t-sized, write_dispatch_id at +56; its doorbell
  // signal; a completion signal.
  alignas(64) static unsigned char queue[256];
  static std::uint64_t doorbell_word;
  static FakeAmdSignal doorbell, completion;
  doorbell.kind = gp::test::kSignalKindDoorbell;
  doorbell.value_or_doorbell_ptr = reinterpret_cast<std::uint64_t>(&doorbell_word);
  doorbell.queue_ptr = reinterpret_cast<std::uint64_t>(queue);
  completion.kind = gp::test::kSignalKindUser;
  auto* write_id = reinterpret_cast<std::uint64_t*>(queue + 56);
  std::uint64_t rings = 0, completes = 0;
  auto ring = [&] {
    const std::uint64_t index = __atomic_add_fetch(write_id, 1, __ATOMIC_RELEASE) - 1;
    store(reinterpret_cast<std::uint64_t>(&doorbell), static_cast<std::int64_t>(index));
    ++rings;
  };
  op_json("ready").str("lib", lib.c_str()).hex("queue", reinterpret_cast<std::uint64_t>(queue)).print();
  pollfd p[2] = {{sfd, POLLIN, 0}, {0, POLLIN, 0}};
  const char* why = "signal";
  std::string pending;
  for (;;) {
    int n = poll(p, 2, every_ms ? static_cast<int>(every_ms) : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      ring();
      continue;
    }
    if (n < 0) {
      why = "poll error";
      break;
    }
    if (p[0].revents) break;
    char buf[256];
    ssize_t got = read(0, buf, sizeof buf);
    if (got <= 0) {
      if (every_ms) {  // ringing on its own: only a signal ends it
        p[1].fd = -1;
        continue;
      }
      why = "stdin EOF";
      break;
    }
    pending.append(buf, static_cast<std::size_t>(got));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      const std::string line = pending.substr(0, nl);
      if (line == "ring") {
        ring();
        op_json("ring").unum("rings", rings).print();
      } else if (line == "complete") {
        store(reinterpret_cast<std::uint64_t>(&completion), 0);
        op_json("complete").unum("completes", ++completes).print();
      }
    }
  }
  op_json("exit").unum("rings", rings).unum("completes", completes).str("woken_by", why).print();
  return kExitOk;
}

std::vector<std::uint32_t> parse_qids(const std::string& s) {
  std::vector<std::uint32_t> q;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!part.empty()) q.push_back(static_cast<std::uint32_t>(to_num("qids", part)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return q;
}

std::string qid_array_json(const std::vector<std::uint32_t>& q) {
  std::string s = "[";
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(q[i]);
  }
  return s + "]";
}

unsigned count_mask(const std::vector<std::uint32_t>& q, std::uint32_t mask) {
  unsigned n = 0;
  for (auto v : q) n += (v & mask) != 0;
  return n;
}

// Reads whatever KFD wrote to the debug event pipe (one '.' per event).
long drain(int rfd) {
  long total = 0;
  char buf[64];
  for (;;) {
    ssize_t n = read(rfd, buf, sizeof buf);
    if (n <= 0) break;
    total += n;
  }
  return total;
}

int dbg_trap(int fd, gp_kfd_dbg_trap_args* args, int* err) {
  return static_cast<int>(kfd_ioctl(fd, GP_KFD_IOC_DBG_TRAP, args, err));
}

// The debugger side of a KFD debug session, as the controller will do it:
// this thread is the ptrace tracer of the target's thread-group leader and
// issues every DBG_TRAP op itself (docs/kfd-internals.md §2: the kernel compares
// ptrace_parent(target leader) with current, a thread).
int cmd_debug_session(const Args& a) {
  pid_t target = static_cast<pid_t>(opt_num(a, "target", std::nullopt));
  auto qids = parse_qids(a.opts.count("qids") ? a.opts.at("qids") : "1,2,3");
  if (qids.empty() || qids.size() > GP_KFD_MAX_QUEUES_PER_PROCESS) usage("--qids: 1..1024 queue ids");

  long prc = ptrace(PTRACE_SEIZE, target, nullptr, nullptr);
  int perr = errno;
  op_json("ptrace_seize").result(prc, perr).num("target", target).print();
  if (prc < 0) return kExitFail;

  int fd = open_kfd();
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
    std::perror("pipe2");
    return kExitFail;
  }
  int err = 0;

  gp_kfd_runtime_info rinfo{};
  gp_kfd_dbg_trap_args en{};
  en.pid = static_cast<gp_u32>(target);
  en.op = GP_KFD_DBG_TRAP_ENABLE;
  en.enable.exception_mask = GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
  en.enable.rinfo_ptr = reinterpret_cast<std::uint64_t>(&rinfo);
  en.enable.rinfo_size = sizeof rinfo;
  en.enable.dbg_fd = static_cast<gp_u32>(pipefd[1]);
  int rc = dbg_trap(fd, &en, &err);
  op_json("dbg_enable")
      .result(rc, err)
      .num("target", target)
      .hex("exception_mask", en.enable.exception_mask)
      .unum("rinfo_size", en.enable.rinfo_size)
      .unum("runtime_state", rinfo.runtime_state)
      .num("pipe_bytes", drain(pipefd[0]))
      .print();
  const bool enabled = rc == 0;

  auto susp = qids;
  gp_kfd_dbg_trap_args su{};
  su.pid = static_cast<gp_u32>(target);
  su.op = GP_KFD_DBG_TRAP_SUSPEND_QUEUES;
  su.suspend_queues.exception_mask = 0;
  su.suspend_queues.queue_array_ptr = reinterpret_cast<std::uint64_t>(susp.data());
  su.suspend_queues.num_queues = static_cast<gp_u32>(susp.size());
  su.suspend_queues.grace_period = 0;
  rc = dbg_trap(fd, &su, &err);
  op_json("dbg_suspend")
      .result(rc, err)
      .num("target", target)
      .unum("num_queues", susp.size())
      .raw("queues", qid_array_json(susp))
      .unum("invalid", count_mask(susp, GP_KFD_DBG_QUEUE_INVALID_MASK))
      .unum("error", count_mask(susp, GP_KFD_DBG_QUEUE_ERROR_MASK))
      .print();

  auto res = qids;
  gp_kfd_dbg_trap_args re{};
  re.pid = static_cast<gp_u32>(target);
  re.op = GP_KFD_DBG_TRAP_RESUME_QUEUES;
  re.resume_queues.queue_array_ptr = reinterpret_cast<std::uint64_t>(res.data());
  re.resume_queues.num_queues = static_cast<gp_u32>(res.size());
  rc = dbg_trap(fd, &re, &err);
  op_json("dbg_resume")
      .result(rc, err)
      .num("target", target)
      .unum("num_queues", res.size())
      .raw("queues", qid_array_json(res))
      .unum("invalid", count_mask(res, GP_KFD_DBG_QUEUE_INVALID_MASK))
      .unum("error", count_mask(res, GP_KFD_DBG_QUEUE_ERROR_MASK))
      .print();

  gp_kfd_dbg_trap_args di{};
  di.pid = static_cast<gp_u32>(target);
  di.op = GP_KFD_DBG_TRAP_DISABLE;
  rc = dbg_trap(fd, &di, &err);
  op_json("dbg_disable").result(rc, err).num("target", target).boolean("was_enabled", enabled).print();

  // Detach cleanly: PTRACE_DETACH needs the tracee in a ptrace-stop.
  long irc = ptrace(PTRACE_INTERRUPT, target, nullptr, nullptr);
  int ierr = errno;
  long drc = -1;
  int derr = 0;
  if (irc == 0) {
    int status = 0;
    if (waitpid(target, &status, __WALL) == target) {
      drc = ptrace(PTRACE_DETACH, target, nullptr, nullptr);
      derr = errno;
    } else {
      derr = errno;
    }
  }
  op_json("ptrace_detach").result(irc < 0 ? irc : drc, irc < 0 ? ierr : derr).num("target", target).print();
  close(pipefd[0]);
  close(pipefd[1]);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") usage();
  Args a = parse(argc, argv, 2);
  if (cmd == "version") return cmd_version();
  if (cmd == "open-exit") return cmd_open_exit();
  if (cmd == "create-queue") return cmd_create(a);
  if (cmd == "destroy-queue") return cmd_destroy(a);
  if (cmd == "update-queue") return cmd_update(a);
  if (cmd == "burst") return cmd_burst(a);
  if (cmd == "runtime-target") return cmd_runtime_target(a);
  if (cmd == "debug-session") return cmd_debug_session(a);
  if (cmd == "online-target") return cmd_online_target(a);
  usage(("unknown command " + cmd).c_str());
}
