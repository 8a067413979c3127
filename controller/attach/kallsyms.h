// /proc/kallsyms, read once (it is slow to read: 1-3 s under qemu TCG) and
// queried for how each KFD function can be attached on this kernel.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "attach/probe_status.h"

namespace gp {

struct SymbolLookup {
  Resolution resolution = Resolution::Missing;
  std::uint64_t address = 0;   // in the module
  std::string name;            // the symbol that will be attached (a clone's full name)
  std::size_t kernel_wide = 0; // how many symbols of that exact name exist in all of kallsyms
  std::string note;            // e.g. "not unique: also 2 outside amdgpu"
};

class Kallsyms {
 public:
  // Keeps the text symbols of `module` that are a name of `wanted` or a
  // compiler clone of one (name.constprop.N...), and counts, kernel-wide,
  // the names in `wanted` (uniqueness decides name vs address attach).
  static Kallsyms parse(std::istream& in, std::string_view module,
                        const std::unordered_set<std::string>& wanted);
  static Kallsyms parse(std::string_view text, std::string_view module,
                        const std::unordered_set<std::string>& wanted);
  static Kallsyms load(std::string_view module, const std::unordered_set<std::string>& wanted,
                       const std::string& path = "/proc/kallsyms");

  bool module_present() const { return module_count_ > 0; }
  bool addresses_hidden() const { return addresses_hidden_; }  // kptr_restrict: all zero
  std::size_t module_symbol_count() const { return module_count_; }  // all its text symbols

  // What parse() kept, and back (attach/kallsyms_cache.h); nullopt if `j`
  // is not such a record.
  nlohmann::json to_json() const;
  static std::optional<Kallsyms> from_json(const nlohmann::json& j);

  // Exact if the name is unique kernel-wide; Address if it is unique in the
  // module but exists elsewhere too; Clone if only name.constprop.N / .isra.N
  // exists (never .cold / .part: those are fragments, not entries); Missing
  // otherwise (also when the name is ambiguous inside the module itself).
  SymbolLookup resolve(const std::string& symbol) const;

 private:
  std::unordered_map<std::string, std::vector<std::uint64_t>> module_syms_;
  std::unordered_map<std::string, std::size_t> wanted_counts_;
  std::size_t module_count_ = 0;
  bool addresses_hidden_ = false;
};

}  // namespace gp
