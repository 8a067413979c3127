// Facts read from BTF that decide how a probe reads its arguments (the
// attach layer's business, never the layers above).
#pragma once

#include <optional>
#include <string>

namespace gp {

// Number of parameters of `func` in the module's BTF (/sys/kernel/btf/<module>,
// or a custom BTF file that covers vmlinux and the module). nullopt if the
// BTF or the function is not there.
std::optional<int> btf_function_params(const std::string& func, const std::string& module,
                                       const std::string& custom_btf = "");

}  // namespace gp
