#include "preempt/claims.h"

#include <algorithm>

namespace gp {

bool ClaimBook::acquire(const std::string& holder, std::uint64_t now_ns) {
  claims_.push_back({holder, now_ns});
  return claims_.size() == 1;
}

ClaimBook::Release ClaimBook::release(const std::string& holder) {
  auto it = std::find_if(claims_.rbegin(), claims_.rend(),
                         [&](const Claim& c) { return c.holder == holder; });
  if (it == claims_.rend()) return Release::NotHeld;
  claims_.erase(std::next(it).base());
  return claims_.empty() ? Release::Freed : Release::StillHeld;
}

std::vector<std::string> ClaimBook::expire(std::uint64_t now_ns) {
  std::vector<std::string> gone;
  if (max_hold_ns_ == 0) return gone;
  std::erase_if(claims_, [&](const Claim& c) {
    if (now_ns - c.since_ns < max_hold_ns_) return false;
    gone.push_back(c.holder);
    return true;
  });
  return gone;
}

std::optional<std::uint64_t> ClaimBook::next_deadline() const {
  if (max_hold_ns_ == 0 || claims_.empty()) return std::nullopt;
  std::uint64_t oldest = claims_.front().since_ns;
  for (const auto& c : claims_) oldest = std::min(oldest, c.since_ns);
  return oldest + max_hold_ns_;
}

std::map<std::string, int> ClaimBook::holders() const {
  std::map<std::string, int> out;
  for (const auto& c : claims_) ++out[c.holder];
  return out;
}

}  // namespace gp
