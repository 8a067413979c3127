// Long-running commands (agent, watch, preempt) parse kallsyms and the
// kernel's and amdgpu's BTF once while attaching and free them; glibc keeps
// that freed heap mapped. Handing it back after the attach took the agent's
// resident memory in the VM tier from 52 MB to 33 MB (docs/performance.md).
#pragma once

#include <malloc.h>

namespace gp {

inline void give_back_startup_heap() { ::malloc_trim(0); }

}  // namespace gp
