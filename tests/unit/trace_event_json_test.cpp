// event_json: the schema shared by trace files and `watch --json`.
#include <cstring>

#include <gtest/gtest.h>

#include "trace/event_json.h"
#include "trace_test_util.h"

namespace gp {
namespace {

using nlohmann::json;
using trace::testing::full_event;
using trace::testing::queue_event;

const EventKind kAllKinds[] = {
    EventKind::QueueAdd,       EventKind::QueueRemove,       EventKind::QueueSnapshot,
    EventKind::QueueState,     EventKind::ProcessSweep,      EventKind::QpdTerminate,
    EventKind::IoctlCreateQueue, EventKind::IoctlDestroyQueue, EventKind::IoctlUpdateQueue,
    EventKind::IoctlDbgTrap,   EventKind::ProcessCreate,     EventKind::ProcessRelease,
    EventKind::ProcessFree,    EventKind::Preempt,           EventKind::PreemptVictim,
    EventKind::IoctlDestroyBegin,
};

TEST(TraceEventJson, RoundTripIsByteExactForEveryKind) {
  for (EventKind kind : kAllKinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    Event in = full_event(kind);
    // Through text too: that is what a trace file does.
    Event out = event_from_json(json::parse(to_json(in).dump()));
    EXPECT_EQ(0, std::memcmp(&in.raw, &out.raw, sizeof(gp_event)));
  }
}

TEST(TraceEventJson, PreemptVictimCarriesItsQueueAndTheFullSeq) {
  Event v = queue_event(EventKind::PreemptVictim, 5, 4242, 3, 0xffff888000001000);
  v.raw.seq = (std::uint64_t{256} << 32) | 77;  // CPU 256
  json j = to_json(v);
  EXPECT_EQ(j["kind"], "preempt_victim");
  EXPECT_EQ(j["seq"], (std::uint64_t{256} << 32) | 77);
  EXPECT_EQ(j["aux"], 0);
  EXPECT_EQ(j["queue"]["qid"], 3);
  EXPECT_FALSE(j.contains("preempt"));
  Event back = event_from_json(j);
  EXPECT_EQ(0, std::memcmp(&v.raw, &back.raw, sizeof(gp_event)));
}

TEST(TraceEventJson, SeqOnlyOnPreemptionsAndTheirVictims) {
  EXPECT_TRUE(to_json(full_event(EventKind::Preempt)).contains("seq"));
  EXPECT_FALSE(to_json(full_event(EventKind::QueueAdd)).contains("seq"));
  json j = to_json(full_event(EventKind::QueueAdd));
  j["seq"] = 5;
  try {
    event_from_json(j);
    FAIL() << "a seq on a queue_add was read";
  } catch (const EventJsonError& e) {
    EXPECT_STREQ(e.what(), "seq: not a key of a queue_add event");
  }
  json p = to_json(full_event(EventKind::Preempt));
  p.erase("seq");
  EXPECT_THROW(event_from_json(p), EventJsonError) << "version 2 needs it";
}

TEST(TraceEventJson, PreemptFlagsByNameAndUnknownBitsSurvive) {
  json pre = to_json(full_event(EventKind::Preempt))["preempt"];
  EXPECT_EQ(pre["flags"], json({"victims_truncated", "queue_reset", "bit9"}));
  EXPECT_FALSE(pre.contains("seq"));
  Event ev = full_event(EventKind::Preempt);
  ev.raw.pre.flags = GP_PF_VICTIMS_UNKNOWN | GP_PF_ALL_QUEUES | GP_PF_NOT_KFD;
  EXPECT_EQ(to_json(ev)["preempt"]["flags"], json({"victims_unknown", "all_queues", "not_kfd"}));
  EXPECT_EQ(event_from_json(to_json(ev)).raw.pre.flags, ev.raw.pre.flags);
}

// Version 1 lines: the 32-bit seq in "preempt.seq" (a preemption, or a
// victim without its queue) or in "aux" (a victim with its queue); no flags.
TEST(TraceEventJson, Version1SeqIsReadIntoTheSameField) {
  json pre = to_json(full_event(EventKind::Preempt));
  pre.erase("seq");
  pre["preempt"].erase("flags");
  pre["preempt"]["seq"] = 41;
  Event p = event_from_json(pre, 1);
  EXPECT_EQ(p.raw.seq, 41u);
  EXPECT_EQ(p.raw.pre.flags, 0u);

  Event v = queue_event(EventKind::PreemptVictim, 5, 4242, 3, 0xffff888000001000);
  json vj = to_json(v);
  vj.erase("seq");
  vj["aux"] = 41;
  Event back = event_from_json(vj, 1);
  EXPECT_EQ(back.raw.seq, 41u);
  EXPECT_EQ(back.raw.aux, 41u);

  pre["preempt"]["seq"] = std::uint64_t{1} << 32;
  EXPECT_THROW(event_from_json(pre, 1), EventJsonError) << "version 1 seqs were 32 bits";
}

TEST(TraceEventJson, OnlyThePayloadTheKindUses) {
  struct Case {
    EventKind kind;
    const char* key;
  } cases[] = {{EventKind::QueueAdd, "queue"},         {EventKind::IoctlCreateQueue, "ioctl"},
               {EventKind::IoctlDbgTrap, "ioctl"},     {EventKind::ProcessSweep, "process"},
               {EventKind::QpdTerminate, "process"},   {EventKind::ProcessCreate, "process"},
               {EventKind::Preempt, "preempt"},        {EventKind::PreemptVictim, "preempt"}};
  for (const auto& c : cases) {
    json j = to_json(full_event(c.kind));
    int payloads = 0;
    for (const char* k : {"queue", "ioctl", "process", "preempt"}) payloads += j.contains(k);
    EXPECT_EQ(payloads, 1) << to_string(c.kind);
    EXPECT_TRUE(j.contains(c.key)) << to_string(c.kind);
  }
}

TEST(TraceEventJson, SchemaKeysAndHexAddresses) {
  json j = to_json(full_event(EventKind::QueueAdd));
  EXPECT_EQ(j["type"], "event");
  EXPECT_EQ(j["kind"], "queue_add");
  EXPECT_EQ(j["cause"], "dbg_suspend");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["acting_pid"], 4243);
  EXPECT_EQ(j["comm"], "pt_autograd_0");
  EXPECT_EQ(j["ret"], -22);
  EXPECT_EQ(j["flags"], json({"has_queue", "has_pasid", "secondary"}));
  const json& q = j["queue"];
  EXPECT_EQ(q["kptr"], "0xffff888012345600");
  EXPECT_EQ(q["ring_addr"], "0x7f1234560000");
  EXPECT_EQ(q["ring_size"], 1ull << 32);
  EXPECT_EQ(q["type"], "sdma_xgmi");
  EXPECT_EQ(q["format"], "pm4");
  EXPECT_EQ(q["flags"], json({"active", "suspended", "new"}));
  json io = to_json(full_event(EventKind::IoctlDbgTrap))["ioctl"];
  EXPECT_EQ(io["dbg_op"], "suspend_queues");
  EXPECT_EQ(io["arg0"], "0x8000000000000001");
  json pre = to_json(full_event(EventKind::Preempt))["preempt"];
  EXPECT_EQ(pre["fence_ret"], -62);
  EXPECT_EQ(pre["packet_sent"], true);
  EXPECT_EQ(pre["cause_pid"], 4242);
}

TEST(TraceEventJson, EmptyFlagsAreOmittedAndUnknownBitsSurvive) {
  Event ev = full_event(EventKind::ProcessCreate);
  ev.raw.ev_flags = 0;
  EXPECT_FALSE(to_json(ev).contains("flags"));
  ev.raw.ev_flags = 1u << 9;
  json j = to_json(ev);
  EXPECT_EQ(j["flags"], json({"bit9"}));
  EXPECT_EQ(event_from_json(j).raw.ev_flags, 1u << 9);
}

TEST(TraceEventJson, UnknownCodesRoundTripAsNumbers) {
  Event ev = full_event(EventKind::IoctlDbgTrap);
  ev.raw.io.dbg_op = 40;
  ev.raw.io.queue_type = 9;
  json j = to_json(ev);
  EXPECT_EQ(j["ioctl"]["dbg_op"], 40);
  EXPECT_EQ(j["ioctl"]["queue_type"], 9);
  Event back = event_from_json(j);
  EXPECT_EQ(0, std::memcmp(&ev.raw, &back.raw, sizeof(gp_event)));
}

TEST(TraceEventJson, NoCauseQidIsNull) {
  Event ev = full_event(EventKind::Preempt);
  ev.raw.pre.cause_qid = ~0u;
  json j = to_json(ev);
  EXPECT_TRUE(j["preempt"]["cause_qid"].is_null());
  EXPECT_EQ(event_from_json(j).raw.pre.cause_qid, ~0u);
}

TEST(TraceEventJson, NonUtf8CommBecomesQuestionMarks) {
  Event ev = full_event(EventKind::ProcessCreate);
  std::memset(ev.raw.comm, 0, sizeof ev.raw.comm);
  std::strcpy(ev.raw.comm, "ab\xff\xc3(z\xe2\x82\xac");  // 0xff, a broken 2-byte seq, then a valid euro sign
  json j = to_json(ev);
  EXPECT_EQ(j["comm"], "ab?\?(z\xe2\x82\xac");
  EXPECT_NO_THROW((void)j.dump());
}

std::string error_of(const json& j) {
  try {
    event_from_json(j);
  } catch (const EventJsonError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceEventJson, ErrorsNameTheKey) {
  json good = to_json(full_event(EventKind::QueueAdd));
  json j = good;
  j.erase("ts_ns");
  EXPECT_EQ(error_of(j), "ts_ns: missing");
  j = good;
  j["kind"] = "queue_teleport";
  EXPECT_EQ(error_of(j), "kind: unknown event kind \"queue_teleport\"");
  j = good;
  j["queue"]["ring_addr"] = 4096;
  EXPECT_EQ(error_of(j), "queue.ring_addr: expected a hex string like \"0x1000\", got 4096");
  j = good;
  j["queue"]["ring_addr"] = "0x12345678901234567";
  EXPECT_NE(error_of(j).find("queue.ring_addr"), std::string::npos);
  j = good;
  j["queue"]["qid"] = -1;
  EXPECT_EQ(error_of(j), "queue.qid: -1 is out of range");
  j = good;
  j["queue"]["qid"] = 1.5;
  EXPECT_EQ(error_of(j), "queue.qid: expected an integer, got 1.5");
  j = good;
  j["queue"]["flags"] = {"active", "sleepy"};
  EXPECT_EQ(error_of(j), "queue.flags: unknown flag \"sleepy\"");
  j = good;
  j["comm"] = "a-name-that-is-too-long";
  EXPECT_EQ(error_of(j), "comm: longer than 15 bytes or contains NUL");
  j = good;
  j["ioctl"] = to_json(full_event(EventKind::IoctlCreateQueue))["ioctl"];
  EXPECT_EQ(error_of(j), "ioctl: not a payload of a queue_add event");
  j = good;
  j.erase("queue");
  EXPECT_EQ(error_of(j), "queue: missing");
  EXPECT_EQ(error_of(json::array()), "expected an object, got array");
}

TEST(TraceEventJson, AppliesTheRingBufferValidation) {
  json j = to_json(full_event(EventKind::QueueAdd));
  j["queue"]["priority"] = 16;  // fits a u8, but KFD priorities are 0..15
  EXPECT_EQ(error_of(j), "invalid event: payload out of range");
}

}  // namespace
}  // namespace gp
