// Every host file the tool reads goes through host_path(), so tests can point
// the tool at a fake /sys and /proc tree (GPREEMPT_BPF_ROOT=DIR). Unset in
// production: paths are used as they are.
#pragma once

#include <string>
#include <string_view>

namespace gp {

std::string host_path(std::string_view absolute);
// Reads a small text file (sysfs attribute); trailing whitespace trimmed.
// Empty optional-like result: ok=false when it cannot be read.
bool read_text_file(const std::string& path, std::string& out);
bool path_exists(const std::string& path);

}  // namespace gp
