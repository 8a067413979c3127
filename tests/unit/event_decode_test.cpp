#include <gtest/gtest.h>

#include <cstring>

#include "test_events.h"
#include "trace/event.h"

namespace gp {
namespace {

TEST(Decode, AcceptsAWellFormedRecord) {
  auto ev = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  auto r = decode(&ev.raw, sizeof(ev.raw));
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind(), EventKind::QueueAdd);
  EXPECT_EQ(r.event->comm(), "python3");
}

TEST(Decode, RejectsWrongSizes) {
  gp_event e{};
  e.kind = GP_EV_QUEUE_ADD;
  EXPECT_EQ(decode(&e, 8).error, DecodeError::Truncated);
  EXPECT_EQ(decode(&e, sizeof(e) - 1).error, DecodeError::WrongSize);
  unsigned char big[sizeof(gp_event) + 8] = {};
  std::memcpy(big, &e, sizeof(e));
  EXPECT_EQ(decode(big, sizeof(big)).error, DecodeError::WrongSize);
}

TEST(Decode, RefusesRecordsOfTheFirstAbi) {
  // ABI 1 (136 bytes) carried a 32-bit seq; a stale BPF object must not be
  // read as ABI 2.
  static_assert(GP_EVENT_ABI_VERSION == 2);
  static_assert(sizeof(gp_event) == 144);
  unsigned char old[136] = {};
  const std::uint32_t kind = GP_EV_PREEMPT;
  std::memcpy(old + 8, &kind, sizeof kind);
  EXPECT_EQ(decode(old, sizeof old).error, DecodeError::WrongSize);
}

TEST(Decode, RejectsUnknownKindsAndCauses) {
  gp_event e{};
  EXPECT_EQ(decode(&e, sizeof(e)).error, DecodeError::UnknownKind);  // kind 0
  e.kind = GP_EV_KIND_MAX;
  EXPECT_EQ(decode(&e, sizeof(e)).error, DecodeError::UnknownKind);
  e.kind = GP_EV_QUEUE_STATE;
  e.cause = GP_CAUSE_MAX;
  EXPECT_EQ(decode(&e, sizeof(e)).error, DecodeError::BadPayload);
}

TEST(Decode, RejectsOutOfRangeQueueFields) {
  auto ev = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  ev.raw.q.priority = 16;
  EXPECT_EQ(decode(&ev.raw, sizeof(ev.raw)).error, DecodeError::BadPayload);
  ev = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  ev.raw.q.percent = 101;
  EXPECT_EQ(decode(&ev.raw, sizeof(ev.raw)).error, DecodeError::BadPayload);
  ev = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  ev.raw.q.type = 9;
  EXPECT_EQ(decode(&ev.raw, sizeof(ev.raw)).error, DecodeError::BadPayload);
}

TEST(Decode, CommIsAlwaysTerminated) {
  auto ev = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  std::memset(ev.raw.comm, 'x', sizeof(ev.raw.comm));
  auto r = decode(&ev.raw, sizeof(ev.raw));
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->comm().size(), GP_COMM_LEN - 1);
}

TEST(Names, KindAndCauseRoundTrip) {
  for (std::uint32_t k = 1; k < GP_EV_KIND_MAX; ++k) {
    auto name = to_string(static_cast<EventKind>(k));
    EXPECT_NE(name, "unknown") << k;
    EXPECT_EQ(event_kind_from_string(name), static_cast<EventKind>(k));
  }
  for (std::uint32_t c = 0; c < GP_CAUSE_MAX; ++c) {
    auto name = to_string(static_cast<Cause>(c));
    EXPECT_FALSE(name.empty()) << c;
    EXPECT_NE(name, "unknown") << c;
    EXPECT_EQ(cause_from_string(name), static_cast<Cause>(c));
  }
}

TEST(Decode, AKfdIoctlReadsAtMostItsDataBytes) {
  gp_event e{};
  e.kind = GP_EV_KFD_IOCTL;
  e.kio.data_len = GP_KFD_IOCTL_DATA;
  EXPECT_TRUE(decode(&e, sizeof e).event);
  e.kio.data_len = GP_KFD_IOCTL_DATA + 1;
  auto r = decode(&e, sizeof e);
  EXPECT_FALSE(r.event);
  EXPECT_EQ(r.error, DecodeError::BadPayload);
}

TEST(Names, KfdIoctlsAndTheirArguments) {
  EXPECT_EQ(kfd_ioctl_name(0x01), "GET_VERSION");
  EXPECT_EQ(kfd_ioctl_name(0x14), "GET_PROCESS_APERTURES_NEW");
  EXPECT_EQ(kfd_ioctl_name(0x21), "SET_XNACK_MODE");
  EXPECT_EQ(kfd_ioctl_name(0x25), "RUNTIME_ENABLE");
  EXPECT_EQ(kfd_ioctl_name(0x26), "DBG_TRAP");
  EXPECT_EQ(kfd_ioctl_name(0x28), "PROFILER");
  EXPECT_EQ(kfd_ioctl_name(0), "unknown");
  EXPECT_EQ(kfd_ioctl_name(0x82), "unknown");
  EXPECT_TRUE(kfd_ioctl_known(0x80084b01));   // AMDKFD_IOC_GET_VERSION
  EXPECT_FALSE(kfd_ioctl_known(0x80085401));  // another driver's nr 1
  EXPECT_FALSE(kfd_ioctl_known(0xc0184b82));

  gp_kfd_ioctl_info k{};
  k.cmd = 0x80084b01;  // GET_VERSION: 1.17
  k.data_len = 8;
  k.data[0] = 1;
  k.data[4] = 17;
  auto f = kfd_ioctl_fields(k);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "major_version");
  EXPECT_EQ(f[0].value, 1u);
  EXPECT_EQ(f[1].name, "minor_version");
  EXPECT_EQ(f[1].value, 17u);

  k = {};
  k.cmd = 0xc0044b21;  // SET_XNACK_MODE, query: -1 in
  k.data_len = 4;
  std::memset(k.data, 0xff, 4);
  f = kfd_ioctl_fields(k);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(static_cast<std::int64_t>(f[0].value), -1);
  EXPECT_EQ(f[0].fmt, KfdIoctlField::Fmt::Signed);

  k.cmd = 0xc0044b99;  // no layout
  EXPECT_TRUE(kfd_ioctl_fields(k).empty());
}

TEST(Names, FlagsAndErrnos) {
  EXPECT_EQ(queue_flags_string(GP_QF_ACTIVE | GP_QF_SUSPENDED), "active|suspended");
  EXPECT_EQ(queue_flags_string(0), "-");
  EXPECT_EQ(errno_name(-22), "-EINVAL");
  EXPECT_EQ(errno_name(3), "3");
  EXPECT_EQ(queue_type_name(GP_QTYPE_SDMA_XGMI), "sdma_xgmi");
  EXPECT_EQ(dbg_trap_op_name(6), "suspend_queues");
}

// Which KFD context a record belongs to, as the BPF side fills each payload.
TEST(EventContext, EachPayloadNamesItsContext) {
  auto q = test::queue_event(EventKind::QueueAdd, 10, 3, 0xA);
  EXPECT_EQ(event_context(q), GP_CONTEXT_PRIMARY);
  q.raw.q.context_id = 2;
  EXPECT_EQ(event_context(q), 2u);
  // Process records always carry it (the sweep of a closed secondary context).
  auto sweep = test::process_event(EventKind::ProcessSweep, 10, 0x3000);
  EXPECT_TRUE(from_primary_context(sweep));
  sweep.raw.proc.context_id = 0;
  EXPECT_EQ(event_context(sweep), 0u);
  // A failed kfd_create_process has no process: the caller's, a primary.
  auto failed = test::process_event(EventKind::ProcessCreate, 10, 0);
  failed.raw.proc.context_id = 0;
  EXPECT_TRUE(from_primary_context(failed));
  // ioctl records name it only when flagged secondary.
  auto io = test::ioctl_event(EventKind::IoctlDestroyBegin, 10, 0);
  EXPECT_TRUE(from_primary_context(io));
  io.raw.ev_flags |= GP_EVF_SECONDARY;
  EXPECT_EQ(event_context(io), 0u);
}

}  // namespace
}  // namespace gp
