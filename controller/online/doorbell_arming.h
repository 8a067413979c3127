// preempt --online-pid: the doorbell uprobes are in only while an offline job
// may run (controller/attach/doorbell_probe.h does the taking out and putting
// back; this decides when, and counts what it saved).
//
// While every offline target is suspended a doorbell changes nothing: the
// suspension ends on idleness, which the safety-net poll of the dispatch ids
// sees. Yet each probed store costs the online process a trap. So:
//   - as soon as the SUSPEND ioctl has returned: out (asynchronous: the
//     helper thread closes the links; the breakpoints are gone once it has
//     woken, or within a grace period on kernels without uprobe_multi).
//     Not before the ioctl, while it runs: waking the helper there cost the
//     path from the decision to the ioctl ~30 us at p50 in this VM (an IPI
//     is a VM exit), and the preemption latency is what the mode is for;
//   - at the end of every round of the loop, if suspended and still in
//     (a removal was under way at the decision): out;
//   - before a round's reads, when the detector would resume now: in
//     (synchronous), then the reads and the tick look once more, so a store
//     during the insertion shows in the write ids and one after it in the
//     uprobe;
//   - before any resume whatever its cause (an online process exited, stop,
//     fall-back): in.
// A round whose second look finds new demand stays suspended and takes them
// out again at its end.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "attach/doorbell_probe.h"
#include "online/detector.h"
#include "online/poller.h"

namespace gp {

struct DoorbellArmingReport {
  bool enabled = false;
  // Stores that trapped into the BPF program: doorbells, other signals, and
  // the stale ones (of which: trapped while a removal was still under way).
  std::uint64_t probed_stores = 0;
  std::uint64_t stale_stores = 0;
  // Submissions made while the uprobes were out: the online queues' write
  // dispatch ids advanced by this much between the removal and the
  // re-insertion, less the stores the uprobes still trapped meanwhile (while
  // the removal was under way).
  std::uint64_t unprobed_submissions = 0;
  UprobeArmingStats uprobes;
};

class DoorbellArming {
 public:
  using Log = std::function<void(const std::string&)>;
  // probe: null (no doorbell uprobes) or not enabled: every call does nothing.
  DoorbellArming(DoorbellProbe* probe, bool enabled, const PointerReader& reader, Log log);

  void after_suspend();
  void after_round(bool suspended);
  void before_reads(const OnlineDetector& det, std::uint64_t now);
  void before_resume();

  DoorbellArmingReport report(std::uint64_t probed_stores, std::uint64_t stale_stores) const;
  // One line for the statistics at exit (nothing when not enabled).
  void print(std::FILE* out, std::uint64_t probed_stores, std::uint64_t stale_stores) const;

 private:
  struct Snapshot {
    std::map<std::uint64_t, std::uint64_t> write_ids;  // queue id -> write dispatch id
    std::uint64_t doorbells = 0;  // the uprobes' count (doorbells and stale stores), every watched process
  };
  Snapshot snapshot() const;
  void insert();
  void remove();

  DoorbellProbe* probe_;
  bool enabled_;
  const PointerReader& reader_;
  Log log_;
  Snapshot out_since_;
  std::uint64_t unprobed_ = 0;
};

}  // namespace gp
