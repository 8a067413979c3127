#include "attach/doorbell_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "attach/libbpf_log.h"
#include "bpf/doorbell.h"
#include "bpf/gp_doorbell.skel.h"

namespace gp {

std::optional<HsaMapping> find_hsa_mapping(std::string_view maps) {
  std::size_t pos = 0;
  while (pos < maps.size()) {
    std::size_t end = maps.find('\n', pos);
    if (end == std::string_view::npos) end = maps.size();
    std::string_view line = maps.substr(pos, end - pos);
    pos = end + 1;
    // address perms offset dev inode pathname: the path starts at the first '/'.
    const auto slash = line.find('/');
    if (slash == std::string_view::npos) continue;
    std::string_view path = line.substr(slash);
    if (path.ends_with(" (deleted)")) continue;
    const auto base = path.substr(path.rfind('/') + 1);
    if (!base.starts_with("libhsa-runtime64.so")) continue;
    HsaMapping m;
    m.path = std::string(path);
    std::istringstream fields{std::string(line.substr(0, slash))};
    std::string perms, offset, dev;
    fields >> m.range >> perms >> offset >> dev >> m.inode;
    return m;
  }
  return std::nullopt;
}

std::string find_hsa_runtime(std::string_view maps) {
  auto m = find_hsa_mapping(maps);
  return m ? m->path : std::string();
}

std::string uprobe_target(pid_t pid, const HsaMapping& m) {
  std::string rooted = fmt::format("/proc/{}/root{}", pid, m.path);
  struct stat st {};
  if (::stat(rooted.c_str(), &st) == 0 && st.st_ino == m.inode) return rooted;
  return fmt::format("/proc/{}/map_files/{}", pid, m.range);
}

struct DoorbellProbe::Impl {
  gp_doorbell* skel = nullptr;
  ring_buffer* rb = nullptr;
  std::vector<DoorbellObservation> pending;
  std::map<std::uint32_t, pid_t> slot_pid;

  ~Impl() {
    if (rb) ring_buffer__free(rb);
    if (skel) gp_doorbell__destroy(skel);
  }

  static int on_record(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(gp_doorbell_event)) return 0;
    gp_doorbell_event e;
    std::memcpy(&e, data, sizeof(e));
    self->pending.push_back({static_cast<pid_t>(e.tgid), e.ts_ns, e.queue, e.value});
    return 0;
  }

  gp_doorbell_slot& slot(std::uint32_t i) { return skel->bss->gp_slots[i]; }
};

DoorbellProbe::DoorbellProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DoorbellProbe::~DoorbellProbe() {
  while (!procs_.empty()) detach(procs_.begin()->first);
}

std::unique_ptr<DoorbellProbe> DoorbellProbe::load(const char* btf_custom_path, std::string* why) {
  auto impl = std::make_unique<Impl>();
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  oo.btf_custom_path = btf_custom_path;
  libbpf_log_clear();
  impl->skel = gp_doorbell__open_opts(&oo);
  if (!impl->skel) {
    *why = fmt::format("cannot open the doorbell BPF object: {}", std::strerror(errno));
    return nullptr;
  }
  if (int err = gp_doorbell__load(impl->skel); err != 0) {
    *why = fmt::format("loading the doorbell uprobes failed ({}): {}", std::strerror(-err), libbpf_log_tail());
    return nullptr;
  }
  impl->rb = ring_buffer__new(bpf_map__fd(impl->skel->maps.gp_doorbell_rb), &Impl::on_record, impl.get(), nullptr);
  if (!impl->rb) {
    *why = fmt::format("cannot read the doorbell ring buffer: {}", std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<DoorbellProbe>(new DoorbellProbe(std::move(impl)));
}

std::string DoorbellProbe::attach(pid_t pid) {
  if (attached(pid)) return {};
  std::ifstream f(fmt::format("/proc/{}/maps", pid));
  if (!f) return fmt::format("cannot read /proc/{}/maps: {}", pid, std::strerror(errno));
  std::stringstream ss;
  ss << f.rdbuf();
  const auto mapping = find_hsa_mapping(ss.str());
  if (!mapping) return "no libhsa-runtime64 is mapped in it (yet)";
  const std::string& lib = mapping->path;

  std::uint32_t slot = 0;
  while (impl_->slot_pid.count(slot)) ++slot;
  if (slot >= GP_DOORBELL_SLOTS) return fmt::format("more than {} online processes", GP_DOORBELL_SLOTS);

  // The inode the process mapped, whatever its root and mount namespace.
  const std::string path = uprobe_target(pid, *mapping);
  Proc p;
  p.slot = slot;
  p.library = lib;
  p.file = path;
  bpf_program* progs[] = {impl_->skel->progs.gp_doorbell_screlease, impl_->skel->progs.gp_doorbell_relaxed};
  for (std::size_t i = 0; i < std::size(progs); ++i) {
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = kDoorbellFunctions[i]);
    libbpf_log_clear();
    bpf_link* link = bpf_program__attach_uprobe_opts(progs[i], pid, path.c_str(), 0, &uo);
    if (!link) {
      const int e = errno;
      for (void* l : p.links) bpf_link__destroy(static_cast<bpf_link*>(l));
      return fmt::format("cannot attach a uprobe to {} in {}: {}", kDoorbellFunctions[i], lib, std::strerror(e));
    }
    p.links.push_back(link);
  }
  std::memset(&impl_->slot(slot), 0, sizeof(gp_doorbell_slot));
  const std::uint32_t key = static_cast<std::uint32_t>(pid);
  if (bpf_map__update_elem(impl_->skel->maps.gp_online_slot, &key, sizeof(key), &slot, sizeof(slot), BPF_ANY)) {
    const int e = errno;
    for (void* l : p.links) bpf_link__destroy(static_cast<bpf_link*>(l));
    return fmt::format("cannot register pid {} with the doorbell probe: {}", pid, std::strerror(e));
  }
  impl_->slot_pid[slot] = pid;
  procs_[pid] = std::move(p);
  return {};
}

void DoorbellProbe::detach(pid_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  const std::uint32_t key = static_cast<std::uint32_t>(pid);
  bpf_map__delete_elem(impl_->skel->maps.gp_online_slot, &key, sizeof(key), 0);
  for (void* l : it->second.links) bpf_link__destroy(static_cast<bpf_link*>(l));
  impl_->slot_pid.erase(it->second.slot);
  procs_.erase(it);
}

std::string DoorbellProbe::library(pid_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? std::string() : it->second.library;
}

std::string DoorbellProbe::attached_file(pid_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? std::string() : it->second.file;
}

int DoorbellProbe::ready_fd() const { return ring_buffer__epoll_fd(impl_->rb); }

std::vector<DoorbellObservation> DoorbellProbe::drain() {
  ring_buffer__consume(impl_->rb);
  std::vector<DoorbellObservation> out;
  out.swap(impl_->pending);
  // A record of a process detached since is stale.
  std::erase_if(out, [this](const auto& o) { return !attached(o.pid); });
  return out;
}

void DoorbellProbe::arm() { __atomic_store_n(&impl_->skel->bss->gp_armed, 1u, __ATOMIC_RELEASE); }

bool DoorbellProbe::armed() const { return __atomic_load_n(&impl_->skel->bss->gp_armed, __ATOMIC_ACQUIRE) != 0; }

DoorbellCounts DoorbellProbe::counts(pid_t pid) const {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return {};
  auto& s = impl_->slot(it->second.slot);
  DoorbellCounts c;
  c.doorbells = __atomic_load_n(&s.doorbells, __ATOMIC_ACQUIRE);
  c.last_ns = __atomic_load_n(&s.last_ns, __ATOMIC_RELAXED);
  c.other = __atomic_load_n(&s.other, __ATOMIC_RELAXED);
  c.last_queue = __atomic_load_n(&s.last_queue, __ATOMIC_RELAXED);
  c.last_value = __atomic_load_n(&s.last_value, __ATOMIC_RELAXED);
  return c;
}

std::optional<DoorbellObservation> DoorbellProbe::take_new(pid_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return std::nullopt;
  const auto c = counts(pid);
  if (c.doorbells == it->second.seen) return std::nullopt;
  it->second.seen = c.doorbells;
  return DoorbellObservation{pid, c.last_ns, c.last_queue, c.last_value};
}

}  // namespace gp
