#include "attach/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "attach/btf_info.h"
#include "attach/custom_btf.h"
#include "attach/kallsyms.h"
#include "attach/kallsyms_cache.h"
#include "attach/libbpf_log.h"
#include "attach/probes.h"
#include "attach/trampoline.h"
#include "base/error.h"
#include "base/host_paths.h"
#include "bpf/gp_lifecycle.skel.h"
#include "bpf/gp_preempt.skel.h"

namespace gp {

namespace {

// Loads only the programs that have at least one attach point on this kernel:
// a probe missing here must not fail the load of the others.
void autoload_needed(bpf_object* obj, const AttachReport& report, const std::string& group) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    bool needed = false;
    for (const auto& st : report.probes)
      if (st.group == group && st.resolution != Resolution::Missing &&
          std::strcmp(program_of(st), bpf_program__name(prog)) == 0)
        needed = true;
    bpf_program__set_autoload(prog, needed);
  }
}

// Closing a kprobe link unregisters the kprobe, and the kernel then waits for
// an RCU grace period before returning. One by one, ~60 links cost ~60 grace
// periods (seconds under qemu TCG, a visible pause on a busy host); closed
// from several threads, the waits overlap.
void destroy_links_concurrently(std::vector<bpf_link*>& links) {
  constexpr std::size_t kThreads = 8;
  if (links.size() < 2 * kThreads) {
    for (bpf_link* l : links) bpf_link__destroy(l);
    return;
  }
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < kThreads; ++t)
    workers.emplace_back([&links, t] {
      for (std::size_t i = t; i < links.size(); i += kThreads) bpf_link__destroy(links[i]);
    });
  for (auto& w : workers) w.join();
}

void append(AttachReport& into, AttachReport&& from, const char* group) {
  for (auto& st : from.probes) {
    st.group = group;
    into.probes.push_back(std::move(st));
  }
}

}  // namespace

struct ProbeLoader::Impl {
  LoaderOptions opts;
  std::optional<CustomBtf> custom_btf;  // --btf, resolved to one standalone BTF
  std::optional<AmdgpuBtf> amdgpu_btf;  // the kernel's amdgpu BTF object (fentry/fexit targets)
  gp_lifecycle* life = nullptr;
  gp_preempt* pre = nullptr;
  std::vector<bpf_link*> links;
  AttachReport report;

  ~Impl() { unload(); }

  void unload() {
    destroy_links_concurrently(links);
    links.clear();
    gp_preempt__destroy(pre);
    pre = nullptr;
    gp_lifecycle__destroy(life);
    life = nullptr;
  }

  void choose_mechanisms();
  void load_lifecycle();
  void load_latency();
  void attach(const std::string& group, bpf_object* obj);
};

// fentry/fexit where they work (one program per function, no stash), else
// kprobes. Trampolines attach to a function in a kernel BTF object, so --btf
// (types the kernel does not hold) means kprobes.
void ProbeLoader::Impl::choose_mechanisms() {
  std::map<std::string, std::uint32_t> chosen;
  std::string why;
  if (opts.kprobe_only) {
    why = "--kprobe-only";
  } else if (custom_btf) {
    why = "--btf types are not a kernel BTF object, and fentry/fexit attach through one";
  } else if (auto b = AmdgpuBtf::open(&why)) {
    amdgpu_btf.emplace(std::move(*b));
    const auto probe_id = amdgpu_btf->func_id("kfd_ioctl_create_queue");
    why = probe_id ? trampoline_probe(amdgpu_btf->fd(), *probe_id) : "kfd_ioctl_create_queue is not in amdgpu's BTF";
    if (why.empty()) {
      const bool same_name_ok = trampolines_find_module_functions(report.kernel);
      chosen = choose_trampolines(report, [this](const std::string& f) { return amdgpu_btf->func_id(f); },
                                  same_name_ok);
      if (!same_name_ok)
        report.notes.push_back("kprobes for names that exist outside amdgpu too (update_queue): before Linux 6.3 "
                               "a fexit on them attaches to the first match by name (ipc/sem.c's)");
    }
  }
  if (!why.empty()) report.notes.push_back("kprobes only: " + why);
  set_trampoline_targets(amdgpu_btf ? amdgpu_btf->fd() : -1, std::move(chosen));
}

void ProbeLoader::Impl::load_lifecycle() {
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  if (custom_btf) oo.btf_custom_path = custom_btf->libbpf_path().c_str();
  life = gp_lifecycle__open_opts(&oo);
  if (!life)
    throw UserError(fmt::format("cannot open the BPF object: {}\n{}", std::strerror(errno),
                                     libbpf_log_tail()));
  bpf_map__set_max_entries(life->maps.gp_events, opts.ringbuf_bytes);
  autoload_needed(life->obj, report, "lifecycle");
  if (int err = gp_lifecycle__load(life); err != 0)
    throw UserError(fmt::format(
        "loading the BPF programs failed on kernel {} ({}): the CO-RE relocations against amdgpu's BTF "
        "did not resolve or the verifier refused a program:\n{}",
        report.kernel, std::strerror(-err), libbpf_log_tail()));
}

// The latency set is optional: if it cannot load, watch still runs and the
// report says why.
void ProbeLoader::Impl::load_latency() {
  auto params = amdgpu_btf ? btf_function_params(amdgpu_btf->types(), "unmap_queues_cpsch")
                           : btf_function_params("unmap_queues_cpsch", "amdgpu", custom_btf ? &*custom_btf : nullptr);
  if (!params || (*params != 4 && *params != 5)) {
    report.notes.push_back(fmt::format(
        "preemption spans disabled: unmap_queues_cpsch has {} parameters in BTF, expected 4 (6.1) or 5 (6.12+)",
        params ? std::to_string(*params) : "no entry"));
    for (auto& st : report.probes)
      if (st.group == "latency") {
        st.resolution = Resolution::Missing;
        st.error = "preemption spans disabled (see notes)";
      }
    return;
  }
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  if (custom_btf) oo.btf_custom_path = custom_btf->libbpf_path().c_str();
  pre = gp_preempt__open_opts(&oo);
  if (!pre) {
    report.notes.push_back(fmt::format("preemption spans disabled: cannot open their BPF object: {}",
                                       std::strerror(errno)));
    return;
  }
  pre->rodata->unmap_has_grace = *params == 5;
  // One ring buffer, one loss counter: later events stay ordered with the lifecycle ones.
  bpf_map__reuse_fd(pre->maps.gp_events, bpf_map__fd(life->maps.gp_events));
  bpf_map__reuse_fd(pre->maps.gp_lost, bpf_map__fd(life->maps.gp_lost));
  autoload_needed(pre->obj, report, "latency");
  libbpf_log_clear();
  if (int err = gp_preempt__load(pre); err != 0) {
    report.notes.push_back(fmt::format("preemption spans disabled: loading failed ({}):\n{}",
                                       std::strerror(-err), libbpf_log_tail()));
    gp_preempt__destroy(pre);
    pre = nullptr;
    for (auto& st : report.probes)
      if (st.group == "latency" && st.resolution != Resolution::Missing) st.error = "object failed to load";
  }
}

// Thrown when a chosen fentry/fexit program does not attach: the session
// loader reloads everything with kprobes.
struct TrampolineAttachFailed {
  std::string what;
};

void ProbeLoader::Impl::attach(const std::string& group, bpf_object* obj) {
  std::set<std::string> attached_programs;  // a fexit program serves its function's entry and return
  for (auto& st : report.probes) {
    if (st.group != group || st.resolution == Resolution::Missing) continue;
    const char* name = program_of(st);
    bpf_program* prog = obj ? bpf_object__find_program_by_name(obj, name) : nullptr;
    const bool tramp = st.mechanism == Mechanism::Fentry || st.mechanism == Mechanism::Fexit;
    if (!prog) {
      if (st.error.empty()) st.error = "program not loaded";
    } else if (tramp && attached_programs.count(name)) {
      st.attached = true;
      continue;
    } else {
      libbpf_log_clear();
      bpf_link* link = nullptr;
      if (tramp) {
        link = bpf_program__attach_trace(prog);
        if (!link)
          throw TrampolineAttachFailed{fmt::format("{} on {}: {}", name, st.spec.symbol, std::strerror(errno))};
      } else {
        LIBBPF_OPTS(bpf_kprobe_opts, ko, .retprobe = st.spec.retprobe);
        const char* func = nullptr;
        if (st.resolution == Resolution::Exact) func = st.resolved_name.c_str();
        else ko.offset = st.address;  // absolute address: perf's kprobe_addr when no name is given
        link = bpf_program__attach_kprobe_opts(prog, func, &ko);
      }
      if (link) {
        links.push_back(link);
        attached_programs.insert(name);
        st.attached = true;
        continue;
      }
      st.error = fmt::format("attach failed: {}", std::strerror(errno));
    }
    if (st.spec.required)
      throw UserError(fmt::format("cannot attach the required probe on {} ({}) on kernel {}: {}\n{}",
                                       st.spec.symbol, name, report.kernel, st.error, libbpf_log_tail()));
  }
}

ProbeLoader::ProbeLoader(const LoaderOptions& opts, const std::string& kernel, PhaseClock& clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  libbpf_log_install(opts.verbose);
  if (!opts.btf_path.empty()) {
    impl_->custom_btf = CustomBtf::load(opts.btf_path, host_path("/sys/kernel/btf/vmlinux"));
    impl_->report.notes.push_back("types from --btf " + impl_->custom_btf->describe());
  }

  const auto [ks, cached] = load_kallsyms_cached("amdgpu", probe_symbols());
  impl_->report.kallsyms_cached = cached;
  if (ks.addresses_hidden())
    throw UserError("/proc/kallsyms shows only zero addresses (kptr_restrict): run as root");
  if (!ks.module_present())
    throw UserError("amdgpu is loaded but /proc/kallsyms lists none of its functions");
  impl_->report.kernel = kernel;
  append(impl_->report, plan_lifecycle_attach(ks, kernel), "lifecycle");
  if (opts.all_ioctls) append(impl_->report, plan_ioctl_attach(ks, kernel), "lifecycle");
  if (opts.latency_probes) append(impl_->report, plan_latency_attach(ks, kernel), "latency");
  clock.done("kallsyms");
  if (auto missing = impl_->report.missing_required(); !missing.empty()) {
    std::string names;
    for (const auto* m : missing) names += fmt::format("\n  {} ({})", m->spec.symbol, m->error);
    throw UserError(fmt::format(
        "this amdgpu (kernel {}) lacks functions gpreempt-bpf needs:{}\nrun `gpreempt-bpf doctor` for the full list",
        kernel, names));
  }

  impl_->choose_mechanisms();
  clock.done("choose_mechanisms");
  for (int attempt = 0;; ++attempt) {
    try {
      impl_->load_lifecycle();
      clock.done("load_lifecycle");
      if (opts.latency_probes) {
        impl_->load_latency();
        clock.done("load_latency");
      }
      impl_->attach("lifecycle", impl_->life->obj);
      clock.done("attach_lifecycle");
      if (opts.latency_probes) {
        impl_->attach("latency", impl_->pre ? impl_->pre->obj : nullptr);
        clock.done("attach_latency");
      }
      break;
    } catch (const TrampolineAttachFailed& e) {
      if (attempt > 0) throw UserError("fexit attach failed after falling back to kprobes: " + e.what);
      // Never half and half: everything again, on kprobes.
      impl_->unload();
      revert_to_kprobes(impl_->report);
      for (auto& st : impl_->report.probes) st.attached = false;
      impl_->report.notes.push_back("kprobes only: a fentry/fexit program did not attach (" + e.what + ")");
      set_trampoline_targets(-1, {});
    }
  }
}

ProbeLoader::~ProbeLoader() = default;

const AttachReport& ProbeLoader::report() const { return impl_->report; }
AttachReport& ProbeLoader::report() { return impl_->report; }
int ProbeLoader::events_fd() const { return bpf_map__fd(impl_->life->maps.gp_events); }
int ProbeLoader::lost_fd() const { return bpf_map__fd(impl_->life->maps.gp_lost); }

std::size_t AttachReport::attached() const {
  std::size_t n = 0;
  for (const auto& p : probes) n += p.attached;
  return n;
}

std::vector<const ProbeStatus*> AttachReport::missing_required() const {
  std::vector<const ProbeStatus*> out;
  for (const auto& p : probes)
    if (p.spec.required && p.resolution == Resolution::Missing) out.push_back(&p);
  return out;
}

std::vector<const ProbeStatus*> AttachReport::missing_optional() const {
  std::vector<const ProbeStatus*> out;
  for (const auto& p : probes)
    if (!p.spec.required && (p.resolution == Resolution::Missing || !p.error.empty())) out.push_back(&p);
  return out;
}

}  // namespace gp
