// A KfdClient that behaves like KFD's debug API for one or more processes,
// closely enough to test the preemption state machine: per-queue EC_QUEUE_NEW,
// INVALID/ERROR entry bits with the kernel's own (never rolled back) state
// changes, the runtime handshake (one byte on dbg_fd, the target blocked until
// SEND_RUNTIME_EVENT), DISABLE resuming everything.
// Every call is logged so tests can assert order and masks.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kfd/client.h"

namespace gp::test {

struct FakeQueue {
  bool is_new = true;  // EC_QUEUE_NEW, set at creation
  bool suspended = false;
  bool being_destroyed = false;
  // What GET_QUEUE_SNAPSHOT reports besides the qid (queues --snapshot-check).
  std::uint32_t gpu_id = 0;
  std::uint64_t ring_addr = 0;
  std::uint32_t ring_size = 0;
  std::uint32_t uapi_type = GP_KFD_QUEUE_TYPE_COMPUTE_AQL;
};

struct FakeProcess {
  bool debug_enabled = false;
  std::uint32_t runtime_state = GP_KFD_RUNTIME_ENABLED;
  std::uint64_t enable_mask = 0;
  std::uint64_t status = 0;  // process-level exception status
  int dbg_fd = -1;
  bool blocked_in_handshake = false;
  int handshake_releases = 0;
  std::map<std::uint32_t, FakeQueue> queues;
};

struct FakeCall {
  int op;  // GP_KFD_DBG_TRAP_*
  pid_t pid;
  std::uint64_t mask = 0;
  std::vector<std::uint32_t> qids;
  std::uint32_t grace = 0;
};

class FakeKfd : public KfdClient {
 public:
  std::map<pid_t, FakeProcess> procs;
  std::vector<FakeCall> calls;
  int enable_error = 0;                       // returned by the next ENABLE
  std::uint32_t state_after_activation = 0;   // if set, ENABLE/handshake report this state
  // MES-style per-queue failure: suspend_single_queue sets is_suspended, then
  // remove_queue_mes fails: ERROR on that entry and the walk stops (the entries
  // after it stay INVALID). RESUME answers ERROR for these too.
  std::set<std::uint32_t> error_qids;
  int error_budget = 1 << 30;                 // ... this many times
  // HWS-style device failure: every eligible queue is marked suspended, then
  // execute_queues_cpsch fails: ERROR on every requested queue of the device,
  // nothing rolled back, 0 counted (SUSPEND only). This many SUSPENDs fail.
  int execute_failures = 0;
  int snapshot_error = 0;                     // returned by the next GET_QUEUE_SNAPSHOT
  std::function<void(pid_t)> before_suspend;  // runs inside SUSPEND, before it acts
  std::function<void(pid_t)> before_disable;
  std::function<void(pid_t)> after_snapshot;

  FakeProcess& proc(pid_t pid) { return procs[pid]; }

  void log(int op, pid_t pid, std::uint64_t mask = 0) {
    FakeCall c;
    c.op = op;
    c.pid = pid;
    c.mask = mask;
    calls.push_back(c);
  }

  void create_queue(pid_t pid, std::uint32_t qid) { procs[pid].queues[qid] = FakeQueue{}; }

  // The target's RUNTIME_ENABLE/DISABLE under a debugger: raise the event and block.
  void target_runtime(pid_t pid, bool enable) {
    auto& p = procs[pid];
    p.runtime_state = enable ? (state_after_activation ? state_after_activation
                                                       : std::uint32_t{GP_KFD_RUNTIME_ENABLED})
                             : std::uint32_t{GP_KFD_RUNTIME_DISABLED};
    if (!enable)
      for (auto& [q, fq] : p.queues) fq.suspended = false;  // deactivate resumes all
    if (!p.debug_enabled) return;
    p.status |= GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
    char b = '.';
    [[maybe_unused]] auto n = ::write(p.dbg_fd, &b, 1);
    p.blocked_in_handshake = true;
  }

  std::vector<int> ops() const {
    std::vector<int> o;
    for (auto& c : calls) o.push_back(c.op);
    return o;
  }
  std::size_t count(int op) const {
    std::size_t n = 0;
    for (auto& c : calls) n += c.op == op;
    return n;
  }
  const FakeCall* last(int op) const {
    for (auto it = calls.rbegin(); it != calls.rend(); ++it)
      if (it->op == op) return &*it;
    return nullptr;
  }

  int get_version(KfdVersion* out) override {
    *out = {1, 17};
    return 0;
  }

  int dbg_enable(pid_t pid, std::uint64_t mask, int dbg_fd, gp_kfd_runtime_info* rinfo) override {
    log(GP_KFD_DBG_TRAP_ENABLE, pid, mask);
    if (enable_error) return std::exchange(enable_error, 0);
    if (!procs.count(pid)) return -ESRCH;
    auto& p = procs[pid];
    if (p.debug_enabled) return -EALREADY;
    p.debug_enabled = true;
    p.enable_mask = mask;
    p.dbg_fd = dbg_fd;
    if (p.runtime_state == GP_KFD_RUNTIME_ENABLED && state_after_activation)
      p.runtime_state = state_after_activation;
    rinfo->runtime_state = p.runtime_state;
    return 0;
  }

  int dbg_disable(pid_t pid) override {
    log(GP_KFD_DBG_TRAP_DISABLE, pid);
    if (before_disable) before_disable(pid);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    for (auto& [q, fq] : p.queues) {
      fq.suspended = false;
      fq.is_new = false;  // DISABLE clears every exception status
    }
    if (p.runtime_state != GP_KFD_RUNTIME_DISABLED) p.runtime_state = GP_KFD_RUNTIME_ENABLED;
    p.status = 0;
    p.debug_enabled = false;
    p.dbg_fd = -1;
    return 0;
  }

  int send_runtime_event(pid_t pid, std::uint64_t mask) override {
    log(GP_KFD_DBG_TRAP_SEND_RUNTIME_EVENT, pid, mask);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    if (mask & GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME)) {
      p.blocked_in_handshake = false;
      ++p.handshake_releases;
    }
    return 0;
  }

  int query_debug_event(pid_t pid, std::uint64_t clear, DebugEvent* out) override {
    log(GP_KFD_DBG_TRAP_QUERY_DEBUG_EVENT, pid, clear);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    if (!(p.status & p.enable_mask)) return -EAGAIN;
    out->status = p.status;
    p.status &= ~clear;
    return 0;
  }

  int query_runtime_info(pid_t pid, bool clear, gp_kfd_runtime_info* out) override {
    log(GP_KFD_DBG_TRAP_QUERY_EXCEPTION_INFO, pid, clear ? 1u : 0u);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    const auto bit = GP_KFD_EC_MASK(GP_KFD_EC_PROCESS_RUNTIME);
    if (!(p.status & bit)) return -ENODATA;
    out->runtime_state = p.runtime_state;
    if (clear) p.status &= ~bit;
    return 0;
  }

  int get_queue_snapshot(pid_t pid, std::uint64_t clear,
                         std::vector<gp_kfd_queue_snapshot_entry>* out) override {
    log(GP_KFD_DBG_TRAP_GET_QUEUE_SNAPSHOT, pid, clear);
    if (snapshot_error) return std::exchange(snapshot_error, 0);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    std::size_t cap = out->size(), n = 0;
    out->clear();
    for (auto& [q, fq] : p.queues) {
      if (n++ >= cap) continue;
      gp_kfd_queue_snapshot_entry e{};
      e.queue_id = q;
      e.gpu_id = fq.gpu_id;
      e.ring_base_address = fq.ring_addr;
      e.ring_size = fq.ring_size;
      e.queue_type = fq.uapi_type;
      e.exception_status = fq.is_new ? GP_KFD_EC_MASK(GP_KFD_EC_QUEUE_NEW) : 0;
      out->push_back(e);
      if (clear & GP_KFD_EC_MASK(GP_KFD_EC_QUEUE_NEW)) fq.is_new = false;
    }
    if (after_snapshot) after_snapshot(pid);
    return static_cast<int>(p.queues.size());
  }

  int suspend_queues(pid_t pid, std::span<std::uint32_t> qids, std::uint32_t grace,
                     std::uint64_t clear) override {
    calls.push_back({GP_KFD_DBG_TRAP_SUSPEND_QUEUES, pid, clear, {qids.begin(), qids.end()}, grace});
    if (before_suspend) before_suspend(pid);
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    if (p.runtime_state != GP_KFD_RUNTIME_ENABLED) return -EPERM;
    // suspend_queues (amdkfd/kfd_device_queue_manager.c), one device:
    // q_array_invalidate; per requested queue suspend_single_queue (new or
    // being destroyed: -EBUSY, stays INVALID; else is_suspended = true FIRST,
    // then the MES remove, whose failure is ERROR + break); then the HWS
    // execute, whose failure ERRORs every requested queue and rolls nothing back.
    for (auto& e : qids) e |= GP_KFD_DBG_QUEUE_INVALID_MASK;
    int n = 0;
    for (auto& e : qids) {
      auto it = p.queues.find(queue_entry_qid(e));
      if (it == p.queues.end() || it->second.is_new || it->second.being_destroyed) continue;
      it->second.suspended = true;
      if (error_qids.count(queue_entry_qid(e)) && error_budget-- > 0) {
        e |= GP_KFD_DBG_QUEUE_ERROR_MASK;
        break;
      }
      e &= ~GP_KFD_DBG_QUEUE_INVALID_MASK;
      ++n;
    }
    if (execute_failures > 0) {
      --execute_failures;
      for (auto& e : qids)
        if (p.queues.count(queue_entry_qid(e))) e |= GP_KFD_DBG_QUEUE_ERROR_MASK;
      n = 0;
    }
    return n;
  }

  int resume_queues(pid_t pid, std::span<std::uint32_t> qids) override {
    calls.push_back({GP_KFD_DBG_TRAP_RESUME_QUEUES, pid, 0, {qids.begin(), qids.end()}});
    auto& p = procs[pid];
    if (!p.debug_enabled) return -EINVAL;
    if (p.runtime_state != GP_KFD_RUNTIME_ENABLED) return -EPERM;
    int n = 0;
    for (auto& e : qids) {
      auto it = p.queues.find(e);
      if (it == p.queues.end()) {
        e |= GP_KFD_DBG_QUEUE_INVALID_MASK;
        continue;
      }
      if (error_qids.count(e) && error_budget-- > 0) {
        e |= GP_KFD_DBG_QUEUE_ERROR_MASK;
        continue;
      }
      it->second.suspended = false;
      ++n;
    }
    return n;
  }

  std::size_t suspended_count(pid_t pid) {
    std::size_t n = 0;
    for (auto& [q, fq] : procs[pid].queues) n += fq.suspended;
    return n;
  }
};

}  // namespace gp::test
