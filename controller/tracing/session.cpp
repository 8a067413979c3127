#include "tracing/session.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attach/loader.h"
#include "attach/phase_clock.h"
#include "base/instance_lock.h"
#include "host/host_facts.h"
#include "host/preflight.h"
#include "tracing/event_pump.h"
#include "tracing/ringbuf_reader.h"
#include "tracing/sysfs_queues.h"

namespace gp {

struct Session::Impl {
  std::optional<InstanceLock> lock;
  std::optional<ProbeLoader> loader;
  QueueMap map;
  EventPump pump{map};
  std::unique_ptr<RingbufReader> reader;
  bool in_reconcile = false;

  ~Impl() { reader.reset(); }  // stop reading before the loader detaches
};

Session::Session(const SessionOptions& opts) : impl_(std::make_unique<Impl>()) {
  std::vector<std::pair<std::string, double>> phases;
  PhaseClock clock(phases);

  const HostFacts facts = gather_host_facts();
  if (!facts.root) require_tracing_host(facts, opts.btf_path);
  if (!opts.instance.empty()) impl_->lock.emplace(opts.instance);
  require_tracing_host(facts, opts.btf_path);
  clock.done("preflight");

  LoaderOptions lo;
  lo.btf_path = opts.btf_path;
  lo.verbose = opts.verbose;
  lo.ringbuf_bytes = opts.ringbuf_bytes;
  lo.latency_probes = opts.latency_probes;
  lo.kprobe_only = opts.kprobe_only;
  lo.all_ioctls = opts.all_ioctls;
  impl_->loader.emplace(lo, facts.kernel, clock);

  impl_->reader = std::make_unique<RingbufReader>(impl_->loader->events_fd(), impl_->loader->lost_fd(), impl_->pump);
  impl_->pump.on_loss([this] { reconcile(); });
  if (opts.reconcile) {
    reconcile();
    clock.done("reconcile");
  }
  impl_->loader->report().startup_ms = std::move(phases);
}

Session::~Session() = default;

const AttachReport& Session::attach_report() const { return impl_->loader->report(); }
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

}  // namespace gp
