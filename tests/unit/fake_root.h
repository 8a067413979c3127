// A throw-away fake / for tests: GPREEMPT_BPF_ROOT points host_path() at it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace gp::test {

class FakeRoot {
 public:
  FakeRoot() {
    char tmpl[] = "/tmp/gp-fakeroot-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::setenv("GPREEMPT_BPF_ROOT", dir_.c_str(), 1);
  }
  ~FakeRoot() {
    ::unsetenv("GPREEMPT_BPF_ROOT");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void write(const std::string& abs, const std::string& content) const {
    std::filesystem::path p = dir_ + abs;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  void mkdir(const std::string& abs) const { std::filesystem::create_directories(dir_ + abs); }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace gp::test
