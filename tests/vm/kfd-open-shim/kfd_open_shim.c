// SPDX-License-Identifier: GPL-2.0
/*
 * kfd_open_shim - TEST-ONLY: let open("/dev/kfd") succeed on a 7.x kernel
 *                 that has no GPU node (the qemu guests of the VM test tier).
 *
 * ===================================================================
 *  THIS MODULE IS FOR THE gpreempt-bpf VM TEST TIER ONLY.
 *  It is loaded into throw-away qemu guests that have NO GPU, by
 *  scripts/vm-test.sh (the "7.2+shim" VM). It must never be installed
 *  on, packaged for, or loaded into a real machine; it is not part of
 *  gpreempt-bpf, no install or package rule ships it, and it changes
 *  what the kernel answers. Loading it TAINTS the kernel (see below).
 * ===================================================================
 *
 * Why it exists
 *   Since 7.x, kfd_create_process() (drivers/gpu/drm/amd/amdkfd/
 *   kfd_process.c; line 948 in Debian's 7.2.13, 986 in 7.3.4) refuses to
 *   create a KFD process when the topology has no GPU node:
 *
 *       mutex_lock(&kfd_processes_mutex);
 *       if (kfd_gpu_node_num() <= 0) {
 *               pr_warn("no gpu node! Cannot create KFD process");
 *               process = ERR_PTR(-EINVAL);
 *               goto out;
 *       }
 *
 *   so without a GPU, open("/dev/kfd") fails with EINVAL and the debug-
 *   trap / process-lifetime paths cannot be exercised at all. 6.12 has no
 *   such check and runs those paths fine with zero GPU nodes.
 *
 * What it changes (and nothing else)
 *   One kretprobe on kfd_gpu_node_num() (amdgpu.ko, kfd_topology.c; a
 *   global function in another translation unit than its only caller, so
 *   it is not inlined - build.sh checks the symbol with nm on the kernel's
 *   own amdgpu.ko). When that function returns 0, the return value is
 *   rewritten to `nodes` (default 1): kfd_gpu_node_num() returns 1 instead
 *   of 0. A non-zero result (a real GPU node exists) is left alone.
 *   kfd_gpu_node_num() has exactly one caller in 7.2.13 and 7.3.4: the
 *   check above. Everything after it in process creation (create_process,
 *   kfd_init_apertures, svm_range_list_init, the release paths) loops over
 *   p->n_pdds / the topology device list, which are empty: with zero GPU
 *   nodes the process is created with n_pdds == 0, exactly as on 6.12.
 *   The topology, sysfs, and every other KFD answer are unchanged; queue
 *   creation still fails at the gpu_id lookup.
 *
 * Safety interlock
 *   The module refuses to load (-EPERM) unless given test_only=1, so it
 *   cannot be loaded by accident (e.g. by modprobe of a stray copy).
 *
 * Taint
 *   MODULE_INFO(test, "Y") marks it a test module: loading it sets taint
 *   'N' (TAINT_TEST, "loading test module taints kernel"). Being built
 *   out of tree and unsigned it also sets 'O' (TAINT_OOT_MODULE) and 'E'
 *   (TAINT_UNSIGNED_MODULE; CONFIG_MODULE_SIG_FORCE is off in Debian's
 *   kernels, so the unsigned module is accepted). The taint stays after
 *   rmmod, which is what we want: the kernel's behaviour was altered.
 *
 * Built by build.sh (next to this file) against the exact Debian kernel the
 * VM boots. Load it after amdgpu (the probe target must exist):
 *   insmod kfd_open_shim.ko test_only=1
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/ptrace.h>

static bool test_only;
module_param(test_only, bool, 0444);
MODULE_PARM_DESC(test_only, "must be 1: acknowledges this is a test-only module for GPU-less VMs");

static uint nodes = 1;
module_param(nodes, uint, 0444);
MODULE_PARM_DESC(nodes, "value kfd_gpu_node_num() reports instead of 0 (default 1)");

static atomic_t overrides = ATOMIC_INIT(0);

/* Read-only counter of rewritten returns, for tests and demos. */
static int overrides_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&overrides));
}
static const struct kernel_param_ops overrides_ops = { .get = overrides_get };
module_param_cb(overrides, &overrides_ops, NULL, 0444);
MODULE_PARM_DESC(overrides, "how many times kfd_gpu_node_num()'s 0 was rewritten");

static int shim_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (regs_return_value(regs) != 0)
		return 0;	/* a real GPU node: leave the driver alone */
	regs_set_return_value(regs, nodes);
	/* First time only: say who asked, as proof of the single caller. */
	if (atomic_inc_return(&overrides) == 1)
		pr_info("kfd_gpu_node_num() 0 -> %u for %s[%d] (caller %pS)\n",
			nodes, current->comm, task_pid_nr(current),
			(void *)get_kretprobe_retaddr(ri));
	return 0;
}

static struct kretprobe shim_krp = {
	.kp.symbol_name = "kfd_gpu_node_num",
	.handler = shim_ret,
	.maxactive = 16,
};

static int __init shim_init(void)
{
	int ret;

	if (!test_only) {
		pr_err("refusing to load: test-only module for GPU-less VMs; pass test_only=1\n");
		return -EPERM;
	}
	if (!nodes) {
		pr_err("nodes=0 would change nothing\n");
		return -EINVAL;
	}
	ret = register_kretprobe(&shim_krp);
	if (ret) {
		pr_err("register_kretprobe(%s) failed: %d (amdgpu not loaded, or no such function on this kernel)\n",
		       shim_krp.kp.symbol_name, ret);
		return ret;
	}
	pr_warn("TEST ONLY: kfd_gpu_node_num() at %pS now reports %u instead of 0; /dev/kfd opens without a GPU\n",
		shim_krp.kp.addr, nodes);
	return 0;
}

static void __exit shim_exit(void)
{
	unregister_kretprobe(&shim_krp);
	pr_info("removed after %d overrides (missed %d)\n",
		atomic_read(&overrides), shim_krp.nmissed);
}

module_init(shim_init);
module_exit(shim_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST ONLY: make kfd_gpu_node_num() report a GPU node so /dev/kfd opens in GPU-less VMs");
MODULE_INFO(test, "Y");
