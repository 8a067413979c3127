// The ptrace layer against real processes on this machine. Each target is a
// grandchild (test -> parent -> target), like a real offline job whose parent
// is a shell: the tracer must not steal its exit status or job-control
// notifications from that parent.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/proc.h"
#include "preempt/ptrace_tracer.h"

using namespace std::chrono_literals;

namespace {

// Shared with the target and its parent (MAP_SHARED before fork).
struct Shared {
  std::atomic<pid_t> target{0};
  std::atomic<long> ticks{0};           // the target's main loop progress
  std::atomic<int> usr1{0};             // SIGUSR1 handler runs
  std::atomic<int> parent_stops{0};     // WIFSTOPPED seen by the real parent
  std::atomic<int> parent_conts{0};     // WIFCONTINUED seen by the real parent
  std::atomic<int> exit_status{-1};     // raw wait status seen by the real parent
  std::atomic<int> child_status{-1};    // the target's own child, as the target saw it
  std::atomic<int> child_tracer{-1};    // TracerPid the target's child saw
};

Shared* g_shared = nullptr;  // in the target: for the signal handler

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  auto p = s.rfind(')');
  return p == std::string::npos || p + 2 >= s.size() ? '?' : s[p + 2];
}

void tick_forever(Shared* sh) {
  for (;;) {
    sh->ticks++;
    usleep(500);
  }
}

class Family {
 public:
  // body runs in the target; its return value is the exit code.
  explicit Family(std::function<int(Shared*)> body) {
    void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh_ = new (mem) Shared();
    parent_ = fork();
    if (parent_ == 0) {
      pid_t t = fork();
      if (t == 0) {
        g_shared = sh_;
        _exit(body(sh_));
      }
      sh_->target = t;
      for (;;) {
        int st = 0;
        if (waitpid(t, &st, WUNTRACED | WCONTINUED) < 0) _exit(1);
        if (WIFSTOPPED(st)) sh_->parent_stops++;
        else if (WIFCONTINUED(st)) sh_->parent_conts++;
        else {
          sh_->exit_status = st;
          _exit(0);
        }
      }
    }
    EXPECT_TRUE(wait_until([&] { return sh_->target.load() != 0; }));
  }
  ~Family() {
    if (sh_->exit_status.load() == -1) kill(target(), SIGKILL);
    int st;
    waitpid(parent_, &st, 0);
    munmap(sh_, sizeof(Shared));
  }
  pid_t target() const { return sh_->target.load(); }
  Shared* sh() const { return sh_; }

 private:
  Shared* sh_ = nullptr;
  pid_t parent_ = -1;
};

struct Recorder : gp::TracerObserver {
  std::atomic<int> gone{0}, execs{0};
  std::atomic<int> status{0};
  void on_target_gone(int st) override {
    status = st;
    gone++;
  }
  void on_target_exec() override { execs++; }
};

std::unique_ptr<gp::PtraceTracer> attach_ok(pid_t pid) {
  int err = 0;
  auto t = gp::PtraceTracer::attach(pid, &err);
  EXPECT_NE(t, nullptr) << "PTRACE_SEIZE: " << strerror(-err);
  return t;
}

// TracerPid names the tracer *thread*; check that it is one of ours.
bool traced_by_us(pid_t pid) {
  pid_t tid = gp::tracer_of(pid);
  return tid > 0 && access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0;
}

bool progressing(Shared* sh) {
  long before = sh->ticks.load();
  std::this_thread::sleep_for(50ms);
  return sh->ticks.load() > before;
}

}  // namespace

TEST(PtraceTracer, AttachesAsTracerAndRunsWorkOnItsOwnThread) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(traced_by_us(f.target()));
  EXPECT_NE(gp::tracer_of(f.target()), getpid()) << "the tracer is a dedicated thread";
  EXPECT_FALSE(t->on_tracer_thread());
  EXPECT_TRUE(t->call([&] { return t->on_tracer_thread(); }));
  // Posted work runs in order.
  std::vector<int> seen;
  for (int i = 0; i < 5; ++i) t->post([&seen, i] { seen.push_back(i); });
  t->call([] {});
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(progressing(f.sh())) << "a seized target keeps running";
}

TEST(PtraceTracer, SignalsAreDeliveredWhileAttached) {
  Family f([](Shared* sh) {
    signal(SIGUSR1, [](int) { g_shared->usr1++; });
    tick_forever(sh);
    return 0;
  });
  ASSERT_TRUE(wait_until([&] { return f.sh()->ticks.load() > 0; }));  // handler installed
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  constexpr int kSignals = 50;
  for (int i = 1; i <= kSignals; ++i) {
    ASSERT_EQ(kill(f.target(), SIGUSR1), 0);
    // Standard signals do not queue: send the next once this one was handled.
    ASSERT_TRUE(wait_until([&] { return f.sh()->usr1.load() >= i; })) << "signal " << i << " lost";
  }
  EXPECT_EQ(f.sh()->usr1.load(), kSignals);
  EXPECT_GE(t->counters().signals_forwarded, static_cast<std::uint64_t>(kSignals));
}

// preempt's automatic mode keeps the tracer thread for its own poll loop:
// submit() from there must run at once (after the work queued before it), and
// the loop's serve_round() must still forward the target's signals and run
// work posted from other threads, or the target would hang in a ptrace stop.
TEST(PtraceTracer, ALoopKeepingTheTracerThreadStillServesTheTarget) {
  Family f([](Shared* sh) {
    signal(SIGUSR1, [](int) { g_shared->usr1++; });
    tick_forever(sh);
    return 0;
  });
  ASSERT_TRUE(wait_until([&] { return f.sh()->ticks.load() > 0; }));
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> posted_ran{0};
  std::vector<int> order;  // tracer thread only
  auto loop = t->submit([&] {
    // Queued before an inline submit: runs first, as the queue promises.
    t->post([&] { order.push_back(1); });
    EXPECT_TRUE(t->here());
    t->submit([&] { order.push_back(2); }).get();  // would deadlock if queued
    while (!stop) {
      std::vector<pollfd> fds;
      for (int fd : t->poll_fds()) fds.push_back({fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 20);
      t->serve_round();
    }
    return 0;
  });
  constexpr int kSignals = 10;
  for (int i = 1; i <= kSignals; ++i) {
    ASSERT_EQ(kill(f.target(), SIGUSR1), 0);
    ASSERT_TRUE(wait_until([&] { return f.sh()->usr1.load() >= i; })) << "signal " << i << " not forwarded";
  }
  t->post([&] { posted_ran++; });
  EXPECT_TRUE(wait_until([&] { return posted_ran.load() == 1; })) << "posted work did not run";
  EXPECT_TRUE(progressing(f.sh()));
  EXPECT_FALSE(t->here());
  stop = true;
  EXPECT_EQ(loop.get(), 0);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_THROW(t->serve_round(), std::logic_error) << "only the tracer thread may serve";
  EXPECT_TRUE(t->detach());
  EXPECT_TRUE(progressing(f.sh()));
}

// The runtime handshake (docs/kfd-internals.md §2): the target's
// RUNTIME_ENABLE/DISABLE raises EC_PROCESS_RUNTIME (one byte on the watched
// dbg_fd pipe) and sleeps in down_interruptible until the debugger's
// SEND_RUNTIME_EVENT; if the controller dies in between, nothing releases it.
// So a readable watched fd is served before any posted work (a SUSPEND can
// take milliseconds), and before work a loop on the tracer thread runs inline.
TEST(PtraceTracer, AReadableWatchedFdIsServedBeforeAnyOtherWork) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  std::vector<std::string> order;  // tracer thread only
  t->watch_fd(p[0], [&] {
    char b[16];
    while (read(p[0], b, sizeof b) > 0) {
    }
    order.push_back("handshake");
  });
  std::atomic<bool> looping{false}, both_pending{false}, stop{false};
  auto loop = t->submit([&] {
    looping = true;
    while (!both_pending) std::this_thread::sleep_for(1ms);  // a loop busy with its own work
    t->serve_round();  // posted work and the handshake are both pending now
    EXPECT_EQ(order, (std::vector<std::string>{"handshake", "posted"}));
    // A SUSPEND the loop issues inline also waits for a pending handshake.
    order.clear();
    EXPECT_EQ(write(p[1], ".", 1), 1);
    t->submit([&] { order.push_back("inline"); }).get();
    EXPECT_EQ(order, (std::vector<std::string>{"handshake", "inline"}));
    while (!stop) {
      std::vector<pollfd> fds;
      for (int fd : t->poll_fds()) fds.push_back({fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 20);
      t->serve_round();
    }
    return 0;
  });
  ASSERT_TRUE(wait_until([&] { return looping.load(); }));
  t->post([&] { order.push_back("posted"); });  // queued behind the running loop
  ASSERT_EQ(write(p[1], ".", 1), 1);
  both_pending = true;
  std::this_thread::sleep_for(100ms);
  stop = true;
  EXPECT_EQ(loop.get(), 0);
  t->unwatch_fd(p[0]);
  close(p[0]);
  close(p[1]);
  EXPECT_TRUE(t->detach());
}

TEST(PtraceTracer, StopAndContinueBehaveAsUntraced) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);

  ASSERT_EQ(kill(f.target(), SIGSTOP), 0);
  ASSERT_TRUE(wait_until([&] { return f.sh()->parent_stops.load() == 1; }))
      << "the real parent must see the stop";
  EXPECT_FALSE(progressing(f.sh())) << "a stopped target must stay stopped";
  EXPECT_GE(t->counters().group_stops, 1u);

  ASSERT_EQ(kill(f.target(), SIGCONT), 0);
  ASSERT_TRUE(wait_until([&] { return f.sh()->parent_conts.load() == 1; }))
      << "the real parent must see the continue";
  EXPECT_TRUE(progressing(f.sh()));

  // Twice, to be sure the LISTEN state machine returns to normal. SIGSTOP,
  // not SIGTSTP: the kernel discards SIGTSTP in an orphaned process group,
  // which is what a test under CI (no terminal, no job control) runs in.
  ASSERT_EQ(kill(f.target(), SIGSTOP), 0);
  ASSERT_TRUE(wait_until([&] { return f.sh()->parent_stops.load() == 2; }));
  EXPECT_FALSE(progressing(f.sh()));
  ASSERT_EQ(kill(f.target(), SIGCONT), 0);
  ASSERT_TRUE(wait_until([&] { return f.sh()->parent_conts.load() == 2; }));
  EXPECT_TRUE(progressing(f.sh()));
}

TEST(PtraceTracer, TargetChildrenAreNotTracedAndReapNormally) {
  Family f([](Shared* sh) {
    while (sh->ticks.load() == 0) usleep(1000);  // wait for the test to attach
    pid_t c = fork();
    if (c == 0) {
      sh->child_tracer = static_cast<int>(gp::tracer_of(getpid()));
      _exit(7);
    }
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    sh->child_status = st;
    return 0;
  });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  f.sh()->ticks = 1;
  ASSERT_TRUE(wait_until([&] { return f.sh()->exit_status.load() != -1; }));
  int cst = f.sh()->child_status.load();
  ASSERT_TRUE(WIFEXITED(cst));
  EXPECT_EQ(WEXITSTATUS(cst), 7);
  EXPECT_EQ(f.sh()->child_tracer.load(), 0) << "the target's child must not be traced";
  int st = f.sh()->exit_status.load();
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_GE(t->counters().signals_forwarded, 1u) << "SIGCHLD went through the tracer";
}

TEST(PtraceTracer, ExecIsReportedAndTheNewImageRunsToItsExit) {
  Recorder rec;
  Family f([](Shared* sh) {
    while (sh->ticks.load() == 0) usleep(1000);
    execl("/bin/sh", "sh", "-c", "sleep 0.1; exit 3", nullptr);
    return 99;
  });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  t->set_observer(&rec);
  f.sh()->ticks = 1;
  ASSERT_TRUE(wait_until([&] { return f.sh()->exit_status.load() != -1; }));
  int st = f.sh()->exit_status.load();
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 3) << "the exec'd program ran and its parent got its status";
  EXPECT_EQ(rec.execs.load(), 1);
  ASSERT_TRUE(wait_until([&] { return rec.gone.load() == 1; }));
  EXPECT_FALSE(t->attached());
}

TEST(PtraceTracer, ExitIsReportedAndTheParentStillReaps) {
  Recorder rec;
  Family f([](Shared* sh) {
    while (sh->ticks.load() == 0) usleep(1000);
    return 5;
  });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  t->set_observer(&rec);
  f.sh()->ticks = 1;
  ASSERT_TRUE(wait_until([&] { return rec.gone.load() == 1; }));
  ASSERT_TRUE(WIFEXITED(rec.status.load()));
  EXPECT_EQ(WEXITSTATUS(rec.status.load()), 5);
  ASSERT_TRUE(wait_until([&] { return f.sh()->exit_status.load() != -1; }));
  EXPECT_EQ(WEXITSTATUS(f.sh()->exit_status.load()), 5);
  EXPECT_FALSE(t->detach()) << "nothing to detach from";
}

TEST(PtraceTracer, DetachLeavesTheTargetRunningAndUntraced) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->detach());
  EXPECT_FALSE(t->attached());
  EXPECT_EQ(gp::tracer_of(f.target()), 0);
  EXPECT_TRUE(progressing(f.sh()));
  t.reset();  // destroying a detached tracer must not disturb the target
  EXPECT_TRUE(progressing(f.sh()));
  EXPECT_EQ(f.sh()->exit_status.load(), -1);
}

// The waiter's waitpid fails with ECHILD once we detach: that is our own
// detach, not the target going away (VM scenario preempt-cycles printed
// "no longer traceable ... gone; nothing to undo" after a clean detach).
TEST(PtraceTracer, OurOwnDetachIsNotReportedAsTheTargetGoing) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  Recorder rec;
  t->set_observer(&rec);
  // The waiter reports detach's PTRACE_INTERRUPT stop and waits again only
  // after the detach: its waitpid then fails with ECHILD.
  gp::ptrace_waiter_delay_for_testing(100ms);
  EXPECT_TRUE(t->detach());
  std::this_thread::sleep_for(300ms);
  gp::ptrace_waiter_delay_for_testing(0ms);
  t->call([] {});  // whatever the waiter pushed has been serviced
  EXPECT_EQ(rec.gone.load(), 0) << "status " << rec.status.load();
  EXPECT_EQ(gp::tracer_of(f.target()), 0);
  EXPECT_TRUE(progressing(f.sh()));
  t->set_observer(nullptr);
}

TEST(PtraceTracer, DestructorDetaches) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  {
    auto t = attach_ok(f.target());
    ASSERT_NE(t, nullptr);
  }
  EXPECT_EQ(gp::tracer_of(f.target()), 0);
  EXPECT_TRUE(progressing(f.sh()));
}

TEST(PtraceTracer, DetachOfAStoppedTargetKeepsItStopped) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto t = attach_ok(f.target());
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(kill(f.target(), SIGSTOP), 0);
  ASSERT_TRUE(wait_until([&] { return f.sh()->parent_stops.load() == 1; }));
  EXPECT_TRUE(t->detach());
  EXPECT_EQ(gp::tracer_of(f.target()), 0);
  EXPECT_FALSE(progressing(f.sh()));
  EXPECT_EQ(proc_state(f.target()), 'T');
  ASSERT_EQ(kill(f.target(), SIGCONT), 0);
  EXPECT_TRUE(wait_until([&] { return progressing(f.sh()); }));
}

TEST(PtraceTracer, ASecondTracerIsRefused) {
  Family f([](Shared* sh) { tick_forever(sh); return 0; });
  auto first = attach_ok(f.target());
  ASSERT_NE(first, nullptr);
  int err = 0;
  auto second = gp::PtraceTracer::attach(f.target(), &err);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(err, -EPERM);
  EXPECT_TRUE(traced_by_us(f.target())) << "the first tracer keeps it";
  EXPECT_TRUE(progressing(f.sh()));
}

TEST(PtraceTracer, AttachToAMissingProcessFails) {
  pid_t p = fork();
  if (p == 0) _exit(0);
  int st;
  waitpid(p, &st, 0);
  int err = 0;
  EXPECT_EQ(gp::PtraceTracer::attach(p, &err), nullptr);
  EXPECT_EQ(err, -ESRCH);
}
