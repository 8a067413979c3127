// Where `queues --hqd` gets its input: KFD's debugfs HQD dump, read exactly
// once (every read makes the driver read live registers of every HQD of every
// GPU, under the GRBM index lock), and the topology's GC version per GPU.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace gp::hqd {

inline constexpr const char* kHqdsPath = "/sys/kernel/debug/kfd/hqds";

// Checks, without reading it, that the dump can be read and that KFD has a
// GPU; throws UserError with what to do (debugfs not mounted, no KFD,
// not root, no GPU).
void require_hqds_readable();

// One open, one read to EOF. Throws UserError when the read fails.
std::string read_hqds_once();

// gpu_id -> gfx_target_version from /sys/class/kfd/kfd/topology/nodes/*/
// {gpu_id,properties}; GPUs whose properties cannot be read are left out.
std::map<std::uint32_t, std::uint32_t> read_gfx_target_versions();

}  // namespace gp::hqd
