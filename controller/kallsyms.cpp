#include "kallsyms.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "commands.h"

namespace gp {

namespace {

bool is_text(char type) { return type == 't' || type == 'T'; }

// "update_queue.constprop.0" -> base "update_queue", kind "constprop"
bool split_clone(std::string_view full, std::string_view& base, std::string_view& suffix) {
  auto dot = full.find('.');
  if (dot == std::string_view::npos) return false;
  base = full.substr(0, dot);
  suffix = full.substr(dot + 1);
  return true;
}

bool attachable_clone(std::string_view suffix) {
  // .cold and .part are pieces split out of a function, not its entry point.
  if (suffix.find("cold") != std::string_view::npos || suffix.find("part") != std::string_view::npos)
    return false;
  return suffix.starts_with("constprop") || suffix.starts_with("isra");
}

}  // namespace

Kallsyms Kallsyms::parse(std::istream& in, std::string_view module,
                         const std::unordered_set<std::string>& wanted) {
  Kallsyms ks;
  const std::string module_tag = fmt::format("[{}]", module);
  std::string line;
  bool any_nonzero = false;
  for (const auto& w : wanted) ks.wanted_counts_[w] = 0;
  while (std::getline(in, line)) {
    // "ffffffffc0a1b2c0 t kfd_procfs_add_queue\t[amdgpu]"
    auto sp1 = line.find(' ');
    if (sp1 == std::string::npos || sp1 + 3 >= line.size()) continue;
    char type = line[sp1 + 1];
    auto name_begin = sp1 + 3;
    auto name_end = line.find_first_of(" \t", name_begin);
    std::string_view name(line.data() + name_begin,
                          (name_end == std::string::npos ? line.size() : name_end) - name_begin);
    std::string_view rest =
        name_end == std::string::npos ? std::string_view{} : std::string_view(line).substr(name_end);
    std::uint64_t addr = std::strtoull(line.c_str(), nullptr, 16);
    if (addr) any_nonzero = true;

    if (auto it = ks.wanted_counts_.find(std::string(name)); it != ks.wanted_counts_.end())
      ++it->second;
    if (!is_text(type) || rest.find(module_tag) == std::string_view::npos) continue;
    ks.module_syms_[std::string(name)].push_back(addr);
    ++ks.module_count_;
  }
  ks.addresses_hidden_ = ks.module_count_ > 0 && !any_nonzero;
  return ks;
}

Kallsyms Kallsyms::load(std::string_view module, const std::unordered_set<std::string>& wanted,
                        const std::string& path) {
  std::ifstream in(path);
  if (!in) throw cli::UserError(fmt::format("cannot read {}: needed to find the KFD functions", path));
  // One big read: /proc/kallsyms is generated line by line and slow to stream.
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(buf, module, wanted);
}

SymbolLookup Kallsyms::resolve(const std::string& symbol) const {
  SymbolLookup r;
  auto wc = wanted_counts_.find(symbol);
  r.kernel_wide = wc == wanted_counts_.end() ? 0 : wc->second;

  if (auto it = module_syms_.find(symbol); it != module_syms_.end()) {
    if (it->second.size() > 1) {
      r.note = fmt::format("{} copies inside the module: cannot tell which one to probe",
                           it->second.size());
      return r;
    }
    r.address = it->second.front();
    r.name = symbol;
    if (r.kernel_wide > 1) {
      r.resolution = Resolution::Address;
      r.note = fmt::format("name not unique ({} in kallsyms): attached by address", r.kernel_wide);
    } else {
      r.resolution = Resolution::Exact;
    }
    return r;
  }
  for (const auto& [name, addrs] : module_syms_) {
    std::string_view base, suffix;
    if (!split_clone(name, base, suffix) || base != symbol || !attachable_clone(suffix)) continue;
    if (addrs.size() != 1) continue;
    r.resolution = Resolution::Clone;
    r.address = addrs.front();
    r.name = name;
    r.note = "only a compiler clone exists: its arguments may differ, timing only";
    return r;
  }
  r.note = "not in this kernel's amdgpu (absent, inlined or renamed)";
  return r;
}

std::string_view to_string(Resolution r) {
  switch (r) {
    case Resolution::Exact: return "exact";
    case Resolution::Address: return "address";
    case Resolution::Clone: return "clone";
    case Resolution::Missing: return "missing";
  }
  return "unknown";
}

}  // namespace gp
