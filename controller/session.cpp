#include "session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "commands.h"
#include "event_pump.h"
#include "gp_lifecycle.skel.h"
#include "host_facts.h"
#include "instance_lock.h"
#include "kallsyms.h"
#include "libbpf_log.h"
#include "preflight.h"
#include "probes.h"
#include "ringbuf_reader.h"
#include "sysfs_queues.h"

namespace gp {

struct Session::Impl {
  SessionOptions opts;
  std::optional<InstanceLock> lock;
  gp_lifecycle* skel = nullptr;
  std::vector<bpf_link*> links;
  AttachReport report;
  QueueMap map;
  EventPump pump{map};
  std::unique_ptr<RingbufReader> reader;
  bool in_reconcile = false;

  ~Impl() {
    reader.reset();
    for (bpf_link* l : links) bpf_link__destroy(l);
    links.clear();
    gp_lifecycle__destroy(skel);
  }

  void open_and_load();
  void attach_all();
};

void Session::Impl::open_and_load() {
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  if (!opts.btf_path.empty()) oo.btf_custom_path = opts.btf_path.c_str();
  skel = gp_lifecycle__open_opts(&oo);
  if (!skel)
    throw cli::UserError(fmt::format("cannot open the BPF object: {}\n{}", std::strerror(errno),
                                     libbpf_log_tail()));
  bpf_map__set_max_entries(skel->maps.gp_events, opts.ringbuf_bytes);

  // A program none of whose attach points exist is not loaded at all: an
  // optional probe missing on this kernel must not fail the load.
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    bool needed = false;
    for (const auto& st : report.probes)
      if (st.resolution != Resolution::Missing && st.spec.program == std::string(bpf_program__name(prog)))
        needed = true;
    bpf_program__set_autoload(prog, needed);
  }

  if (int err = gp_lifecycle__load(skel); err != 0) {
    throw cli::UserError(fmt::format(
        "loading the BPF programs failed on kernel {} ({}). The CO-RE relocations against amdgpu's BTF "
        "did not resolve or the verifier refused a program:\n{}",
        report.kernel, std::strerror(-err), libbpf_log_tail()));
  }
}

void Session::Impl::attach_all() {
  for (auto& st : report.probes) {
    if (st.resolution == Resolution::Missing) continue;
    bpf_program* prog = bpf_object__find_program_by_name(skel->obj, st.spec.program);
    if (!prog) {
      st.error = "program not in the BPF object (build mismatch)";
    } else {
      LIBBPF_OPTS(bpf_kprobe_opts, ko, .retprobe = st.spec.retprobe);
      const char* func = nullptr;
      if (st.resolution == Resolution::Exact) func = st.resolved_name.c_str();
      else ko.offset = st.address;  // absolute address: perf's kprobe_addr when no name is given
      libbpf_log_clear();
      bpf_link* link = bpf_program__attach_kprobe_opts(prog, func, &ko);
      if (link) {
        links.push_back(link);
        st.attached = true;
        continue;
      }
      st.error = fmt::format("attach failed: {}", std::strerror(errno));
    }
    if (st.spec.required)
      throw cli::UserError(fmt::format("cannot attach the required probe on {} ({}) on kernel {}: {}\n{}",
                                       st.spec.symbol, st.spec.program, report.kernel, st.error,
                                       libbpf_log_tail()));
  }
}

Session::Session(const SessionOptions& opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  libbpf_log_install(opts.verbose);

  const HostFacts facts = gather_host_facts();
  if (!facts.root) require_tracing_host(facts, opts.btf_path);
  if (!opts.instance.empty()) impl_->lock.emplace(opts.instance);
  require_tracing_host(facts, opts.btf_path);

  const Kallsyms ks = Kallsyms::load("amdgpu", probe_symbols());
  if (ks.addresses_hidden())
    throw cli::UserError("/proc/kallsyms shows only zero addresses (kptr_restrict): run as root");
  if (!ks.module_present())
    throw cli::UserError("amdgpu is loaded but /proc/kallsyms lists none of its functions");
  impl_->report = plan_lifecycle_attach(ks, facts.kernel);
  if (auto missing = impl_->report.missing_required(); !missing.empty()) {
    std::string names;
    for (const auto* m : missing) names += fmt::format("\n  {} ({})", m->spec.symbol, m->error);
    throw cli::UserError(fmt::format(
        "this amdgpu (kernel {}) lacks functions gpreempt-bpf needs:{}\nrun `gpreempt-bpf doctor` for the full list",
        facts.kernel, names));
  }

  impl_->open_and_load();
  impl_->attach_all();
  impl_->reader = std::make_unique<RingbufReader>(bpf_map__fd(impl_->skel->maps.gp_events),
                                                  bpf_map__fd(impl_->skel->maps.gp_lost), impl_->pump);
  impl_->pump.on_loss([this] { reconcile(); });
  if (opts.reconcile) reconcile();
}

Session::~Session() = default;

const AttachReport& Session::attach_report() const { return impl_->report; }
QueueMap& Session::map() { return impl_->map; }
const QueueMap& Session::map() const { return impl_->map; }
void Session::add_sink(EventSink* sink) { impl_->pump.add_sink(sink); }
int Session::poll(int timeout_ms) { return impl_->reader->poll(timeout_ms); }
int Session::ready_fd() const { return impl_->reader->epoll_fd(); }
std::uint64_t Session::events() const { return impl_->pump.counters().events; }
std::uint64_t Session::lost() const { return impl_->pump.counters().lost; }
std::uint64_t Session::decode_errors() const { return impl_->pump.counters().decode_errors; }

void Session::reconcile() {
  if (impl_->in_reconcile) return;  // a loss noticed while reconciling is handled by this pass
  impl_->in_reconcile = true;
  // Drain first so the pass starts from a consistent map, then read every
  // queue's attributes: each read fires kfd_procfs_queue_show synchronously,
  // so its snapshot record is in the ring buffer when read() returns.
  impl_->reader->consume();
  impl_->map.begin_reconcile();
  const SysfsScan scan = scan_sysfs_queues();
  impl_->reader->consume();
  impl_->map.end_reconcile(scan.listed());
  impl_->in_reconcile = false;
}

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
    if (!p.spec.required && p.resolution == Resolution::Missing) out.push_back(&p);
  return out;
}

}  // namespace gp
