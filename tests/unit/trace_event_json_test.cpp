// event_json: the schema shared by trace files and `watch --json`.
#include <cstring>
#include <set>

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
    EventKind::IoctlDestroyBegin, EventKind::KfdIoctl,
};

std::string error_of(const json& j, int version = trace::kTraceFormatVersion) {
  try {
    event_from_json(j, version);
  } catch (const EventJsonError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceEventJson, RoundTripIsByteExactForEveryKind) {
  for (EventKind kind : kAllKinds) {
    SCOPED_TRACE(std::string(to_string(kind)));
    Event in = full_event(kind);
    // Through text too: that is what a trace file does.
    Event out = event_from_json(json::parse(to_json(in).dump()));
    EXPECT_EQ(0, std::memcmp(&in.raw, &out.raw, sizeof(gp_event)));
  }
}

// A secondary KFD context's ioctl names its context; a primary's does not.
TEST(TraceEventJson, AnIoctlCarriesItsContextOnlyFromASecondaryContext) {
  Event sec = full_event(EventKind::IoctlDestroyBegin);
  json j = to_json(sec);
  EXPECT_EQ(j["ioctl"]["context_id"], 3);
  EXPECT_EQ(event_context(event_from_json(j)), 3u);
  Event pri = full_event(EventKind::IoctlDestroyBegin);
  pri.raw.ev_flags &= ~GP_EVF_SECONDARY;
  pri.raw.io.context_id = 0;
  json jp = to_json(pri);
  EXPECT_FALSE(jp["ioctl"].contains("context_id"));
  EXPECT_EQ(event_context(event_from_json(jp)), GP_CONTEXT_PRIMARY);
  // Strict both ways; and before version 3 no ioctl named a context.
  json bad = jp;
  bad["ioctl"]["context_id"] = 0;
  EXPECT_EQ(error_of(bad, 3), "ioctl.context_id: only an ioctl of a secondary context (flag \"secondary\") names its context");
  bad = j;
  bad["ioctl"].erase("context_id");
  EXPECT_EQ(error_of(bad, 3), "ioctl.context_id: missing");
  EXPECT_EQ(error_of(j, 2), "ioctl.context_id: not a key of a version 2 ioctl");
}

TEST(TraceEventJson, AKfdIoctlShowsItsRequestAndDecodedArguments) {
  json j = to_json(full_event(EventKind::KfdIoctl));
  EXPECT_EQ(j["kind"], "kfd_ioctl");
  const json& k = j["kfd_ioctl"];
  EXPECT_EQ(k["cmd"], "0xc0104b25");
  EXPECT_EQ(k["nr"], 0x25);
  EXPECT_EQ(k["name"], "RUNTIME_ENABLE");
  EXPECT_EQ(k["dir"], "inout");
  EXPECT_EQ(k["size"], 16);
  EXPECT_EQ(k["arg"], "0x7ffd12345670");
  EXPECT_EQ(k["data"], "1122334455667788" "0100000003000000");
  EXPECT_EQ(k["args"]["r_debug"], "0x8877665544332211");
  EXPECT_EQ(k["args"]["mode_mask"], "0x1");
  EXPECT_EQ(k["args"]["capabilities_mask"], "0x3");
  for (const char* other : {"queue", "ioctl", "process", "preempt"}) EXPECT_FALSE(j.contains(other)) << other;

  // A request KFD has no name for (ROCr 5.2's out-of-tree DBG_TRAP number):
  // its number, no name, no decoded arguments.
  Event ev = full_event(EventKind::KfdIoctl);
  ev.raw.kio.cmd = 0xc0184b82;
  j = to_json(ev);
  EXPECT_TRUE(j["kfd_ioctl"]["name"].is_null());
  EXPECT_EQ(j["kfd_ioctl"]["nr"], 0x82);
  EXPECT_FALSE(j["kfd_ioctl"].contains("args"));
  Event back = event_from_json(json::parse(j.dump()));
  EXPECT_EQ(0, std::memcmp(&ev.raw, &back.raw, sizeof(gp_event)));

  // Too few bytes read for the layout: nothing decoded.
  ev = full_event(EventKind::KfdIoctl);
  ev.raw.kio.data_len = 8;
  std::memset(ev.raw.kio.data + 8, 0, GP_KFD_IOCTL_DATA - 8);
  EXPECT_FALSE(to_json(ev)["kfd_ioctl"].contains("args"));
}

TEST(TraceEventJson, AKfdIoctlWithBadDataIsRefused) {
  json j = to_json(full_event(EventKind::KfdIoctl));
  j["kfd_ioctl"]["data"] = "123";
  EXPECT_THROW(event_from_json(j), EventJsonError);
  j["kfd_ioctl"]["data"] = "zz";
  EXPECT_THROW(event_from_json(j), EventJsonError);
  j["kfd_ioctl"]["data"] = std::string(2 * GP_KFD_IOCTL_DATA + 2, '0');
  EXPECT_THROW(event_from_json(j), EventJsonError);
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
  EXPECT_THROW(event_from_json(p), EventJsonError) << "version 3 needs it";
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

// Version 1 and 2 lines: the 32-bit seq in "preempt.seq" (a preemption, or a
// victim without its queue) or in "aux" (a victim with its queue); no flags.
TEST(TraceEventJson, Version1And2SeqIsReadIntoTheSameField) {
  for (int version : {1, 2}) {
    SCOPED_TRACE(version);
    json pre = to_json(full_event(EventKind::Preempt));
    pre.erase("seq");
    pre["preempt"].erase("flags");
    pre["preempt"]["seq"] = 41;
    Event p = event_from_json(pre, version);
    EXPECT_EQ(p.raw.seq, 41u);
    EXPECT_EQ(p.raw.pre.flags, 0u);
    // ... and a version 3 line is not one of theirs, nor the other way round.
    EXPECT_EQ(error_of(to_json(full_event(EventKind::Preempt)), version), "preempt.seq: missing");
    EXPECT_EQ(error_of(pre), "preempt.flags: missing");

    Event v = queue_event(EventKind::PreemptVictim, 5, 4242, 3, 0xffff888000001000);
    json vj = to_json(v);
    vj.erase("seq");
    vj["aux"] = 41;
    Event back = event_from_json(vj, version);
    EXPECT_EQ(back.raw.seq, 41u);
    EXPECT_EQ(back.raw.aux, 0u) << "the seq moved out of aux, as a version 3 victim has it";

    pre["preempt"]["seq"] = std::uint64_t{1} << 32;
    EXPECT_THROW(event_from_json(pre, version), EventJsonError) << "versions 1 and 2 seqs were 32 bits";
  }
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
  EXPECT_EQ(io["dbg_exception_mask"], "0x8000000000000001");
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
  Event dbg = full_event(EventKind::IoctlDbgTrap);
  dbg.raw.io = {};
  dbg.raw.io.dbg_op = 40;  // an op without args this build knows: only the common fields
  dbg.raw.io.dbg_target_pid = 777;
  json j = to_json(dbg);
  // full_event is flagged secondary: its context (here 0, the first secondary id) is named too.
  EXPECT_EQ(j["ioctl"], json({{"context_id", 0}, {"dbg_op", 40}, {"dbg_target_pid", 777}}));
  Event back = event_from_json(j);
  EXPECT_EQ(0, std::memcmp(&dbg.raw, &back.raw, sizeof(gp_event)));

  Event create = full_event(EventKind::IoctlCreateQueue);
  create.raw.io.queue_type = 9;
  j = to_json(create);
  EXPECT_EQ(j["ioctl"]["queue_type"], 9);
  back = event_from_json(j);
  EXPECT_EQ(0, std::memcmp(&create.raw, &back.raw, sizeof(gp_event)));
}

// ------------------------------------------------------------ ioctl fields

std::set<std::string> keys_of(const json& o) {
  std::set<std::string> k;
  for (const auto& [key, value] : o.items()) k.insert(key);
  return k;
}

Event dbg_trap(std::uint32_t op, std::uint32_t target_tgid = 0) {
  Event ev = full_event(EventKind::IoctlDbgTrap);
  ev.raw.io.dbg_op = op;
  ev.raw.io.dbg_target_tgid = target_tgid;
  return ev;
}

// Each ioctl event carries the fields of its ioctl and no other, whatever the
// rest of the payload union holds (here: every field set).
TEST(TraceEventJsonIoctl, EachIoctlCarriesOnlyItsFields) {
  using Keys = std::set<std::string>;
  auto all_set = [](Event ev) {
    ev.raw.io = {0x7f0000100000, 0x8000000000000001, 1u << 20, 48301, 2, 0x0364, 9, 5, ev.raw.io.dbg_op, 777, 4,
                 10, ev.raw.io.dbg_target_tgid, 0, 0};
    return ev;
  };
  const Keys queue_args = {"qid", "priority", "percent", "ring_addr", "ring_size"};
  Keys create = queue_args;
  create.insert({"gpu_id", "queue_type"});
  struct Case {
    const char* name;
    Event ev;
    Keys keys;
  } cases[] = {
      {"create_queue", full_event(EventKind::IoctlCreateQueue), create},
      {"update_queue", full_event(EventKind::IoctlUpdateQueue), queue_args},
      {"destroy_begin", full_event(EventKind::IoctlDestroyBegin), {"qid"}},
      {"destroy_queue", full_event(EventKind::IoctlDestroyQueue), {"qid"}},
      {"dbg enable", dbg_trap(0), {"dbg_op", "dbg_target_pid", "dbg_exception_mask"}},
      {"dbg disable", dbg_trap(1), {"dbg_op", "dbg_target_pid"}},
      {"dbg suspend_queues", dbg_trap(6),
       {"dbg_op", "dbg_target_pid", "dbg_num_queues", "dbg_grace", "dbg_exception_mask"}},
      {"dbg resume_queues", dbg_trap(7), {"dbg_op", "dbg_target_pid", "dbg_num_queues"}},
      {"dbg get_queue_snapshot", dbg_trap(13), {"dbg_op", "dbg_target_pid", "dbg_num_queues", "dbg_exception_mask"}},
      {"dbg set_flags", dbg_trap(10), {"dbg_op", "dbg_target_pid"}},
      {"dbg unknown op", dbg_trap(40), {"dbg_op", "dbg_target_pid"}},
      {"dbg with a known target tgid", dbg_trap(7, 778), {"dbg_op", "dbg_target_pid", "dbg_num_queues",
                                                          "dbg_target_tgid"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // full_event is flagged secondary, so each also names its context.
    Keys want = c.keys;
    want.insert("context_id");
    EXPECT_EQ(keys_of(to_json(c.ev)["ioctl"]), want);
    EXPECT_EQ(keys_of(to_json(all_set(c.ev))["ioctl"]), want);
    Event primary = c.ev;
    primary.raw.ev_flags &= ~GP_EVF_SECONDARY;
    EXPECT_EQ(keys_of(to_json(primary)["ioctl"]), c.keys);
  }
  // What version 1 got wrong: a create said "dbg_op":"enable", "dbg_target_pid":0.
  json io = to_json(all_set(full_event(EventKind::IoctlCreateQueue)))["ioctl"];
  EXPECT_FALSE(io.contains("dbg_op"));
  EXPECT_FALSE(io.contains("dbg_target_pid"));
  EXPECT_EQ(io["queue_type"], "compute_aql");
  EXPECT_EQ(io["gpu_id"], 48301);
}

TEST(TraceEventJsonIoctl, TheFieldsOfAnotherIoctlAreRefused) {
  json j = to_json(full_event(EventKind::IoctlCreateQueue));
  j["ioctl"]["dbg_op"] = "enable";
  EXPECT_EQ(error_of(j), "ioctl.dbg_op: not a field of an ioctl_create_queue event");
  j = to_json(full_event(EventKind::IoctlDestroyQueue));
  j["ioctl"]["gpu_id"] = 48301;
  EXPECT_EQ(error_of(j), "ioctl.gpu_id: not a field of an ioctl_destroy_queue event");
  j = to_json(dbg_trap(7));
  j["ioctl"]["dbg_grace"] = 10;
  EXPECT_EQ(error_of(j), "ioctl.dbg_grace: not a field of an ioctl_dbg_trap event with dbg_op \"resume_queues\"");
  j = to_json(full_event(EventKind::IoctlUpdateQueue));
  j["ioctl"]["arg0"] = "0x0";  // the version 1 name
  EXPECT_EQ(error_of(j), "ioctl.arg0: not a field of an ioctl_update_queue event");
  j = to_json(full_event(EventKind::IoctlUpdateQueue));
  j["ioctl"].erase("ring_size");
  EXPECT_EQ(error_of(j), "ioctl.ring_size: missing");
  j = to_json(dbg_trap(6));
  j["ioctl"].erase("dbg_grace");
  EXPECT_EQ(error_of(j), "ioctl.dbg_grace: missing");
}

TEST(TraceEventJsonIoctl, TargetTgidIsPresentWhenKnown) {
  json j = to_json(dbg_trap(6, 0));
  EXPECT_FALSE(j["ioctl"].contains("dbg_target_tgid"));
  EXPECT_EQ(event_from_json(j).raw.io.dbg_target_tgid, 0u);
  j = to_json(dbg_trap(6, 778));
  EXPECT_EQ(j["ioctl"]["dbg_target_tgid"], 778);
  EXPECT_EQ(event_from_json(j).raw.io.dbg_target_tgid, 778u);
  j["ioctl"]["dbg_target_tgid"] = 0;  // written out as unknown: the same as absent
  EXPECT_EQ(event_from_json(j).raw.io.dbg_target_tgid, 0u);
}

// A version 1 ioctl object: all thirteen fields, the exception mask as "arg0".
json v1_ioctl(const std::string& dbg_op) {
  return {{"qid", 5},           {"gpu_id", 48301},        {"queue_type", "compute_aql"},
          {"priority", 9},      {"percent", 100},         {"ring_addr", "0x7f0000100000"},
          {"ring_size", 8192},  {"dbg_op", dbg_op},       {"dbg_target_pid", 777},
          {"dbg_target_tgid", 0}, {"dbg_num_queues", 4},  {"dbg_grace", 10},
          {"arg0", "0x8000000000000001"}};
}

json v1_line(EventKind kind, const std::string& dbg_op) {
  Event ev = full_event(kind);
  // Before version 3 no ioctl record was flagged secondary (bpf/lifecycle.bpf.c).
  ev.raw.ev_flags &= ~GP_EVF_SECONDARY;
  json j = to_json(ev);
  j["ioctl"] = v1_ioctl(dbg_op);
  return j;
}

TEST(TraceEventJsonIoctl, Version1KeepsTheFieldsOfTheIoctlAndDropsTheRest) {
  // create_queue: what v1 wrote as "dbg_op":"suspend_queues" etc. is dropped.
  Event ev = event_from_json(v1_line(EventKind::IoctlCreateQueue, "suspend_queues"), 1);
  EXPECT_EQ(ev.raw.io.qid, 5u);
  EXPECT_EQ(ev.raw.io.gpu_id, 48301u);
  EXPECT_EQ(ev.raw.io.queue_type, 2u);
  EXPECT_EQ(ev.raw.io.ring_addr, 0x7f0000100000u);
  EXPECT_EQ(ev.raw.io.ring_size, 8192u);
  EXPECT_EQ(ev.raw.io.dbg_op, 0u);
  EXPECT_EQ(ev.raw.io.dbg_target_pid, 0u);
  EXPECT_EQ(ev.raw.io.dbg_num_queues, 0u);
  EXPECT_EQ(ev.raw.io.arg0, 0u);
  EXPECT_EQ(keys_of(to_json(ev)["ioctl"]),
            (std::set<std::string>{"qid", "gpu_id", "queue_type", "priority", "percent", "ring_addr", "ring_size"}));
  // destroy: only qid.
  ev = event_from_json(v1_line(EventKind::IoctlDestroyQueue, "enable"), 1);
  gp_ioctl_info only_qid{};
  only_qid.qid = 5;
  EXPECT_EQ(0, std::memcmp(&ev.raw.io, &only_qid, sizeof only_qid));
  // dbg_trap suspend_queues: arg0 is the exception mask; the queue fields go.
  ev = event_from_json(v1_line(EventKind::IoctlDbgTrap, "suspend_queues"), 1);
  EXPECT_EQ(ev.raw.io.dbg_op, 6u);
  EXPECT_EQ(ev.raw.io.dbg_target_pid, 777u);
  EXPECT_EQ(ev.raw.io.dbg_num_queues, 4u);
  EXPECT_EQ(ev.raw.io.dbg_grace, 10u);
  EXPECT_EQ(ev.raw.io.arg0, 0x8000000000000001u);
  EXPECT_EQ(ev.raw.io.qid, 0u);
  EXPECT_EQ(ev.raw.io.gpu_id, 0u);
  EXPECT_EQ(ev.raw.io.ring_size, 0u);
  EXPECT_EQ(to_json(ev)["ioctl"]["dbg_exception_mask"], "0x8000000000000001");
  // dbg_trap resume_queues: grace and mask are not resume's.
  ev = event_from_json(v1_line(EventKind::IoctlDbgTrap, "resume_queues"), 1);
  EXPECT_EQ(ev.raw.io.dbg_num_queues, 4u);
  EXPECT_EQ(ev.raw.io.dbg_grace, 0u);
  EXPECT_EQ(ev.raw.io.arg0, 0u);
}

TEST(TraceEventJsonIoctl, Version1LinesAreStillCheckedAsVersion1WroteThem) {
  json j = v1_line(EventKind::IoctlCreateQueue, "enable");
  j["ioctl"].erase("dbg_grace");  // a field create_queue does not have, but v1 always wrote it
  EXPECT_EQ(error_of(j, 1), "ioctl.dbg_grace: missing");
  j = v1_line(EventKind::IoctlCreateQueue, "enable");
  j["ioctl"]["dbg_target_pid"] = "777";
  EXPECT_EQ(error_of(j, 1), "ioctl.dbg_target_pid: expected an integer, got \"777\"");
  // A version 2 object is not a version 1 one, and the other way round.
  EXPECT_EQ(error_of(to_json(full_event(EventKind::IoctlCreateQueue)), 1), "ioctl.dbg_op: missing");
  EXPECT_EQ(error_of(v1_line(EventKind::IoctlCreateQueue, "enable"), 2),
            "ioctl.arg0: not a field of an ioctl_create_queue event");
}

// Neither the ioctl fields (version 2) nor the seq (version 3) changed these.
TEST(TraceEventJsonIoctl, OtherPayloadsAreTheSameInEveryVersion) {
  for (EventKind kind : kAllKinds) {
    if (payload_of(full_event(kind).raw) == Payload::Ioctl || carries_seq(kind)) continue;
    SCOPED_TRACE(std::string(to_string(kind)));
    json j = to_json(full_event(kind));
    Event v1 = event_from_json(j, 1), v2 = event_from_json(j, 2), v3 = event_from_json(j, 3);
    EXPECT_EQ(0, std::memcmp(&v1.raw, &v2.raw, sizeof(gp_event)));
    EXPECT_EQ(0, std::memcmp(&v1.raw, &v3.raw, sizeof(gp_event)));
  }
}

TEST(TraceEventJsonIoctl, UnknownVersionIsRefused) {
  json j = to_json(full_event(EventKind::QueueAdd));
  EXPECT_EQ(error_of(j, 4), "trace format version 4 is not supported");
  EXPECT_EQ(error_of(j, 0), "trace format version 0 is not supported");
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
