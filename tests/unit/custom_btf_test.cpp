// --btf FILE: standalone vs split detection, the join with vmlinux BTF, and
// every way a file can be unusable. The BTF files are written with libbpf's
// own writer API (tiny fake vmlinux + amdgpu), plus this host's real
// /sys/kernel/btf/vmlinux, plus real pahole output when pahole is installed.
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include "attach/btf_info.h"
#include "attach/custom_btf.h"
#include "base/error.h"
#include "fake_root.h"
#include "host/btf_steps.h"

namespace gp {
namespace {

using BtfPtr = std::unique_ptr<btf, decltype(&btf__free)>;

constexpr const char* kHostVmlinux = "/sys/kernel/btf/vmlinux";

// A scratch directory that, unlike FakeRoot, leaves host_path() alone.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gp-btf-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

void write_file(const std::string& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

void write_btf(const btf* b, const std::string& path) {
  __u32 size = 0;
  const void* raw = btf__raw_data(b, &size);
  ASSERT_NE(raw, nullptr);
  write_file(path, raw, size);
}

// A fake vmlinux: [1] int, [2] struct task_struct { int pid; }, [3] a pointer.
// ptr_to_task=false points [3] at int instead: same strings, same type count,
// a different kernel build as far as a split file is concerned.
BtfPtr fake_vmlinux(bool ptr_to_task = true) {
  BtfPtr b(btf__new_empty(), btf__free);
  const int i = btf__add_int(b.get(), "int", 4, BTF_INT_SIGNED);
  const int task = btf__add_struct(b.get(), "task_struct", 4);
  btf__add_field(b.get(), "pid", i, 0, 0);
  btf__add_ptr(b.get(), ptr_to_task ? task : i);
  return b;
}

// amdgpu's types the loader checks, on top of `base` (split) or in it (standalone).
void add_amdgpu(btf* b, int task_ptr, int int_id, bool with_kfd_process = true) {
  if (with_kfd_process) {
    const int proc = btf__add_struct(b, "kfd_process", 8);
    btf__add_field(b, "lead_thread", task_ptr, 0, 0);
    (void)proc;
  }
  const int proto = btf__add_func_proto(b, int_id);
  for (const char* p : {"dqm", "filter", "filter_param", "grace_period", "reset"}) btf__add_func_param(b, p, int_id);
  btf__add_func(b, "unmap_queues_cpsch", BTF_FUNC_STATIC, proto);
}

class CustomBtfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = dir_.path() + "/vmlinux";
    other_base_ = dir_.path() + "/vmlinux.other";
    split_ = dir_.path() + "/amdgpu.btf";
    auto base = fake_vmlinux();
    write_btf(base.get(), base_);
    write_btf(fake_vmlinux(false).get(), other_base_);
    BtfPtr split(btf__new_empty_split(base.get()), btf__free);
    add_amdgpu(split.get(), 3, 1);
    write_btf(split.get(), split_);
  }
  std::string error_of(const std::string& file, const std::string& base) {
    try {
      CustomBtf::load(file, base);
    } catch (const UserError& e) {
      return e.what();
    }
    return "(no error)";
  }
  TempDir dir_;
  std::string base_, other_base_, split_;
};

TEST_F(CustomBtfTest, SplitIsJoinedIntoOneStandaloneBtf) {
  const CustomBtf c = CustomBtf::load(split_, base_);
  EXPECT_EQ(c.layout(), CustomBtf::Layout::Split);
  EXPECT_EQ(c.libbpf_path().rfind("/proc/self/fd/", 0), 0u) << c.libbpf_path();
  EXPECT_EQ(c.type_count(), 3u + 3u);  // fake vmlinux + kfd_process, func proto, func
  // What libbpf will read: parses with no base, same ids, same names.
  BtfPtr joined(btf__parse(c.libbpf_path().c_str(), nullptr), btf__free);
  ASSERT_NE(joined, nullptr) << "the joined BTF does not parse alone";
  EXPECT_EQ(btf__type_cnt(joined.get()), btf__type_cnt(c.types()));
  for (const char* name : {"task_struct", "kfd_process"})
    EXPECT_EQ(btf__find_by_name_kind(joined.get(), name, BTF_KIND_STRUCT),
              btf__find_by_name_kind(c.types(), name, BTF_KIND_STRUCT))
        << name;
  EXPECT_GT(btf__find_by_name_kind(joined.get(), "unmap_queues_cpsch", BTF_KIND_FUNC), 0);
  EXPECT_NE(c.describe().find("split"), std::string::npos) << c.describe();
}

TEST_F(CustomBtfTest, FunctionParamsHonourTheCustomBtf) {
  const CustomBtf c = CustomBtf::load(split_, base_);
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "amdgpu", &c), 5);
  EXPECT_EQ(btf_function_params("no_such_function", "amdgpu", &c), std::nullopt);
}

TEST_F(CustomBtfTest, FunctionParamsFromSysfsReadModuleSplitBtf) {
  test::FakeRoot root;
  std::filesystem::create_directories(root.path() + "/sys/kernel/btf");
  std::filesystem::copy_file(base_, root.path() + "/sys/kernel/btf/vmlinux");
  std::filesystem::copy_file(split_, root.path() + "/sys/kernel/btf/amdgpu");
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "amdgpu"), 5);
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "no_such_module"), std::nullopt);
}

TEST_F(CustomBtfTest, StandaloneIsGivenToLibbpfAsIs) {
  auto b = fake_vmlinux();
  add_amdgpu(b.get(), 3, 1);
  const std::string file = dir_.path() + "/standalone.btf";
  write_btf(b.get(), file);
  const CustomBtf c = CustomBtf::load(file, "/nonexistent/vmlinux");  // no base needed
  EXPECT_EQ(c.layout(), CustomBtf::Layout::Standalone);
  EXPECT_EQ(c.libbpf_path(), file);
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "amdgpu", &c), 5);
}

TEST_F(CustomBtfTest, MissingFile) {
  const auto e = error_of(dir_.path() + "/nope.btf", base_);
  EXPECT_NE(e.find("No such file"), std::string::npos) << e;
  EXPECT_NE(e.find("gpreempt-bpf doctor"), std::string::npos) << e;
}

TEST_F(CustomBtfTest, CorruptFile) {
  const std::string file = dir_.path() + "/garbage.btf";
  write_file(file, "this is not BTF at all, not even ELF", 36);
  const auto e = error_of(file, base_);
  EXPECT_NE(e.find("not BTF that libbpf can read"), std::string::npos) << e;
}

TEST_F(CustomBtfTest, TruncatedSplitFile) {
  const std::string file = dir_.path() + "/truncated.btf";
  std::ifstream in(split_, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  write_file(file, bytes.data(), bytes.size() / 2);
  EXPECT_NE(error_of(file, base_).find("not BTF that libbpf can read"), std::string::npos);
}

TEST_F(CustomBtfTest, SplitWithoutAmdgpuTypes) {
  auto base = fake_vmlinux();
  BtfPtr split(btf__new_empty_split(base.get()), btf__free);
  add_amdgpu(split.get(), 3, 1, /*with_kfd_process=*/false);
  const std::string file = dir_.path() + "/other-module.btf";
  write_btf(split.get(), file);
  const auto e = error_of(file, base_);
  EXPECT_NE(e.find("has no amdgpu types"), std::string::npos) << e;
}

TEST_F(CustomBtfTest, SplitMadeForAnotherKernelBuild) {
  const auto e = error_of(split_, other_base_);
  EXPECT_NE(e.find("made for another kernel build"), std::string::npos) << e;
}

TEST_F(CustomBtfTest, SplitWithoutAKernelBtfToJoinWith) {
  const auto e = error_of(split_, dir_.path() + "/no-vmlinux");
  EXPECT_NE(e.find("pass one BTF file that covers vmlinux and amdgpu"), std::string::npos) << e;
}

TEST_F(CustomBtfTest, MoveKeepsTheJoinedCopyAlive) {
  CustomBtf a = CustomBtf::load(split_, base_);
  const std::string path = a.libbpf_path();
  CustomBtf b = std::move(a);
  BtfPtr joined(btf__parse(b.libbpf_path().c_str(), nullptr), btf__free);
  EXPECT_EQ(b.libbpf_path(), path);
  EXPECT_NE(joined, nullptr);
}

// This host's real vmlinux BTF (~130k types) as the base.
class HostVmlinuxTest : public CustomBtfTest {
 protected:
  void SetUp() override {
    if (::access(kHostVmlinux, R_OK) != 0) GTEST_SKIP() << "no " << kHostVmlinux;
    CustomBtfTest::SetUp();
  }
};

TEST_F(HostVmlinuxTest, VmlinuxAloneHasNoAmdgpuTypes) {
  const auto e = error_of(kHostVmlinux, kHostVmlinux);
  EXPECT_NE(e.find("has no amdgpu types"), std::string::npos) << e;
}

TEST_F(HostVmlinuxTest, SplitOnTheRealVmlinuxIsJoined) {
  BtfPtr base(btf__parse(kHostVmlinux, nullptr), btf__free);
  ASSERT_NE(base, nullptr);
  const int task = btf__find_by_name_kind(base.get(), "task_struct", BTF_KIND_STRUCT);
  const int i = btf__find_by_name_kind(base.get(), "int", BTF_KIND_INT);
  ASSERT_GT(task, 0);
  BtfPtr split(btf__new_empty_split(base.get()), btf__free);
  const int ptr = btf__add_ptr(split.get(), task);
  add_amdgpu(split.get(), ptr, i);
  const std::string file = dir_.path() + "/amdgpu-on-host.btf";
  write_btf(split.get(), file);

  const auto t0 = std::chrono::steady_clock::now();
  const CustomBtf c = CustomBtf::load(file, kHostVmlinux);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.layout(), CustomBtf::Layout::Split);
  BtfPtr joined(btf__parse(c.libbpf_path().c_str(), nullptr), btf__free);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(btf__type_cnt(joined.get()), btf__type_cnt(base.get()) + 4);  // ptr, kfd_process, proto, func
  EXPECT_EQ(btf__find_by_name_kind(joined.get(), "task_struct", BTF_KIND_STRUCT), task);
  // Spot-check that every vmlinux type kept its id and name.
  for (__u32 id = 1; id < btf__type_cnt(base.get()); id += 997) {
    const btf_type* a = btf__type_by_id(base.get(), id);
    const btf_type* b = btf__type_by_id(joined.get(), id);
    ASSERT_NE(b, nullptr) << id;
    EXPECT_EQ(btf_kind(a), btf_kind(b)) << id;
    EXPECT_STREQ(btf__name_by_offset(base.get(), a->name_off), btf__name_by_offset(joined.get(), b->name_off)) << id;
  }
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "amdgpu", &c), 5);
  std::printf("load + join on %u vmlinux types: %.0f ms\n", btf__type_cnt(base.get()) - 1, ms);
}

// The documented command, for real: pahole -J --btf_base on an object with
// DWARF (a stand-in for amdgpu.ko built with debug info).
TEST_F(HostVmlinuxTest, PaholeOutputIsAccepted) {
  if (std::system("command -v pahole >/dev/null && command -v cc >/dev/null") != 0)
    GTEST_SKIP() << "pahole or cc not installed";
  const std::string src = dir_.path() + "/fake_amdgpu.c", obj = dir_.path() + "/fake_amdgpu.o",
                    out = dir_.path() + "/pahole-amdgpu.btf";
  std::ofstream(src) << "struct task_struct;\n"
                        "struct kfd_process { struct task_struct *lead_thread; unsigned int pasid; };\n"
                        "struct device_queue_manager { int n; };\n"
                        "int unmap_queues_cpsch(struct device_queue_manager *dqm, int filter,\n"
                        "    unsigned int filter_param, unsigned int grace_period, int reset)\n"
                        "{ return dqm->n + filter + filter_param + grace_period + reset; }\n"
                        "int kfd_pasid(struct kfd_process *p) { return p->pasid; }\n";
  ASSERT_EQ(std::system(("cc -g -O1 -c " + src + " -o " + obj).c_str()), 0);
  const std::string pahole = "pahole -J --btf_base " + std::string(kHostVmlinux) + " --btf_encode_detached " +
                             out + " " + obj;
  ASSERT_EQ(std::system(pahole.c_str()), 0) << pahole;
  const CustomBtf c = CustomBtf::load(out, kHostVmlinux);
  EXPECT_EQ(c.layout(), CustomBtf::Layout::Split) << c.describe();
  EXPECT_EQ(btf_function_params("unmap_queues_cpsch", "amdgpu", &c), 5);
  BtfPtr joined(btf__parse(c.libbpf_path().c_str(), nullptr), btf__free);
  ASSERT_NE(joined, nullptr);
  EXPECT_GT(btf__find_by_name_kind(joined.get(), "kfd_process", BTF_KIND_STRUCT), 0);
}

// doctor's steps are meant to be pasted into a shell: every command line
// must parse, and each documented piece must be there.
TEST(BtfSteps, CommandsAreValidShell) {
  const std::string steps = amdgpu_btf_steps();
  std::string commands;
  std::istringstream in(steps);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  ", 0) == 0) commands += line + "\n";
  ASSERT_GE(std::count(commands.begin(), commands.end(), '\n'), 6) << steps;
  TempDir d;
  const std::string file = d.path() + "/steps.sh";
  std::ofstream(file) << commands;
  EXPECT_EQ(std::system(("sh -n " + file).c_str()), 0) << commands;
  for (const char* piece : {"modinfo -n amdgpu", "xz -dc", "zstd -qdc", ".debug_info",
                            "pahole -J --btf_base /sys/kernel/btf/vmlinux --btf_encode_detached /tmp/amdgpu.btf /tmp/amdgpu.ko",
                            "gpreempt-bpf watch --btf /tmp/amdgpu.btf", "STRIP[0]=\"no\""})
    EXPECT_NE(steps.find(piece), std::string::npos) << piece;
}

}  // namespace
}  // namespace gp
