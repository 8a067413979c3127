// The hand-written text exposition (controller/metrics/exposition.h) against
// the reference: prometheus-cpp's TextSerializer must give the same samples,
// TYPE and HELP for the same series, and promtool must accept the output.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "metrics/exporter.h"
#include "metrics/exposition.h"
#include "metrics/map_metrics.h"
#include "fake_process_facts.h"
#include "metrics_text.h"
#include "test_events.h"

namespace gp::metrics {
namespace {

using test::FakeFacts;
using test::parse_exposition;

TEST(MetricsExposition, EscapesLabelValues) {
  std::string s;
  append_labels(s, {{"pod", "a\"b"}, {"path", "C:\\x"}, {"msg", "l1\nl2"}, {"plain", "ok,{}="}});
  EXPECT_EQ(s, R"({pod="a\"b",path="C:\\x",msg="l1\nl2",plain="ok,{}="})");
  s.clear();
  append_labels(s, {});
  EXPECT_EQ(s, "");
}

TEST(MetricsExposition, NumbersAsGoPrintsThem) {
  std::string s;
  for (double v : std::vector<double>{0.0, 1.0, 0.5, 1e-4, 5e-5, 123456789.0, 1e21, 0.1 + 0.2, -3.25, NAN, INFINITY,
                                      -INFINITY}) {
    append_value(s, v);
    s += ' ';
  }
  // strconv.FormatFloat(v, 'g', -1, 64): the Go client's (and AMD's exporter's) format.
  EXPECT_EQ(s, "0 1 0.5 0.0001 5e-05 1.23456789e+08 1e+21 0.30000000000000004 -3.25 NaN +Inf -Inf ");
  s.clear();
  append_u64(s, 18446744073709551615ull);
  EXPECT_EQ(s, "18446744073709551615");
}

TEST(MetricsExposition, HelpEscapesBackslashAndNewlineOnly) {
  std::string s;
  append_header(s, "gpreempt_x", "a \\ b\nc \"d\"", "gauge");
  EXPECT_EQ(s, "# HELP gpreempt_x a \\\\ b\\nc \"d\"\n# TYPE gpreempt_x gauge\n");
}

TEST(MetricsExposition, HistogramIsCumulativeWithInclusiveBounds) {
  Buckets b({0.001, 0.01, 0.1});
  Histogram h(b);
  for (double v : {0.0005, 0.001, 0.005, 0.05, 0.5}) h.observe(v);
  std::string s;
  h.render(s, "gp_lat_seconds", "gpu=\"1\"");
  EXPECT_EQ(s,
            "gp_lat_seconds_bucket{gpu=\"1\",le=\"0.001\"} 2\n"
            "gp_lat_seconds_bucket{gpu=\"1\",le=\"0.01\"} 3\n"
            "gp_lat_seconds_bucket{gpu=\"1\",le=\"0.1\"} 4\n"
            "gp_lat_seconds_bucket{gpu=\"1\",le=\"+Inf\"} 5\n"
            "gp_lat_seconds_sum{gpu=\"1\"} 0.5565\n"
            "gp_lat_seconds_count{gpu=\"1\"} 5\n");
  s.clear();
  Histogram(b).render(s, "gp_empty", "");
  EXPECT_NE(s.find("gp_empty_bucket{le=\"+Inf\"} 0\n"), std::string::npos) << s;
  EXPECT_NE(s.find("gp_empty_sum 0\ngp_empty_count 0\n"), std::string::npos) << s;
}

void expect_same(const std::string& ours, const std::string& reference) {
  auto a = parse_exposition(reference), b = parse_exposition(ours);
  EXPECT_EQ(a.by_key.size(), b.by_key.size()) << "reference:\n" << reference << "\nours:\n" << ours;
  for (const auto& [k, v] : a.by_key) {
    auto it = b.by_key.find(k);
    ASSERT_NE(it, b.by_key.end()) << "missing in ours: " << k << "\n" << ours;
    if (std::isnan(v)) EXPECT_TRUE(std::isnan(it->second)) << k;
    else EXPECT_DOUBLE_EQ(it->second, v) << k;
  }
  for (const auto& [name, fam] : a.families) {
    ASSERT_TRUE(b.families.count(name)) << name;
    EXPECT_EQ(b.families.at(name).type, fam.type) << name;
    EXPECT_EQ(b.families.at(name).help, fam.help) << name;
  }
}

// The same series, values and observations built in both. (HELP texts without
// a backslash or newline: prometheus-cpp 1.0.1 writes HELP verbatim where the
// format escapes them; HelpEscapesBackslashAndNewlineOnly and promtool cover ours.)
TEST(MetricsExposition, SameSamplesAsPrometheusCpp) {
  const std::vector<double> bounds{10e-6, 100e-6, 1e-3, 0.1};
  const std::vector<double> seen{5e-6, 10e-6, 11e-6, 0.00042, 0.001, 0.0999, 0.1, 2.5, 9.0};
  const std::vector<std::pair<Labels, double>> gauges{
      {{{"hostname", "node-1"}, {"pod_uid", "55c6c714-b240-4dec-9a45-57b61696ab6e"}, {"comm", "py\"t\\h\non"}}, 3},
      {{{"hostname", "node-1"}, {"pod_uid", ""}, {"comm", "a,b={c}"}}, 0.25},
      {{{"hostname", "node-1"}, {"pod_uid", "x"}, {"comm", "big"}}, 1.5e+300}};

  auto reg = std::make_shared<prometheus::Registry>();
  auto& g = prometheus::BuildGauge().Name("gpreempt_kfd_queues").Help("Live queues per GPU").Register(*reg);
  for (const auto& [labels, v] : gauges) g.Add(std::map<std::string, std::string>(labels.begin(), labels.end())).Set(v);
  auto& c = prometheus::BuildCounter().Name("gpreempt_suspend_total").Help("Suspensions").Register(*reg);
  c.Add({{"trigger", "doorbell"}}).Increment(7);
  c.Add({{"trigger", "poll"}});
  auto& h = prometheus::BuildHistogram().Name("gpreempt_suspend_ioctl_seconds").Help("ioctl time").Register(*reg);
  auto& hh = h.Add({{"hostname", "node-1"}}, prometheus::Histogram::BucketBoundaries(bounds));
  for (double v : seen) hh.Observe(v);
  const std::string reference = prometheus::TextSerializer().Serialize(reg->Collect());

  std::string ours;
  append_header(ours, "gpreempt_kfd_queues", "Live queues per GPU", "gauge");
  for (const auto& [labels, v] : gauges) {
    ours += "gpreempt_kfd_queues";
    append_labels(ours, labels);
    ours += ' ';
    append_value(ours, v);
    ours += '\n';
  }
  append_header(ours, "gpreempt_suspend_total", "Suspensions", "counter");
  ours += "gpreempt_suspend_total{trigger=\"doorbell\"} 7\ngpreempt_suspend_total{trigger=\"poll\"} 0\n";
  append_header(ours, "gpreempt_suspend_ioctl_seconds", "ioctl time", "histogram");
  Buckets b(bounds);
  Histogram mine(b);
  for (double v : seen) mine.observe(v);
  mine.render(ours, "gpreempt_suspend_ioctl_seconds", "hostname=\"node-1\"");

  expect_same(ours, reference);
}

ProcessFacts fact(std::uint32_t pid, std::string comm, std::string role) {
  ProcessFacts f;
  f.pid = pid;
  f.comm = std::move(comm);
  f.role = std::move(role);
  f.rule = f.role.empty() ? "" : "rule-" + f.role;
  f.pod_uid = "55c6c714-b240-4dec-9a45-57b61696ab6e";
  f.container_id = std::string(64, 'a');
  f.queues = {{41234, GP_QTYPE_COMPUTE, 3}, {41234, GP_QTYPE_SDMA, 2}, {52000, GP_QTYPE_COMPUTE, 1}};
  return f;
}

// Everything the exporter renders, fed through its real inputs.
std::string full_exposition(Exporter& e, FakeFacts& src) {
  src.facts = {fact(100, "vllm", "online"), fact(200, "train \"x\"", "offline"), fact(300, "py", "")};
  src.facts[1].suspended = true;
  src.facts[1].suspended_seconds = 12.5;
  src.facts[1].suspends = {3, 1, 0, 0};
  e.set_process_source(&src);
  AttachReport r;
  ProbeStatus p;
  p.spec.symbol = "kfd_ioctl_create_queue";
  p.spec.required = true;
  p.group = "lifecycle";
  p.mechanism = Mechanism::Fexit;
  p.attached = true;
  r.probes.push_back(p);
  p.spec.symbol = "pm_send_unmap_queue";
  p.spec.required = false;
  p.group = "latency";
  p.mechanism = Mechanism::None;
  p.attached = false;
  r.probes.push_back(p);
  e.set_probes(r);
  TracingMetrics sink(e, nullptr);
  QueueMap map;
  sink.on_event(test::queue_event(EventKind::QueueAdd, 100, 1, 0x10), MapChange::Added, map);
  Event pre;
  pre.raw.kind = GP_EV_PREEMPT;
  pre.raw.cause = GP_CAUSE_DBG_SUSPEND;
  pre.raw.pre.t0_ns = 1000;
  pre.raw.pre.end_ns = 1000 + 250'000;
  pre.raw.pre.packet_sent = 1;
  sink.on_event(pre, MapChange::None, map);
  sink.on_loss(4);
  e.suspended(SuspendTrigger::Doorbell, 80e-6, 40e-6, true);
  e.suspended(SuspendTrigger::Ctl, std::nullopt, 2e-3, false);
  e.resumed(300e-6);
  std::string out;
  e.render(out);
  return out;
}

// Our whole exposition, rebuilt series by series in a prometheus-cpp registry
// (histograms through ObserveMultiple), serializes to the same samples.
TEST(MetricsExposition, ExporterOutputMatchesPrometheusCppReserialized) {
  Exporter e("watch", "node-1");
  FakeFacts src;
  const std::string ours = full_exposition(e, src);
  const auto parsed = parse_exposition(ours);

  prometheus::Registry reg;
  std::set<std::string> histograms;
  for (const auto& [name, fam] : parsed.families) {
    if (fam.type == "histogram") histograms.insert(name);
  }
  // Histogram series: name + labels without le -> (le -> cumulative count), sum.
  struct H {
    std::map<double, double> cum;
    double sum = 0;
  };
  std::map<std::string, std::map<std::map<std::string, std::string>, H>> hist;
  for (const auto& s : parsed.samples) {
    std::map<std::string, std::string> labels(s.labels.begin(), s.labels.end());
    std::string base = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string suf(suffix);
      if (base.size() > suf.size() && base.compare(base.size() - suf.size(), suf.size(), suf) == 0 &&
          histograms.count(base.substr(0, base.size() - suf.size()))) {
        base.resize(base.size() - suf.size());
        if (suf == "_bucket") {
          const double le = test::parse_number(labels.at("le"));
          labels.erase("le");
          hist[base][labels].cum[le] = s.value;
        } else if (suf == "_sum") {
          hist[base][labels].sum = s.value;
        }
        break;
      }
    }
    if (histograms.count(base)) continue;
    const auto& fam = parsed.families.at(s.name);
    if (fam.type == "gauge")
      prometheus::BuildGauge().Name(s.name).Help(fam.help).Register(reg).Add(labels).Set(s.value);
    else if (fam.type == "counter")
      prometheus::BuildCounter().Name(s.name).Help(fam.help).Register(reg).Add(labels).Increment(s.value);
    else
      ADD_FAILURE() << "unexpected type " << fam.type << " of " << s.name;
  }
  for (const auto& [name, series] : hist) {
    auto& fam = prometheus::BuildHistogram().Name(name).Help(parsed.families.at(name).help).Register(reg);
    for (const auto& [labels, h] : series) {
      std::vector<double> bounds, inc;
      double prev = 0;
      for (const auto& [le, cum] : h.cum) {
        if (!std::isinf(le)) bounds.push_back(le);
        inc.push_back(cum - prev);
        prev = cum;
      }
      fam.Add(labels, prometheus::Histogram::BucketBoundaries(bounds)).ObserveMultiple(inc, h.sum);
    }
  }
  const std::string reference = prometheus::TextSerializer().Serialize(reg.Collect());
  expect_same(ours, reference);
  // And the content is what was fed in.
  EXPECT_EQ(parsed.by_key.at(test::Sample{"gpreempt_events_lost_total", {{"hostname", "node-1"}}, 0}.key()), 4);
  EXPECT_NE(parsed.find("gpreempt_cwsr_preemption_seconds_count", {{"cause", "dbg_suspend"}}), nullptr);
}

// docs/deploy.md's metrics table (which the dashboards and alerts are checked
// against, tests/scripts/test_deploy.py) names exactly what the exporter renders.
TEST(MetricsExposition, EveryFamilyIsInTheDocsTable) {
  Exporter e("watch", "node-1");
  FakeFacts src;
  const auto parsed = parse_exposition(full_exposition(e, src));
  std::set<std::string> rendered, documented;
  for (const auto& [name, fam] : parsed.families) rendered.insert(name);
  std::ifstream doc(GP_TEST_DATA_DIR "/../../docs/deploy.md");
  ASSERT_TRUE(doc) << "docs/deploy.md";
  std::string line;
  while (std::getline(doc, line))
    if (line.rfind("| `gpreempt_", 0) == 0) documented.insert(line.substr(3, line.find('`', 3) - 3));
  EXPECT_EQ(rendered, documented);
}

TEST(MetricsExposition, PromtoolChecksTheExporterOutput) {
  Exporter e("preempt", "node-1");
  FakeFacts src;
  const std::string ours = full_exposition(e, src);
  char path[] = "/tmp/gp-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, ours.data(), ours.size()), static_cast<ssize_t>(ours.size()));
  ::close(fd);
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string said;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) said.append(buf, n);
  const int st = ::pclose(p);
  ::unlink(path);
  ASSERT_NE(WEXITSTATUS(st), 127) << "promtool not found: install the Debian package prometheus (scripts/deps.txt)";
  EXPECT_EQ(WEXITSTATUS(st), 0) << said << "\n" << ours;
}

}  // namespace
}  // namespace gp::metrics
