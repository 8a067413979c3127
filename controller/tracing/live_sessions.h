// The gpreempt-bpf sessions running on this host right now, and the events
// each has lost. doctor runs no session of its own, so it reads the loss
// counters (bpf/common.bpf.h gp_lost, per CPU) of the running ones: they
// are BPF maps any root process can open by id.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gp {

struct LiveSession {
  pid_t pid = 0;               // 0: no process holds the map (it is pinned or being freed)
  std::string command;         // e.g. "gpreempt-bpf watch"
  std::vector<std::uint32_t> map_ids;  // one gp_lost map per loaded BPF object
  std::uint64_t lost_ringbuf = 0;      // ring buffer full: the event is gone
  std::uint64_t lost_stash = 0;        // a return without its entry (stash full)
};

// One gp_lost map as read from the kernel: its id and per-slot sums over CPUs.
struct LostMap {
  std::uint32_t id = 0;
  std::uint64_t ringbuf = 0;
  std::uint64_t stash = 0;
};

// Groups maps by the process that holds them (map id -> pid from
// /proc/*/fdinfo), one LiveSession per pid, sorted by pid. `self` is left out:
// opening a map by id makes the caller a holder too.
std::vector<LiveSession> group_live_sessions(const std::vector<LostMap>& maps,
                                             const std::vector<std::pair<std::uint32_t, pid_t>>& holders,
                                             pid_t self);

// Reads every gp_lost map and its holders. Needs root (CAP_SYS_ADMIN for
// BPF object ids); on failure returns empty and says why in *error.
std::vector<LiveSession> find_live_sessions(std::string* error);

}  // namespace gp
