#include "preempt/snapshot_check.h"

#include <map>

#include <fmt/format.h>

#include "trace/event.h"

namespace gp {

namespace {

// The snapshot speaks the uapi KFD_IOC_QUEUE_TYPE_* (COMPUTE, SDMA,
// COMPUTE_AQL, SDMA_XGMI, SDMA_BY_ENG_ID); the map the kernel-internal type.
bool uapi_is_compute(std::uint32_t t) {
  return t == GP_KFD_QUEUE_TYPE_COMPUTE || t == GP_KFD_QUEUE_TYPE_COMPUTE_AQL;
}

}  // namespace

SnapshotCheck compare_with_snapshot(std::uint32_t pid, const std::vector<QueueEntry>& map_queues,
                                    int kernel_ret,
                                    const std::vector<gp_kfd_queue_snapshot_entry>& kernel) {
  SnapshotCheck r;
  r.pid = pid;
  r.kernel_ret = kernel_ret;
  if (kernel_ret < 0) {
    r.differences.push_back(
        fmt::format("pid {}: GET_QUEUE_SNAPSHOT failed: {}", pid, errno_name(kernel_ret)));
    return r;
  }
  if (static_cast<std::size_t>(kernel_ret) > kernel.size())
    r.differences.push_back(fmt::format("pid {}: the kernel has {} queues, only {} fitted the buffer", pid,
                                        kernel_ret, kernel.size()));
  std::map<std::uint32_t, const gp_kfd_queue_snapshot_entry*> by_qid;
  for (const auto& e : kernel) by_qid[e.queue_id] = &e;
  r.kernel_queues = kernel.size();

  for (const auto& q : map_queues) {
    // The debug API works on the primary kfd_process only.
    if (q.tgid != pid || q.info.context_id != GP_CONTEXT_PRIMARY) continue;
    ++r.compared;
    auto it = by_qid.find(q.info.qid);
    if (it == by_qid.end()) {
      r.differences.push_back(
          fmt::format("pid {} qid {}: in the map but not in KFD's queue snapshot", pid, q.info.qid));
      continue;
    }
    const auto& k = *it->second;
    if (k.gpu_id != q.info.gpu_id)
      r.differences.push_back(fmt::format("pid {} qid {}: gpu {} in the map, {} in the snapshot", pid,
                                          q.info.qid, q.info.gpu_id, k.gpu_id));
    if (k.ring_base_address != q.info.ring_addr)
      r.differences.push_back(fmt::format("pid {} qid {}: ring at {:#x} in the map, {:#x} in the snapshot",
                                          pid, q.info.qid, q.info.ring_addr, k.ring_base_address));
    if (k.ring_size != q.info.ring_size)
      r.differences.push_back(fmt::format("pid {} qid {}: ring size {} in the map, {} in the snapshot",
                                          pid, q.info.qid, q.info.ring_size, k.ring_size));
    if (uapi_is_compute(k.queue_type) != (q.info.type == GP_QTYPE_COMPUTE))
      r.differences.push_back(fmt::format("pid {} qid {}: type {} in the map, uapi type {} in the snapshot",
                                          pid, q.info.qid, queue_type_name(q.info.type), k.queue_type));
    by_qid.erase(it);
  }
  for (const auto& [qid, e] : by_qid)
    r.differences.push_back(
        fmt::format("pid {} qid {}: in KFD's queue snapshot but not in the map", pid, qid));
  return r;
}

}  // namespace gp
