#include "metrics/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <vector>

#include <civetweb.h>
#include <fmt/format.h>

#include "base/error.h"
#include "metrics/exporter.h"

namespace gp::metrics {

namespace {

constexpr const char* kForms =
    "expected ADDR:PORT, with ADDR an IPv4 address, [IPv6 address] or localhost (e.g. 127.0.0.1:9464, "
    "0.0.0.0:9464, [::1]:9464)";

// What a bind() error means for the person who chose the address.
std::string bind_advice(int err, const ListenAddress& a) {
  switch (err) {
    case EADDRINUSE:
      return fmt::format("port {} is already in use on {} (another exporter, or another gpreempt-bpf with "
                         "--metrics-listen?): choose another port, or stop what listens there (ss -ltnp "
                         "'sport = :{}')",
                         a.port, a.host, a.port);
    case EADDRNOTAVAIL:
      return fmt::format("{} is not an address of this host", a.host);
    case EACCES:
      return fmt::format("port {} is below 1024: binding it needs CAP_NET_BIND_SERVICE", a.port);
    default:
      return std::strerror(err);
  }
}

// Bind once ourselves: civetweb's own failure says little, and this way the
// message names the cause before anything else starts.
void check_bindable(const ListenAddress& a) {
  int fd = ::socket(a.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw UserError(fmt::format("--metrics-listen {}: cannot create a socket: {}", a.text(), std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as civetweb does
  int rc;
  if (a.ipv6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(a.port);
    ::inet_pton(AF_INET6, a.host.c_str(), &sa.sin6_addr);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    ::inet_pton(AF_INET, a.host.c_str(), &sa.sin_addr);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  // A port another socket listens on binds here (SO_REUSEADDR) on some
  // kernels' rules only until listen(): try that too.
  if (rc == 0) rc = ::listen(fd, 1);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw UserError(fmt::format("--metrics-listen {}: {}", a.text(), bind_advice(err, a)));
}

int handle_metrics(mg_connection* conn, void* cbdata) {
  auto* exporter = static_cast<Exporter*>(cbdata);
  const mg_request_info* ri = mg_get_request_info(conn);
  const bool head = ri && std::strcmp(ri->request_method, "HEAD") == 0;
  if (!ri || (std::strcmp(ri->request_method, "GET") != 0 && !head)) {
    mg_send_http_error(conn, 405, "%s", "only GET and HEAD\n");
    return 405;
  }
  thread_local std::string buf;  // one per server thread, its capacity kept between scrapes
  exporter->render(buf);
  mg_send_http_ok(conn, "text/plain; version=0.0.4; charset=utf-8", static_cast<long long>(buf.size()));
  if (!head) mg_write(conn, buf.data(), buf.size());
  return 200;
}

int handle_root(mg_connection* conn, void*) {
  static const char kBody[] = "gpreempt-bpf: metrics at /metrics (Prometheus text format)\n";
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri && std::strcmp(ri->local_uri, "/") != 0) {
    mg_send_http_error(conn, 404, "%s", "not found: the metrics are at /metrics\n");
    return 404;
  }
  mg_send_http_ok(conn, "text/plain; charset=utf-8", sizeof kBody - 1);
  mg_write(conn, kBody, sizeof kBody - 1);
  return 200;
}

// civetweb prints its own errors to stderr unless told otherwise: ours say it better.
int quiet_log(const mg_connection*, const char*) { return 1; }

}  // namespace

std::string ListenAddress::text() const {
  return ipv6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

ListenAddress parse_listen_address(std::string_view spec) {
  auto bad = [&] { return UserError(fmt::format("--metrics-listen {}: {}", spec, kForms), 2); };
  ListenAddress a;
  std::string_view host, port;
  if (!spec.empty() && spec.front() == '[') {
    const auto close = spec.find("]:");
    if (close == std::string_view::npos) throw bad();
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
    a.ipv6 = true;
  } else {
    const auto colon = spec.rfind(':');
    if (colon == std::string_view::npos) throw bad();
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535) throw bad();
  a.port = static_cast<std::uint16_t>(p);
  a.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(a.ipv6 ? AF_INET6 : AF_INET, a.host.c_str(), buf) != 1) throw bad();
  return a;
}

MetricsServer::MetricsServer(const ListenAddress& addr, Exporter& exporter) : addr_(addr), exporter_(exporter) {
  check_bindable(addr_);
  static std::once_flag library;
  std::call_once(library, [] { mg_init_library(0); });
  const std::string ports = addr_.text();
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2", "request_timeout_ms", "10000",
                           nullptr};
  mg_callbacks cb{};
  cb.log_message = quiet_log;
  mg_init_data init{&cb, nullptr, options};
  char text[256] = {};
  unsigned code = 0;
  mg_error_data err{&code, text, sizeof text};
  ctx_ = mg_start2(&init, &err);
  if (!ctx_)
    throw UserError(fmt::format("--metrics-listen {}: cannot start the HTTP server: {}", addr_.text(),
                                text[0] ? text : "unknown error"));
  mg_set_request_handler(ctx_, "/metrics", handle_metrics, &exporter_);
  mg_set_request_handler(ctx_, "/$", handle_root, nullptr);
  mg_server_port sp[4] = {};
  const int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? static_cast<std::uint16_t>(sp[0].port) : addr_.port;
}

MetricsServer::~MetricsServer() {
  if (ctx_) mg_stop(ctx_);
}

std::string MetricsServer::url() const {
  ListenAddress a = addr_;
  a.port = port_;
  return "http://" + a.text() + "/metrics";
}

}  // namespace gp::metrics
