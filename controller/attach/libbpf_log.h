// libbpf prints its own diagnostics; we keep them and show them only when
// they explain an error (or always with --verbose).
#pragma once

#include <string>

namespace gp {

void libbpf_log_install(bool verbose);
// The last warnings/errors libbpf printed (up to a few KiB), for error messages.
std::string libbpf_log_tail(std::size_t max_lines = 12);
void libbpf_log_clear();

}  // namespace gp
