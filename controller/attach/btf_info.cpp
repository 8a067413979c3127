#include "attach/btf_info.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "attach/custom_btf.h"
#include "base/host_paths.h"

namespace gp {

namespace {

std::optional<int> params_in(const btf* types, const std::string& func) {
  if (!types) return std::nullopt;
  const int id = btf__find_by_name_kind(types, func.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return std::nullopt;
  const btf_type* fn = btf__type_by_id(types, static_cast<__u32>(id));
  const btf_type* proto = fn ? btf__type_by_id(types, fn->type) : nullptr;
  if (!proto || !btf_is_func_proto(proto)) return std::nullopt;
  return btf_vlen(proto);
}

}  // namespace

std::optional<int> btf_function_params(const btf* types, const std::string& func) {
  return params_in(types, func);
}

std::optional<int> btf_function_params(const std::string& func, const std::string& module,
                                       const CustomBtf* custom) {
  if (custom) return params_in(custom->types(), func);
  btf* base = btf__parse(host_path("/sys/kernel/btf/vmlinux").c_str(), nullptr);
  if (!base) return std::nullopt;
  btf* mod = btf__parse_split(host_path("/sys/kernel/btf/" + module).c_str(), base);
  auto out = params_in(mod, func);
  btf__free(mod);
  btf__free(base);
  return out;
}

}  // namespace gp
