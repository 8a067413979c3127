#include "base/host_paths.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace gp {

std::string host_path(std::string_view absolute) {
  const char* root = std::getenv("GPREEMPT_BPF_ROOT");
  if (!root || !*root) return std::string(absolute);
  return std::string(root) + std::string(absolute);
}

bool read_text_file(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\t')) out.pop_back();
  return true;
}

bool path_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace gp
