#include "trace_test_util.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

namespace gp::trace::testing {

Event full_event(EventKind kind, std::uint64_t ts_ns) {
  Event ev;
  gp_event& r = ev.raw;
  r.ts_ns = ts_ns;
  r.kind = static_cast<std::uint32_t>(kind);
  r.cause = GP_CAUSE_DBG_SUSPEND;
  r.tgid = 4242;
  r.tid = 4250;
  r.acting_tgid = 4243;
  r.ret = -22;
  r.aux = 0xdeadbeef;
  r.ev_flags = GP_EVF_HAS_PASID | GP_EVF_SECONDARY;
  std::strcpy(r.comm, "pt_autograd_0");
  switch (kind) {
    case EventKind::QueueAdd:
    case EventKind::QueueRemove:
    case EventKind::QueueSnapshot:
    case EventKind::QueueState:
      r.ev_flags |= GP_EVF_HAS_QUEUE;
      r.q = {0xffff888012345600, 0xffff888076543200, 0x7f1234560000, 0x7f1234570080, 0x7f1234570088,
             0x7f1234580000, 1ull << 32, 7, 48301, 0x1008, 0x2000, 3, GP_QTYPE_SDMA_XGMI, GP_QFMT_PM4, 15, 55,
             GP_QF_ACTIVE | GP_QF_SUSPENDED | GP_QF_NEW_PENDING, 2};
      break;
    // An ioctl event has the fields its handler in bpf/lifecycle.bpf.c fills
    // (trace/README.md, "ioctl"); the others stay 0 as they do there.
    case EventKind::IoctlCreateQueue:
      r.io.ring_addr = 0x7f0000100000;
      r.io.ring_size = 1u << 20;
      r.io.gpu_id = 48301;
      r.io.queue_type = 2;  // compute_aql
      r.io.percent = 0x0364;
      r.io.priority = 9;
      r.io.qid = 5;
      break;
    case EventKind::IoctlUpdateQueue:
      r.io.ring_addr = 0x7f0000100000;
      r.io.ring_size = 1u << 20;
      r.io.percent = 0x0364;
      r.io.priority = 9;
      r.io.qid = 5;
      break;
    case EventKind::IoctlDestroyQueue:
    case EventKind::IoctlDestroyBegin:
      r.io.qid = 5;
      break;
    case EventKind::IoctlDbgTrap:  // suspend_queues: the op with the most fields
      r.io.dbg_op = 6;
      r.io.dbg_target_pid = 777;
      r.io.dbg_target_tgid = 778;
      r.io.dbg_num_queues = 4;
      r.io.dbg_grace = 10;
      r.io.arg0 = 0x8000000000000001;
      break;
    case EventKind::ProcessSweep:
    case EventKind::QpdTerminate:
    case EventKind::ProcessCreate:
    case EventKind::ProcessRelease:
    case EventKind::ProcessFree:
      r.proc = {0xffff888076543200, 0x8001, 48301, 2, 0, 12, {}};
      break;
    case EventKind::KfdIoctl:
      // RUNTIME_ENABLE: r_debug, mode_mask 1, capabilities 0x3.
      r.kio.cmd = 0xc0104b25;
      r.kio.arg = 0x7ffd12345670;
      r.kio.data_len = 16;
      for (int i = 0; i < 8; ++i) r.kio.data[i] = static_cast<std::uint8_t>(0x11 * (i + 1));
      r.kio.data[8] = 1;
      r.kio.data[12] = 3;
      break;
    case EventKind::Preempt:
    case EventKind::PreemptVictim:
      r.pre = {ts_ns - 5, 1000, 2000, 350000, 380000, 9000, 48301, 2, 0xffffffff, -62, 3,
               GP_PF_VICTIMS_TRUNCATED | GP_PF_QUEUE_RESET | (1u << 9), 4242, 7, 1, 1, 1, 1,
               0x1010, 2, ts_ns + 380000};
      r.seq = (std::uint64_t{300} << 32) | 77;  // CPU 300: past what a 32-bit seq held
      break;
  }
  // Flagged secondary above: an ioctl then names its context (bpf/lifecycle.bpf.c).
  switch (kind) {
    case EventKind::IoctlCreateQueue:
    case EventKind::IoctlUpdateQueue:
    case EventKind::IoctlDestroyQueue:
    case EventKind::IoctlDestroyBegin:
    case EventKind::IoctlDbgTrap:
      r.io.context_id = 3;
      break;
    default:
      break;
  }
  return ev;
}

Event queue_event(EventKind kind, std::uint64_t ts_ns, std::uint32_t pid, std::uint32_t qid, std::uint64_t kptr,
                  std::uint8_t queue_flags, Cause cause) {
  Event ev;
  gp_event& r = ev.raw;
  r.ts_ns = ts_ns;
  r.kind = static_cast<std::uint32_t>(kind);
  r.cause = static_cast<std::uint32_t>(cause);
  r.tgid = r.tid = r.acting_tgid = pid;
  r.ev_flags = GP_EVF_HAS_QUEUE;
  std::strcpy(r.comm, "python3");
  r.q.queue_kptr = kptr;
  r.q.proc_kptr = 0xffff888000000000 + pid;
  r.q.qid = qid;
  r.q.gpu_id = 48301;
  r.q.type = GP_QTYPE_COMPUTE;
  r.q.format = GP_QFMT_AQL;
  r.q.priority = 7;
  r.q.percent = 100;
  r.q.ring_size = 1 << 20;
  r.q.context_id = GP_CONTEXT_PRIMARY;
  r.q.flags = queue_flags;
  return ev;
}

Header sample_header() {
  Header h;
  h.tool_version = "0.1.0";
  h.host = "synthetic";
  h.kernel = "6.12.0-synthetic";
  h.kfd_version = "1.17";
  h.gpus = {{48301, "gfx942"}, {48302, std::nullopt}};
  h.start_monotonic_ns = 1'000'000'000;
  h.start_realtime_ns = 1'770'000'000'000'000'000;
  h.pids = {4242};
  h.command = std::vector<std::string>{"python3", "model_a.py", "--batch", "32"};
  InitialQueue iq;
  iq.pid = 4242;
  iq.queue = queue_event(EventKind::QueueSnapshot, 0, 4242, 3, 0xffff888000aa0000).raw.q;
  h.initial_queues.push_back(iq);
  return h;
}

std::string golden_path(const std::string& name) { return std::string(GP_TRACE_TEST_DATA) + "/" + name; }

Trace load_golden(const std::string& name) {
  std::ifstream in(golden_path(name), std::ios::binary);
  EXPECT_TRUE(in) << golden_path(name);
  return read_trace(in, name);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("gp_trace_tests." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace gp::trace::testing
