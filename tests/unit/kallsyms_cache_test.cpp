// attach/kallsyms_cache.h: a start reuses what an earlier one kept of
// /proc/kallsyms only while the boot, /proc/modules and the wanted names are
// the same; anything wrong with the cache means a fresh read.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_set>

#include "attach/kallsyms_cache.h"

namespace {

using gp::KallsymsSources;
using gp::load_kallsyms_cached;
using gp::Resolution;

const char* kKallsyms =
    "ffffffff81234560 t update_queue\n"
    "ffffffff81300000 T do_something\n"
    "ffffffffc0a00010 t kfd_procfs_add_queue\t[amdgpu]\n"
    "ffffffffc0a00100 t update_queue\t[amdgpu]\n"
    "ffffffffc0a00200 t execute_queues_cpsch.constprop.0\t[amdgpu]\n"
    "ffffffffc0a00300 t amdgpu_something_else\t[amdgpu]\n"
    "ffffffffc0a00800 d some_data\t[amdgpu]\n";
const std::unordered_set<std::string> kWanted = {"update_queue", "kfd_procfs_add_queue", "execute_queues_cpsch",
                                                 "suspend_queues"};

class KallsymsCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gp-kallsyms-cache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    src_.kallsyms = (dir_ / "kallsyms").string();
    src_.modules = (dir_ / "modules").string();
    src_.boot_id = (dir_ / "boot_id").string();
    src_.cache_dir = (dir_ / "run").string();
    write(src_.kallsyms, kKallsyms);
    write(src_.modules, "amdgpu 15728640 0 - Live 0xffffffffc0a00000\n");
    write(src_.boot_id, "6c1f2e4a-0000-4000-8000-000000000001\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  std::string cache_file() const { return src_.cache_dir + "/kallsyms-amdgpu.json"; }
  // A kallsyms that would resolve nothing: only a cache hit still resolves.
  void break_kallsyms() { write(src_.kallsyms, "ffffffff81300000 T do_something\n"); }

  std::filesystem::path dir_;
  KallsymsSources src_;
};

TEST_F(KallsymsCache, TheSecondStartReadsTheCacheAndResolvesTheSame) {
  const auto first = load_kallsyms_cached("amdgpu", kWanted, src_);
  EXPECT_FALSE(first.from_cache);
  ASSERT_TRUE(std::filesystem::exists(cache_file()));
  struct stat st {};
  ASSERT_EQ(::stat(src_.cache_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "root's own directory";
  break_kallsyms();
  const auto second = load_kallsyms_cached("amdgpu", kWanted, src_);
  EXPECT_TRUE(second.from_cache);
  for (const char* s : {"update_queue", "kfd_procfs_add_queue", "execute_queues_cpsch", "suspend_queues"}) {
    const auto a = first.symbols.resolve(s), b = second.symbols.resolve(s);
    EXPECT_EQ(a.resolution, b.resolution) << s;
    EXPECT_EQ(a.address, b.address) << s;
    EXPECT_EQ(a.name, b.name) << s;
    EXPECT_EQ(a.kernel_wide, b.kernel_wide) << s;
  }
  EXPECT_EQ(second.symbols.resolve("update_queue").resolution, Resolution::Address);
  EXPECT_EQ(second.symbols.resolve("execute_queues_cpsch").resolution, Resolution::Clone);
  EXPECT_EQ(second.symbols.module_symbol_count(), 4u) << "every text symbol of the module is counted";
  EXPECT_TRUE(second.symbols.module_present());
}

TEST_F(KallsymsCache, AModuleLoadedOrUnloadedMakesItReadAgain) {
  load_kallsyms_cached("amdgpu", kWanted, src_);
  break_kallsyms();
  write(src_.modules, "amdgpu 15728640 0 - Live 0xffffffffc0a00000\nfoo 16384 0 - Live 0xffffffffc0900000\n");
  const auto again = load_kallsyms_cached("amdgpu", kWanted, src_);
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(again.symbols.resolve("kfd_procfs_add_queue").resolution, Resolution::Missing) << "read afresh";
}

TEST_F(KallsymsCache, AnotherBootMakesItReadAgain) {
  load_kallsyms_cached("amdgpu", kWanted, src_);
  write(src_.boot_id, "6c1f2e4a-0000-4000-8000-000000000002\n");
  EXPECT_FALSE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache);
  EXPECT_TRUE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache) << "and keeps the new one";
}

TEST_F(KallsymsCache, OtherWantedNamesMakeItReadAgain) {
  load_kallsyms_cached("amdgpu", kWanted, src_);
  auto more = kWanted;
  more.insert("amdgpu_something_else");
  const auto again = load_kallsyms_cached("amdgpu", more, src_);
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(again.symbols.resolve("amdgpu_something_else").resolution, Resolution::Exact);
}

TEST_F(KallsymsCache, ACorruptCacheIsReadAfreshAndReplaced) {
  load_kallsyms_cached("amdgpu", kWanted, src_);
  std::string text;
  std::getline(std::ifstream(cache_file()), text);
  // This boot's key with a record that is not one.
  std::string bad_record = text;
  const auto field = bad_record.find("\"module_count\"");
  ASSERT_NE(field, std::string::npos) << text;
  bad_record.replace(field, 14, "\"module_countX\"");
  for (const std::string& bad : {std::string("not json"), text.substr(0, text.size() / 2),
                                 std::string(R"({"key":"x","symbols":{}})"), bad_record}) {
    write(cache_file(), bad);
    EXPECT_FALSE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache) << bad;
  }
  EXPECT_TRUE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache) << "rewritten by the fresh read";
}

TEST_F(KallsymsCache, NoCacheDirectoryIsNoError) {
  write((dir_ / "file").string(), "x");
  src_.cache_dir = (dir_ / "file" / "run").string();  // under a regular file: cannot exist
  const auto r = load_kallsyms_cached("amdgpu", kWanted, src_);
  EXPECT_FALSE(r.from_cache);
  EXPECT_EQ(r.symbols.resolve("kfd_procfs_add_queue").resolution, Resolution::Exact);
  EXPECT_FALSE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache);
}

TEST_F(KallsymsCache, HiddenAddressesAreNeverKept) {
  write(src_.kallsyms,
        "0000000000000000 t kfd_procfs_add_queue\t[amdgpu]\n0000000000000000 t update_queue\t[amdgpu]\n");
  EXPECT_TRUE(load_kallsyms_cached("amdgpu", kWanted, src_).symbols.addresses_hidden());
  EXPECT_FALSE(std::filesystem::exists(cache_file())) << "the next start must see the zero addresses again";
}

TEST_F(KallsymsCache, UnreadableSourcesMeanNoCache) {
  src_.boot_id = (dir_ / "missing").string();
  EXPECT_FALSE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache);
  EXPECT_FALSE(load_kallsyms_cached("amdgpu", kWanted, src_).from_cache);
  EXPECT_FALSE(std::filesystem::exists(cache_file()));
}

}  // namespace
