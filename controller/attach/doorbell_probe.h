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
#pragma once

#include <sys/types.h>

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
};

struct DoorbellCounts {
  std::uint64_t last_ns = 0, doorbells = 0, other = 0, last_queue = 0, last_value = 0;
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
  // Loads the BPF object, attached to nothing yet. nullptr and *why when it
  // cannot (no BTF, not root, an old kernel).
  static std::unique_ptr<DoorbellProbe> load(const char* btf_custom_path, std::string* why);
  ~DoorbellProbe();
  DoorbellProbe(const DoorbellProbe&) = delete;
  DoorbellProbe& operator=(const DoorbellProbe&) = delete;

  // Attaches to pid's libhsa-runtime64 (idempotent). "" or why not.
  std::string attach(pid_t pid);
  void detach(pid_t pid);
  bool attached(pid_t pid) const { return procs_.count(pid) != 0; }
  std::string library(pid_t pid) const;  // as mapped in pid, "" if not attached
  std::string attached_file(pid_t pid) const;  // uprobe_target() used for pid, "" if not attached

  int ready_fd() const;
  // The wake-up records since the last call.
  std::vector<DoorbellObservation> drain();
  // Wake on the next doorbell of any watched process.
  void arm();
  bool armed() const;
  // The latest doorbell of pid if it rang since the previous call.
  std::optional<DoorbellObservation> take_new(pid_t pid);
  DoorbellCounts counts(pid_t pid) const;

 private:
  struct Impl;
  struct Proc {
    std::uint32_t slot = 0;
    std::string library;
    std::string file;          // what the uprobes were attached through
    std::vector<void*> links;  // bpf_link*
    std::uint64_t seen = 0;    // the slot's doorbell count at the last take_new
  };
  explicit DoorbellProbe(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::map<pid_t, Proc> procs_;
};

}  // namespace gp
