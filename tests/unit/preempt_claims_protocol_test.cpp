// Serve-mode claims (nesting, expiry) and the control protocol.
#include <gtest/gtest.h>

#include "preempt/claims.h"
#include "preempt/protocol.h"

using gp::ClaimBook;
using gp::ControlRequest;

TEST(ClaimBook, ClaimsFromSeveralHoldersNest) {
  ClaimBook b;
  EXPECT_TRUE(b.acquire("web", 0)) << "the first claim suspends";
  EXPECT_FALSE(b.acquire("batch", 1));
  EXPECT_FALSE(b.acquire("web", 2));
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.holders(), (std::map<std::string, int>{{"batch", 1}, {"web", 2}}));
  EXPECT_EQ(b.release("nobody"), ClaimBook::Release::NotHeld);
  EXPECT_EQ(b.release("web"), ClaimBook::Release::StillHeld);
  EXPECT_EQ(b.release("batch"), ClaimBook::Release::StillHeld);
  EXPECT_EQ(b.release("web"), ClaimBook::Release::Freed) << "the last release resumes";
  EXPECT_FALSE(b.held());
  EXPECT_EQ(b.release("web"), ClaimBook::Release::NotHeld);
}

TEST(ClaimBook, ClaimsExpireAfterTheMaximumHold) {
  ClaimBook b(100);
  b.acquire("a", 0);
  b.acquire("b", 50);
  EXPECT_EQ(b.next_deadline(), std::optional<std::uint64_t>(100));
  EXPECT_TRUE(b.expire(99).empty());
  EXPECT_EQ(b.expire(100), std::vector<std::string>{"a"});
  EXPECT_TRUE(b.held());
  EXPECT_EQ(b.next_deadline(), std::optional<std::uint64_t>(150));
  EXPECT_EQ(b.expire(1000), std::vector<std::string>{"b"});
  EXPECT_FALSE(b.held());
  EXPECT_FALSE(b.next_deadline().has_value());
}

TEST(ClaimBook, WithoutALimitNothingExpires) {
  ClaimBook b;
  b.acquire("a", 0);
  EXPECT_TRUE(b.expire(~0ull).empty());
  EXPECT_FALSE(b.next_deadline().has_value());
}

TEST(ControlProtocol, ParsesRequests) {
  auto r = gp::parse_request("suspend web-1\n");
  EXPECT_EQ(r.kind, ControlRequest::Kind::Suspend);
  EXPECT_EQ(r.holder, "web-1");
  EXPECT_EQ(gp::parse_request("resume").holder, "anon");
  EXPECT_EQ(gp::parse_request("  status \r\n").kind, ControlRequest::Kind::Status);
  for (const char* bad : {"", "pause", "suspend a b", "suspend bad/holder", "status x"}) {
    auto b = gp::parse_request(bad);
    EXPECT_EQ(b.kind, ControlRequest::Kind::Invalid) << bad;
    EXPECT_FALSE(b.error.empty()) << bad;
  }
  EXPECT_EQ(gp::format_request(ControlRequest::Kind::Resume, "x"), "resume x\n");
}

TEST(ControlProtocol, ParsesReplies) {
  auto ok = gp::parse_reply("ok resumed claims=0 queues=3/3 resume_us=412\n");
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok.fields.at("queues"), "3/3");
  EXPECT_TRUE(ok.fields.count("resumed"));
  auto err = gp::parse_reply("err web holds no claim");
  EXPECT_FALSE(err.ok);
  EXPECT_EQ(err.error, "web holds no claim");
  EXPECT_FALSE(gp::parse_reply("garbage").ok);
}
