#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "attach/kallsyms.h"
#include "attach/probes.h"
#include "attach/trampoline.h"

namespace gp {
namespace {

// Shaped like a real /proc/kallsyms with amdgpu loaded (addresses synthetic).
const char* kSample =
    "ffffffff81234560 t update_queue\n"                       // ipc/sem.c's static one
    "ffffffff81300000 T do_something\n"
    "ffffffffc0a00010 t kfd_procfs_add_queue\t[amdgpu]\n"
    "ffffffffc0a00100 t update_queue\t[amdgpu]\n"
    "ffffffffc0a00200 t execute_queues_cpsch.constprop.0\t[amdgpu]\n"
    "ffffffffc0a00300 t remove_queue_mes.isra.0\t[amdgpu]\n"
    "ffffffffc0a00400 t kfd_dbg_trap_activate\t[amdgpu]\n"
    "ffffffffc0a00480 t kfd_dbg_trap_activate.part.0\t[amdgpu]\n"
    "ffffffffc0a00500 t only_cold.cold\t[amdgpu]\n"
    "ffffffffc0a00600 t get_wave_state\t[amdgpu]\n"
    "ffffffffc0a00700 t get_wave_state\t[amdgpu]\n"
    "ffffffffc0a00800 d some_data\t[amdgpu]\n"
    "ffffffffc0b00000 t uninit_queue\t[dm_cache_smq]\n";

Kallsyms sample() {
  std::istringstream in(kSample);
  return Kallsyms::parse(in, "amdgpu",
                         {"update_queue", "kfd_procfs_add_queue", "execute_queues_cpsch", "remove_queue_mes",
                          "kfd_dbg_trap_activate", "only_cold", "get_wave_state", "uninit_queue",
                          "suspend_queues"});
}

TEST(Kallsyms, UniqueNameResolvesExact) {
  auto l = sample().resolve("kfd_procfs_add_queue");
  EXPECT_EQ(l.resolution, Resolution::Exact);
  EXPECT_EQ(l.address, 0xffffffffc0a00010ull);
  EXPECT_EQ(l.name, "kfd_procfs_add_queue");
}

TEST(Kallsyms, NameAlsoOutsideTheModuleResolvesByAddress) {
  auto l = sample().resolve("update_queue");
  EXPECT_EQ(l.resolution, Resolution::Address);
  EXPECT_EQ(l.address, 0xffffffffc0a00100ull);  // the amdgpu one, never ipc/sem.c's
  EXPECT_EQ(l.kernel_wide, 2u);
}

TEST(Kallsyms, OnlyACloneExists) {
  auto ks = sample();
  auto l = ks.resolve("execute_queues_cpsch");
  EXPECT_EQ(l.resolution, Resolution::Clone);
  EXPECT_EQ(l.name, "execute_queues_cpsch.constprop.0");
  EXPECT_EQ(ks.resolve("remove_queue_mes").resolution, Resolution::Clone);
}

TEST(Kallsyms, PlainNameWinsOverItsPartPiece) {
  auto l = sample().resolve("kfd_dbg_trap_activate");
  EXPECT_EQ(l.resolution, Resolution::Exact);
  EXPECT_EQ(l.address, 0xffffffffc0a00400ull);
}

TEST(Kallsyms, ColdAndPartFragmentsAreNeverAttachPoints) {
  EXPECT_EQ(sample().resolve("only_cold").resolution, Resolution::Missing);
}

TEST(Kallsyms, AmbiguousInsideTheModuleIsMissing) {
  auto l = sample().resolve("get_wave_state");
  EXPECT_EQ(l.resolution, Resolution::Missing);
  EXPECT_NE(l.note.find("2 copies"), std::string::npos);
}

TEST(Kallsyms, OtherModulesAndDataSymbolsAreIgnored) {
  auto ks = sample();
  EXPECT_EQ(ks.resolve("uninit_queue").resolution, Resolution::Missing);
  EXPECT_EQ(ks.resolve("some_data").resolution, Resolution::Missing);
  EXPECT_EQ(ks.resolve("suspend_queues").resolution, Resolution::Missing);
  EXPECT_TRUE(ks.module_present());
  EXPECT_FALSE(ks.addresses_hidden());
}

TEST(Kallsyms, ZeroAddressesMeanKptrRestrict) {
  std::istringstream in("0000000000000000 t kfd_procfs_add_queue\t[amdgpu]\n");
  auto ks = Kallsyms::parse(in, "amdgpu", {"kfd_procfs_add_queue"});
  EXPECT_TRUE(ks.addresses_hidden());
}

TEST(Kallsyms, NoModuleLoaded) {
  std::istringstream in("ffffffff81234560 t update_queue\n");
  auto ks = Kallsyms::parse(in, "amdgpu", {"update_queue"});
  EXPECT_FALSE(ks.module_present());
}

TEST(AttachPlan, RequiredMissingAndOptionalMissingAreTold) {
  // A 6.1-like amdgpu: every lifecycle function but no debugger API.
  std::string text;
  std::uint64_t addr = 0xffffffffc0a00000ull;
  std::set<std::string> symbols;  // entry and return probes share a symbol
  for (const auto& p : lifecycle_probes()) symbols.insert(p.symbol);
  for (const auto& sym : symbols) {
    if (sym == "suspend_queues" || sym == "resume_queues" || sym == "kfd_ioctl_set_debug_trap") continue;
    text += fmt::format("{:x} t {}\t[amdgpu]\n", addr += 0x100, sym);
  }
  text += "ffffffff81234560 t update_queue\n";
  std::istringstream in(text);
  auto plan = plan_lifecycle_attach(Kallsyms::parse(in, "amdgpu", probe_symbols()), "6.1.0-test");
  EXPECT_TRUE(plan.missing_required().empty());
  auto opt = plan.missing_optional();
  ASSERT_EQ(opt.size(), 6u);  // entry + return of three functions
  for (const auto* p : opt) EXPECT_NE(p->error.find("debugger API"), std::string::npos) << p->spec.symbol;
  for (const auto& p : plan.probes) {
    if (std::string(p.spec.symbol) == "update_queue") {
      EXPECT_EQ(p.resolution, Resolution::Address);
    }
  }
}

// The preemption-span functions of each kernel the VM tier boots (nm of its
// amdgpu.ko; docs/kernels.md): every one of them is planned, with a reason
// where absent. The VM scenario latency-attach asserts the same on the real
// kernels.
TEST(AttachPlan, LatencySetOfEachKernel) {
  const std::vector<std::string> common = {
      "unmap_queues_cpsch", "pm_send_unmap_queue", "amdkfd_fence_wait_timeout", "map_queues_cpsch",
      "pm_send_runlist", "create_queue_cpsch", "destroy_queue_cpsch", "update_queue",
      "evict_process_queues_cpsch", "kfd_process_evict_queues", "restore_process_queues_cpsch",
      "process_termination_cpsch", "stop_cpsch", "start_cpsch", "reset_queues_cpsch",
      "mes_v11_0_remove_hw_queue", "mes_v11_0_add_hw_queue"};
  const std::vector<std::string> since_612 = {
      "mes_v12_0_remove_hw_queue", "mes_v12_0_add_hw_queue", "suspend_all_queues_mes", "resume_all_queues_mes",
      "suspend_queues", "resume_queues", "debug_refresh_runlist", "debug_lock_and_unmap", "reserve_debug_trap_vmid",
      "release_debug_trap_vmid", "halt_cpsch", "unhalt_cpsch", "kgd_gfx_v9_hqd_reset",
      "kfd_dqm_suspend_bad_queue_mes"};
  const std::vector<std::string> only_72 = {"mes_v12_1_remove_hw_queue", "mes_v12_1_add_hw_queue",
                                            "set_queue_as_reset", "mes_userq_map", "mes_userq_unmap"};
  struct Kernel {
    std::string name;
    std::vector<std::string> symbols;
  };
  auto join = [](std::initializer_list<const std::vector<std::string>*> parts) {
    std::vector<std::string> out;
    for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
    return out;
  };
  std::vector<std::string> k61 = join({&common}), k612 = join({&common, &since_612}),
                           k72 = join({&common, &since_612, &only_72});
  k61.push_back("kfd_dqm_evict_pasid");
  k612.push_back("kfd_dqm_evict_pasid");  // 7.x evicts per device instead
  std::set<std::string> planned;
  for (const auto& p : latency_probes()) planned.insert(p.symbol);
  for (const Kernel& k : {Kernel{"6.1", k61}, Kernel{"6.12", k612}, Kernel{"7.2", k72}}) {
    SCOPED_TRACE(k.name);
    std::string text = "ffffffff81234560 t update_queue\n";  // ipc/sem.c
    std::uint64_t addr = 0xffffffffc0a00000ull;
    for (const auto& sym : k.symbols) text += fmt::format("{:x} t {}\t[amdgpu]\n", addr += 0x100, sym);
    std::istringstream in(text);
    auto plan = plan_latency_attach(Kallsyms::parse(in, "amdgpu", probe_symbols()), k.name);
    std::set<std::string> resolved, absent;
    for (const auto& p : plan.probes) {
      if (p.resolution == Resolution::Missing) {
        absent.insert(p.spec.symbol);
        EXPECT_FALSE(p.error.empty()) << p.spec.symbol;
      } else {
        resolved.insert(p.spec.symbol);
      }
    }
    EXPECT_EQ(resolved, std::set<std::string>(k.symbols.begin(), k.symbols.end()));
    for (const auto& sym : absent) EXPECT_FALSE(std::count(k.symbols.begin(), k.symbols.end(), sym)) << sym;
    EXPECT_EQ(resolved.size() + absent.size(), planned.size());
  }
}

TEST(AttachPlan, AMissingRequiredFunctionIsNamed) {
  std::istringstream in("ffffffffc0a00010 t kfd_procfs_add_queue\t[amdgpu]\n");
  auto plan = plan_lifecycle_attach(Kallsyms::parse(in, "amdgpu", probe_symbols()), "x");
  bool uninit_missing = false;
  for (const auto* p : plan.missing_required())
    if (std::string(p->spec.symbol) == "uninit_queue") uninit_missing = true;
  EXPECT_TRUE(uninit_missing);
}

// A 6.12-like amdgpu: every lifecycle function, update_queue also in vmlinux,
// kfd_create_process only as a clone.
AttachReport full_plan() {
  std::string text;
  std::uint64_t addr = 0xffffffffc0a00000ull;
  std::set<std::string> symbols;
  for (const auto& p : lifecycle_probes()) symbols.insert(p.symbol);
  for (const auto& sym : symbols) {
    if (sym == "kfd_create_process") continue;
    text += fmt::format("{:x} t {}\t[amdgpu]\n", addr += 0x100, sym);
  }
  text += "ffffffffc0b00000 t kfd_create_process.constprop.0\t[amdgpu]\n";
  text += "ffffffff81234560 t update_queue\n";
  std::istringstream in(text);
  return plan_lifecycle_attach(Kallsyms::parse(in, "amdgpu", probe_symbols()), "6.12.0-test");
}

std::optional<std::uint32_t> every_function(const std::string& name) {
  return static_cast<std::uint32_t>(1000 + std::hash<std::string>{}(name) % 1000);
}

const ProbeStatus& status(const AttachReport& r, const std::string& program) {
  for (const auto& p : r.probes)
    if (program == p.spec.program) return p;
  throw std::runtime_error("no probe with program " + program);
}

TEST(AttachPlan, KprobesArePlannedFirst) {
  auto plan = full_plan();
  for (const auto& p : plan.probes) {
    EXPECT_EQ(p.mechanism, p.spec.retprobe ? Mechanism::Kretprobe : Mechanism::Kprobe) << p.spec.program;
    EXPECT_STREQ(program_of(p), p.spec.program);
  }
}

// Every kprobe+kretprobe+stash pair of the lifecycle set has a fexit variant.
TEST(AttachPlan, EveryReturnProbeHasATrampolineVariant) {
  for (const auto& p : lifecycle_probes())
    if (p.retprobe) {
      EXPECT_EQ(p.tramp, Mechanism::Fexit) << p.program;
      ASSERT_NE(p.tramp_program, nullptr) << p.program;
    }
}

TEST(AttachPlan, TrampolinesReplaceKprobePairsWhereTheFunctionIsInAmdgpuBtf) {
  auto plan = full_plan();
  auto chosen = choose_trampolines(plan, every_function, /*same_name_ok=*/true);
  // One fexit program does the entry's and the return's job.
  EXPECT_EQ(status(plan, "pqm_uninit_entry").mechanism, Mechanism::Fexit);
  EXPECT_STREQ(program_of(status(plan, "pqm_uninit_entry")), "pqm_uninit_fexit");
  EXPECT_STREQ(program_of(status(plan, "pqm_uninit_return")), "pqm_uninit_fexit");
  // Resolved by address in kallsyms (vmlinux has one too): amdgpu's BTF id still applies.
  EXPECT_EQ(status(plan, "update_queue_entry").resolution, Resolution::Address);
  EXPECT_EQ(status(plan, "update_queue_return").mechanism, Mechanism::Fexit);
  EXPECT_EQ(chosen.at("update_queue_fexit"), *every_function("update_queue"));
  // One program per function where the kprobe pair served two.
  EXPECT_EQ(chosen.count("evict_process_queues_cpsch_fexit"), 1u);
  EXPECT_EQ(chosen.count("evict_process_queues_nocpsch_fexit"), 1u);
  EXPECT_EQ(chosen.at("process_termination_nocpsch_fentry"), *every_function("process_termination_nocpsch"));
  // A clone keeps its kprobe; plain kprobes have no variant.
  EXPECT_EQ(status(plan, "kfd_create_process_return").resolution, Resolution::Missing);
  EXPECT_EQ(status(plan, "kfd_create_process_return").mechanism, Mechanism::Kretprobe);
  EXPECT_EQ(chosen.count("kfd_create_process_fexit"), 0u);
  EXPECT_EQ(status(plan, "uninit_queue").mechanism, Mechanism::Kprobe);

  for (auto& p : plan.probes) p.attached = p.resolution != Resolution::Missing;
  auto mech = mechanisms_by_symbol(plan);
  EXPECT_EQ(mech.at("kfd_ioctl_create_queue"), "fexit");
  EXPECT_EQ(mech.at("kfd_ioctl_destroy_queue"), "fentry+fexit");
  EXPECT_EQ(mech.at("process_termination_cpsch"), "fentry+fexit");
  EXPECT_EQ(mech.at("update_queue"), "fexit");
  EXPECT_EQ(mech.at("uninit_queue"), "kprobe");
  EXPECT_EQ(mech.count("kfd_create_process"), 0u);  // the clone is not attached

  revert_to_kprobes(plan);
  mech = mechanisms_by_symbol(plan);
  EXPECT_EQ(mech.at("kfd_ioctl_create_queue"), "kprobe+kretprobe");
  EXPECT_EQ(mech.at("update_queue"), "kprobe+kretprobe");
  EXPECT_STREQ(program_of(status(plan, "pqm_uninit_entry")), "pqm_uninit_entry");
}

// Before 6.3 a fexit on amdgpu's update_queue lands on ipc/sem.c's: the
// name that is not unique stays on its kprobe pair (by address).
TEST(AttachPlan, SameNameOutsideAmdgpuKeepsKprobesBefore63) {
  EXPECT_FALSE(trampolines_find_module_functions("6.1.0-56-amd64"));
  EXPECT_FALSE(trampolines_find_module_functions("5.15.0"));
  EXPECT_FALSE(trampolines_find_module_functions("garbage"));
  EXPECT_TRUE(trampolines_find_module_functions("6.3.0"));
  EXPECT_TRUE(trampolines_find_module_functions("6.12.107+deb13-amd64"));
  EXPECT_TRUE(trampolines_find_module_functions("7.2.13+deb14-amd64"));
  auto plan = full_plan();
  auto chosen = choose_trampolines(plan, every_function, /*same_name_ok=*/false);
  EXPECT_EQ(chosen.count("update_queue_fexit"), 0u);
  EXPECT_EQ(status(plan, "update_queue_entry").mechanism, Mechanism::Kprobe);
  EXPECT_EQ(status(plan, "update_queue_return").mechanism, Mechanism::Kretprobe);
  EXPECT_EQ(status(plan, "ioctl_create_queue_return").mechanism, Mechanism::Fexit);
}

// --btf or no amdgpu BTF object: no function id, so every probe stays a kprobe.
TEST(AttachPlan, NoAmdgpuBtfMeansKprobes) {
  auto plan = full_plan();
  auto chosen = choose_trampolines(plan, [](const std::string&) { return std::optional<std::uint32_t>{}; }, true);
  EXPECT_TRUE(chosen.empty());
  for (const auto& p : plan.probes)
    EXPECT_TRUE(p.mechanism == Mechanism::Kprobe || p.mechanism == Mechanism::Kretprobe) << p.spec.program;
  for (auto& p : plan.probes) p.attached = p.resolution != Resolution::Missing;
  EXPECT_EQ(mechanisms_by_symbol(plan).at("kfd_ioctl_destroy_queue"), "kprobe+kretprobe");
}

}  // namespace
}  // namespace gp
