#include "base/output_file.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/error.h"

namespace gp {

OutputFile::OutputFile(const std::string& path) {
  if (path.empty() || path == "-") {
    f_ = stdout;
    return;
  }
  f_ = std::fopen(path.c_str(), "we");
  if (!f_) throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  owned_ = true;
}

OutputFile::~OutputFile() {
  if (owned_) std::fclose(f_);
  else std::fflush(f_);
}

void OutputFile::line(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), f_);
  std::fputc('\n', f_);
}

void OutputFile::flush() { std::fflush(f_); }

}  // namespace gp
