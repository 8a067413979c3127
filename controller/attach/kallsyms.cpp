#include "attach/kallsyms.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"

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

// Runs over ~200k lines per session, which under qemu TCG costs seconds if
// each line allocates: views into one buffer, no copy unless a line is kept.
Kallsyms Kallsyms::parse(std::string_view text, std::string_view module,
                         const std::unordered_set<std::string>& wanted) {
  Kallsyms ks;
  const std::string module_tag = fmt::format("[{}]", module);
  std::unordered_map<std::string_view, std::size_t> counts;
  for (const auto& w : wanted) counts.emplace(w, 0);
  bool any_nonzero = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    // "ffffffffc0a1b2c0 t kfd_procfs_add_queue\t[amdgpu]"
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 >= line.size()) continue;
    const char type = line[sp1 + 1];
    const auto name_begin = sp1 + 3;
    const auto name_end = line.find_first_of(" \t", name_begin);
    const std::string_view name = line.substr(name_begin, name_end == std::string_view::npos
                                                              ? std::string_view::npos
                                                              : name_end - name_begin);
    const std::string_view rest = name_end == std::string_view::npos ? std::string_view{} : line.substr(name_end);
    if (!any_nonzero && line.find_first_not_of('0', 0) < sp1) any_nonzero = true;

    if (auto it = counts.find(name); it != counts.end()) ++it->second;
    if (!is_text(type) || rest.find(module_tag) == std::string_view::npos) continue;
    ++ks.module_count_;
    std::string_view base = name, suffix;
    if (!counts.count(name) && !(split_clone(name, base, suffix) && counts.count(base))) continue;
    const std::uint64_t addr = std::strtoull(std::string(line.substr(0, sp1)).c_str(), nullptr, 16);
    ks.module_syms_[std::string(name)].push_back(addr);
  }
  for (const auto& [name, n] : counts) ks.wanted_counts_.emplace(std::string(name), n);
  ks.addresses_hidden_ = ks.module_count_ > 0 && !any_nonzero;
  return ks;
}

Kallsyms Kallsyms::parse(std::istream& in, std::string_view module,
                         const std::unordered_set<std::string>& wanted) {
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(std::string_view(buf.str()), module, wanted);
}

Kallsyms Kallsyms::load(std::string_view module, const std::unordered_set<std::string>& wanted,
                        const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UserError(fmt::format("cannot read {}: needed to find the KFD functions", path));
  // Big reads: /proc/kallsyms is generated as it is read, a page per read()
  // with small buffers.
  std::string text;
  std::size_t used = 0;
  for (;;) {
    if (text.size() - used < (1u << 20)) text.resize(used + (4u << 20));
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(used);
  return parse(std::string_view(text), module, wanted);
}

nlohmann::json Kallsyms::to_json() const {
  return {{"module_syms", module_syms_},
          {"wanted_counts", wanted_counts_},
          {"module_count", module_count_},
          {"addresses_hidden", addresses_hidden_}};
}

std::optional<Kallsyms> Kallsyms::from_json(const nlohmann::json& j) {
  try {
    Kallsyms ks;
    j.at("module_syms").get_to(ks.module_syms_);
    j.at("wanted_counts").get_to(ks.wanted_counts_);
    j.at("module_count").get_to(ks.module_count_);
    j.at("addresses_hidden").get_to(ks.addresses_hidden_);
    return ks;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
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
