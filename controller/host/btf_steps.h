// What doctor tells a user whose amdgpu has no BTF (amdgpu-dkms builds):
// commands to copy and paste, checked against pahole 1.24 (Debian 12).
#pragma once

#include <string>

namespace gp {

// Several lines, each command on its own line, comments with '#'.
std::string amdgpu_btf_steps();

}  // namespace gp
