// probe-cost: the two halves of the VM probe-cost benchmark (scripts/bench.sh).
//
//   probe-cost stats           one JSON line per loaded BPF program:
//                              {"id","name","run_cnt","run_time_ns"}
//                              (needs kernel.bpf_stats_enabled=1 for the times)
//   probe-cost empty FUNC...   attach an empty kprobe and kretprobe to each
//                              FUNC, print {"attached":N} and hold them until
//                              SIGINT/SIGTERM
//   probe-cost empty-fexit FUNC  the same with one empty fexit program (FUNC
//                              must be unique in the kernel's BTF)
//   probe-cost event-fexit FUNC  a fexit that emits one zeroed 136-byte record
//                              per call into a ring buffer this process
//                              consumes, as watch does (the floor of any event)
//   probe-cost event-fexit-nowake FUNC  the same, submitted with
//                              BPF_RB_NO_WAKEUP (drained every 10 ms): the
//                              share of the consumer wake-up
//
// The scenario diffs two `stats` snapshots around a KFD ioctl loop, once with
// the empty programs attached and once with `gpreempt-bpf watch`, so both
// sides of the comparison come from the same boot.
#include <signal.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/probe_cost.skel.h"

namespace {

int cmd_stats() {
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;  // unloaded meanwhile
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
      std::printf("{\"id\":%u,\"name\":\"%s\",\"run_cnt\":%llu,\"run_time_ns\":%llu}\n", id, info.name,
                  static_cast<unsigned long long>(info.run_cnt),
                  static_cast<unsigned long long>(info.run_time_ns));
    close(fd);
  }
  return 0;
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

enum class Mode { KprobePair, EmptyFexit, EventFexit, EventFexitNoWakeup };

int drop_record(void*, void*, size_t) { return 0; }

int cmd_empty(const std::vector<std::string>& funcs, Mode mode) {
  const bool fexit = mode != Mode::KprobePair;
  const bool event = mode == Mode::EventFexit || mode == Mode::EventFexitNoWakeup;
  probe_cost* skel = probe_cost__open();
  if (!skel) {
    std::fprintf(stderr, "probe-cost: opening the empty programs failed: %s\n", std::strerror(errno));
    return 1;
  }
  bpf_program__set_autoload(skel->progs.gp_empty_kprobe, !fexit);
  bpf_program__set_autoload(skel->progs.gp_empty_kretprobe, !fexit);
  bpf_program__set_autoload(skel->progs.gp_empty_fexit, mode == Mode::EmptyFexit);
  bpf_program__set_autoload(skel->progs.gp_event_fexit, event);
  skel->rodata->no_wakeup = mode == Mode::EventFexitNoWakeup;
  bpf_program* trace = event ? skel->progs.gp_event_fexit : skel->progs.gp_empty_fexit;
  if (fexit && (funcs.size() != 1 || bpf_program__set_attach_target(trace, 0, funcs[0].c_str()))) {
    std::fprintf(stderr, "probe-cost: empty-fexit takes one function in the kernel's BTF\n");
    probe_cost__destroy(skel);
    return 1;
  }
  if (probe_cost__load(skel)) {
    std::fprintf(stderr, "probe-cost: loading the empty programs failed: %s\n", std::strerror(errno));
    probe_cost__destroy(skel);
    return 1;
  }
  std::vector<bpf_link*> links;
  auto fail = [&](const std::string& f) {
    std::fprintf(stderr, "probe-cost: cannot attach to %s: %s\n", f.c_str(), std::strerror(errno));
    for (auto* l : links) bpf_link__destroy(l);
    probe_cost__destroy(skel);
    return 1;
  };
  if (fexit) {
    bpf_link* l = bpf_program__attach_trace(trace);
    if (!l) return fail(funcs[0]);
    links.push_back(l);
  }
  for (const auto& f : fexit ? std::vector<std::string>{} : funcs) {
    bpf_link* in = bpf_program__attach_kprobe(skel->progs.gp_empty_kprobe, false, f.c_str());
    if (in) links.push_back(in);
    bpf_link* out = in ? bpf_program__attach_kprobe(skel->progs.gp_empty_kretprobe, true, f.c_str()) : nullptr;
    if (!out) return fail(f);
    links.push_back(out);
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  std::printf("{\"attached\":%zu}\n", links.size());
  std::fflush(stdout);
  ring_buffer* rb = nullptr;
  if (event) rb = ring_buffer__new(bpf_map__fd(skel->maps.gp_cost_events), drop_record, nullptr, nullptr);
  if (event && !rb) return fail("the ring buffer");
  // The event modes consume like watch: block until woken (no-wakeup: a
  // 10 ms timeout drains what was submitted silently).
  while (!g_stop) {
    if (rb) ring_buffer__poll(rb, mode == Mode::EventFexitNoWakeup ? 10 : -1);
    else pause();
  }
  ring_buffer__free(rb);
  for (auto* l : links) bpf_link__destroy(l);
  probe_cost__destroy(skel);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "stats") return cmd_stats();
  if (args.size() >= 2 && args[0] == "empty") return cmd_empty({args.begin() + 1, args.end()}, Mode::KprobePair);
  if (args.size() == 2 && args[0] == "empty-fexit") return cmd_empty({args[1]}, Mode::EmptyFexit);
  if (args.size() == 2 && args[0] == "event-fexit") return cmd_empty({args[1]}, Mode::EventFexit);
  if (args.size() == 2 && args[0] == "event-fexit-nowake") return cmd_empty({args[1]}, Mode::EventFexitNoWakeup);
  std::fprintf(stderr,
               "usage: probe-cost stats | probe-cost empty FUNC... | probe-cost empty-fexit|event-fexit|event-fexit-nowake FUNC\n");
  return 64;
}
