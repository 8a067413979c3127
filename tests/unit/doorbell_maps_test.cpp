// Finding ROCm's runtime in a process's /proc/PID/maps (controller/attach/doorbell_probe.h):
// the one piece of the doorbell probe that is pure text.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "attach/doorbell_probe.h"

namespace gp {
namespace {

TEST(DoorbellMaps, FindsTheRuntimeAmongOtherMappings) {
  const char* maps =
      "55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1311 /usr/bin/python3.11\n"
      "7f2a40000000-7f2a40021000 rw-p 00000000 00:00 0 \n"
      "7f2a41000000-7f2a41200000 r--p 00000000 fd:01 2201 /opt/rocm-6.2.0/lib/libhsa-runtime64.so.1.14.60200\n"
      "7f2a41200000-7f2a41600000 r-xp 00200000 fd:01 2201 /opt/rocm-6.2.0/lib/libhsa-runtime64.so.1.14.60200\n"
      "7f2a42000000-7f2a42100000 rw-s 00000000 00:05 77 /dev/kfd\n"
      "7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]\n";
  EXPECT_EQ(find_hsa_runtime(maps), "/opt/rocm-6.2.0/lib/libhsa-runtime64.so.1.14.60200");
}

TEST(DoorbellMaps, PathsWithSpacesAreKept) {
  EXPECT_EQ(find_hsa_runtime("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /home/a b/rocm/libhsa-runtime64.so.1\n"),
            "/home/a b/rocm/libhsa-runtime64.so.1");
}

TEST(DoorbellMaps, NoRuntimeOrADeletedOneIsNone) {
  EXPECT_EQ(find_hsa_runtime(""), "");
  EXPECT_EQ(find_hsa_runtime("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /usr/lib/libc.so.6\n"
                             "7f0000001000-7f0000002000 rw-p 00000000 00:00 0 [heap]\n"),
            "");
  // Upgraded under a running process: the old inode is what it runs, and no
  // path names it any more.
  EXPECT_EQ(find_hsa_runtime("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 "
                             "/opt/rocm/lib/libhsa-runtime64.so.1 (deleted)\n"),
            "");
  // Similar names are not the runtime.
  EXPECT_EQ(find_hsa_runtime("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /opt/rocm/lib/libhsa-amd-aqlprofile64.so\n"
                             "7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /opt/rocm/lib/libhsakmt.so.1\n"),
            "");
}

TEST(DoorbellMaps, TheLastLineNeedsNoNewline) {
  EXPECT_EQ(find_hsa_runtime("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /r/libhsa-runtime64.so"),
            "/r/libhsa-runtime64.so");
}

TEST(DoorbellMaps, TheMappingCarriesItsRangeAndInode) {
  auto m = find_hsa_mapping(
      "7f2a40000000-7f2a40021000 rw-p 00000000 00:00 0 \n"
      "7f2a41000000-7f2a41200000 r--p 00000000 fd:01 2201 /srv/ct/usr/lib/libhsa-runtime64.so.1.15.0\n"
      "7f2a41200000-7f2a41600000 r-xp 00200000 fd:01 2201 /srv/ct/usr/lib/libhsa-runtime64.so.1.15.0\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->path, "/srv/ct/usr/lib/libhsa-runtime64.so.1.15.0");
  EXPECT_EQ(m->range, "7f2a41000000-7f2a41200000");
  EXPECT_EQ(m->inode, 2201u);
  EXPECT_FALSE(find_hsa_mapping("7f0000000000-7f0000001000 r-xp 00000000 fd:01 9 /usr/lib/libc.so.6\n"));
}

// The uprobe target: the process's own view of the path when it names the
// mapped inode; the mapping itself (map_files) when it is missing (a chroot's
// prefix) or names another file.
TEST(DoorbellMaps, TheUprobeTargetIsTheMappedInode) {
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  exe[n] = 0;
  const pid_t pid = ::getpid();
  HsaMapping m{exe, "7f0000000000-7f0000001000", st.st_ino};
  EXPECT_EQ(uprobe_target(pid, m), "/proc/" + std::to_string(pid) + "/root" + exe);
  m.inode = st.st_ino + 1;
  EXPECT_EQ(uprobe_target(pid, m), "/proc/" + std::to_string(pid) + "/map_files/7f0000000000-7f0000001000");
  m = {"/no/such/chroot/prefix/usr/lib/libhsa-runtime64.so.1", "7f0000000000-7f0000001000", st.st_ino};
  EXPECT_EQ(uprobe_target(pid, m), "/proc/" + std::to_string(pid) + "/map_files/7f0000000000-7f0000001000");
}

}  // namespace
}  // namespace gp
