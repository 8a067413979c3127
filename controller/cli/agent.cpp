// gpreempt-bpf agent: the node agent. Classifies every KFD process by a
// policy file, pairs online and offline processes per GPU and preempts the
// offline side with preempt --online-pid's detection (docs/agent.md).
// agent --check-policy FILE: the policy against the processes running now.
//
// Order matters, as in preempt: the policy, the options, the host and the
// control socket are checked before anything is attached, and everything
// attached after that is undone by a destructor.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "preempt/control_server.h"
#include "agent/core.h"
#include "agent/loop.h"
#include "base/clock.h"
#include "base/heap.h"
#include "base/host_paths.h"
#include "base/stop_signal.h"
#include "classify/classifier.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "kfd/client.h"
#include "metrics/agent_binding.h"
#include "metrics/exporter.h"
#include "metrics/map_metrics.h"
#include "metrics/server.h"
#include "preempt/preflight.h"
#include "tracing/session.h"

namespace gp::cli {

namespace {

// The agent's suspensions and resumptions, as the metrics count them.
class MetricsObserver final : public AgentObserver {
 public:
  explicit MetricsObserver(metrics::Exporter& e) : e_(e) {}
  void on_suspend(std::uint32_t, SuspendTrigger trigger, std::optional<std::uint64_t> detect_ns,
                  std::uint64_t ioctl_ns) override {
    metrics::agent_suspended(e_, trigger, detect_ns, ioctl_ns);
  }
  void on_resume(std::uint32_t, std::uint64_t ioctl_ns) override { metrics::agent_resumed(e_, ioctl_ns); }

 private:
  metrics::Exporter& e_;
};

struct AgentCliOptions {
  std::string policy;
  std::string check_policy;
  bool all = false;
  bool json = false;
  std::string socket;
  std::string socket_mode = "0600";
  std::string metrics_listen;  // --metrics-listen ADDR:PORT (docs/deploy.md)
  bool read_only = false;
  bool no_doorbell = false;
  AgentOptions agent;
  AgentLoopOptions loop;
  SessionOptions session;
  std::uint32_t ringbuf_kb = 8192;
};

mode_t agent_socket_mode(const std::string& s) {
  try {
    std::size_t used = 0;
    unsigned long mode = std::stoul(s, &used, 8);
    if (used != s.size() || mode > 0777) throw std::invalid_argument("mode");
    return static_cast<mode_t>(mode);
  } catch (const std::exception&) {
    throw UserError(fmt::format("--socket-mode {}: an octal mode such as 0600 or 0660", s), 2);
  }
}

int run_check_policy(const AgentCliOptions& o) {
  const Policy policy = load_policy_file(o.check_policy);
  const auto pids = o.all ? all_pids() : kfd_pids();
  if (!o.json)
    fmt::print("{}: {} rule(s), default {}; {} {} process(es):\n", policy.file, policy.rules.size(),
               to_string(policy.default_role), pids.size(), o.all ? "running" : "KFD");
  if (!o.json && pids.empty() && !o.all)
    fmt::print("(no KFD process now: {} lists none; --all runs the policy on every process)\n",
               host_path("/sys/class/kfd/kfd/proc"));
  if (!o.json && !pids.empty())
    fmt::print("{:>7}  {:<15}  {:<7}  {:<20}  {:<12}  {:<36}  {}\n", "PID", "COMM", "ROLE", "RULE", "GPUS (KFD)", "POD",
               "CONTAINER");
  for (pid_t pid : pids) {
    if (pid == ::getpid()) continue;
    const auto c = classify_process(policy, pid);
    if (c.gone) continue;
    const auto gpus = kfd_gpus_of(pid);
    const std::string notes = verdict_notes(policy, c);
    if (o.json) {
      nlohmann::json also = nlohmann::json::array();
      for (int i : c.verdict.also) also.push_back(rule_name(policy, i));
      nlohmann::json j{{"pid", pid},
                       {"comm", c.facts.comm},
                       {"role", std::string(to_string(c.verdict.role))},
                       {"rule", c.rule},
                       {"also_matches", also},
                       {"kfd_gpu_ids", gpus},
                       {"pod_uid", c.identity.pod_uid},
                       {"container_id", c.identity.container_id},
                       {"qos", c.identity.qos},
                       {"runtime", c.identity.runtime},
                       {"cgroup", c.identity.path},
                       {"env_unknown", c.verdict.env_unknown},
                       {"exe_unknown", c.verdict.exe_unknown}};
      fmt::print("{}\n", j.dump());
      continue;
    }
    fmt::print("{:>7}  {:<15}  {:<7}  {:<20}  {:<12}  {:<36}  {}\n", pid, c.facts.comm, to_string(c.verdict.role),
               c.rule, gpus.empty() ? std::string("-") : fmt::format("{}", fmt::join(gpus, ",")),
               c.identity.pod_uid.empty() ? "-" : c.identity.pod_uid,
               c.identity.container_id.empty() ? "-" : c.identity.container_id.substr(0, 12));
    if (!notes.empty()) fmt::print("{:>7}  note: {}\n", "", notes);
  }
  return 0;
}

int run_agent(AgentCliOptions& o) {
  // 1. Read-only checks: the policy, the options, the host, the socket path.
  Policy policy = load_policy_file(o.policy);
  std::optional<metrics::ListenAddress> listen;
  if (!o.metrics_listen.empty()) listen = metrics::parse_listen_address(o.metrics_listen);
  const mode_t socket_mode = agent_socket_mode(o.socket_mode);
  if (o.agent.idle_ms < 0 || o.agent.min_hold_ms < 0 || o.agent.max_hold_ms < 0)
    throw UserError("--idle-ms, --min-hold-ms and --max-hold-ms must not be negative", 2);
  if (o.loop.poll_us < 1 || o.loop.poll_us > 1'000'000) throw UserError("--poll-us must be 1..1000000", 2);
  if (!(o.loop.cpu_budget_pct > 0 && o.loop.cpu_budget_pct <= 100))
    throw UserError("--cpu-budget is a percentage of one core: more than 0, at most 100", 2);
  finish_session_options(o.session, o.ringbuf_kb);
  o.agent.read_only = o.read_only;
  if (::geteuid() != 0)
    throw UserError(o.read_only ? "agent must run as root: it loads BPF programs (even --read-only). Run it with sudo."
                                : "agent must run as root: it loads BPF programs, ptrace-attaches to offline processes "
                                  "and uses the KFD debug ioctls. Run it with sudo.");
  if (!o.read_only) {
    check_host(PreflightPaths{host_path("/proc"), host_path("/sys/class/kfd/kfd/proc"),
                              host_path("/sys/module/amdgpu/parameters/sched_policy")},
               ::geteuid());
  }

  // 2. Acquisitions, each undone by a destructor (reverse order). The metrics
  // server listens first, so a port in use stops the agent before anything is
  // attached; it stops (its destructor) after the agent's state it reads.
  std::unique_ptr<metrics::Exporter> exporter;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (listen) {
    exporter = std::make_unique<metrics::Exporter>("agent");
    metrics_server = std::make_unique<metrics::MetricsServer>(*listen, *exporter);
  }
  bool replaced = false;
  std::unique_ptr<ControlServer> server;
  if (!o.socket.empty()) server = std::make_unique<ControlServer>(o.socket, socket_mode, "a running agent", &replaced);
  std::unique_ptr<KfdDevice> kfd;
  if (!o.read_only) {
    try {
      kfd = KfdDevice::open("/dev/kfd");
    } catch (const UserError& e) {
      throw UserError(fmt::format("{}; `agent --read-only` classifies and reports without it", e.what()), e.code);
    }
  }
  install_stop_signals();
  o.session.instance = "agent";
  Session session(o.session);
  SessionSource src(session);
  TargetOptions topts;
  topts.require_runtime = false;  // a process is classified when it opens /dev/kfd, before its hsa_init
  TargetFactory attach = [&](pid_t pid) {
    return Target::attach(*kfd, pid, topts, [] { return stop_requested(); });
  };
  std::unique_ptr<MetricsObserver> observer;
  if (exporter) observer = std::make_unique<MetricsObserver>(*exporter);
  AgentCore core(std::move(policy), o.agent, src, attach, stdout, observer.get());
  session.add_sink(&core);
  // Declared after core: destroyed before it, so no scrape reads a gone agent.
  std::optional<metrics::AgentFacts<AgentCore>> facts;
  std::optional<metrics::TracingMetrics> tracing_metrics;
  struct StopSource {
    metrics::Exporter* e;
    ~StopSource() {
      if (e) e->set_process_source(nullptr);
    }
  } stop_source{exporter.get()};
  if (exporter) {
    facts.emplace(core);
    exporter->set_process_source(&*facts);
    tracing_metrics.emplace(*exporter, nullptr);
    session.add_sink(&*tracing_metrics);
    exporter->set_probes(session.attach_report());
  }

  const auto& ar = session.attach_report();
  fmt::print("Attached {} probes on kernel {}{}; the map lists {} queue(s). Policy {}: {} rule(s), default {}.\n",
             ar.attached(), ar.kernel,
             kfd ? fmt::format("; KFD {}.{}", kfd->version().major, kfd->version().minor) : std::string(),
             session.map().size(), core.policy().file, core.policy().rules.size(),
             to_string(core.policy().default_role));
  if (o.read_only)
    fmt::print("Read-only: classifying and reporting; nothing is traced or suspended.\n");
  else
    fmt::print("Pairing per GPU: offline processes are suspended while an online process on their GPU has work "
               "(resume after {} ms idle, hold >= {} ms).\n",
               o.agent.idle_ms, o.agent.min_hold_ms);
  if (server)
    fmt::print("Control socket {}{}: `gpreempt-bpf ctl suspend|resume|status --socket {} [--gpu ID]`.\n", o.socket,
               replaced ? " (replaced a stale socket nobody answered on)" : "", o.socket);
  if (metrics_server) fmt::print("Serving metrics on {}.\n", metrics_server->url());
  std::unique_ptr<DoorbellProbe> doorbell;
  if (!o.read_only && !o.no_doorbell) doorbell = load_doorbell_probe(o.session);
  std::fflush(stdout);
  give_back_startup_heap();  // base/heap.h: what attaching parsed once

  core.start(kfd_pids(), monotonic_ns());
  core.publish(monotonic_ns());
  o.loop.doorbell = doorbell.get();
  o.loop.server = server.get();
  o.loop.kfd_pids = [] { return kfd_pids(); };
  const int rc = run_agent_loop(core, src, o.loop, stdout);
  core.finish(monotonic_ns());
  return rc;
}

}  // namespace

void add_agent(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<AgentCliOptions>();
  auto* cmd = app.add_subcommand(
      "agent", "Node agent: classify KFD processes by a policy file and preempt offline ones per GPU (docs/agent.md)");
  auto* policy = cmd->add_option("--policy", o->policy, "the policy file (YAML): which process is online, offline, ignored");
  auto* check = cmd->add_option("--check-policy", o->check_policy,
                                "run the policy against the KFD processes running now, print each one's role and "
                                "rule, and exit");
  policy->excludes(check);
  cmd->add_flag("--all", o->all, "with --check-policy: every process, not only the KFD ones");
  cmd->add_flag("--json", o->json, "with --check-policy: one JSON object per process");
  cmd->add_option("--socket", o->socket, "control socket for `gpreempt-bpf ctl` (claims per GPU or for all)");
  cmd->add_option("--socket-mode", o->socket_mode, "permissions of the control socket")->capture_default_str();
  add_metrics_option(cmd, o->metrics_listen);
  cmd->add_flag("--read-only", o->read_only, "classify and report only: no ptrace, no /dev/kfd, nothing suspended");
  cmd->add_option("--idle-ms", o->agent.idle_ms, "resume a GPU's offline side after its online processes were idle this long")
      ->capture_default_str();
  cmd->add_option("--min-hold-ms", o->agent.min_hold_ms, "keep each suspension at least this long (no flapping)")
      ->capture_default_str();
  cmd->add_option("--max-hold-ms", o->agent.max_hold_ms, "end any ctl claim held this long (0 = until released)")
      ->capture_default_str();
  cmd->add_option("--poll-us", o->loop.poll_us, "read the online queues' pointers at most this often")
      ->capture_default_str();
  cmd->add_option("--cpu-budget", o->loop.cpu_budget_pct, "percent of one core the polling may use")
      ->capture_default_str();
  cmd->add_flag("--no-doorbell", o->no_doorbell, "no uprobes on the online processes' ROCm runtime; poll only");
  add_session_options(cmd, o->session, o->ringbuf_kb);
  cmd->callback([o, &sel, policy, check] {
    const bool given = policy->count() || check->count();
    sel.run = [o, given] {
      if (!given) throw UserError("agent: --policy FILE (run the agent) or --check-policy FILE (check it) is required", 2);
      return o->check_policy.empty() ? run_agent(*o) : run_check_policy(*o);
    };
  });
}

}  // namespace gp::cli
