// A synthetic online process for the automatic mode (preempt --online-pid):
// a forked child whose memory holds AQL queue descriptors laid out like ROCR's
// amd_queue_t (write_dispatch_id at +56, read_dispatch_id at +128, 64-bit,
// 256-byte struct aligned to 64), and which advances its own counters the way
// a producer and the GPU's command processor do: it stamps the time, bumps the
// write id (a submission), and after `fetch_us` sets the read id to it (the CP
// fetched the packet). The controller only ever sees the child's memory
// through process_vm_readv, like a real online process's.
//
// With `ring`, each submission also rings the queue's doorbell the way
// ROCclr does, hsa_signal_store_screlease(queue->doorbell_signal, index),
// through a stand-in libhsa-runtime64.so.1 (fake_hsa_runtime.c) that the
// parent dlopens before forking, so the child maps it like a real runtime and
// the doorbell uprobes attach to it; its doorbell signals are amd_signal_t-
// shaped (kind -1, queue_ptr -> the queue) in the child's memory.
//
// The test talks to the child through the same MAP_SHARED page: a command
// (pattern of submissions) in, the submission times out.
#pragma once

#include <dlfcn.h>

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "fake_amd_signal.h"

namespace gp::test {

inline constexpr std::size_t kAqlWriteIdOffset = 56;   // amd_queue_t.write_dispatch_id
inline constexpr std::size_t kAqlReadIdOffset = 128;   // amd_queue_t.read_dispatch_id
inline constexpr int kSyntheticQueues = 4;
inline constexpr int kMaxSubmits = 1 << 16;

struct alignas(64) FakeAmdQueue {
  unsigned char bytes[256];
};
static_assert(sizeof(FakeAmdQueue) == 256);

struct SubmitPattern {
  int queue = 0;
  int count = 1;              // submissions
  std::uint32_t period_us = 0;  // between submissions
  std::uint32_t fetch_us = 0;   // submission -> read id catches up (0: at once)
  bool exit = false;            // leave instead
  bool ring = false;            // ring the doorbell after each submission
  bool completion_only = false;  // instead of submitting: store to a completion signal (kind USER)
  int cpu = -1;                  // >= 0: the child runs this pattern pinned to that CPU (and stays there)
};

// The stand-in runtime's two stores, loaded once in the parent (before any
// fork, so every synthetic child maps it too).
struct FakeHsa {
  using Store = HsaSignalStore;
  Store screlease = nullptr, relaxed = nullptr;
  std::string path;

  static const FakeHsa& get() {
    static const FakeHsa h = [] {
      FakeHsa f;
#ifdef GP_FAKE_HSA_LIB
      f.path = GP_FAKE_HSA_LIB;
      void* so = ::dlopen(GP_FAKE_HSA_LIB, RTLD_NOW | RTLD_LOCAL);
      if (!so) throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
      f.screlease = reinterpret_cast<Store>(::dlsym(so, "hsa_signal_store_screlease"));
      f.relaxed = reinterpret_cast<Store>(::dlsym(so, "hsa_signal_store_relaxed"));
#endif
      return f;
    }();
    return h;
  }
};

struct SyntheticShared {
  FakeAmdQueue queues[kSyntheticQueues];
  FakeAmdSignal doorbells[kSyntheticQueues];
  FakeAmdSignal completion;
  std::uint64_t doorbell_words[kSyntheticQueues];  // where the doorbells' stores land
  std::atomic<std::uint32_t> cmd_seq{0}, done_seq{0};
  SubmitPattern cmd;
  std::atomic<std::uint32_t> submits{0};
  std::uint64_t submit_ns[kMaxSubmits];
  std::uint64_t store_ns[kMaxSubmits];  // how long each ring (the hsa_signal_store_screlease call) took
  int store_cpu[kMaxSubmits];           // the CPU it was made on
  std::uint8_t store_code[kMaxSubmits];  // the store function's first byte just before the call (0xcc: a breakpoint)
};

inline std::uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

class SyntheticOnline {
 public:
  SyntheticOnline() {
    void* m = ::mmap(nullptr, sizeof(SyntheticShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap");
    sh_ = new (m) SyntheticShared();
    for (int q = 0; q < kSyntheticQueues; ++q) {
      sh_->doorbells[q].kind = kSignalKindDoorbell;
      sh_->doorbells[q].value_or_doorbell_ptr = reinterpret_cast<std::uint64_t>(&sh_->doorbell_words[q]);
      sh_->doorbells[q].queue_ptr = reinterpret_cast<std::uint64_t>(&sh_->queues[q]);
    }
    sh_->completion.kind = kSignalKindUser;
    hsa_ = &FakeHsa::get();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) child_main();
  }
  ~SyntheticOnline() {
    kill();
    sh_->~SyntheticShared();
    ::munmap(sh_, sizeof(SyntheticShared));
  }

  pid_t pid() const { return pid_; }
  std::uint64_t wptr_addr(int q) const { return reinterpret_cast<std::uint64_t>(&sh_->queues[q].bytes[kAqlWriteIdOffset]); }
  std::uint64_t rptr_addr(int q) const { return reinterpret_cast<std::uint64_t>(&sh_->queues[q].bytes[kAqlReadIdOffset]); }
  std::uint64_t queue_addr(int q) const { return reinterpret_cast<std::uint64_t>(&sh_->queues[q]); }
  std::uint64_t doorbell_word(int q) const { return std::atomic_ref<std::uint64_t>(sh_->doorbell_words[q]).load(); }
  std::int64_t completion_value() const { return std::atomic_ref<std::int64_t>(*reinterpret_cast<std::int64_t*>(&sh_->completion.value_or_doorbell_ptr)).load(); }
  // A doorbell signal's handle, for a store from another process (the test's).
  std::uint64_t doorbell_handle(int q) const { return reinterpret_cast<std::uint64_t>(&sh_->doorbells[q]); }

  // Runs a pattern in the child; returns when the child has finished it.
  void run(const SubmitPattern& p) {
    start(p);
    wait_done();
  }
  void start(const SubmitPattern& p) {
    sh_->cmd = p;
    sh_->cmd_seq.fetch_add(1, std::memory_order_release);
  }
  void wait_done() {
    while (sh_->done_seq.load(std::memory_order_acquire) != sh_->cmd_seq.load()) ::usleep(200);
  }
  std::uint32_t submits() const { return sh_->submits.load(std::memory_order_acquire); }
  std::uint64_t submit_ns(std::uint32_t i) const { return sh_->submit_ns[i]; }
  // The online thread's side of a ringing submission: the store call's wall
  // time (the uprobe's trap, and whatever ran on its CPU meanwhile).
  std::uint64_t store_ns(std::uint32_t i) const { return sh_->store_ns[i % kMaxSubmits]; }
  int store_cpu(std::uint32_t i) const { return sh_->store_cpu[i % kMaxSubmits]; }
  // Whether a uprobe's breakpoint was on the store function when the online
  // thread called it (it read the function's first byte just before).
  bool store_probed(std::uint32_t i) const { return sh_->store_code[i % kMaxSubmits] == 0xcc; }
  // The first byte of a function of the stand-in runtime as the child sees
  // it: 0xcc while a uprobe's breakpoint is on it.
  std::uint8_t code_byte(HsaSignalStore fn) const {
    std::uint8_t b = 0;
    iovec local{&b, 1}, remote{reinterpret_cast<void*>(fn), 1};
    if (::process_vm_readv(pid_, &local, 1, &remote, 1, 0) != 1) throw std::runtime_error("process_vm_readv");
    return b;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  static std::atomic_ref<std::uint64_t> word(FakeAmdQueue& q, std::size_t off) {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(&q.bytes[off]));
  }

  [[noreturn]] void child_main() {
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t seq = sh_->cmd_seq.load(std::memory_order_acquire);
      if (seq == seen) {
        ::usleep(500);
        continue;
      }
      seen = seq;
      const SubmitPattern p = sh_->cmd;
      if (p.exit) ::_exit(0);
      if (p.cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(p.cpu, &one);
        ::sched_setaffinity(0, sizeof(one), &one);
      }
      FakeAmdQueue& q = sh_->queues[p.queue];
      auto w = word(q, kAqlWriteIdOffset), r = word(q, kAqlReadIdOffset);
      std::uint64_t next = mono_ns();
      for (int i = 0; i < p.count; ++i) {
        timespec ts{static_cast<time_t>(next / 1'000'000'000), static_cast<long>(next % 1'000'000'000)};
        ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
        if (p.completion_only) {
          // What a kernel's completion does to its signal (on hardware the
          // CP writes it; a runtime may store to it too): not a submission.
          hsa_->screlease(reinterpret_cast<std::uint64_t>(&sh_->completion), 0);
          hsa_->relaxed(reinterpret_cast<std::uint64_t>(&sh_->completion), i);
          next = mono_ns() + p.period_us * 1000ull;
          continue;
        }
        const std::uint32_t n = sh_->submits.load(std::memory_order_relaxed);
        const std::uint64_t id = w.load() + 1;
        const std::uint64_t t = mono_ns();
        sh_->submit_ns[n % kMaxSubmits] = t;
        w.store(id, std::memory_order_release);  // the producer's slot reservation
        if (p.ring) {
          sh_->store_code[n % kMaxSubmits] = *reinterpret_cast<const volatile std::uint8_t*>(hsa_->screlease);
          hsa_->screlease(reinterpret_cast<std::uint64_t>(&sh_->doorbells[p.queue]), static_cast<std::int64_t>(id - 1));
          sh_->store_ns[n % kMaxSubmits] = mono_ns() - t;
          sh_->store_cpu[n % kMaxSubmits] = ::sched_getcpu();
        }
        sh_->submits.store(n + 1, std::memory_order_release);
        if (p.fetch_us) {
          const std::uint64_t until = mono_ns() + p.fetch_us * 1000ull;
          while (mono_ns() < until) std::this_thread::yield();
        }
        r.store(id, std::memory_order_release);  // the CP fetched it
        // From this submission, not from the schedule: after a stall on a
        // loaded machine the gaps stay gaps instead of collapsing into a burst.
        next = t + p.period_us * 1000ull;
      }
      sh_->done_seq.store(seq, std::memory_order_release);
    }
  }

  SyntheticShared* sh_ = nullptr;
  const FakeHsa* hsa_ = nullptr;
  pid_t pid_ = -1;
};

}  // namespace gp::test
