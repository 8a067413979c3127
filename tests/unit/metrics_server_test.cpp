// --metrics-listen: the address forms, the HTTP server on loopback, a port in
// use (from the library and from the binary: a clear message, a non-zero exit,
// nothing attached).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "base/error.h"
#include "metrics/exporter.h"
#include "metrics/server.h"
#include "run_binary.h"

namespace gp::metrics {
namespace {

TEST(MetricsListen, AcceptedForms) {
  auto a = parse_listen_address("127.0.0.1:9464");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9464);
  EXPECT_FALSE(a.ipv6);
  EXPECT_EQ(a.text(), "127.0.0.1:9464");
  a = parse_listen_address("0.0.0.0:0");
  EXPECT_EQ(a.port, 0);
  a = parse_listen_address("[::1]:9464");
  EXPECT_TRUE(a.ipv6);
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.text(), "[::1]:9464");
  EXPECT_EQ(parse_listen_address("localhost:80").host, "127.0.0.1");
}

TEST(MetricsListen, RejectedFormsSayWhatIsExpected) {
  for (const char* bad : {"9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:94x",
                          "example.org:9464", "::1:9464", "[::1]9464", "[nothing]:1", "300.1.1.1:1"}) {
    try {
      parse_listen_address(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UserError& e) {
      EXPECT_EQ(e.code, 2) << bad;
      EXPECT_NE(std::string(e.what()).find("expected ADDR:PORT"), std::string::npos) << e.what();
    }
  }
}

// One HTTP/1.0 request to 127.0.0.1:port; the whole response.
std::string http(std::uint16_t port, const std::string& method, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "connect failed";
  }
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsServer, ServesTheExpositionOnLoopback) {
  Exporter e("watch", "node-a");
  MetricsServer server(parse_listen_address("127.0.0.1:0"), e);
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");

  const std::string r = http(server.port(), "GET", "/metrics");
  ASSERT_EQ(r.rfind("HTTP/1.0 200", 0), 0u) << r;  // civetweb answers in the request's version
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos) << r;
  const std::string body = r.substr(r.find("\r\n\r\n") + 4);
  EXPECT_EQ(body.rfind("# HELP gpreempt_build_info", 0), 0u) << body;
  EXPECT_NE(body.find("command=\"watch\""), std::string::npos);
  const auto cl = r.find("Content-Length: ");
  ASSERT_NE(cl, std::string::npos);
  EXPECT_EQ(std::stoul(r.substr(cl + 16)), body.size());
  EXPECT_EQ(e.scrape_stats().scrapes, 1u);

  const std::string head = http(server.port(), "HEAD", "/metrics");
  EXPECT_EQ(head.rfind("HTTP/1.0 200", 0), 0u) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  EXPECT_EQ(http(server.port(), "GET", "/").rfind("HTTP/1.0 200", 0), 0u);
  EXPECT_EQ(http(server.port(), "GET", "/nothing").rfind("HTTP/1.0 404", 0), 0u);
  EXPECT_EQ(http(server.port(), "POST", "/metrics").rfind("HTTP/1.0 405", 0), 0u);
}

// A listening socket on a free loopback port, held for the test.
struct BusyPort {
  int fd = -1;
  std::uint16_t port = 0;
  BusyPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd, 1) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
      port = ntohs(sa.sin_port);
  }
  ~BusyPort() { ::close(fd); }
};

TEST(MetricsServer, PortInUseIsAClearError) {
  BusyPort busy;
  ASSERT_NE(busy.port, 0);
  Exporter e("watch", "h");
  try {
    MetricsServer s(parse_listen_address("127.0.0.1:" + std::to_string(busy.port)), e);
    ADD_FAILURE() << "started on a port in use";
  } catch (const UserError& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("--metrics-listen 127.0.0.1:" + std::to_string(busy.port)), std::string::npos) << m;
    EXPECT_NE(m.find("already in use"), std::string::npos) << m;
  }
  // Also for every interface, which covers the loopback port.
  EXPECT_THROW(MetricsServer(parse_listen_address("0.0.0.0:" + std::to_string(busy.port)), e), UserError);
}

TEST(MetricsServer, AddressNotOnThisHost) {
  Exporter e("watch", "h");
  try {
    MetricsServer s(parse_listen_address("192.0.2.1:9464"), e);  // TEST-NET-1: never local
    ADD_FAILURE() << "bound a foreign address";
  } catch (const UserError& err) {
    EXPECT_NE(std::string(err.what()).find("not an address of this host"), std::string::npos) << err.what();
  }
}

using Result = test::CmdResult;

using test::run_gp;

// Bad input from the command line: the port check comes before any other
// check or acquisition, so the message is about the port and nothing was attached.
TEST(MetricsCli, PortInUseStopsWatchPreemptAndAgentBeforeAnythingIsAttached) {
  BusyPort busy;
  ASSERT_NE(busy.port, 0);
  const std::string listen = "--metrics-listen 127.0.0.1:" + std::to_string(busy.port);
  // The agent's --read-only skips the amdgpu preflight, so its first acquisition is the port.
  const std::string policy = GP_TEST_DATA_DIR "/../../deploy/policy.yaml";
  for (const std::string& cmd :
       {"watch " + listen, "watch --json " + listen,
        "preempt --offline-pid " + std::to_string(::getpid()) + " --online-pid 1 " + listen,
        "agent --read-only --policy " + policy + " " + listen}) {
    const Result r = run_gp(cmd);
    EXPECT_EQ(r.code, 1) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("already in use"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("Attached"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("amdgpu"), std::string::npos) << "a later check ran first: " << r.out;
    EXPECT_LE(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
  }
}

TEST(MetricsCli, BadAddressIsAUsageError) {
  const Result r = run_gp("watch --metrics-listen 9464");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("expected ADDR:PORT"), std::string::npos) << r.out;
}

TEST(MetricsCli, HelpShowsTheOption) {
  for (const char* cmd : {"watch --help", "preempt --help", "agent --help"}) {
    const Result r = run_gp(cmd);
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--metrics-listen ADDR:PORT"), std::string::npos) << cmd << "\n" << r.out;
  }
}

}  // namespace
}  // namespace gp::metrics
