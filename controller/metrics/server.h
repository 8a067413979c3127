// The HTTP side of --metrics-listen: civetweb (Debian's libcivetweb, the
// server prometheus-cpp itself is built on) serving Exporter::render() at
// /metrics from its own threads, never the tracing or preemption loop's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct mg_context;

namespace gp::metrics {

class Exporter;

struct ListenAddress {
  std::string host;        // an IPv4 or IPv6 literal ("localhost" is taken as 127.0.0.1)
  std::uint16_t port = 0;  // 0: any free port (tests)
  bool ipv6 = false;
  std::string text() const;  // 127.0.0.1:9464, [::1]:9464
};

// ADDR:PORT, [IPv6]:PORT. Throws UserError (exit 2) with the accepted forms.
ListenAddress parse_listen_address(std::string_view spec);

class MetricsServer {
 public:
  // Listens at once, so a command can start it before attaching anything.
  // Throws UserError when it cannot: the port in use, no such local address,
  // a privileged port.
  MetricsServer(const ListenAddress& addr, Exporter& exporter);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::uint16_t port() const { return port_; }  // the bound one, also when 0 was asked
  std::string url() const;                      // http://ADDR:PORT/metrics

 private:
  ListenAddress addr_;
  Exporter& exporter_;
  mg_context* ctx_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace gp::metrics
