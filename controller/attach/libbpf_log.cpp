#include "attach/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <deque>
#include <mutex>
#include <sstream>
#include <string>

namespace gp {

namespace {

std::mutex g_mu;
std::deque<std::string> g_lines;
bool g_verbose = false;

int print_fn(enum libbpf_print_level level, const char* fmt, va_list args) {
  // libbpf prints a whole verifier log in one call: size the buffer to fit.
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string buf(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(buf.data(), buf.size(), fmt, args);
  buf.resize(static_cast<std::size_t>(n));
  if (g_verbose) std::fputs(buf.c_str(), stderr);
  if (level == LIBBPF_DEBUG) return 0;
  std::lock_guard<std::mutex> lk(g_mu);
  std::istringstream in(buf);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    g_lines.push_back(line);
    if (g_lines.size() > 256) g_lines.pop_front();
  }
  return 0;
}

}  // namespace

void libbpf_log_install(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(print_fn);
}

std::string libbpf_log_tail(std::size_t max_lines) {
  std::lock_guard<std::mutex> lk(g_mu);
  std::string out;
  std::size_t start = g_lines.size() > max_lines ? g_lines.size() - max_lines : 0;
  for (std::size_t i = start; i < g_lines.size(); ++i) out += "  libbpf: " + g_lines[i] + "\n";
  return out;
}

void libbpf_log_clear() {
  std::lock_guard<std::mutex> lk(g_mu);
  g_lines.clear();
}

}  // namespace gp
