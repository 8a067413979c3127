#include "btf_info.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

namespace gp {

std::optional<int> btf_function_params(const std::string& func, const std::string& module,
                                       const std::string& custom_btf) {
  btf* base = nullptr;
  btf* mod = nullptr;
  if (custom_btf.empty()) {
    base = btf__load_vmlinux_btf();
    if (!base) return std::nullopt;
    mod = btf__load_module_btf(module.c_str(), base);
  } else {
    mod = btf__parse(custom_btf.c_str(), nullptr);
  }
  std::optional<int> out;
  if (mod) {
    int id = btf__find_by_name_kind(mod, func.c_str(), BTF_KIND_FUNC);
    if (id > 0) {
      const btf_type* fn = btf__type_by_id(mod, static_cast<__u32>(id));
      const btf_type* proto = fn ? btf__type_by_id(mod, fn->type) : nullptr;
      if (proto && btf_is_func_proto(proto)) out = btf_vlen(proto);
    }
  }
  btf__free(mod);
  btf__free(base);
  return out;
}

}  // namespace gp
