// Native event-pipeline benchmark (not a test): real BPF emits records into
// the real ring buffer (a uprobe on gp_bench_emit_batch() copies a batch per
// hit), and the real reader -> decoder -> queue map consumes them on another
// thread. Reports, per offered rate, delivered and lost events and the
// kernel-to-map latency (BPF timestamp at emit vs CLOCK_MONOTONIC when the
// map has applied the event), then the consumer's ceiling.
//
// Then the memory of a watch-sized consumer (8 MB ring buffer, map, pump)
// holding 10,000 live synthetic queues.
//
//   sudo build/tests/native/gp_bench_pipeline [--json FILE] [--seconds S] [--queues N]
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/gp_test_emit.skel.h"
#include "tracing/event_pump.h"
#include "tracing/ringbuf_reader.h"
#include "tracing/session.h"

#if defined(__clang__)
#define GP_UPROBE_TARGET __attribute__((noinline, optnone, used))
#else
#define GP_UPROBE_TARGET __attribute__((noinline, noipa, used))
#endif

extern "C" GP_UPROBE_TARGET void gp_bench_emit_batch(const gp_event* evs, std::uint32_t n) {
  asm volatile("" : : "r"(evs), "r"(n) : "memory");
}

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Latency sampler: every event's kernel-to-map delay.
struct LatencySink : gp::EventSink {
  std::vector<std::uint32_t> lat_ns;
  void on_event(const gp::Event& ev, gp::MapChange, const gp::QueueMap&) override {
    const std::uint64_t t = now_ns();
    lat_ns.push_back(t > ev.raw.ts_ns ? static_cast<std::uint32_t>(std::min<std::uint64_t>(t - ev.raw.ts_ns, ~0u)) : 0);
  }
};

double pct(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i] / 1000.0;
}

// A workload shaped like a busy host: queue adds and removes (map changes)
// between ioctl records.
std::vector<gp_event> make_batch(std::uint32_t n, std::uint32_t base) {
  std::vector<gp_event> b(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    gp_event& e = b[i];
    e = gp_event{};
    e.tgid = 1000 + (i % 8);
    e.aux = base + i;
    if (i % 4 == 0 || i % 4 == 1) {
      e.kind = i % 4 == 0 ? GP_EV_QUEUE_ADD : GP_EV_QUEUE_REMOVE;
      e.ev_flags = GP_EVF_HAS_QUEUE;
      e.q.queue_kptr = 0xffff888000000000ull + ((base + i) / 4) * 0x200;
      e.q.proc_kptr = 0xffff889000000000ull + e.tgid;
      e.q.qid = ((base + i) / 4) % 1024;
      e.q.context_id = GP_CONTEXT_PRIMARY;
      e.q.flags = GP_QF_ACTIVE;
    } else {
      e.kind = GP_EV_IOCTL_UPDATE_QUEUE;
      e.io.qid = i;
    }
  }
  return b;
}

// A fresh emitter (BPF object + uprobe on gp_bench_emit_batch): loss
// counters start at zero. Detached and unloaded on scope exit.
struct Emitter {
  gp_test_emit* skel = nullptr;
  bpf_link* link = nullptr;
  explicit Emitter(std::uint32_t ringbuf_bytes) {
    skel = gp_test_emit__open();
    if (!skel) throw std::runtime_error("open failed");
    bpf_map__set_max_entries(skel->maps.gp_events, ringbuf_bytes);
    if (gp_test_emit__load(skel)) {
      gp_test_emit__destroy(skel);
      throw std::runtime_error("load failed (root?)");
    }
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "gp_bench_emit_batch");
    link = bpf_program__attach_uprobe_opts(skel->progs.gp_test_emit_batch, 0, "/proc/self/exe", 0, &uo);
    if (!link) {
      gp_test_emit__destroy(skel);
      throw std::runtime_error("uprobe attach failed");
    }
  }
  ~Emitter() {
    bpf_link__destroy(link);
    gp_test_emit__destroy(skel);
  }
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;
};

struct RunResult {
  double offered_eps = 0, delivered_eps = 0;
  std::uint64_t emitted = 0, delivered = 0, lost = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
};

// Emits `rate` events/s (0 = as fast as possible) for `seconds`, consuming on
// another thread. A fresh BPF object per run so loss counters start at zero.
RunResult run(double rate, double seconds, std::uint32_t ringbuf_bytes) {
  RunResult r;
  Emitter em(ringbuf_bytes);

  gp::QueueMap map;
  gp::EventPump pump(map);
  LatencySink sink;
  sink.lat_ns.reserve(static_cast<std::size_t>(std::max(rate, 2e6) * seconds) + 1024);
  pump.add_sink(&sink);
  gp::RingbufReader reader(bpf_map__fd(em.skel->maps.gp_events), bpf_map__fd(em.skel->maps.gp_lost), pump);

  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done.load(std::memory_order_relaxed)) reader.poll(10);
    while (reader.poll(50) > 0) {
    }
  });

  // One uprobe hit per event at low rates (so each event's latency is its
  // own, not its batch's), bigger batches where one hit per event would cap
  // the rate.
  const std::uint32_t kBatch =
      rate > 0 ? std::clamp<std::uint32_t>(static_cast<std::uint32_t>(rate / 10e3), 1, 256) : 256;
  const auto batch = make_batch(kBatch, 0);
  const std::uint64_t t0 = now_ns(), end = t0 + static_cast<std::uint64_t>(seconds * 1e9);
  std::uint64_t emitted = 0;
  for (std::uint64_t t = t0; t < end; t = now_ns()) {
    if (rate > 0) {
      const double due = static_cast<double>(t - t0) / 1e9 * rate;
      if (static_cast<double>(emitted) >= due) continue;  // spin: pacing at µs granularity
    }
    gp_bench_emit_batch(batch.data(), kBatch);
    emitted += kBatch;
  }
  const double elapsed = static_cast<double>(now_ns() - t0) / 1e9;
  done = true;
  consumer.join();

  r.emitted = emitted;
  r.delivered = pump.counters().events;
  r.lost = reader.read_lost();
  r.offered_eps = static_cast<double>(emitted) / elapsed;
  r.delivered_eps = static_cast<double>(r.delivered) / elapsed;
  r.p50_us = pct(sink.lat_ns, 50);
  r.p99_us = pct(sink.lat_ns, 99);
  r.p999_us = pct(sink.lat_ns, 99.9);
  return r;
}

long status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  const std::size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) kb = std::strtol(line + n + 1, nullptr, 10);
  std::fclose(f);
  return kb;
}

// Resident memory with `queues` live queues in the map, the consumer built
// as `watch` builds it (8 MB ring buffer, reader, pump, map).
nlohmann::json map_memory(std::uint32_t queues) {
  const long rss0 = status_kb("VmRSS:");
  Emitter em(8u << 20);
  gp::QueueMap map;
  gp::EventPump pump(map);
  gp::RingbufReader reader(bpf_map__fd(em.skel->maps.gp_events), bpf_map__fd(em.skel->maps.gp_lost), pump);
  std::vector<gp_event> batch(256);
  for (std::uint32_t done = 0; done < queues;) {
    const std::uint32_t n = std::min<std::uint32_t>(256, queues - done);
    for (std::uint32_t i = 0; i < n; ++i) {
      gp_event& e = batch[i];
      e = gp_event{};
      const std::uint32_t q = done + i;
      e.kind = GP_EV_QUEUE_ADD;
      e.ev_flags = GP_EVF_HAS_QUEUE;
      e.tgid = 1000 + q / 64;  // 64 queues per process, like a busy training job
      e.q.queue_kptr = 0xffff888000000000ull + q * 0x200ull;
      e.q.proc_kptr = 0xffff889000000000ull + e.tgid;
      e.q.qid = q % 64;
      e.q.context_id = GP_CONTEXT_PRIMARY;
      e.q.flags = GP_QF_ACTIVE;
    }
    gp_bench_emit_batch(batch.data(), n);
    done += n;
    while (reader.poll(0) > 0) {
    }
  }
  while (reader.poll(50) > 0) {
  }
  nlohmann::json j{{"queues_in_map", map.size()}, {"lost", reader.read_lost()},
                   {"rss_kb", status_kb("VmRSS:")}, {"rss_before_kb", rss0}, {"hwm_kb", status_kb("VmHWM:")}};
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  double seconds = 1.0;
  std::uint32_t queues = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (std::string(argv[i]) == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
    else if (std::string(argv[i]) == "--queues" && i + 1 < argc) queues = std::stoul(argv[++i]);
  }
  if (geteuid() != 0) {
    fmt::print(stderr, "gp_bench_pipeline: needs root (BPF, uprobes)\n");
    return 1;
  }
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });

  if (queues > 0) {
    // A fresh process for this (the rate runs' sample buffers would count).
    const auto m = map_memory(queues);
    fmt::print("map memory: {} queues in the map, VmRSS {} kB (before loading: {} kB), lost {}\n",
               m["queues_in_map"].get<std::size_t>(), m["rss_kb"].get<long>(), m["rss_before_kb"].get<long>(),
               m["lost"].get<std::uint64_t>());
    if (!json_path.empty()) {
      if (FILE* f = std::fopen(json_path.c_str(), "w")) {
        std::fputs(m.dump(2).c_str(), f);
        std::fclose(f);
      }
    }
    return 0;
  }
  nlohmann::json out = nlohmann::json::array();
  fmt::print("{:>12} {:>12} {:>12} {:>10} {:>9} {:>9} {:>9}\n", "offered/s", "delivered/s", "emitted",
             "lost", "p50 us", "p99 us", "p99.9 us");
  for (double rate : {10e3, 100e3, 1e6, 2e6, 3e6, 0.0}) {
    RunResult r = run(rate, seconds, 8u << 20);
    fmt::print("{:>12.0f} {:>12.0f} {:>12} {:>10} {:>9.1f} {:>9.1f} {:>9.1f}{}\n", r.offered_eps, r.delivered_eps,
               r.emitted, r.lost, r.p50_us, r.p99_us, r.p999_us, rate == 0 ? "  (as fast as possible)" : "");
    out.push_back({{"offered_eps", r.offered_eps}, {"delivered_eps", r.delivered_eps}, {"emitted", r.emitted},
                   {"lost", r.lost}, {"p50_us", r.p50_us}, {"p99_us", r.p99_us}, {"p999_us", r.p999_us},
                   {"paced", rate > 0}});
  }
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f) {
      std::fputs(out.dump(2).c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}
