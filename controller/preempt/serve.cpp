#include "preempt/serve.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/stop_signal.h"
#include "preempt/claims.h"
#include "preempt/control_server.h"
#include "preempt/cycles.h"
#include "preempt/protocol.h"

namespace gp {

namespace {

constexpr int kServePollMs = 100;

class Server {
 public:
  Server(PreemptController& ctl, EventSource& src, const ServeOptions& o, std::FILE* out)
      : ctl_(ctl), src_(src), o_(o), out_(out),
        book_(static_cast<std::uint64_t>(o.max_hold_ms) * 1'000'000), t0_(monotonic_ns()) {}

  std::string handle(const ControlRequest& req) {
    if (req.gpu && req.kind != ControlRequest::Kind::Invalid)
      return "err preempt --serve holds its targets on every GPU: gpu= selects a GPU of `gpreempt-bpf agent`";
    switch (req.kind) {
      case ControlRequest::Kind::Suspend: return on_suspend(req.holder);
      case ControlRequest::Kind::Resume: return on_resume(req.holder);
      case ControlRequest::Kind::Status: return "ok " + status_fields();
      case ControlRequest::Kind::Invalid: break;
    }
    return "err " + req.error;
  }

  void expire_claims() {
    auto expired = book_.expire(monotonic_ns());
    if (expired.empty()) return;
    expired_ += expired.size();
    log(fmt::format("{} claim(s) reached --max-hold-ms {} (holders: {})", expired.size(), o_.max_hold_ms,
                    fmt::join(expired, ",")));
    if (!book_.held() && ctl_.holding()) resume_now("max hold reached");
  }

  int poll_timeout_ms() const {
    int t = kServePollMs;
    if (auto d = book_.next_deadline()) {
      std::uint64_t now = monotonic_ns();
      t = std::min<int>(t, *d > now ? static_cast<int>((*d - now + 999'999) / 1'000'000) : 0);
    }
    return t;
  }

  void finish() {
    if (ctl_.holding()) resume_now("stopping");
    book_.clear();
    fmt::print(out_, "--- preempt --serve: {} claim(s), {} release(s), {} expired; {} suspend(s), {} "
                     "resume(s), {} failed ---\n",
               claims_, releases_, expired_, suspensions_, resumptions_, failed_);
    fmt::print(out_, "suspend ioctl: {}\n", format_summary(suspends_.summary()));
    fmt::print(out_, "resume ioctl:  {}\n", format_summary(resumes_.summary()));
    std::fflush(out_);
  }

 private:
  void log(const std::string& line) {
    fmt::print(out_, "[{:9.3f}s] {}\n", static_cast<double>(monotonic_ns() - t0_) / 1e9, line);
    std::fflush(out_);
  }

  static std::string op_text(bool issued, std::uint64_t ns, std::size_t done, std::size_t asked) {
    if (!issued) return "no queues in the map, nothing to do";
    return fmt::format("{:.0f} us, queues {}/{}", static_cast<double>(ns) / 1e3, done, asked);
  }

  std::string on_suspend(const std::string& holder) {
    ++claims_;
    if (!book_.acquire(holder, monotonic_ns()))
      return fmt::format("ok held claims={}", book_.size());
    auto ops = ctl_.suspend_all(src_.map(), {SuspendTrigger::Ctl, monotonic_ns()});
    const OpTally t = tally_ops(ops);
    ++suspensions_;
    if (t.issued) suspends_.add(t.slowest_ioctl_ns);
    if (!t.ok) {
      // Half a suspension is worse than none: undo it and say why.
      ++failed_;
      book_.release(holder);
      resume_now("suspend failed");
      auto why = describe_op_failures(ops);
      log(fmt::format("suspend for {} failed: {}", holder, why));
      return "err suspend failed: " + why;
    }
    log(fmt::format("suspend for {}: {}", holder, op_text(t.issued, t.slowest_ioctl_ns, t.done, t.asked)));
    return fmt::format("ok suspended claims={} queues={}/{} suspend_us={:.0f}", book_.size(), t.done, t.asked,
                       static_cast<double>(t.slowest_ioctl_ns) / 1e3);
  }

  std::string on_resume(const std::string& holder) {
    switch (book_.release(holder)) {
      case ClaimBook::Release::NotHeld:
        return fmt::format("err {} holds no claim", holder);
      case ClaimBook::Release::StillHeld:
        ++releases_;
        return fmt::format("ok held claims={}", book_.size());
      case ClaimBook::Release::Freed:
        break;
    }
    ++releases_;
    return resume_now(fmt::format("released by {}", holder));
  }

  std::string resume_now(const std::string& why) {
    auto ops = ctl_.resume_all();
    const OpTally t = tally_ops(ops);
    ++resumptions_;
    if (t.issued) resumes_.add(t.slowest_ioctl_ns);
    if (!t.ok) ++failed_;
    log(fmt::format("resume ({}): {}{}", why, op_text(t.issued, t.slowest_ioctl_ns, t.done, t.asked),
                    t.ok ? "" : " FAILED: " + describe_op_failures(ops)));
    return fmt::format("ok resumed claims=0 queues={}/{} resume_us={:.0f}", t.done, t.asked,
                       static_cast<double>(t.slowest_ioctl_ns) / 1e3);
  }

  std::string status_fields() {
    std::vector<std::string> holders, targets;
    for (auto& [h, n] : book_.holders()) holders.push_back(fmt::format("{}:{}", h, n));
    std::uint64_t new_q = 0, destroy_r = 0;
    for (const auto& t : ctl_.targets()) {
      targets.push_back(fmt::format("{}{}", t->tgid(), t->gone() ? "(gone)" : ""));
      auto c = t->counters();
      new_q += c.session.new_while_suspended;
      destroy_r += c.session.resumed_for_destroy;
    }
    auto s = suspends_.summary(), r = resumes_.summary();
    return fmt::format(
        "state={} claims={} holders={} targets={} claims_total={} releases={} expired={} suspends={} "
        "resumes={} failed={} suspend_p50_us={:.0f} suspend_p99_us={:.0f} suspend_max_us={:.0f} "
        "resume_p50_us={:.0f} resume_p99_us={:.0f} resume_max_us={:.0f} new_while_suspended={} "
        "resumed_for_destroy={} max_hold_ms={}",
        ctl_.holding() ? "suspended" : "running", book_.size(),
        holders.empty() ? "-" : fmt::format("{}", fmt::join(holders, ",")),
        fmt::format("{}", fmt::join(targets, ",")), claims_, releases_, expired_, suspensions_,
        resumptions_, failed_, s.median_us, s.p99_us, s.max_us, r.median_us, r.p99_us, r.max_us,
        new_q, destroy_r, o_.max_hold_ms);
  }

  PreemptController& ctl_;
  EventSource& src_;
  const ServeOptions& o_;
  std::FILE* out_;
  ClaimBook book_;
  std::uint64_t t0_;
  std::uint64_t claims_ = 0, releases_ = 0, expired_ = 0, failed_ = 0;
  std::uint64_t suspensions_ = 0, resumptions_ = 0;  // state changes, with or without an ioctl
  LatencyStats suspends_, resumes_;                  // ioctl times, when one was issued
};

// home: the tracer thread this loop runs on (run_on_home_thread), or null.
int serve_loop(PreemptController& ctl, EventSource& src, const ServeOptions& o, std::FILE* out,
               PtraceTracer* home) {
  ControlServer sock(o.socket_path, o.socket_mode, "a running preempt --serve");
  Server server(ctl, src, o, out);
  fmt::print(out, "Serving on {}: `gpreempt-bpf ctl suspend|resume|status --socket {}`{}. Ctrl-C stops "
                  "(the targets are resumed).\n",
             o.socket_path, o.socket_path,
             o.max_hold_ms ? fmt::format("; claims expire after {} ms", o.max_hold_ms) : "");
  std::fflush(out);

  while (!stop_requested() && !ctl.all_gone()) {
    std::vector<pollfd> fds;
    int src_fd = src.ready_fd();
    if (src_fd >= 0) fds.push_back({src_fd, POLLIN, 0});
    for (int fd : home_wake_fds(home)) fds.push_back({fd, POLLIN, 0});
    for (int fd : sock.fds()) fds.push_back({fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), server.poll_timeout_ms());
    if (home) home->serve_round();

    // Events first: a queue created just now must be in the map before a claim.
    src.pump();
    for (const auto& n : ctl.take_notes()) fmt::print(out, "      {}\n", n);
    // A closed connection's claims stay: released by resume or --max-hold-ms.
    sock.serve([&](std::string_view line) { return server.handle(parse_request(line)); });
    server.expire_claims();
  }
  server.finish();
  for (const auto& n : ctl.take_notes()) fmt::print(out, "      {}\n", n);
  return 0;
}

}  // namespace

int run_serve(PreemptController& ctl, EventSource& src, const ServeOptions& o, std::FILE* out) {
  return run_on_home_thread(ctl, [&](PtraceTracer* home) { return serve_loop(ctl, src, o, out, home); });
}

}  // namespace gp
