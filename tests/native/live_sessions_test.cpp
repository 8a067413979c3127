// doctor's lost-event count of running sessions, on this kernel: a child
// process holds a real per-CPU gp_lost map with counts on several CPUs, and
// find_live_sessions() must find that child with the sums; a look-alike map
// with another shape must be ignored.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "bpf/events.h"
#include "tracing/live_sessions.h"

namespace gp {
namespace {

int make_lost_map(std::uint32_t entries) {
  return bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "gp_lost", sizeof(std::uint32_t), sizeof(std::uint64_t),
                        entries, nullptr);
}

void set_slot(int fd, std::uint32_t slot, std::uint64_t per_cpu_value) {
  const int ncpus = libbpf_num_possible_cpus();
  std::vector<std::uint64_t> v(static_cast<std::size_t>(ncpus), per_cpu_value);
  ASSERT_EQ(bpf_map_update_elem(fd, &slot, v.data(), BPF_ANY), 0);
}

TEST(LiveSessionsNative, FindsTheHolderOfAGpLostMapWithItsCounts) {
  const int fd = make_lost_map(GP_LOST_SLOTS);
  ASSERT_GE(fd, 0) << "bpf_map_create: " << strerror(errno) << " (the native tier runs as root)";
  const int decoy = make_lost_map(GP_LOST_SLOTS + 3);  // same name, other shape: not ours
  ASSERT_GE(decoy, 0);
  set_slot(fd, GP_LOST_RINGBUF, 5);
  set_slot(fd, GP_LOST_STASH, 1);
  set_slot(decoy, GP_LOST_RINGBUF, 77);
  bpf_map_info info{};
  std::uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the inherited map fds until killed
    pause();
    _exit(0);
  }
  ::close(fd);
  ::close(decoy);

  std::string error;
  const auto sessions = find_live_sessions(&error);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  EXPECT_EQ(error, "");
  const int ncpus = libbpf_num_possible_cpus();
  const LiveSession* found = nullptr;
  for (const auto& s : sessions)
    for (auto id : s.map_ids)
      if (id == info.id) found = &s;
  ASSERT_NE(found, nullptr) << "the child's gp_lost map (id " << info.id << ") was not found";
  EXPECT_EQ(found->pid, child);
  EXPECT_EQ(found->map_ids.size(), 1u) << "the decoy map of another shape was counted";
  EXPECT_EQ(found->lost_ringbuf, 5u * static_cast<unsigned>(ncpus));
  EXPECT_EQ(found->lost_stash, 1u * static_cast<unsigned>(ncpus));
  EXPECT_NE(found->command.find("gp_native_tests"), std::string::npos) << found->command;
}

}  // namespace
}  // namespace gp
