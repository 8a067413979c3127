// The attach layer: which KFD functions we probe, how each resolves on the
// running kernel (from /proc/kallsyms, read once), and attaching them.
// Kernel-version quirks live here and in bpf/, nowhere above.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gp {

enum class Resolution : std::uint8_t {
  Exact,    // unique name in kallsyms: attach by name
  Address,  // name not unique (e.g. update_queue, also in ipc/sem.c): attach by the [amdgpu] address
  Clone,    // only a .constprop/.isra clone exists: arguments may differ, timing only
  Missing,  // not in this kernel (inlined, renamed, or older version)
};

std::string_view to_string(Resolution r);

// How a program runs when the function is called.
enum class Mechanism : std::uint8_t {
  None,       // not attached
  Kprobe,     // kprobe at entry
  Kretprobe,  // kretprobe at return
  Fentry,     // BPF trampoline at entry (amdgpu's BTF)
  Fexit,      // BPF trampoline at return: arguments and return value in one program
};

std::string_view to_string(Mechanism m);

struct ProbeSpec {
  const char* symbol;      // KFD function
  const char* program;     // BPF program name in the skeleton (the kprobe/kretprobe variant)
  bool retprobe;
  bool required;           // a missing required probe is an error; optional ones are reported
  bool timing_only_ok;     // may attach to a clone (reads no arguments)
  const char* purpose;     // one line for doctor
  const char* if_missing;  // why a kernel may lack it (shown for missing optional probes)
  // The BPF-trampoline variant used instead of `program` where the function
  // is in amdgpu's BTF object and trampolines work (controller/attach/trampoline.h);
  // nullptr: kprobes only. An entry kprobe that only stashes arguments for
  // its kretprobe names the return's fexit program: that one program does
  // both jobs.
  const char* tramp_program = nullptr;
  Mechanism tramp = Mechanism::None;  // Fentry or Fexit
};

struct ProbeStatus {
  ProbeSpec spec{};
  std::string group;          // "lifecycle" or "latency": which BPF object holds the program
  Resolution resolution = Resolution::Missing;
  std::uint64_t address = 0;
  std::string resolved_name;  // e.g. "execute_queues_cpsch.constprop.0"
  Mechanism mechanism = Mechanism::None;  // planned, then the one in use
  bool attached = false;
  std::string error;          // why it is not attached
};

// The program a status runs: the trampoline variant once chosen.
inline const char* program_of(const ProbeStatus& st) {
  return (st.mechanism == Mechanism::Fentry || st.mechanism == Mechanism::Fexit) ? st.spec.tramp_program
                                                                                 : st.spec.program;
}

struct AttachReport {
  std::string kernel;                 // uname -r
  std::vector<ProbeStatus> probes;
  std::vector<std::string> notes;     // e.g. why a whole optional group is not loaded
  // Start-up phases in order with their wall time (ms): where start-up goes,
  // for `watch --json` and the start-up benchmark.
  std::vector<std::pair<std::string, double>> startup_ms;
  bool kallsyms_cached = false;  // its reading of /proc/kallsyms came from attach/kallsyms_cache.h
  std::size_t attached() const;
  std::vector<const ProbeStatus*> missing_required() const;
  std::vector<const ProbeStatus*> missing_optional() const;
};

}  // namespace gp
