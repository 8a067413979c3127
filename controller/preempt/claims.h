// Who currently wants the offline targets suspended. Claims nest: the GPU is
// claimed while any claim is held, from any number of holders (an online
// service, `gpreempt-bpf ctl`), each possibly several times. A claim ends by
// release or when it has been held --max-hold-ms.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gp {

class ClaimBook {
 public:
  explicit ClaimBook(std::uint64_t max_hold_ns = 0) : max_hold_ns_(max_hold_ns) {}

  // Returns true when this claim is the first (the targets must be suspended).
  bool acquire(const std::string& holder, std::uint64_t now_ns);

  enum class Release { NotHeld, StillHeld, Freed };
  // Ends the holder's most recent claim; Freed when it was the last of all.
  Release release(const std::string& holder);
  // Ends every claim held longer than the limit; returns one holder per expired claim.
  std::vector<std::string> expire(std::uint64_t now_ns);
  void clear() { claims_.clear(); }

  bool held() const { return !claims_.empty(); }
  std::size_t size() const { return claims_.size(); }
  std::optional<std::uint64_t> next_deadline() const;
  std::map<std::string, int> holders() const;

 private:
  struct Claim {
    std::string holder;
    std::uint64_t since_ns;
  };
  std::uint64_t max_hold_ns_;
  std::vector<Claim> claims_;  // in acquisition order
};

}  // namespace gp
