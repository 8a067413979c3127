#include "cli/queues_hqd.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/proc.h"
#include "cli/commands.h"
#include "cli/render/hqd.h"
#include "hqd/dump.h"
#include "hqd/join.h"
#include "hqd/source.h"

namespace gp::cli {

int run_queues_hqd(const std::vector<std::uint32_t>& pids, bool json, SessionOptions session_opts) {
  // Cheap checks first: a host without debugfs or GPUs gets its message
  // before anything is attached, and the registers are never touched.
  hqd::require_hqds_readable();
  session_opts.instance = "queues";
  session_opts.latency_probes = false;
  Session session(session_opts);
  session.poll(0);

  const std::string text = hqd::read_hqds_once();  // the single read of live registers
  const auto versions = hqd::read_gfx_target_versions();
  session.poll(0);  // queues created up to the read are in the map now
  const std::vector<QueueEntry> map = session.map().all();

  const hqd::ParsedHqds parsed = hqd::parse_hqds(text);
  if (!parsed.ok())
    throw UserError(fmt::format("{} is not in the format this tool knows ({} line(s) not understood, first: {}); "
                                "nothing decoded",
                                hqd::kHqdsPath, parsed.errors.size(), parsed.errors.front()));
  if (parsed.nodes.empty())
    throw UserError(fmt::format("{} lists no GPU: KFD manages no GPU on this host, so there are no hardware "
                                "queue slots to show",
                                hqd::kHqdsPath));

  const hqd::HqdJoin joined = hqd::join_hqds(hqd::decode_hqds(parsed, versions), map);
  if (json) {
    nlohmann::json out{{"hqd", hqd::hqd_json(joined, pids)}, {"lost", session.lost()}, {"events", session.events()}};
    fmt::print("{}\n", out.dump());
  } else {
    ProcessNames names;
    for (const auto& line : hqd::hqd_text(joined, pids, names)) fmt::print("{}\n", line);
    if (session.lost() != 0) fmt::print("{} events were lost: the map was re-read from sysfs\n", session.lost());
  }
  return joined.decode_errors() ? 1 : 0;
}

}  // namespace gp::cli
