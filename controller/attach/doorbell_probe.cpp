#include "attach/doorbell_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "attach/libbpf_log.h"
#include "attach/uprobe_multi.h"
#include "base/clock.h"
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

std::size_t elf_function_offset(const std::string& path, std::string_view name) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  void* map = ::fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr))
                  ? ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
  ::close(fd);
  if (map == MAP_FAILED) return 0;
  const auto size = static_cast<std::size_t>(st.st_size);
  const auto* base = static_cast<const unsigned char*>(map);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  std::size_t found = 0;
  auto fits = [&](std::uint64_t off, std::uint64_t len) { return off <= size && len <= size - off; };
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shentsize == sizeof(Elf64_Shdr) && fits(eh->e_shoff, std::uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr))) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !found; ++i) {
      if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(Elf64_Sym)) continue;
      const Elf64_Shdr& strs = sh[sh[i].sh_link];
      if (!fits(sh[i].sh_offset, sh[i].sh_size) || !fits(strs.sh_offset, strs.sh_size)) continue;
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[i].sh_offset);
      const char* names = reinterpret_cast<const char*>(base + strs.sh_offset);
      for (std::size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
        const Elf64_Sym& sym = syms[k];
        if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || sym.st_shndx >= eh->e_shnum ||
            sym.st_name >= strs.sh_size)
          continue;
        const char* n = names + sym.st_name;
        if (std::string_view(n, ::strnlen(n, strs.sh_size - sym.st_name)) != name) continue;
        const Elf64_Shdr& in = sh[sym.st_shndx];
        if (sym.st_value >= in.sh_addr) found = sym.st_value - in.sh_addr + in.sh_offset;
        break;
      }
    }
  }
  ::munmap(map, size);
  return found;
}

// Destroys uprobe links on its own thread: a link's destruction waits for
// RCU grace periods (tens of ms on a loaded VM), which the controller's loop
// must not. A perf-event uprobe's breakpoint still traps until its link is
// gone here; a uprobe_multi link's is out once the close has begun.
class DoorbellLinkReaper {
 public:
  ~DoorbellLinkReaper() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // timed: count the batch in times() (a removal, not a detach).
  void destroy(std::vector<UprobeLink> links, bool timed = false) {
    if (links.empty()) return;
    {
      std::lock_guard lk(mu_);
      pending_ += links.size();
      batches_.push_back({monotonic_ns(), timed, std::move(links)});
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    cv_.notify_all();
  }
  std::size_t pending() const {
    std::lock_guard lk(mu_);
    return pending_;
  }
  // Timed batches destroyed: their count, total and longest hand-over -> done.
  void times(std::uint64_t* n, std::uint64_t* total, std::uint64_t* max) const {
    std::lock_guard lk(mu_);
    *n = done_;
    *total = total_ns_;
    *max = max_ns_;
  }

 private:
  struct Batch {
    std::uint64_t at = 0;
    bool timed = false;
    std::vector<UprobeLink> links;
  };
  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || !batches_.empty(); });
      if (batches_.empty()) return;  // stop_, nothing left
      Batch b = std::move(batches_.front());
      batches_.pop_front();
      lk.unlock();
      for (const UprobeLink& l : b.links) {
        if (l.libbpf) bpf_link__destroy(static_cast<bpf_link*>(l.libbpf));
        if (l.fd >= 0) ::close(l.fd);
      }
      const std::uint64_t took = monotonic_ns() - b.at;
      lk.lock();
      pending_ -= b.links.size();
      if (!b.timed) continue;
      ++done_;
      total_ns_ += took;
      max_ns_ = std::max(max_ns_, took);
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  std::size_t pending_ = 0;
  std::uint64_t done_ = 0, total_ns_ = 0, max_ns_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

struct DoorbellProbe::Impl {
  gp_doorbell* skel = nullptr;
  ring_buffer* rb = nullptr;
  std::vector<DoorbellObservation> pending;
  std::map<std::uint32_t, pid_t> slot_pid;
  std::unique_ptr<DoorbellLinkReaper> reaper = std::make_unique<DoorbellLinkReaper>();
  UprobeArmingStats stats;
  bool multi = false;  // uprobe_multi links (attach/uprobe_multi.h)

  ~Impl() {
    reaper.reset();  // every link destroyed before the programs they run
    if (rb) ring_buffer__free(rb);
    if (skel) gp_doorbell__destroy(skel);
  }

  static int on_record(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(gp_doorbell_event)) return 0;
    gp_doorbell_event e;
    std::memcpy(&e, data, sizeof(e));
    self->pending.push_back({static_cast<pid_t>(e.tgid), e.ts_ns, e.queue, e.value, static_cast<int>(e.cpu)});
    return 0;
  }

  gp_doorbell_slot& slot(std::uint32_t i) { return skel->bss->gp_slots[i]; }
  std::uint64_t generation() const { return __atomic_load_n(&skel->bss->gp_uprobe_gen, __ATOMIC_ACQUIRE); }
  // Before the links are handed over (out: the old ones stop counting at
  // once) and before new ones are made (in: only they count).
  void next_generation() { __atomic_add_fetch(&skel->bss->gp_uprobe_gen, 1, __ATOMIC_ACQ_REL); }
};

DoorbellProbe::DoorbellProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DoorbellProbe::~DoorbellProbe() {
  while (!procs_.empty()) detach(procs_.begin()->first);
}

std::unique_ptr<DoorbellProbe> DoorbellProbe::load(const char* btf_custom_path, std::string* why, Links links) {
  auto impl = std::make_unique<Impl>();
  LIBBPF_OPTS(bpf_object_open_opts, oo);
  oo.btf_custom_path = btf_custom_path;
  libbpf_log_clear();
  impl->skel = gp_doorbell__open_opts(&oo);
  if (!impl->skel) {
    *why = fmt::format("cannot open the doorbell BPF object: {}", std::strerror(errno));
    return nullptr;
  }
  // One uprobe_multi link per process where the kernel makes them: it must
  // be known at load time (the program's expected attach type).
  impl->multi = links == Links::Best && uprobe_multi_supported();
  if (impl->multi)
    bpf_program__set_expected_attach_type(impl->skel->progs.gp_doorbell_store,
                                          static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  impl->stats.uprobe_multi = impl->multi;
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
  if (uprobes_in_)  // else insert_uprobes() links it
    if (std::string why = link_uprobes(pid, p); !why.empty()) return why;
  std::memset(&impl_->slot(slot), 0, sizeof(gp_doorbell_slot));
  const std::uint32_t key = static_cast<std::uint32_t>(pid);
  if (bpf_map__update_elem(impl_->skel->maps.gp_online_slot, &key, sizeof(key), &slot, sizeof(slot), BPF_ANY)) {
    const int e = errno;
    unlink_uprobes(p);
    return fmt::format("cannot register pid {} with the doorbell probe: {}", pid, std::strerror(e));
  }
  impl_->slot_pid[slot] = pid;
  procs_[pid] = std::move(p);
  return {};
}

std::string DoorbellProbe::link_uprobes(pid_t pid, Proc& p) {
  bpf_program* prog = impl_->skel->progs.gp_doorbell_store;
  if (p.offsets.empty())
    for (const char* fn : kDoorbellFunctions) p.offsets.push_back(elf_function_offset(p.file, fn));
  // The cookie: the generation the BPF program counts (gp_uprobe_gen in bpf/doorbell.bpf.c).
  const std::uint64_t gen = impl_->generation();
  if (impl_->multi) {
    std::vector<std::uint64_t> offsets, cookies;
    for (std::size_t i = 0; i < std::size(kDoorbellFunctions); ++i) {
      if (!p.offsets[i]) return fmt::format("{} exports no {}", p.library, kDoorbellFunctions[i]);
      offsets.push_back(p.offsets[i]);
      cookies.push_back(gen);
    }
    const int fd = uprobe_multi_attach(bpf_program__fd(prog), p.file, offsets, cookies, pid);
    if (fd < 0)
      return fmt::format("cannot attach uprobes to {} and {} in {}: {}", kDoorbellFunctions[0], kDoorbellFunctions[1],
                         p.library, std::strerror(-fd));
    p.links.push_back({nullptr, fd});
    return {};
  }
  for (std::size_t i = 0; i < std::size(kDoorbellFunctions); ++i) {
    // By the offset found once; by name (libbpf parses the ELF) if our reader could not.
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = gen);
    if (!p.offsets[i]) uo.func_name = kDoorbellFunctions[i];
    libbpf_log_clear();
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, p.file.c_str(), p.offsets[i], &uo);
    if (!link) {
      const int e = errno;
      unlink_uprobes(p);
      return fmt::format("cannot attach a uprobe to {} in {}: {}", kDoorbellFunctions[i], p.library, std::strerror(e));
    }
    p.links.push_back({link, -1});
  }
  return {};
}

void DoorbellProbe::unlink_uprobes(Proc& p) {
  impl_->reaper->destroy(std::move(p.links));
  p.links.clear();
}

void DoorbellProbe::detach(pid_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  const std::uint32_t key = static_cast<std::uint32_t>(pid);
  bpf_map__delete_elem(impl_->skel->maps.gp_online_slot, &key, sizeof(key), 0);
  unlink_uprobes(it->second);
  impl_->slot_pid.erase(it->second.slot);
  procs_.erase(it);
}

void DoorbellProbe::remove_uprobes() {
  if (!uprobes_in_) return;
  uprobes_in_ = false;
  impl_->next_generation();  // odd: out
  std::vector<UprobeLink> all;
  for (auto& [pid, p] : procs_) {
    all.insert(all.end(), p.links.begin(), p.links.end());
    p.links.clear();
  }
  impl_->reaper->destroy(std::move(all), /*timed=*/true);
  ++impl_->stats.removals;
}

std::vector<std::pair<pid_t, std::string>> DoorbellProbe::insert_uprobes() {
  std::vector<std::pair<pid_t, std::string>> failed;
  if (uprobes_in_) return failed;
  const std::uint64_t t0 = monotonic_ns(), cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  uprobes_in_ = true;
  impl_->next_generation();  // even: in, and the links made now carry it
  for (auto& [pid, p] : procs_)
    if (p.links.empty())
      if (std::string why = link_uprobes(pid, p); !why.empty()) failed.emplace_back(pid, std::move(why));
  for (const auto& [pid, why] : failed) detach(pid);
  const std::uint64_t took = monotonic_ns() - t0;
  auto& st = impl_->stats;
  ++st.insertions;
  st.insert_ns_total += took;
  st.insert_ns_max = std::max(st.insert_ns_max, took);
  st.insert_cpu_ns_total += clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return failed;
}

std::size_t DoorbellProbe::removals_pending() const { return impl_->reaper->pending(); }

UprobeArmingStats DoorbellProbe::arming_stats() const {
  UprobeArmingStats st = impl_->stats;
  impl_->reaper->times(&st.removals_done, &st.remove_ns_total, &st.remove_ns_max);
  return st;
}

std::string DoorbellProbe::library(pid_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? std::string() : it->second.library;
}

std::string DoorbellProbe::attached_file(pid_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? std::string() : it->second.file;
}

std::string DoorbellProbe::attach_summary(pid_t pid, const std::string& why) const {
  if (!why.empty()) return fmt::format("online pid {}: no doorbell uprobe ({}); polling only", pid, why);
  return fmt::format("online pid {}: doorbell uprobes on {} ({}, {}; {})", pid, library(pid), kDoorbellFunctions[0],
                     kDoorbellFunctions[1], impl_->multi ? "one uprobe_multi link" : "perf-event uprobe links");
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
  c.stale = __atomic_load_n(&s.stale, __ATOMIC_RELAXED);
  if (c.doorbells) c.last_cpu = static_cast<int>(__atomic_load_n(&s.last_cpu, __ATOMIC_RELAXED));
  return c;
}

std::optional<DoorbellObservation> DoorbellProbe::take_new(pid_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return std::nullopt;
  const auto c = counts(pid);
  if (c.doorbells == it->second.seen) return std::nullopt;
  it->second.seen = c.doorbells;
  return DoorbellObservation{pid, c.last_ns, c.last_queue, c.last_value, c.last_cpu};
}

}  // namespace gp
