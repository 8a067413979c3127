#include "attach/kallsyms_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/host_paths.h"

namespace gp {
namespace {

// The record's layout; a change makes every older record a miss.
constexpr int kFormat = 1;

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// "" if a source cannot be read: then nothing is cached.
std::string cache_key(std::string_view module, const std::unordered_set<std::string>& wanted,
                      const KallsymsSources& src) {
  std::string boot_id, modules;
  if (!read_text_file(src.boot_id, boot_id) || boot_id.empty() || !read_text_file(src.modules, modules)) return {};
  std::vector<std::string_view> names(wanted.begin(), wanted.end());
  std::sort(names.begin(), names.end());
  std::uint64_t h = fnv1a(modules);
  for (auto n : names) h = fnv1a(n, fnv1a("\n", h));
  return fmt::format("{} {} {} {} {:016x}", kFormat, GP_VERSION, boot_id, module, h);
}

bool write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return true;
  ::unlink(tmp.c_str());
  return false;
}

}  // namespace

KallsymsLoad load_kallsyms_cached(std::string_view module, const std::unordered_set<std::string>& wanted,
                                  const KallsymsSources& src) {
  const std::string dir = src.cache_dir.empty() ? host_path("/run/gpreempt-bpf") : src.cache_dir;
  const std::string path = fmt::format("{}/kallsyms-{}.json", dir, module);
  const std::string key = cache_key(module, wanted, src);
  if (!key.empty()) {
    std::string text;
    if (read_text_file(path, text)) {
      const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("key", "") == key && j.contains("symbols"))
        if (auto ks = Kallsyms::from_json(j["symbols"])) return {std::move(*ks), true};
    }
  }
  KallsymsLoad fresh{Kallsyms::load(module, wanted, src.kallsyms), false};
  // Only what the kernel showed in full: with hidden addresses the next
  // start must read (and refuse) again.
  if (!key.empty() && fresh.symbols.module_present() && !fresh.symbols.addresses_hidden()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
    write_atomically(path, nlohmann::json{{"key", key}, {"symbols", fresh.symbols.to_json()}}.dump());
  }
  return fresh;
}

}  // namespace gp
