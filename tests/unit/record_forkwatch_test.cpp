// ForkWatch against this machine's kernel: the process events connector
// needs CAP_NET_ADMIN in the initial network namespace, so the test skips
// (saying why) where that is not available.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <utility>

#include "record/forkwatch.h"

namespace gp::record {
namespace {

TEST(RecordForkWatch, SeesChildAndGrandchildEvenAfterTheyExited) {
  std::unique_ptr<ForkWatch> w;
  try {
    w = std::make_unique<ForkWatch>();
  } catch (const ForkWatchError& e) {
    GTEST_SKIP() << "process events connector unavailable here: " << e.what();
  }
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const pid_t grandchild = ::fork();
    if (grandchild == 0) ::_exit(0);
    ::waitpid(grandchild, nullptr, 0);
    ssize_t n = ::write(pipefd[1], &grandchild, sizeof grandchild);
    ::_exit(n == sizeof grandchild ? 0 : 1);
  }
  pid_t grandchild = 0;
  ASSERT_EQ(::read(pipefd[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  int st = 0;
  ::waitpid(child, &st, 0);
  ASSERT_EQ(st, 0);

  // Both are gone and reaped; their fork messages are still queued.
  std::set<std::pair<std::uint32_t, std::uint32_t>> edges;
  EXPECT_TRUE(w->drain([&](std::uint32_t p, std::uint32_t c) { edges.insert({p, c}); }));
  EXPECT_TRUE(edges.count({static_cast<std::uint32_t>(::getpid()), static_cast<std::uint32_t>(child)}));
  EXPECT_TRUE(edges.count({static_cast<std::uint32_t>(child), static_cast<std::uint32_t>(grandchild)}));
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

}  // namespace
}  // namespace gp::record
