// Facts read from BTF that decide how a probe reads its arguments (the
// attach layer's business, never the layers above).
#pragma once

#include <optional>
#include <string>

struct btf;

namespace gp {

class CustomBtf;

// Number of parameters of `func` in the module's BTF: /sys/kernel/btf/<module>
// on top of /sys/kernel/btf/vmlinux, or the --btf types when given. nullopt if
// the BTF or the function is not there.
std::optional<int> btf_function_params(const std::string& func, const std::string& module,
                                       const CustomBtf* custom = nullptr);
// The same from types already parsed (e.g. AmdgpuBtf::types()).
std::optional<int> btf_function_params(const btf* types, const std::string& func);

}  // namespace gp
