#include "record/progress.h"

#include <fmt/format.h>

namespace gp::record {

std::string progress_text(const ProgressCounts& c) {
  return fmt::format("recording {:.0f}s: {} events written ({} seen), {} live queues, {} lost", c.elapsed_s,
                     c.written, c.seen, c.live_queues, c.lost);
}

void Progress::update(const ProgressCounts& c) {
  if (c.elapsed_s - last_s_ < (tty_ ? kTtyPeriod_s : kLogPeriod_s)) return;
  last_s_ = c.elapsed_s;
  if (tty_) {
    std::fputs(("\r\033[K" + progress_text(c)).c_str(), out_);
    dirty_ = true;
  } else {
    std::fputs((progress_text(c) + "\n").c_str(), out_);
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (dirty_) std::fputs("\n", out_);
  dirty_ = false;
  std::fflush(out_);
}

}  // namespace gp::record
