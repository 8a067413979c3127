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

TEST(Names, FlagsAndErrnos) {
  EXPECT_EQ(queue_flags_string(GP_QF_ACTIVE | GP_QF_SUSPENDED), "active|suspended");
  EXPECT_EQ(queue_flags_string(0), "-");
  EXPECT_EQ(errno_name(-22), "-EINVAL");
  EXPECT_EQ(errno_name(3), "3");
  EXPECT_EQ(queue_type_name(GP_QTYPE_SDMA_XGMI), "sdma_xgmi");
  EXPECT_EQ(dbg_trap_op_name(6), "suspend_queues");
}

}  // namespace
}  // namespace gp
