// preempt --online-pid, event-driven: the doorbell uprobes of
// bpf/doorbell.bpf.c on each online process's libhsa-runtime64 (ROCm's
// user-mode runtime, found in /proc/PID/maps). A submission is a store to a
// queue's doorbell signal, so the controller hears of it when it happens,
// with the kernel's timestamp, instead of at its next sample of the queue
// pointers. The probes are attached per process: the offline job, which maps
// the same library, never traps.
//
// Two paths out of BPF: while armed (the offline job runs), the first
// doorbell sends one ring-buffer record and wakes the controller; every
// doorbell also updates the process's slot in the object's global data,
// which the controller reads through the skeleton's mmap with no system call
// (how it knows the online process is still busy while suspended, and what
// closes the window between a wake-up and re-arming).
//
// The uprobes themselves can be taken out and put back (remove_uprobes,
// insert_uprobes) while the processes stay watched: every probed store costs
// the online process a trap, and while every offline target is suspended a
// doorbell changes nothing (controller/online/doorbell_arming.h decides when).
// Where the kernel has them (6.10 on), each process's two uprobes are one
// uprobe_multi link (attach/uprobe_multi.h): closing it takes both
// breakpoints out at once, before the grace period the close then waits for.
// Older kernels get one perf-event uprobe per function, whose breakpoint
// stays in until after a grace period. Either way a removal runs on a helper
// thread the caller does not wait for; an insertion is synchronous, so a
// store right after it is heard.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gp {

struct DoorbellObservation {
  pid_t pid = 0;
  std::uint64_t at_ns = 0;  // bpf_ktime_get_ns of the store: CLOCK_MONOTONIC
  std::uint64_t queue = 0;  // amd_queue_t address
  std::uint64_t value = 0;  // the index stored
  int cpu = -1;             // the CPU the store ran on
};

struct DoorbellCounts {
  std::uint64_t last_ns = 0, doorbells = 0, other = 0, last_queue = 0, last_value = 0;
  int last_cpu = -1;  // the CPU of the last doorbell (-1: none yet)
  // Stores trapped while the uprobes were being taken out (bpf/doorbell.h):
  // neither doorbells nor other, and not decided on.
  std::uint64_t stale = 0;
};

// What taking the uprobes out and putting them back cost (DoorbellProbe).
struct UprobeArmingStats {
  std::uint64_t removals = 0, insertions = 0;
  std::uint64_t insert_ns_total = 0, insert_ns_max = 0;  // insert_uprobes(), the caller's wait
  std::uint64_t insert_cpu_ns_total = 0;  // the caller's CPU time in them (part of the loop's CPU)
  // Removals the helper thread finished, and how long each took from the
  // hand-over until its last link was destroyed: an upper bound on when the
  // stores stopped trapping (the kernel removes the breakpoint before its
  // last grace period).
  std::uint64_t removals_done = 0, remove_ns_total = 0, remove_ns_max = 0;
  bool uprobe_multi = false;  // the links are uprobe_multi ones (else perf-event uprobes)
};

// One uprobe link as the helper thread destroys it: a libbpf bpf_link
// (perf-event uprobes) or a uprobe_multi link's fd.
struct UprobeLink {
  void* libbpf = nullptr;  // bpf_link*
  int fd = -1;
};

// One mapping of the libhsa-runtime64 shared object, from /proc/PID/maps.
struct HsaMapping {
  std::string path;         // as the reader of maps sees it (a chroot prefix included)
  std::string range;        // "start-end", the name of its /proc/PID/map_files entry
  std::uint64_t inode = 0;  // the mapped file's inode
};

// The first mapping of libhsa-runtime64 in the text of a /proc/PID/maps;
// nullopt if there is none (the runtime is not loaded yet, or is linked in
// statically) or it was deleted on disk.
std::optional<HsaMapping> find_hsa_mapping(std::string_view maps);
// Its path alone; empty if none.
std::string find_hsa_runtime(std::string_view maps);

// The file the uprobes of pid attach to, for a mapping found in its maps:
// /proc/PID/root + the maps path when that names the mapped inode (the path
// as the process sees it, a container's mount namespace included); otherwise
// /proc/PID/map_files/START-END, the mapping itself. A chrooted process's maps
// path already carries the chroot prefix, so under /proc/PID/root it is
// missing (ENOENT) or, worse, another file whose uprobe would never fire.
std::string uprobe_target(pid_t pid, const HsaMapping& m);

inline constexpr const char* kDoorbellFunctions[] = {"hsa_signal_store_screlease", "hsa_signal_store_relaxed"};

class DoorbellProbe {
 public:
  enum class Links {
    Best,       // uprobe_multi where the kernel has it, else perf-event uprobes
    PerfEvent,  // perf-event uprobes only (what kernels before 6.10 get; for comparison)
  };
  // Loads the BPF object, attached to nothing yet. nullptr and *why when it
  // cannot (no BTF, not root, an old kernel).
  static std::unique_ptr<DoorbellProbe> load(const char* btf_custom_path, std::string* why,
                                             Links links = Links::Best);
  ~DoorbellProbe();
  DoorbellProbe(const DoorbellProbe&) = delete;
  DoorbellProbe& operator=(const DoorbellProbe&) = delete;

  // Attaches to pid's libhsa-runtime64 (idempotent). "" or why not.
  std::string attach(pid_t pid);
  void detach(pid_t pid);
  bool attached(pid_t pid) const { return procs_.count(pid) != 0; }
  std::string library(pid_t pid) const;  // as mapped in pid, "" if not attached
  std::string attached_file(pid_t pid) const;  // uprobe_target() used for pid, "" if not attached
  // What a log says of attach(pid)'s outcome `why`: where the uprobes are and
  // as which kind of link, or why there are none.
  std::string attach_summary(pid_t pid, const std::string& why) const;

  int ready_fd() const;
  // The wake-up records since the last call.
  std::vector<DoorbellObservation> drain();
  // Wake on the next doorbell of any watched process.
  void arm();
  bool armed() const;
  // The latest doorbell of pid if it rang since the previous call.
  std::optional<DoorbellObservation> take_new(pid_t pid);
  DoorbellCounts counts(pid_t pid) const;

  // Takes every watched process's uprobes out (the links are destroyed on a
  // helper thread): their stores stop trapping as soon as it closes them
  // (uprobe_multi) or within one RCU grace period (perf-event uprobes).
  // The processes stay watched: slots, counts and the pid map are kept, and
  // attach() of a new process only registers it until insert_uprobes().
  void remove_uprobes();
  // Puts them back, synchronously (by the function offsets found at attach:
  // no ELF parse). A process whose uprobes cannot be put back (it exited,
  // unmapped the runtime) is detached; returns those with why.
  std::vector<std::pair<pid_t, std::string>> insert_uprobes();
  bool uprobes_in() const { return uprobes_in_.load(std::memory_order_acquire); }  // any thread
  // Links handed to the helper thread and not destroyed yet (their
  // breakpoints may still trap). Any thread.
  std::size_t removals_pending() const;
  UprobeArmingStats arming_stats() const;

 private:
  struct Impl;
  struct Proc {
    std::uint32_t slot = 0;
    std::string library;
    std::string file;          // what the uprobes were attached through
    std::vector<UprobeLink> links;
    std::uint64_t seen = 0;    // the slot's doorbell count at the last take_new
    std::vector<std::size_t> offsets;  // of kDoorbellFunctions in it (0: not resolved)
  };
  explicit DoorbellProbe(std::unique_ptr<Impl> impl);
  // Attaches kDoorbellFunctions in p (by offset once known, else by name:
  // perf-event uprobes only); "" or why not.
  std::string link_uprobes(pid_t pid, Proc& p);
  void unlink_uprobes(Proc& p);  // to the helper thread

  std::unique_ptr<Impl> impl_;
  std::map<pid_t, Proc> procs_;
  std::atomic<bool> uprobes_in_{true};
};

// The file offset of an exported function in an ELF shared object (its
// dynamic symbol's address, through the section holding it); 0 if absent.
std::size_t elf_function_offset(const std::string& path, std::string_view name);

}  // namespace gp
