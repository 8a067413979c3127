// The --idle-latency-us request against a plain file standing in for
// /dev/cpu_dma_latency (the kernel's semantics are tested natively, in
// tests/native/online_doorbell_test.cpp).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "host/cpu_latency_request.h"

namespace gp {
namespace {

struct TempFile {
  std::string path;
  TempFile() {
    char tmpl[] = "/tmp/gp-qos-XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path = tmpl;
  }
  ~TempFile() { ::unlink(path.c_str()); }
  std::string bytes() const {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
};

TEST(CpuLatencyRequest, WritesTheBoundAsOneBinaryS32AndHoldsTheFile) {
  TempFile f;
  {
    CpuLatencyRequest r(25, f.path);
    EXPECT_TRUE(r.active());
    EXPECT_EQ(r.error(), 0);
    const std::string b = f.bytes();
    ASSERT_EQ(b.size(), 4u) << "four bytes: the kernel reads any other length as a hex string";
    std::int32_t v;
    std::memcpy(&v, b.data(), 4);
    EXPECT_EQ(v, 25);
    EXPECT_EQ(cpu_latency_target(f.path), 25);
  }
}

TEST(CpuLatencyRequest, NegativeMeansNoRequestAndTouchesNothing) {
  CpuLatencyRequest r(-1, "/nonexistent/qos");
  EXPECT_FALSE(r.active());
  EXPECT_EQ(r.error(), 0);
}

TEST(CpuLatencyRequest, AFileThatCannotBeOpenedIsReportedNotThrown) {
  CpuLatencyRequest r(10, "/nonexistent/qos");
  EXPECT_FALSE(r.active());
  EXPECT_EQ(r.error(), ENOENT);
  EXPECT_EQ(cpu_latency_target("/nonexistent/qos"), -ENOENT);
}

TEST(CpuLatencyRequest, AShortReadIsAnErrorNotAValue) {
  TempFile f;
  { std::ofstream(f.path, std::ios::binary) << "ab"; }
  EXPECT_EQ(cpu_latency_target(f.path), -EIO);
}

}  // namespace
}  // namespace gp
