// The KFD ioctl interface version (GET_VERSION), shared by the host facts
// and the KFD client: one definition, so both agree on what it means.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/kfd_uapi.h"

namespace gp {

struct KfdVersion {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  bool has_debug_api() const { return major == 1 && minor >= GP_KFD_DEBUG_API_MINOR; }  // >= 1.13
  std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
};

}  // namespace gp
