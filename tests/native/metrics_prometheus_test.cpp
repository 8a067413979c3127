// Native tier: a real Prometheus server (Debian's `prometheus`, started here on
// 127.0.0.1 with a temporary config and storage, stopped at the end) scrapes
// the metrics endpoint while the native BPF emitter feeds it events through
// the real ring buffer, reader, decoder, queue map and metrics bindings; the
// PromQL of docs/deploy.md, through Prometheus's HTTP API, gives the expected
// values. Processes are read from a fake /proc (GPREEMPT_BPF_ROOT) whose
// cgroups are a containerd pod's, and a second target serves kube-state-
// metrics' kube_pod_info, so the documented pod-name join runs for real.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <civetweb.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "metrics/exporter.h"
#include "metrics/map_metrics.h"
#include "metrics/server.h"
#include "test_emitter.h"
#include "tracing/event_pump.h"
#include "tracing/ringbuf_reader.h"

namespace gp {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kTrainer = 424201, kServer = 424202;  // pids of the fake /proc
const std::string kPodUid = "55c6c714-b240-4dec-9a45-57b61696ab6e";
const std::string kContainer = "2032491dcae31e6746f47daa0ac74564f2843a1bd847c5e6c4eb501ca132ac36";

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// GET http://127.0.0.1:port/path (HTTP/1.0: no chunking); the body, or nullopt.
std::optional<std::string> http_get(std::uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[16384];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto body = out.find("\r\n\r\n");
  if (out.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) return std::nullopt;
  return out.substr(body + 4);
}

std::string urlencode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

// A private Prometheus: its own config, storage and port; killed and removed at the end.
class Prometheus {
 public:
  Prometheus(const fs::path& dir, const std::vector<std::uint16_t>& targets) : dir_(dir), port_(free_port()) {
    std::ofstream cfg(dir / "prometheus.yml");
    cfg << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           "scrape_configs:\n"
           "  - job_name: gpreempt\n"
           "    honor_labels: true\n"
           "    static_configs: [{targets: ['127.0.0.1:"
        << targets.at(0) << "']}]\n"
        << "  - job_name: kube-state-metrics\n"
           "    honor_labels: true\n"
           "    static_configs: [{targets: ['127.0.0.1:"
        << targets.at(1) << "']}]\n";
    cfg.close();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open((dir / "prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      const std::string config = "--config.file=" + (dir / "prometheus.yml").string();
      const std::string storage = "--storage.tsdb.path=" + (dir / "data").string();
      const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
      ::execlp("prometheus", "prometheus", config.c_str(), storage.c_str(), listen.c_str(), "--log.level=warn",
               static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }
  ~Prometheus() { stop(); }

  // Stops it (SIGTERM, then SIGKILL after 10 s); returns its wait status.
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  bool running() { return pid_ > 0 && ::waitpid(pid_, &status_, WNOHANG) == 0; }
  std::string log() const {
    std::ifstream in(dir_ / "prometheus.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // /api/v1/query: the result vector (empty on any error).
  nlohmann::json query(const std::string& promql) const {
    auto body = http_get(port_, "/api/v1/query?query=" + urlencode(promql));
    if (!body) return nlohmann::json::array();
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return nlohmann::json::array();
    return j["data"]["result"];
  }
  // The single sample's value, nullopt if there is not exactly one.
  std::optional<double> scalar(const std::string& promql) const {
    auto r = query(promql);
    if (r.size() != 1) return std::nullopt;
    return std::stod(r[0]["value"][1].get<std::string>());
  }

 private:
  fs::path dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
  int status_ = 0;
};

// Polls until pred() holds (no fixed sleeps): Prometheus scrapes every second.
bool eventually(const std::function<bool()>& pred, int seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

// kube-state-metrics, as far as the join needs it: one kube_pod_info series.
int serve_kube_pod_info(mg_connection* conn, void*) {
  static const std::string body =
      "# TYPE kube_pod_info gauge\n"
      "kube_pod_info{namespace=\"ml\",pod=\"trainer-0\",uid=\"" + kPodUid +
      "\",node=\"gpu-node-1\",created_by_kind=\"StatefulSet\"} 1\n"
      "kube_pod_info{namespace=\"web\",pod=\"other\",uid=\"11111111-2222-3333-4444-555555555555\",node=\"n\"} 1\n";
  mg_send_http_ok(conn, "text/plain; version=0.0.4", static_cast<long long>(body.size()));
  mg_write(conn, body.data(), body.size());
  return 200;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

gp_event queue_event(gp_event_kind kind, std::uint32_t tgid, std::uint32_t qid, std::uint32_t gpu, std::uint8_t type) {
  gp_event e{};
  e.kind = kind;
  e.tgid = e.tid = e.acting_tgid = tgid;
  e.ev_flags = GP_EVF_HAS_QUEUE;
  e.q.queue_kptr = 0xffff888100000000ull + tgid * 0x10000ull + qid * 0x200;
  e.q.proc_kptr = 0xffff888000000000ull + tgid;
  e.q.qid = qid;
  e.q.gpu_id = gpu;
  e.q.type = type;
  e.q.format = GP_QFMT_AQL;
  e.q.context_id = GP_CONTEXT_PRIMARY;
  e.q.flags = GP_QF_ACTIVE;
  return e;
}

gp_event preempt_span(gp_cause cause, std::uint64_t total_ns, bool mes) {
  gp_event e{};
  e.kind = GP_EV_PREEMPT;
  e.cause = cause;
  e.tgid = kTrainer;
  e.pre.t0_ns = 1'000'000;
  e.pre.end_ns = 1'000'000 + total_ns;
  e.pre.packet_sent = !mes;
  e.pre.mes = mes;
  e.pre.cause_tgid = kTrainer;
  return e;
}

TargetOp done_op(std::uint64_t ioctl_ns) {
  TargetOp o;
  o.tgid = static_cast<pid_t>(kTrainer);
  o.report.issued = true;
  o.report.start_ns = 1;
  o.report.end_ns = 1 + ioctl_ns;
  o.report.ret = 1;
  o.report.entries.push_back({});
  return o;
}

TEST(MetricsPrometheus, ScrapedSeriesAnswerTheDocumentedPromQL) {
  test::Emitter em(1u << 22);
  ASSERT_TRUE(em.ok());
  const fs::path dir = fs::temp_directory_path() / fmt::format("gp-prometheus-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);

  // A containerd pod's training process and a host service, in a fake /proc.
  write_file(dir / "root/proc" / std::to_string(kTrainer) / "comm", "pt_main_thread\n");
  write_file(dir / "root/proc" / std::to_string(kTrainer) / "cgroup",
             "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                 std::string("55c6c714_b240_4dec_9a45_57b61696ab6e") + ".slice/cri-containerd-" + kContainer +
                 ".scope\n");
  write_file(dir / "root/proc" / std::to_string(kServer) / "comm", "vllm\n");
  write_file(dir / "root/proc" / std::to_string(kServer) / "cgroup", "0::/system.slice/vllm.service\n");
  ScopedEnv root("GPREEMPT_BPF_ROOT", (dir / "root").string());

  // The pipeline as watch/preempt run it, with the metrics bindings as sinks.
  QueueMap map;
  EventPump pump(map);
  RingbufReader reader(em.events_fd(), em.lost_fd(), pump);
  metrics::Exporter exporter("preempt", "gpu-node-1");
  metrics::MapProcessFacts facts(
      [](std::uint32_t pid) -> std::pair<std::string, std::string> {
        return {pid == kTrainer ? "offline" : "online", ""};
      },
      0);
  metrics::TracingMetrics sink(exporter, &facts);
  metrics::PreemptMetrics observer(exporter, &facts);
  pump.add_sink(&sink);
  exporter.set_process_source(&facts);
  metrics::MetricsServer server(metrics::parse_listen_address("127.0.0.1:0"), exporter);

  // The stand-in for kube-state-metrics.
  const std::uint16_t ksm_port = free_port();
  const std::string ksm_listen = "127.0.0.1:" + std::to_string(ksm_port);
  const char* ksm_opts[] = {"listening_ports", ksm_listen.c_str(), "num_threads", "1", nullptr};
  mg_context* ksm = mg_start(nullptr, nullptr, ksm_opts);
  ASSERT_NE(ksm, nullptr);
  mg_set_request_handler(ksm, "/metrics", serve_kube_pod_info, nullptr);

  Prometheus prom(dir, {server.port(), ksm_port});
  ASSERT_TRUE(eventually([&] {
    return prom.running() && prom.scalar("up{job=\"gpreempt\"}") == 1.0 &&
           prom.scalar("up{job=\"kube-state-metrics\"}") == 1.0;
  })) << "Prometheus did not scrape both targets (is the Debian package prometheus installed?):\n"
      << prom.log();

  // Events through real BPF: the trainer gets 3 compute queues on one GPU and 2
  // SDMA queues on another, then destroys one compute queue; the server 1 queue;
  // three in-kernel preemptions.
  std::vector<gp_event> evs;
  gp_event pc{};
  pc.kind = GP_EV_PROCESS_CREATE;
  pc.tgid = kTrainer;
  evs.push_back(pc);
  for (std::uint32_t q = 0; q < 3; ++q) evs.push_back(queue_event(GP_EV_QUEUE_ADD, kTrainer, q, 41234, GP_QTYPE_COMPUTE));
  for (std::uint32_t q = 3; q < 5; ++q) evs.push_back(queue_event(GP_EV_QUEUE_ADD, kTrainer, q, 52000, GP_QTYPE_SDMA));
  evs.push_back(queue_event(GP_EV_QUEUE_ADD, kServer, 0, 41234, GP_QTYPE_COMPUTE));
  evs.push_back(queue_event(GP_EV_QUEUE_REMOVE, kTrainer, 1, 41234, GP_QTYPE_COMPUTE));
  evs.push_back(preempt_span(GP_CAUSE_DBG_SUSPEND, 300'000, false));
  evs.push_back(preempt_span(GP_CAUSE_DBG_SUSPEND, 2'000'000, false));
  evs.push_back(preempt_span(GP_CAUSE_EVICT, 40'000, true));
  gp_test_emit_batch(evs.data(), static_cast<std::uint32_t>(evs.size()));
  std::size_t got = 0;
  for (int i = 0; i < 50 && got < evs.size(); ++i) got += static_cast<std::size_t>(std::max(0, reader.poll(100)));
  ASSERT_EQ(got, evs.size());
  facts.refresh(map);

  // A doorbell-triggered suspension of the trainer: store 150 us before it was
  // complete, SUSPEND ioctl 90 us.
  const std::uint64_t now = monotonic_ns();
  observer.suspended({SuspendTrigger::Doorbell, now - 150'000}, {done_op(90'000)}, now);

  ASSERT_TRUE(eventually([&] { return prom.scalar("gpreempt_suspend_total{trigger=\"doorbell\"}") == 1.0; }))
      << prom.log();
  // The series as scraped.
  auto sel = fmt::format("pid=\"{}\"", kTrainer);
  EXPECT_EQ(prom.scalar("gpreempt_kfd_queues{" + sel + ",kfd_gpu_id=\"41234\",queue_type=\"compute\"}"), 2.0);
  EXPECT_EQ(prom.scalar("gpreempt_kfd_queues{" + sel + ",kfd_gpu_id=\"52000\",queue_type=\"sdma\"}"), 2.0);
  EXPECT_EQ(prom.scalar("sum(gpreempt_kfd_queues)"), 5.0);
  EXPECT_EQ(prom.scalar("gpreempt_queue_events_total{kind=\"queue_add\"}"), 6.0);
  EXPECT_EQ(prom.scalar("gpreempt_queue_events_total{kind=\"queue_remove\"}"), 1.0);
  EXPECT_EQ(prom.scalar("gpreempt_queue_events_total{kind=\"process_create\"}"), 1.0);
  EXPECT_EQ(prom.scalar("gpreempt_events_lost_total"), 0.0);
  EXPECT_EQ(prom.scalar("gpreempt_offline_suspended{" + sel + "}"), 1.0);
  EXPECT_EQ(prom.scalar("gpreempt_cwsr_preemption_seconds_count{cause=\"dbg_suspend\"}"), 2.0);
  EXPECT_EQ(prom.scalar("gpreempt_cwsr_preemption_seconds_count{cause=\"evict\"}"), 1.0);
  // Quantiles from the buckets: the 2 ms span falls in (1 ms, 2.5 ms].
  auto q = prom.scalar(
      "histogram_quantile(0.99, sum by (le) (gpreempt_cwsr_preemption_seconds_bucket{cause=\"dbg_suspend\"}))");
  ASSERT_TRUE(q);
  EXPECT_GT(*q, 0.001);
  EXPECT_LE(*q, 0.0025);
  q = prom.scalar("histogram_quantile(0.5, sum by (le) (gpreempt_detect_to_suspend_seconds_bucket{trigger=\"doorbell\"}))");
  ASSERT_TRUE(q);
  EXPECT_GT(*q, 100e-6);
  EXPECT_LE(*q, 250e-6);
  EXPECT_EQ(prom.scalar("gpreempt_suspend_ioctl_seconds_count"), 1.0);

  // Labels: the pod and container from the cgroup, the comm from /proc, the role.
  auto r = prom.query("gpreempt_kfd_process_info{" + sel + "}");
  ASSERT_EQ(r.size(), 2u) << r.dump();  // one per GPU
  EXPECT_EQ(r[0]["metric"]["pod_uid"], kPodUid);
  EXPECT_EQ(r[0]["metric"]["container_id"], kContainer);
  EXPECT_EQ(r[0]["metric"]["comm"], "pt_main_thread");
  EXPECT_EQ(r[0]["metric"]["role"], "offline");
  EXPECT_EQ(r[0]["metric"]["hostname"], "gpu-node-1");
  r = prom.query("gpreempt_kfd_queues{role=\"online\"}");
  ASSERT_EQ(r.size(), 1u) << r.dump();
  EXPECT_EQ(r[0]["metric"]["comm"], "vllm");
  EXPECT_FALSE(r[0]["metric"].contains("pod_uid")) << r.dump();  // not a pod: empty, which Prometheus drops

  // docs/deploy.md: queues per pod name, joined with kube-state-metrics on the pod UID.
  r = prom.query(
      "sum by (namespace, pod, kfd_gpu_id) (gpreempt_kfd_queues * on (pod_uid) group_left (namespace, pod) "
      "max by (pod_uid, namespace, pod) (label_replace(kube_pod_info, \"pod_uid\", \"$1\", \"uid\", \"(.+)\")))");
  ASSERT_EQ(r.size(), 2u) << r.dump();
  for (const auto& s : r) {
    EXPECT_EQ(s["metric"]["namespace"], "ml");
    EXPECT_EQ(s["metric"]["pod"], "trainer-0");
    EXPECT_EQ(std::stod(s["value"][1].get<std::string>()), 2.0) << s.dump();  // 2 compute on one GPU, 2 SDMA on the other
  }

  // Resumed: the state follows, the suspended time accumulates.
  observer.resumed({done_op(400'000)}, monotonic_ns());
  ASSERT_TRUE(eventually([&] { return prom.scalar("gpreempt_offline_suspended{" + sel + "}") == 0.0; }))
      << prom.log();
  auto secs = prom.scalar("gpreempt_offline_suspended_seconds_total{" + sel + "}");
  ASSERT_TRUE(secs);
  EXPECT_GT(*secs, 0.0);
  EXPECT_EQ(prom.scalar("gpreempt_resume_total"), 1.0);

  // The trainer exits: its series go at the next scrape.
  std::vector<gp_event> gone;
  for (std::uint32_t q : {0u, 2u}) gone.push_back(queue_event(GP_EV_QUEUE_REMOVE, kTrainer, q, 41234, GP_QTYPE_COMPUTE));
  for (std::uint32_t q : {3u, 4u}) gone.push_back(queue_event(GP_EV_QUEUE_REMOVE, kTrainer, q, 52000, GP_QTYPE_SDMA));
  gp_test_emit_batch(gone.data(), static_cast<std::uint32_t>(gone.size()));
  got = 0;
  for (int i = 0; i < 50 && got < gone.size(); ++i) got += static_cast<std::size_t>(std::max(0, reader.poll(100)));
  facts.refresh(map);
  EXPECT_TRUE(eventually([&] { return prom.query("gpreempt_kfd_queues{" + sel + "}").empty(); })) << prom.log();
  EXPECT_EQ(prom.scalar("sum(gpreempt_kfd_queues)"), 1.0);

  const int st = prom.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "prometheus did not stop cleanly:\n" << prom.log();
  mg_stop(ksm);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gp
