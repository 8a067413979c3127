// What the exporter says, fed through its bindings: per-process series from a
// ProcessFactsSource (as the agent will) and from the queue map (watch,
// preempt), event and loss counters, CWSR spans, suspension timings.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/proc.h"
#include "metrics/exporter.h"
#include "metrics/map_metrics.h"
#include "fake_process_facts.h"
#include "metrics_text.h"
#include "test_events.h"

namespace gp::metrics {
namespace {

using test::Exposition;
using test::FakeFacts;
using test::parse_exposition;

Exposition scrape(Exporter& e) {
  std::string out;
  e.render(out);
  return parse_exposition(out);
}

double value(const Exposition& x, const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& labels) {
  const auto* s = x.find(name, labels);
  if (!s) {
    ADD_FAILURE() << "no " << name << " with the given labels";
    return -1;
  }
  return s->value;
}

std::size_t count(const Exposition& x, const std::string& name) {
  std::size_t n = 0;
  for (const auto& s : x.samples) n += s.name == name;
  return n;
}

ProcessFacts offline(std::uint32_t pid) {
  ProcessFacts f;
  f.pid = pid;
  f.comm = "train";
  f.role = "offline";
  f.rule = "hami-low";
  f.pod_uid = "8daa50c3a64c9ff60bb9eab7b44b56fd";
  f.queues = {{41234, GP_QTYPE_COMPUTE, 4}};
  return f;
}

TEST(MetricsExporter, ProcessSeriesFollowTheSource) {
  Exporter e("agent", "gpu-node-7");
  FakeFacts src;
  e.set_process_source(&src);
  ProcessFacts on;
  on.pid = 10;
  on.comm = "vllm";
  on.role = "online";
  on.rule = "inference";
  on.container_id = std::string(64, 'b');
  on.kfd_gpu_ids = {52000};
  on.queues = {{41234, GP_QTYPE_COMPUTE, 3}, {41234, GP_QTYPE_SDMA, 2}};
  src.facts = {on, offline(20)};
  src.facts[1].suspended = true;
  src.facts[1].suspended_seconds = 1.5;
  src.facts[1].suspends = {2, 0, 1, 0};

  auto x = scrape(e);
  const std::vector<std::pair<std::string, std::string>> vllm{
      {"hostname", "gpu-node-7"}, {"pid", "10"},     {"comm", "vllm"},
      {"role", "online"},         {"rule", "inference"}, {"pod_uid", ""}, {"container_id", std::string(64, 'b')}};
  auto with = [](auto base, std::vector<std::pair<std::string, std::string>> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", with(vllm, {{"kfd_gpu_id", "41234"}, {"queue_type", "compute"}})), 3);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", with(vllm, {{"kfd_gpu_id", "41234"}, {"queue_type", "sdma"}})), 2);
  // Info per GPU: the one given without queues, and the one with them.
  EXPECT_EQ(value(x, "gpreempt_kfd_process_info", with(vllm, {{"kfd_gpu_id", "52000"}})), 1);
  EXPECT_EQ(value(x, "gpreempt_kfd_process_info", with(vllm, {{"kfd_gpu_id", "41234"}})), 1);
  // Offline series for offline processes only.
  EXPECT_EQ(count(x, "gpreempt_offline_suspended"), 1u);
  EXPECT_EQ(value(x, "gpreempt_offline_suspended", {{"pid", "20"}, {"role", "offline"}, {"rule", "hami-low"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_offline_suspended_seconds_total", {{"pid", "20"}}), 1.5);
  EXPECT_EQ(value(x, "gpreempt_offline_suspends_total", {{"pid", "20"}, {"trigger", "doorbell"}}), 2);
  EXPECT_EQ(value(x, "gpreempt_offline_suspends_total", {{"pid", "20"}, {"trigger", "ctl"}}), 1);
  EXPECT_EQ(x.find("gpreempt_offline_suspends_total", {{"pid", "20"}, {"trigger", "poll"}}), nullptr);

  // A count changes, a process leaves, one changes its identity (exec), one arrives.
  src.facts[1].queues[0].count = 1;
  src.facts[1].suspended = false;
  src.facts.erase(src.facts.begin());
  src.facts.push_back(offline(30));
  src.facts[0].comm = "train2";
  x = scrape(e);
  EXPECT_EQ(x.find("gpreempt_kfd_queues", {{"pid", "10"}}), nullptr);
  EXPECT_EQ(x.find("gpreempt_kfd_process_info", {{"pid", "10"}}), nullptr);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", "20"}, {"comm", "train2"}}), 1);
  EXPECT_EQ(x.find("gpreempt_kfd_queues", {{"pid", "20"}, {"comm", "train"}}), nullptr);
  EXPECT_EQ(value(x, "gpreempt_offline_suspended", {{"pid", "20"}}), 0);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", "30"}}), 4);
  EXPECT_EQ(e.scrape_stats().processes, 2u);

  e.set_process_source(nullptr);
  x = scrape(e);
  EXPECT_EQ(count(x, "gpreempt_kfd_queues"), 0u);
  EXPECT_TRUE(x.families.count("gpreempt_queue_events_total"));
}

TEST(MetricsExporter, TracingSinkCountsEventsLossAndCwsrSpans) {
  Exporter e("watch", "h");
  TracingMetrics sink(e, nullptr);
  QueueMap map;
  for (int i = 0; i < 3; ++i)
    sink.on_event(test::queue_event(EventKind::QueueAdd, 1, i, 0x100 + i), MapChange::Added, map);
  sink.on_event(test::queue_event(EventKind::QueueRemove, 1, 0, 0x100), MapChange::Removed, map);
  auto span = [](std::uint32_t cause, std::uint64_t ns, bool packet, bool mes, bool mes_add) {
    Event ev;
    ev.raw.kind = GP_EV_PREEMPT;
    ev.raw.cause = cause;
    ev.raw.pre.t0_ns = 5'000;
    ev.raw.pre.end_ns = 5'000 + ns;
    ev.raw.pre.packet_sent = packet;
    ev.raw.pre.mes = mes;
    ev.raw.pre.mes_add = mes_add;
    return ev;
  };
  sink.on_event(span(GP_CAUSE_DBG_SUSPEND, 300'000, true, false, false), MapChange::None, map);
  sink.on_event(span(GP_CAUSE_DBG_SUSPEND, 9'000'000'000ull, true, false, false), MapChange::None, map);  // fence timeout
  sink.on_event(span(GP_CAUSE_EVICT, 40'000, false, true, false), MapChange::None, map);   // MES remove
  sink.on_event(span(GP_CAUSE_EVICT, 1'000, false, false, false), MapChange::None, map);   // nothing sent: not timed
  sink.on_event(span(GP_CAUSE_CREATE, 20'000, false, true, true), MapChange::None, map);   // MES map: not a preemption
  sink.on_loss(17);

  auto x = scrape(e);
  EXPECT_EQ(value(x, "gpreempt_queue_events_total", {{"kind", "queue_add"}}), 3);
  EXPECT_EQ(value(x, "gpreempt_queue_events_total", {{"kind", "queue_remove"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_queue_events_total", {{"kind", "preempt"}}), 5);
  EXPECT_EQ(value(x, "gpreempt_queue_events_total", {{"kind", "process_create"}}), 0);
  EXPECT_EQ(value(x, "gpreempt_events_lost_total", {}), 17);
  EXPECT_EQ(value(x, "gpreempt_cwsr_preemption_seconds_count", {{"cause", "dbg_suspend"}}), 2);
  EXPECT_DOUBLE_EQ(value(x, "gpreempt_cwsr_preemption_seconds_sum", {{"cause", "dbg_suspend"}}), 9.0003);
  EXPECT_EQ(value(x, "gpreempt_cwsr_preemption_seconds_bucket", {{"cause", "dbg_suspend"}, {"le", "0.5"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_cwsr_preemption_seconds_bucket", {{"cause", "dbg_suspend"}, {"le", "10"}}), 2);
  EXPECT_EQ(value(x, "gpreempt_cwsr_preemption_seconds_count", {{"cause", "evict"}}), 1);
  EXPECT_EQ(x.find("gpreempt_cwsr_preemption_seconds_count", {{"cause", "create"}}), nullptr);
}

TargetOp op(pid_t tgid, std::uint64_t ioctl_ns, bool ok) {
  TargetOp o;
  o.tgid = tgid;
  o.report.issued = true;
  o.report.start_ns = 1000;
  o.report.end_ns = 1000 + ioctl_ns;
  o.report.ret = ok ? 1 : -22;
  o.report.entries.push_back({});
  o.report.entries.back().outcome = QueueOutcome::Done;
  return o;
}

TEST(MetricsExporter, PreemptObserverRecordsTriggersAndTimings) {
  Exporter e("preempt", "h");
  MapProcessFacts facts([](std::uint32_t pid) -> std::pair<std::string, std::string> {
    return {pid == 7 ? "offline" : "online", ""};
  }, 0);
  e.set_process_source(&facts);
  PreemptMetrics obs(e, &facts);
  QueueMap map;
  map.apply(test::queue_event(EventKind::QueueAdd, 7, 1, 0x70));
  map.apply(test::queue_event(EventKind::QueueAdd, 8, 1, 0x80));
  facts.refresh(map, true);

  // A doorbell at t=1 ms, everything suspended at t=1.3 ms (ioctl 120 us); resumed 2 s later.
  obs.suspended({SuspendTrigger::Doorbell, 1'000'000}, {op(7, 120'000, true), op(9, 50'000, true)}, 1'300'000);
  auto x = scrape(e);
  EXPECT_EQ(value(x, "gpreempt_suspend_total", {{"trigger", "doorbell"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_suspend_total", {{"trigger", "poll"}}), 0);
  EXPECT_EQ(x.find("gpreempt_suspend_total", {{"trigger", "cycles"}}), nullptr);
  EXPECT_DOUBLE_EQ(value(x, "gpreempt_detect_to_suspend_seconds_sum", {{"trigger", "doorbell"}}), 300e-6);
  EXPECT_EQ(value(x, "gpreempt_detect_to_suspend_seconds_bucket", {{"trigger", "doorbell"}, {"le", "0.0005"}}), 1);
  EXPECT_DOUBLE_EQ(value(x, "gpreempt_suspend_ioctl_seconds_sum", {}), 120e-6);  // the slowest target
  EXPECT_EQ(value(x, "gpreempt_offline_suspended", {{"pid", "7"}}), 1);
  EXPECT_EQ(x.find("gpreempt_offline_suspended", {{"pid", "8"}}), nullptr);  // online
  EXPECT_EQ(value(x, "gpreempt_offline_suspends_total", {{"pid", "7"}, {"trigger", "doorbell"}}), 1);
  EXPECT_GT(value(x, "gpreempt_offline_suspended_seconds_total", {{"pid", "7"}}), 0);  // still open: counts to now

  obs.resumed({op(7, 400'000, true)}, 2'001'300'000);
  // A claim whose SUSPEND failed on one target: counted, no detection sample.
  obs.suspended({SuspendTrigger::Ctl, 3'000'000'000}, {op(7, 80'000, false)}, 3'000'100'000);
  obs.resumed({}, 3'000'200'000);  // detached
  x = scrape(e);
  EXPECT_EQ(value(x, "gpreempt_suspend_total", {{"trigger", "ctl"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_suspend_failures_total", {}), 1);
  EXPECT_EQ(value(x, "gpreempt_detect_to_suspend_seconds_count", {{"trigger", "ctl"}}), 0);
  EXPECT_EQ(value(x, "gpreempt_resume_total", {}), 2);
  EXPECT_EQ(value(x, "gpreempt_resume_ioctl_seconds_count", {}), 1);
  EXPECT_EQ(value(x, "gpreempt_offline_suspended", {{"pid", "7"}}), 0);
  EXPECT_DOUBLE_EQ(value(x, "gpreempt_offline_suspended_seconds_total", {{"pid", "7"}}), 2.0 + 100e-6);
}

TEST(MetricsExporter, MapFactsCountQueuesPerGpuAndTypeAndReadProc) {
  Exporter e("watch", "h");
  MapProcessFacts facts({}, 0);
  e.set_process_source(&facts);
  TracingMetrics sink(e, &facts);
  QueueMap map;
  const auto self = static_cast<std::uint32_t>(::getpid());
  auto add = [&](std::uint32_t tgid, std::uint32_t qid, std::uint64_t kptr, std::uint32_t gpu, std::uint8_t type) {
    auto ev = test::queue_event(EventKind::QueueAdd, tgid, qid, kptr);
    ev.raw.q.gpu_id = gpu;
    ev.raw.q.type = type;
    sink.on_event(ev, map.apply(ev), map);
  };
  add(self, 1, 0x1, 100, GP_QTYPE_COMPUTE);
  add(self, 2, 0x2, 100, GP_QTYPE_COMPUTE);
  add(self, 3, 0x3, 100, GP_QTYPE_SDMA);
  add(self, 4, 0x4, 200, GP_QTYPE_COMPUTE);
  add(999'999'999, 1, 0x5, 100, GP_QTYPE_COMPUTE);  // no such process: comm "?"
  facts.refresh(map);
  auto x = scrape(e);
  const std::string pid = std::to_string(self);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", pid}, {"kfd_gpu_id", "100"}, {"queue_type", "compute"}}), 2);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", pid}, {"kfd_gpu_id", "100"}, {"queue_type", "sdma"}}), 1);
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", pid}, {"kfd_gpu_id", "200"}, {"queue_type", "compute"}}), 1);
  const auto* s = x.find("gpreempt_kfd_queues", {{"pid", pid}});
  ASSERT_NE(s, nullptr);
  const auto comm = comm_of(::getpid());
  EXPECT_NE(std::find(s->labels.begin(), s->labels.end(), std::pair<std::string, std::string>("comm", *comm)),
            s->labels.end());
  EXPECT_EQ(value(x, "gpreempt_kfd_queues", {{"pid", "999999999"}, {"comm", "?"}, {"role", ""}}), 1);

  // A remove reaches the series at the next refresh; nothing changed, nothing is rebuilt.
  auto rm = test::queue_event(EventKind::QueueRemove, self, 4, 0x4);
  sink.on_event(rm, map.apply(rm), map);
  facts.refresh(map);
  x = scrape(e);
  EXPECT_EQ(x.find("gpreempt_kfd_queues", {{"pid", pid}, {"kfd_gpu_id", "200"}}), nullptr);
  EXPECT_EQ(x.find("gpreempt_kfd_process_info", {{"pid", pid}, {"kfd_gpu_id", "200"}}), nullptr);
}

TEST(MetricsExporter, RefreshIsRateLimited) {
  MapProcessFacts facts({}, 3'600'000'000'000ull);  // an hour
  QueueMap map;
  facts.refresh(map, true);
  map.apply(test::queue_event(EventKind::QueueAdd, 5, 1, 0x1));
  facts.changed();
  facts.refresh(map);  // too soon: nothing yet
  std::vector<ProcessFacts> out;
  facts.process_facts(out);
  EXPECT_TRUE(out.empty());
  facts.refresh(map, true);
  facts.process_facts(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].queues.at(0).count, 1u);
}

// Renders on another thread while the loop updates: what the HTTP server does.
TEST(MetricsExporter, RenderWhileUpdating) {
  Exporter e("watch", "h");
  MapProcessFacts facts({}, 0);
  e.set_process_source(&facts);
  TracingMetrics sink(e, &facts);
  PreemptMetrics obs(e, &facts);
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    std::string out;
    while (!stop) {
      e.render(out);
      parse_exposition(out);
    }
  });
  QueueMap map;
  for (std::uint32_t i = 0; i < 2000; ++i) {
    auto ev = test::queue_event(EventKind::QueueAdd, 1000 + i % 50, i, 0x1000 + i);
    sink.on_event(ev, map.apply(ev), map);
    if (i % 100 == 0) {
      facts.refresh(map);
      obs.suspended({SuspendTrigger::Poll, 1}, {op(1, 1000, true)}, 2);
      obs.resumed({op(1, 1000, true)}, 3);
    }
  }
  facts.refresh(map, true);
  stop = true;
  scraper.join();
  auto x = scrape(e);
  EXPECT_EQ(value(x, "gpreempt_queue_events_total", {{"kind", "queue_add"}}), 2000);
  double total = 0;
  for (const auto& s : x.samples)
    if (s.name == "gpreempt_kfd_queues") total += s.value;
  EXPECT_EQ(total, 2000);
}

}  // namespace
}  // namespace gp::metrics
