#include "metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gp::metrics {

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_label_pairs(std::string& out, const Labels& labels) {
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value);
    out += '"';
  }
}

void append_labels(std::string& out, const Labels& labels) {
  if (labels.empty()) return;
  out += '{';
  append_label_pairs(out, labels);
  out += '}';
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  out.append(buf, r.ptr);
}

void append_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

Buckets::Buckets(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  for (double b : bounds_) {
    std::string le;
    append_value(le, b);
    le_.push_back(std::move(le));
  }
  le_.push_back("+Inf");
}

std::size_t Buckets::index(double v) const {
  return static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
}

void Histogram::observe(double v) {
  ++counts_[b_->index(v)];
  ++count_;
  sum_ += v;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view pairs) const {
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cum += counts_[i];
    out += name;
    out += "_bucket{";
    out += pairs;
    if (!pairs.empty()) out += ',';
    out += "le=\"";
    out += b_->le(i);
    out += "\"} ";
    append_u64(out, cum);
    out += '\n';
  }
  for (const char* suffix : {"_sum", "_count"}) {
    out += name;
    out += suffix;
    if (!pairs.empty()) {
      out += '{';
      out += pairs;
      out += '}';
    }
    out += ' ';
    if (suffix[1] == 's') append_value(out, sum_);
    else append_u64(out, count_);
    out += '\n';
  }
}

}  // namespace gp::metrics
