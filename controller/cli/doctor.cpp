// gpreempt-bpf doctor: what this host offers, every attach point and how it
// resolves, and what will and will not work, with why. Exit 0 only if
// `watch` can run (and, with --online-pid, the doorbell uprobes attach).
#include <memory>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "attach/custom_btf.h"
#include "attach/doorbell_check.h"
#include "attach/kallsyms.h"
#include "attach/libbpf_log.h"
#include "attach/probes.h"
#include "attach/trampoline.h"
#include "base/host_paths.h"
#include "cli/commands.h"
#include "cli/render/doctor.h"
#include "host/btf_steps.h"
#include "host/host_facts.h"
#include "host/preflight.h"
#include "tracing/live_sessions.h"

namespace gp::cli {

namespace {

struct DoctorOptions {
  bool json = false;
  std::string btf_path;
  int online_pid = 0;          // --online-pid: check the doorbell uprobes on it
  double online_seconds = 1;   // --online-seconds: how long to count its doorbells
};

// What --btf FILE turned out to be (only when given).
struct CustomBtfCheck {
  std::string description;  // empty if the file is unusable
  std::string layout;       // "standalone" | "split"
  std::uint32_t types = 0;
};

struct Verdict {
  bool can_watch = false;
  bool show_btf_steps = false;
  bool can_preempt = false;
  std::vector<Problem> problems;      // stop watch
  std::vector<std::string> preempt_why;  // stop preempt (beyond watch's problems)
};

// Reads --btf the way a tracing session will; a bad file becomes a problem.
std::optional<CustomBtfCheck> check_custom_btf(const HostFacts& f, const std::string& btf_path,
                                               std::vector<Problem>& problems) {
  if (btf_path.empty() || !f.amdgpu_loaded || !path_exists(btf_path)) return std::nullopt;
  CustomBtfCheck c;
  try {
    const CustomBtf b = CustomBtf::load(btf_path, host_path("/sys/kernel/btf/vmlinux"));
    c.description = b.describe();
    c.layout = b.layout() == CustomBtf::Layout::Split ? "split" : "standalone";
    c.types = b.type_count();
  } catch (const UserError& e) {
    problems.push_back({e.what(), "regenerate the file with the steps below"});
  }
  return c;
}

Verdict judge(const HostFacts& f, const std::optional<AttachReport>& plan, const std::string& btf_path,
              std::optional<CustomBtfCheck>& custom) {
  Verdict v;
  v.problems = tracing_problems(f, btf_path);
  custom = check_custom_btf(f, btf_path, v.problems);
  // The steps help whoever has no usable amdgpu BTF yet.
  v.show_btf_steps = f.amdgpu_loaded && !f.amdgpu_btf && (btf_path.empty() || !custom || custom->description.empty());
  if (plan) {
    for (const auto* m : plan->missing_required())
      v.problems.push_back({fmt::format("required function {} is missing: {}", m->spec.symbol, m->error),
                            "this amdgpu build is not supported; report it with this doctor output"});
  }
  v.can_watch = v.problems.empty();

  if (!f.kfd_version) v.preempt_why.push_back(fmt::format("KFD version unknown ({})", f.kfd_open_error));
  else if (!f.kfd_version->has_debug_api())
    v.preempt_why.push_back(fmt::format(
        "KFD {} has no debug API (needs 1.13+: a newer kernel or ROCm 6 amdgpu-dkms, see docs/kernels.md); watch still works",
        f.kfd_version->str()));
  if (f.sched_policy && *f.sched_policy == 2)
    v.preempt_why.push_back("amdgpu sched_policy=2 (NO_HWS): the debug API refuses suspend; reload amdgpu with sched_policy=0");
  if (f.ptrace_scope && *f.ptrace_scope >= 3)
    v.preempt_why.push_back("Yama ptrace_scope=3 forbids ptrace entirely; set /proc/sys/kernel/yama/ptrace_scope to 1 or 2");
  v.can_preempt = v.can_watch && v.preempt_why.empty();
  return v;
}

std::string yes(bool b) { return b ? "yes" : "no"; }

// Sessions that are running now and what they lost: doctor runs none itself.
void print_sessions_text(const std::vector<LiveSession>& sessions, const std::string& error) {
  if (!error.empty()) {
    fmt::print("sessions         unknown ({})\n", error);
    return;
  }
  if (sessions.empty()) {
    fmt::print("sessions         none running (watch, queues, preempt and record report their own lost count)\n");
    return;
  }
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    const auto& s = sessions[i];
    fmt::print("{:<17}{}: {} events lost (ring buffer full){}\n", i == 0 ? "sessions" : "",
               s.pid ? fmt::format("pid {} ({})", s.pid, s.command) : std::string("no process (maps being freed)"),
               s.lost_ringbuf, s.lost_stash ? fmt::format(", {} returns without their entry", s.lost_stash) : "");
  }
}

nlohmann::json sessions_json(const std::vector<LiveSession>& sessions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : sessions)
    out.push_back({{"pid", s.pid}, {"command", s.command}, {"lost", s.lost_ringbuf},
                   {"lost_stash", s.lost_stash}, {"map_ids", s.map_ids}});
  return out;
}

void print_text(const HostFacts& f, const std::optional<AttachReport>& plan, const Verdict& v,
                const std::optional<CustomBtfCheck>& custom, const std::vector<LiveSession>& sessions,
                const std::string& sessions_error, const std::optional<DoorbellCheck>& online) {
  fmt::print("kernel           {}\n", f.kernel);
  fmt::print("root             {}\n", yes(f.root));
  fmt::print("vmlinux BTF      {}\n", yes(f.vmlinux_btf));
  fmt::print("amdgpu loaded    {}\n", yes(f.amdgpu_loaded));
  fmt::print("amdgpu BTF       {}\n", f.amdgpu_loaded ? yes(f.amdgpu_btf) : "-");
  if (custom) fmt::print("--btf            {}\n", custom->description.empty() ? "unusable (see below)" : custom->description);
  fmt::print("KFD version      {}\n", f.kfd_version ? f.kfd_version->str() : "unknown (" + f.kfd_open_error + ")");
  fmt::print("debug API        {}\n", f.kfd_version ? yes(f.kfd_version->has_debug_api()) : "-");
  fmt::print("sched_policy     {}\n", f.sched_policy ? sched_policy_name(*f.sched_policy) : "-");
  fmt::print("cwsr_enable      {}\n", f.cwsr_enable ? std::to_string(*f.cwsr_enable) : "-");
  fmt::print("ptrace_scope     {}\n", f.ptrace_scope ? std::to_string(*f.ptrace_scope) : "- (no Yama)");
  fmt::print("GPUs (gpu_id)    {}\n", f.gpu_ids.empty() ? "none" : fmt::format("{}", fmt::join(f.gpu_ids, " ")));
  print_sessions_text(sessions, sessions_error);
  if (online) {
    fmt::print("online           {}\n", describe(*online));
    fmt::print("idle wake-up     {}\n", describe(online->idle));
  }
  if (plan) {
    fmt::print("\nattach points:\n");
    std::set<std::string> seen;
    const auto mechanism = mechanisms_by_symbol(*plan, /*attached_only=*/false);
    for (const auto& p : plan->probes) {
      if (!seen.insert(p.spec.symbol).second) continue;
      fmt::print("  {:<32} {:<8} {:<17} {:<9} {}\n", p.spec.symbol, to_string(p.resolution),
                 p.resolution == Resolution::Missing ? "-" : mechanism.at(p.spec.symbol),
                 p.spec.required ? "required" : "optional",
                 p.resolution == Resolution::Missing ? p.error : p.spec.purpose);
    }
  }
  fmt::print("\nwatch:   {}\n", v.can_watch ? "will work" : "will NOT work");
  for (const auto& p : v.problems) fmt::print("  - {}\n    fix: {}\n", p.what, p.fix);
  if (v.show_btf_steps) fmt::print("{}\n", amdgpu_btf_steps());
  fmt::print("preempt: {}\n", v.can_preempt ? "will work" : "will NOT work");
  for (const auto& w : v.preempt_why) fmt::print("  - {}\n", w);
  if (!v.can_watch && v.preempt_why.empty()) fmt::print("  - needs everything watch needs\n");
}

nlohmann::json to_json(const HostFacts& f, const std::optional<AttachReport>& plan, const Verdict& v,
                       const std::optional<CustomBtfCheck>& custom, const std::vector<LiveSession>& sessions,
                       const std::string& sessions_error, const std::optional<DoorbellCheck>& online) {
  nlohmann::json probes = nlohmann::json::array();
  if (plan) {
    for (const auto& p : plan->probes)
      probes.push_back({{"symbol", p.spec.symbol},
                        {"program", p.spec.program},
                        {"required", p.spec.required},
                        {"resolution", to_string(p.resolution)},
                        {"mechanism", p.resolution == Resolution::Missing ? "none" : to_string(p.mechanism)},
                        {"address", fmt::format("{:#x}", p.address)},
                        {"resolved_name", p.resolved_name},
                        {"note", p.error}});
  }
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& p : v.problems) problems.push_back(p.what + "; " + p.fix);
  auto opt_int = [](const std::optional<int>& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); };
  return {{"kernel", f.kernel},
          {"root", f.root},
          {"vmlinux_btf", f.vmlinux_btf},
          {"amdgpu_loaded", f.amdgpu_loaded},
          {"amdgpu_btf", f.amdgpu_btf},
          {"custom_btf", custom ? nlohmann::json{{"usable", !custom->description.empty()},
                                                 {"layout", custom->layout},
                                                 {"types", custom->types},
                                                 {"description", custom->description}}
                                : nlohmann::json(nullptr)},
          {"btf_steps", v.show_btf_steps ? nlohmann::json(amdgpu_btf_steps()) : nlohmann::json(nullptr)},
          {"kfd_version", f.kfd_version ? nlohmann::json{{"major", f.kfd_version->major},
                                                         {"minor", f.kfd_version->minor}}
                                        : nlohmann::json(nullptr)},
          {"kfd_error", f.kfd_open_error},
          {"debug_api", f.kfd_version && f.kfd_version->has_debug_api()},
          {"sched_policy", opt_int(f.sched_policy)},
          {"cwsr_enable", opt_int(f.cwsr_enable)},
          {"ptrace_scope", opt_int(f.ptrace_scope)},
          {"gpu_ids", f.gpu_ids},
          {"sessions", sessions_error.empty() ? sessions_json(sessions) : nlohmann::json(nullptr)},
          {"sessions_error", sessions_error},
          {"online", online ? to_json(*online) : nlohmann::json(nullptr)},
          {"probes", probes},
          {"can_watch", v.can_watch},
          {"can_preempt", v.can_preempt},
          {"problems", problems},
          {"preempt_problems", v.preempt_why}};
}

int run_doctor(const DoctorOptions& o) {
  libbpf_log_install(false);  // reading a bad --btf file makes libbpf print; doctor reports it itself
  const HostFacts f = gather_host_facts();
  std::optional<AttachReport> plan;
  if (f.amdgpu_loaded && f.root) {
    const Kallsyms ks = Kallsyms::load("amdgpu", probe_symbols());
    plan = plan_lifecycle_attach(ks, f.kernel);
    for (auto& st : plan_latency_attach(ks, f.kernel).probes) plan->probes.push_back(std::move(st));
    // The mechanism watch would choose (Session::Impl::choose_mechanisms).
    std::string why;
    if (o.btf_path.empty())
      if (auto amdgpu = AmdgpuBtf::open(&why))
        if (auto id = amdgpu->func_id("kfd_ioctl_create_queue"); id && trampoline_probe(amdgpu->fd(), *id).empty())
          choose_trampolines(*plan, [&](const std::string& fn) { return amdgpu->func_id(fn); },
                             trampolines_find_module_functions(f.kernel));
  }
  std::optional<CustomBtfCheck> custom;
  const Verdict v = judge(f, plan, o.btf_path, custom);
  std::string sessions_error;
  const auto sessions = f.root ? find_live_sessions(&sessions_error) : std::vector<LiveSession>{};
  if (!f.root) sessions_error = "needs root";
  std::optional<DoorbellCheck> online;
  if (o.online_pid) {
    if (!path_exists(host_path(fmt::format("/proc/{}", o.online_pid))))
      throw UserError(fmt::format("--online-pid {}: no such process", o.online_pid), 2);
    online = check_doorbells(o.online_pid, o.online_seconds);
  }
  if (o.json) fmt::print("{}\n", to_json(f, plan, v, custom, sessions, sessions_error, online).dump(2));
  else print_text(f, plan, v, custom, sessions, sessions_error, online);
  return v.can_watch && (!online || online->attached) ? 0 : 1;
}

}  // namespace

void add_doctor(CLI::App& app, Selected& sel) {
  auto o = std::make_shared<DoctorOptions>();
  auto* cmd = app.add_subcommand("doctor", "Check this host: kernel, BTF, amdgpu, KFD, attach points; exit 0 if watch can run");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->add_option("--btf", o->btf_path, "judge with this BTF file instead of /sys/kernel/btf");
  cmd->add_option("--online-pid", o->online_pid,
                  "also check preempt --online-pid's doorbell uprobes on this process: attach them to its ROCm "
                  "runtime and count its GPU submissions for --online-seconds");
  cmd->add_option("--online-seconds", o->online_seconds, "how long --online-pid counts")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  cmd->callback([o, &sel] { sel.run = [o] { return run_doctor(*o); }; });
}

}  // namespace gp::cli
