// The trace header `record` writes: GPU names, the filtered initial map,
// and that what it builds is what the trace reader accepts.
#include <gtest/gtest.h>

#include <sstream>

#include "fake_root.h"
#include "record/header.h"
#include "test_events.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace gp::record {
namespace {

TEST(RecordHeader, GfxNames) {
  EXPECT_EQ(gfx_name(90402), "gfx942");
  EXPECT_EQ(gfx_name(90010), "gfx90a");
  EXPECT_EQ(gfx_name(100300), "gfx1030");
  EXPECT_EQ(gfx_name(110001), "gfx1101");
  EXPECT_EQ(gfx_name(0), std::nullopt);
}

TEST(RecordHeader, TopologyGpusSkipCpuNodesAndSortById) {
  test::FakeRoot root;
  const std::string n = "/sys/class/kfd/kfd/topology/nodes/";
  root.write(n + "0/gpu_id", "0\n");  // the CPU node
  root.write(n + "0/properties", "cpu_cores_count 16\ngfx_target_version 0\n");
  root.write(n + "1/gpu_id", "48301\n");
  root.write(n + "1/properties", "cpu_cores_count 0\nsimd_count 416\ngfx_target_version 90402\n");
  root.write(n + "2/gpu_id", "1234\n");  // no properties file: unnamed
  auto gpus = topology_gpus();
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].gpu_id, 1234u);
  EXPECT_EQ(gpus[0].name, std::nullopt);
  EXPECT_EQ(gpus[1].gpu_id, 48301u);
  EXPECT_EQ(gpus[1].name, "gfx942");
}

QueueEntry entry(std::uint32_t tgid, std::uint32_t qid) {
  QueueEntry e;
  e.tgid = tgid;
  e.info = test::queue_event(EventKind::QueueSnapshot, tgid, qid, 0x1000 + qid).raw.q;
  return e;
}

HeaderInput input() {
  HeaderInput in;
  in.facts.kernel = "6.12.0-test";
  in.facts.kfd_version = KfdVersion{1, 17};
  in.host = "box";
  in.gpus = {{41234, "gfx942"}};
  in.start = {5'000'000'000ull, 1'700'000'000'000'000'000ull};
  in.pids = {4242};
  in.command = std::vector<std::string>{"python3", "model.py"};
  in.queues = {entry(4242, 0), entry(5000, 3), entry(4242, 1)};
  return in;
}

TEST(RecordHeader, CarriesHostDriverTimesAndTheMap) {
  const trace::Header h = build_header(input());
  EXPECT_EQ(h.version, trace::kTraceFormatVersion);
  EXPECT_EQ(h.tool_version, GP_VERSION);
  EXPECT_EQ(h.host, "box");
  EXPECT_EQ(h.kernel, "6.12.0-test");
  EXPECT_EQ(h.kfd_version, "1.17");
  EXPECT_EQ(h.start_monotonic_ns, 5'000'000'000ull);
  EXPECT_EQ(h.start_realtime_ns, 1'700'000'000'000'000'000ull);
  EXPECT_EQ(h.pids, std::vector<std::uint32_t>{4242});
  ASSERT_TRUE(h.command);
  EXPECT_EQ(h.command->at(1), "model.py");
  ASSERT_EQ(h.initial_queues.size(), 3u);
  EXPECT_EQ(h.initial_queues[1].pid, 5000u);
  EXPECT_EQ(h.initial_queues[1].queue.qid, 3u);
}

TEST(RecordHeader, FilterAppliesToTheInitialMap) {
  HeaderInput in = input();
  in.keep_owner = [](std::uint32_t pid) { return pid == 4242; };
  in.facts.kfd_version.reset();  // /dev/kfd could not be asked: null, not a guess
  const trace::Header h = build_header(in);
  ASSERT_EQ(h.initial_queues.size(), 2u);
  for (const auto& q : h.initial_queues) EXPECT_EQ(q.pid, 4242u);
  EXPECT_EQ(h.kfd_version, std::nullopt);
}

// The header goes through the real writer and reader unchanged.
TEST(RecordHeader, RoundTripsThroughWriterAndReader) {
  char tmpl[] = "/tmp/gp-record-header-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const trace::Header h = build_header(input());
  {
    trace::TraceWriter w(tmpl);
    w.begin(h);
    Event ev = test::queue_event(EventKind::QueueAdd, 4242, 2, 0x1002, 0x1000, GP_QF_ACTIVE, h.start_monotonic_ns + 10);
    w.write(ev);
    w.end({0, 0, h.start_monotonic_ns + 20, h.start_realtime_ns + 20});
  }
  const trace::Trace t = trace::read_trace_file(tmpl);
  ::unlink(tmpl);
  EXPECT_EQ(t.header.host, "box");
  EXPECT_EQ(t.header.gpus.at(0).name, "gfx942");
  EXPECT_EQ(t.header.initial_queues.size(), 3u);
  EXPECT_EQ(t.header.initial_queues[2].queue.qid, 1u);
  ASSERT_TRUE(t.trailer);
  EXPECT_EQ(t.trailer->events, 1u);
}

}  // namespace
}  // namespace gp::record
