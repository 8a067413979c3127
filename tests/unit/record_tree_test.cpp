// ProcessTree: which pids a filtered `record` keeps.
#include <gtest/gtest.h>

#include <map>

#include "fake_root.h"
#include "record/tree.h"

namespace gp::record {
namespace {

// A fake process table: pid -> ppid; missing = exited and reaped.
struct FakeProcs {
  std::map<std::uint32_t, std::uint32_t> parent;
  int lookups = 0;
  ParentLookup lookup() {
    return [this](std::uint32_t pid) -> std::optional<std::uint32_t> {
      ++lookups;
      auto it = parent.find(pid);
      if (it == parent.end()) return std::nullopt;
      return it->second;
    };
  }
};

TEST(RecordTree, RootsAndTheirDescendantsThroughProc) {
  FakeProcs procs{{{100, 1}, {101, 100}, {102, 101}, {200, 1}, {201, 200}}};
  ProcessTree tree(procs.lookup());
  tree.add_root(100);
  EXPECT_TRUE(tree.contains(100));
  EXPECT_TRUE(tree.contains(102));  // grandchild
  EXPECT_TRUE(tree.contains(101));  // joined on the way up
  EXPECT_FALSE(tree.contains(200));
  EXPECT_FALSE(tree.contains(201));
  EXPECT_FALSE(tree.contains(999));  // unknown and gone
  EXPECT_EQ(tree.roots(), std::vector<std::uint32_t>{100});
}

TEST(RecordTree, MembersStayAfterTheirProcessIsGone) {
  FakeProcs procs{{{100, 1}, {101, 100}}};
  ProcessTree tree(procs.lookup());
  tree.add_root(100);
  ASSERT_TRUE(tree.contains(101));
  procs.parent.erase(101);  // exited; its KFD process is freed later by a kworker
  EXPECT_TRUE(tree.contains(101));
}

TEST(RecordTree, ExactModeTrustsForkEdgesOnly) {
  FakeProcs procs{{{100, 1}, {101, 100}}};
  ProcessTree tree(procs.lookup());
  tree.set_exact(true);
  tree.add_root(100);
  EXPECT_FALSE(tree.contains(101)) << "no fork edge reported: not a member in exact mode";
  EXPECT_EQ(procs.lookups, 0);
  tree.add_child(100, 101);
  tree.add_child(101, 105);
  tree.add_child(300, 301);  // parent outside the tree
  EXPECT_TRUE(tree.contains(101));
  EXPECT_TRUE(tree.contains(105));
  EXPECT_FALSE(tree.contains(301));
}

TEST(RecordTree, BeforeMissDrainsPendingForkEdges) {
  ProcessTree tree([](std::uint32_t) { return std::nullopt; });
  tree.set_exact(true);
  tree.add_root(100);
  int drains = 0;
  tree.set_before_miss([&] {
    ++drains;
    tree.add_child(100, 150);  // the fork message was still queued
  });
  EXPECT_TRUE(tree.contains(100));
  EXPECT_EQ(drains, 0) << "a member needs no drain";
  EXPECT_TRUE(tree.contains(150));
  EXPECT_EQ(drains, 1);
}

TEST(RecordTree, AdoptsExistingDescendantsAndSurvivesCycles) {
  FakeProcs procs{{{100, 1}, {101, 100}, {102, 101}, {50, 1}, {7, 8}, {8, 7}}};
  ProcessTree tree(procs.lookup());
  tree.add_root(100);
  tree.adopt_descendants({7, 8, 50, 101, 102});
  tree.set_exact(true);
  EXPECT_TRUE(tree.contains(101));
  EXPECT_TRUE(tree.contains(102));
  EXPECT_FALSE(tree.contains(50));
  EXPECT_FALSE(tree.contains(7));
}

TEST(RecordTree, ProcParentParsesCommWithSpacesAndParens) {
  test::FakeRoot root;
  root.write("/proc/4242/stat", "4242 (py (worker) 1) S 4200 4242 4242 0 -1 4194560 ...\n");
  root.write("/proc/17/stat", "17 (bash) R 1 17 17\n");
  root.write("/proc/18/stat", "garbage");
  root.mkdir("/proc/self");
  EXPECT_EQ(proc_parent(4242), 4200u);
  EXPECT_EQ(proc_parent(17), 1u);
  EXPECT_EQ(proc_parent(18), std::nullopt);
  EXPECT_EQ(proc_parent(19), std::nullopt);
  auto pids = proc_pids();
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(pids, (std::vector<std::uint32_t>{17, 18, 4242}));
}

TEST(RecordTree, ProcParentOfThisProcessIsOurParent) {
  EXPECT_EQ(proc_parent(static_cast<std::uint32_t>(::getpid())), static_cast<std::uint32_t>(::getppid()));
}

}  // namespace
}  // namespace gp::record
