#include "cli/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/host_paths.h"
#include "base/proc.h"
#include "cli/commands.h"

namespace gp::cli {

void add_session_options(CLI::App* cmd, SessionOptions& opts, std::uint32_t& ringbuf_kb) {
  cmd->add_option("--btf", opts.btf_path,
                  "BTF file covering vmlinux and amdgpu, for amdgpu builds without /sys/kernel/btf/amdgpu");
  cmd->add_option("--ringbuf-kb", ringbuf_kb, "ring buffer size in KiB (power of two)")
      ->capture_default_str();
  cmd->add_flag("-v,--verbose", opts.verbose, "show libbpf's own messages");
  cmd->add_flag("--kprobe-only", opts.kprobe_only,
                "attach with kprobes/kretprobes even where fentry/fexit work (comparison, troubleshooting)");
}

void add_metrics_option(CLI::App* cmd, std::string& listen) {
  cmd->add_option("--metrics-listen", listen,
                  "serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9464; 0.0.0.0:9464 for "
                  "every interface); metrics and PromQL in docs/deploy.md")
      ->type_name("ADDR:PORT");
}

std::unique_ptr<DoorbellProbe> load_doorbell_probe(const SessionOptions& opts) {
  std::string why;
  const bool kernel_btf = ::access(host_path("/sys/kernel/btf/vmlinux").c_str(), R_OK) == 0;
  auto probe = DoorbellProbe::load(kernel_btf || opts.btf_path.empty() ? nullptr : opts.btf_path.c_str(), &why);
  if (!probe) fmt::print("note: no doorbell uprobes ({}); detection polls the queue pointers only\n", why);
  return probe;
}

void finish_session_options(SessionOptions& opts, std::uint32_t ringbuf_kb) {
  if (ringbuf_kb < 4 || (ringbuf_kb & (ringbuf_kb - 1)) != 0)
    throw UserError(fmt::format("--ringbuf-kb {}: must be a power of two, at least 4", ringbuf_kb), 2);
  opts.ringbuf_bytes = ringbuf_kb * 1024u;
}

void require_pids_exist(const std::vector<std::uint32_t>& pids) {
  for (auto pid : pids)
    if (!process_exists(pid))
      throw UserError(fmt::format("no such process: {} (check the PID with `ps -p {}`)", pid, pid), 2);
}

}  // namespace gp::cli
