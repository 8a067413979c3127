// A parser of the Prometheus text format for the metrics tests: samples by
// name + sorted labels (label values unescaped), and each family's TYPE and
// HELP. Strict: a line it cannot read is an error, so a rendering mistake
// shows as a test failure rather than a skipped sample.
#pragma once

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gp::test {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  double value = 0;
  std::string key() const {
    std::string k = name + "{";
    for (const auto& [n, v] : labels) k += n + "=" + v + "\x1f";
    return k + "}";
  }
};

struct Family {
  std::string type, help;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, double> by_key;
  std::map<std::string, Family> families;
  const Sample* find(const std::string& name, const std::vector<std::pair<std::string, std::string>>& want) const {
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& w : want)
        all = all && std::find(s.labels.begin(), s.labels.end(), w) != s.labels.end();
      if (all) return &s;
    }
    return nullptr;
  }
};

inline double parse_number(const std::string& v) {
  if (v == "+Inf") return 1.0 / 0.0;
  if (v == "-Inf") return -1.0 / 0.0;
  if (v == "NaN") return 0.0 / 0.0;
  std::size_t used = 0;
  double d = std::stod(v, &used);
  if (used != v.size()) throw std::runtime_error("bad number: " + v);
  return d;
}

inline Exposition parse_exposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream l(line.substr(1));
      std::string kw, name;
      l >> kw >> name;
      std::string rest;
      std::getline(l, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (kw == "TYPE") e.families[name].type = rest;
      if (kw == "HELP") {
        std::string h;
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\' && i + 1 < rest.size()) {
            ++i;
            h += rest[i] == 'n' ? '\n' : rest[i];
          } else {
            h += rest[i];
          }
        }
        e.families[name].help = h;
      }
      continue;
    }
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string n, v;
        while (i < line.size() && line[i] != '=') n += line[i++];
        if (line.compare(i, 2, "=\"") != 0) throw std::runtime_error("bad labels: " + line);
        i += 2;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            if (i >= line.size()) throw std::runtime_error("bad escape: " + line);
            v += line[i] == 'n' ? '\n' : line[i];
          } else {
            v += line[i];
          }
          ++i;
        }
        if (i >= line.size()) throw std::runtime_error("unterminated value: " + line);
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        s.labels.emplace_back(n, v);
      }
      if (i >= line.size()) throw std::runtime_error("unterminated labels: " + line);
      ++i;  // }
    }
    if (i >= line.size() || line[i] != ' ') throw std::runtime_error("no value: " + line);
    std::string value = line.substr(i + 1);
    if (auto sp = value.find(' '); sp != std::string::npos) value.resize(sp);  // a timestamp
    s.value = parse_number(value);
    std::sort(s.labels.begin(), s.labels.end());
    e.by_key[s.key()] = s.value;
    e.samples.push_back(std::move(s));
  }
  return e;
}

}  // namespace gp::test
