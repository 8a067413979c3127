#include "cli/render/map_stats.h"

#include <fmt/format.h>

namespace gp::cli {

nlohmann::json map_stats_json(const MapStats& s) {
  return {{"adds", s.adds},
          {"removes", s.removes},
          {"updates", s.updates},
          {"unseen_removes", s.unseen_removes},
          {"replaced_stale", s.replaced_stale},
          {"swept", s.swept},
          {"reconciled_added", s.reconciled_added},
          {"reconciled_dropped", s.reconciled_dropped},
          {"inconsistent_dropped", s.inconsistent_dropped},
          {"destroy_failed_kept", s.destroy_failed_kept},
          {"reconcile_kept_unlisted", s.reconcile_kept_unlisted}};
}

std::string map_stats_text(const MapStats& s) {
  std::string out;
  if (s.inconsistent_dropped)
    out += fmt::format(", {} inconsistent state record(s) dropped", s.inconsistent_dropped);
  if (s.destroy_failed_kept) out += fmt::format(", {} queue(s) kept after a failed destroy", s.destroy_failed_kept);
  return out;
}

}  // namespace gp::cli
