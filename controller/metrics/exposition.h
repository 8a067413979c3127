// The Prometheus text exposition format (0.0.4), written by hand.
//
// Why not prometheus-cpp's Registry::Collect() + TextSerializer: it costs
// ~3-6 us per series on the build machine, 35-55 ms per scrape of 10,000
// series, against < 1 ms wanted (docs/deploy.md, "Why the text is written by
// hand"). Here a series keeps its name and labels rendered once, when it is
// created, because its labels never change during its life; a scrape appends
// that block and a number. The unit tests check that prometheus-cpp's
// serializer and this code give the same samples for the same series.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gp::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A label value with the format's escapes (\\, \", \n).
void append_escaped(std::string& out, std::string_view value);
// name="value",name="value" (no braces): a block other labels can be appended to.
void append_label_pairs(std::string& out, const Labels& labels);
// {name="value",...}, or nothing for no labels.
void append_labels(std::string& out, const Labels& labels);
// Shortest round-trip decimal in Go's strconv.FormatFloat(v, 'g', -1, 64) style, as the
// Go client (and AMD's exporter) prints: 0.0001, 5e-05, 1.23456789e+08; NaN, +Inf, -Inf.
void append_value(std::string& out, double v);
void append_u64(std::string& out, std::uint64_t v);
// # HELP and # TYPE lines (HELP escapes \\ and \n).
void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type);

// Upper bounds of a histogram's buckets (ascending, without +Inf) and their le strings.
class Buckets {
 public:
  explicit Buckets(std::vector<double> bounds);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::string& le(std::size_t i) const { return le_[i]; }  // i == bounds().size(): "+Inf"
  std::size_t index(double v) const;                              // the first bucket with v <= le

 private:
  std::vector<double> bounds_;
  std::vector<std::string> le_;
};

class Histogram {
 public:
  explicit Histogram(const Buckets& buckets) : b_(&buckets), counts_(buckets.bounds().size() + 1, 0) {}
  void observe(double v);
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // NAME_bucket{PAIRS,le="..."} (cumulative), NAME_sum{PAIRS}, NAME_count{PAIRS}. pairs:
  // rendered by append_label_pairs, possibly empty.
  void render(std::string& out, std::string_view name, std::string_view pairs) const;

 private:
  const Buckets* b_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last = above every bound
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace gp::metrics
