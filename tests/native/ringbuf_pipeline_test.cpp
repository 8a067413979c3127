// Native tier: the real ring buffer, reader, decoder and queue map, driven by
// real BPF on this machine's kernel. A uprobe on gp_test_emit_batch() copies
// ready-made events into the ring buffer (this kernel has no kprobes, so the
// KFD probes themselves are exercised in the VM tier).
#include <unistd.h>

#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "bpf/gp_test_emit.skel.h"
#include "test_emitter.h"
#include "tracing/event_pump.h"
#include "tracing/ringbuf_reader.h"
#include "tracing/session.h"

// noipa: at -O3 GCC otherwise calls a constant-propagated clone
// (gp_test_emit_batch.constprop.0) that the uprobe on the plain symbol misses.
#if defined(__clang__)
#define GP_UPROBE_TARGET __attribute__((noinline, optnone, used))
#else
#define GP_UPROBE_TARGET __attribute__((noinline, noipa, used))
#endif

extern "C" GP_UPROBE_TARGET void gp_test_emit_batch(const gp_event* evs, std::uint32_t n) {
  // The uprobe fires on entry; keep the call from being optimised away.
  asm volatile("" : : "r"(evs), "r"(n) : "memory");
}

namespace gp {
namespace {

using test::Emitter;

// A scripted lifecycle: process create, queues added, state changes, some
// removed, qid reuse, a sweep. aux carries the sequence number.
std::vector<gp_event> script(std::uint32_t n_queues) {
  std::vector<gp_event> out;
  auto base = [&](gp_event_kind kind) {
    gp_event e{};
    e.kind = kind;
    e.tgid = 4242;
    e.tid = 4243;
    e.acting_tgid = 4242;
    e.aux = static_cast<std::uint32_t>(out.size());
    std::strncpy(e.comm, "trainer", sizeof(e.comm));
    return e;
  };
  auto queue = [&](gp_event_kind kind, std::uint32_t qid, std::uint64_t kptr, std::uint8_t flags) {
    gp_event e = base(kind);
    e.ev_flags = GP_EVF_HAS_QUEUE;
    e.q.queue_kptr = kptr;
    e.q.proc_kptr = 0xffff888000001000ull;
    e.q.qid = qid;
    e.q.gpu_id = 41234;
    e.q.type = GP_QTYPE_COMPUTE;
    e.q.format = GP_QFMT_AQL;
    e.q.priority = 15;
    e.q.percent = 100;
    e.q.ring_addr = 0x7f1200000000ull + qid * 0x100000;
    e.q.ring_size = 1u << 20;
    e.q.rptr_addr = 0x7f1300000000ull + qid * 64;
    e.q.wptr_addr = 0x7f1300000008ull + qid * 64;
    e.q.doorbell_off = 0x1000 + qid * 2;
    e.q.context_id = GP_CONTEXT_PRIMARY;
    e.q.flags = flags;
    out.push_back(e);
  };
  gp_event pc = base(GP_EV_PROCESS_CREATE);
  pc.proc.proc_kptr = 0xffff888000001000ull;
  out.push_back(pc);
  for (std::uint32_t q = 0; q < n_queues; ++q) queue(GP_EV_QUEUE_ADD, q, 0xffff888100000000ull + q * 0x200, GP_QF_ACTIVE);
  for (std::uint32_t q = 0; q < n_queues; q += 2) {
    queue(GP_EV_QUEUE_STATE, q, 0xffff888100000000ull + q * 0x200, GP_QF_EVICTED);
    out.back().cause = GP_CAUSE_EVICT;
  }
  for (std::uint32_t q = 1; q < n_queues; q += 3) queue(GP_EV_QUEUE_REMOVE, q, 0xffff888100000000ull + q * 0x200, 0);
  // qid 1 comes back on a new struct queue
  queue(GP_EV_QUEUE_ADD, 1, 0xffff888200000000ull, GP_QF_ACTIVE);
  return out;
}

struct Collector : EventSink {
  std::vector<Event> events;
  void on_event(const Event& ev, MapChange, const QueueMap&) override { events.push_back(ev); }
};

TEST(RingbufPipeline, EveryEventArrivesIntactAndInOrder) {
  Emitter em(1u << 22);
  ASSERT_TRUE(em.ok());
  QueueMap map;
  EventPump pump(map);
  Collector sink;
  pump.add_sink(&sink);
  RingbufReader reader(em.events_fd(), em.lost_fd(), pump);

  const auto sent = script(64);
  gp_test_emit_batch(sent.data(), static_cast<std::uint32_t>(sent.size()));
  while (reader.poll(100) > 0) {
  }

  ASSERT_EQ(sink.events.size(), sent.size());
  EXPECT_EQ(reader.read_lost(), 0u);
  EXPECT_EQ(pump.counters().decode_errors, 0u);
  std::uint64_t prev_ts = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    gp_event got = sink.events[i].raw;
    EXPECT_EQ(got.aux, i) << "out of order at " << i;
    EXPECT_GE(got.ts_ns, prev_ts);
    EXPECT_GT(got.ts_ns, 0u);
    prev_ts = got.ts_ns;
    got.ts_ns = sent[i].ts_ns;  // the BPF side stamps the time; everything else must be byte-identical
    EXPECT_EQ(std::memcmp(&got, &sent[i], sizeof(gp_event)), 0) << "event " << i << " corrupted";
  }
  // The map followed the script: 64 added, qids 1,4,...,61 removed (21), qid 1 re-added.
  EXPECT_EQ(map.size(), 64u - 21u + 1u);
  ASSERT_NE(map.find({4242, GP_CONTEXT_PRIMARY, 1}), nullptr);
  EXPECT_EQ(map.find({4242, GP_CONTEXT_PRIMARY, 1})->info.queue_kptr, 0xffff888200000000ull);
  EXPECT_EQ(map.find({4242, GP_CONTEXT_PRIMARY, 0})->info.flags, GP_QF_EVICTED);
  EXPECT_EQ(map.find({4242, GP_CONTEXT_PRIMARY, 3})->info.flags, GP_QF_ACTIVE);
}

TEST(RingbufPipeline, ManyBatchesKeepGlobalOrder) {
  Emitter em(1u << 24);
  ASSERT_TRUE(em.ok());
  QueueMap map;
  EventPump pump(map);
  Collector sink;
  pump.add_sink(&sink);
  RingbufReader reader(em.events_fd(), em.lost_fd(), pump);

  constexpr std::uint32_t kBatches = 20, kPerBatch = 1000;
  std::vector<gp_event> batch(kPerBatch);
  for (std::uint32_t b = 0; b < kBatches; ++b) {
    for (std::uint32_t i = 0; i < kPerBatch; ++i) {
      batch[i] = gp_event{};
      batch[i].kind = GP_EV_IOCTL_CREATE_QUEUE;
      batch[i].tgid = 77;
      batch[i].ret = -22;
      batch[i].aux = b * kPerBatch + i;
      batch[i].io.qid = ~0u;
    }
    gp_test_emit_batch(batch.data(), kPerBatch);
    reader.consume();
  }
  while (reader.poll(50) > 0) {
  }
  ASSERT_EQ(sink.events.size(), kBatches * kPerBatch);
  for (std::uint32_t i = 0; i < sink.events.size(); ++i) ASSERT_EQ(sink.events[i].raw.aux, i);
  EXPECT_EQ(reader.read_lost(), 0u);
}

TEST(RingbufPipeline, LossIsCountedReportedAndTriggersRecovery) {
  // 4 KiB holds about 28 records: the rest of a 1000-event burst must be
  // counted as lost by the BPF side, reported, and start a re-reconcile.
  Emitter em(4096);
  ASSERT_TRUE(em.ok());
  QueueMap map;
  EventPump pump(map);
  Collector sink;
  pump.add_sink(&sink);
  int recoveries = 0;
  pump.on_loss([&] { ++recoveries; });
  RingbufReader reader(em.events_fd(), em.lost_fd(), pump);

  std::vector<gp_event> burst(1000);
  for (std::uint32_t i = 0; i < burst.size(); ++i) {
    burst[i].kind = GP_EV_PROCESS_CREATE;
    burst[i].aux = i;
  }
  gp_test_emit_batch(burst.data(), static_cast<std::uint32_t>(burst.size()));
  reader.poll(100);

  const std::uint64_t lost = reader.read_lost();
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(sink.events.size() + lost, burst.size()) << "every event is either delivered or counted";
  EXPECT_EQ(pump.counters().lost, lost);
  EXPECT_EQ(recoveries, 1);
  // No new loss: no second recovery.
  reader.poll(0);
  EXPECT_EQ(recoveries, 1);
}

TEST(RingbufPipeline, RecordsOfTheWrongSizeAreRejectedNotMisread) {
  QueueMap map;
  EventPump pump(map);
  std::vector<unsigned char> small(sizeof(gp_event) - 8, 0);
  EXPECT_FALSE(pump.handle_raw(small.data(), small.size()));
  gp_event bad{};
  bad.kind = 999;
  EXPECT_FALSE(pump.handle_raw(&bad, sizeof(bad)));
  EXPECT_EQ(pump.counters().decode_errors, 2u);
  EXPECT_EQ(pump.counters().events, 0u);
}

}  // namespace
}  // namespace gp
