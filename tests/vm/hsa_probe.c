/* hsa-probe: drive a real ROCm runtime (Debian's libhsa-runtime64.so.1, fetched
 * by scripts/vm/fetch-rocr.sh) through hsa_init -> hsa_iterate_agents ->
 * [signal stores] -> [hold] -> hsa_shut_down, printing one JSON line per step.
 * The VM scenarios rocr-* and the native tests (tests/native/rocr_attach_test.cpp)
 * run it; what each ROCr version did is in docs/rocm-runtime.md.
 *
 * The runtime is dlopen()ed from a path, so this one binary (built on the
 * host against glibc 2.36) serves every version. A version that needs a newer
 * glibc runs with the probe under its suite's own loader, so the whole process
 * uses that suite's libc:
 *   ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
 *     --library-path ROOT/usr/lib/x86_64-linux-gnu hsa-probe --lib ROOT/.../libhsa-runtime64.so.1
 *
 * hsa-probe [--lib PATH] [--open-kfd] [--gate] [--signal N] [--store-every-ms MS]
 *           [--hold SECONDS|stdin] [--no-shutdown]
 *   --lib PATH        the runtime (default $HSA_PROBE_LIB, then "libhsa-runtime64.so.1")
 *   --open-kfd        open /dev/kfd first and keep it open: the process is a KFD
 *                     process before hsa_init (so a debugger can attach before
 *                     the runtime's RUNTIME_ENABLE)
 *   --gate            after dlopen, wait for one line on stdin before hsa_init
 *   --signal N        after a successful hsa_init, create a user signal and store
 *                     to it N times with hsa_signal_store_relaxed, then N times
 *                     with _screlease
 *   --store-every-ms  while holding (either way), one relaxed + one screlease
 *                     store to that signal every MS ms
 *   --hold SECONDS    keep running that long (even after a failed hsa_init: the
 *                     runtime stays mapped, so a tracer can still attach to it)
 *   --hold stdin      keep running until stdin ends or says "end"; each line is a command:
 *                       end                         stop holding (a FIFO's writer may live on)
 *                       store                       one relaxed + one screlease store
 *                       fake-doorbell FN VALUE      FN (relaxed|screlease) of VALUE to a
 *                                                   hand-made DOORBELL-kind amd_signal_t:
 *                                                   a uprobe sees a doorbell; ROCr then
 *                                                   rejects the handle (bad magic) and
 *                                                   aborts the process, as it does for
 *                                                   any invalid signal
 *   --no-shutdown     skip hsa_shut_down
 * Exit: 0 hsa_init and hsa_shut_down succeeded; 1 one failed; 2 usage; 3 the
 * runtime could not be loaded.
 *
 * No ROCm header is needed: the few declarations below are written by hand
 * from hsa.h / hsa_ext_amd.h / amd_hsa_signal.h, whose values and offsets are
 * the same in ROCr 5.2 .. 7.2 (docs/rocm-runtime.md).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <link.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

typedef int hsa_status_t; /* enum in hsa.h */
typedef struct {
	uint64_t handle;
} hsa_agent_t;
typedef struct {
	uint64_t handle;
} hsa_signal_t;
enum { HSA_SYSTEM_INFO_VERSION_MAJOR = 0, HSA_SYSTEM_INFO_VERSION_MINOR = 1 };
enum { HSA_AGENT_INFO_NAME = 0, HSA_AGENT_INFO_VENDOR_NAME = 1, HSA_AGENT_INFO_DEVICE = 17 };
enum { HSA_AMD_AGENT_INFO_DRIVER_NODE_ID = 0xA004 };

typedef hsa_status_t (*void_fn)(void);
typedef hsa_status_t (*status_string_fn)(hsa_status_t, const char **);
typedef hsa_status_t (*system_get_info_fn)(int, void *);
typedef hsa_status_t (*iterate_agents_fn)(hsa_status_t (*)(hsa_agent_t, void *), void *);
typedef hsa_status_t (*agent_get_info_fn)(hsa_agent_t, int, void *);
typedef hsa_status_t (*signal_create_fn)(int64_t, uint32_t, const hsa_agent_t *, hsa_signal_t *);
typedef hsa_status_t (*signal_destroy_fn)(hsa_signal_t);
typedef void (*signal_store_fn)(hsa_signal_t, int64_t);
typedef int64_t (*signal_load_fn)(hsa_signal_t);

/* amd_hsa_signal.h: 64 bytes, 64-aligned; kind at 0, queue_ptr at 48. */
typedef struct __attribute__((aligned(64))) {
	int64_t kind;
	volatile uint64_t *hardware_doorbell_ptr;
	uint64_t event_mailbox_ptr;
	uint32_t event_id;
	uint32_t reserved1;
	uint64_t start_ts;
	uint64_t end_ts;
	uint64_t queue_ptr;
	uint32_t reserved3[2];
} amd_signal_t;
_Static_assert(sizeof(amd_signal_t) == 64, "amd_signal_t is 64 bytes");
#define AMD_SIGNAL_KIND_DOORBELL (-1)

static const struct {
	hsa_status_t v;
	const char *n;
} status_names[] = {
	{ 0x0, "HSA_STATUS_SUCCESS" },
	{ 0x1, "HSA_STATUS_INFO_BREAK" },
	{ 0x1000, "HSA_STATUS_ERROR" },
	{ 0x1001, "HSA_STATUS_ERROR_INVALID_ARGUMENT" },
	{ 0x1002, "HSA_STATUS_ERROR_INVALID_QUEUE_CREATION" },
	{ 0x1003, "HSA_STATUS_ERROR_INVALID_ALLOCATION" },
	{ 0x1004, "HSA_STATUS_ERROR_INVALID_AGENT" },
	{ 0x1005, "HSA_STATUS_ERROR_INVALID_REGION" },
	{ 0x1006, "HSA_STATUS_ERROR_INVALID_SIGNAL" },
	{ 0x1007, "HSA_STATUS_ERROR_INVALID_QUEUE" },
	{ 0x1008, "HSA_STATUS_ERROR_OUT_OF_RESOURCES" },
	{ 0x1009, "HSA_STATUS_ERROR_INVALID_PACKET_FORMAT" },
	{ 0x100A, "HSA_STATUS_ERROR_RESOURCE_FREE" },
	{ 0x100B, "HSA_STATUS_ERROR_NOT_INITIALIZED" },
	{ 0x100C, "HSA_STATUS_ERROR_REFCOUNT_OVERFLOW" },
	{ 0x100D, "HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS" },
	{ 0x100E, "HSA_STATUS_ERROR_INVALID_INDEX" },
	{ 0x100F, "HSA_STATUS_ERROR_INVALID_ISA" },
	{ 0x1016, "HSA_STATUS_ERROR_EXCEPTION" },
	{ 0x1025, "HSA_STATUS_ERROR_INVALID_RUNTIME_STATE" },
	{ 0x1026, "HSA_STATUS_ERROR_FATAL" },
	{ 47, "HSA_STATUS_ERROR_NOT_SUPPORTED" },
};

static status_string_fn p_status_string;
static agent_get_info_fn p_agent_get_info;
static signal_store_fn p_relaxed, p_screlease;
static struct timespec t_start;
static int n_agents;

static const char *status_name(hsa_status_t s)
{
	for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
		if (status_names[i].v == s)
			return status_names[i].n;
	return "UNKNOWN";
}

/* s as a JSON string (quotes, backslashes and control bytes escaped). */
static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static double elapsed_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) * 1e3 + (t.tv_nsec - t_start.tv_nsec) / 1e6;
}

/* {"step":STEP,"ms":..,"status":N,"status_hex":"0x..","status_name":..,"string":..[,EXTRA]} */
static void emit_status(const char *step, hsa_status_t s, const char *extra)
{
	const char *str = NULL;
	hsa_status_t ss = -1;

	if (p_status_string)
		ss = p_status_string(s, &str);
	printf("{\"step\":\"%s\",\"ms\":%.1f,\"status\":%d,\"status_hex\":\"0x%x\",\"status_name\":\"%s\",\"string\":",
	       step, elapsed_ms(), s, (unsigned)s, status_name(s));
	if (ss == 0 && str)
		json_str(str);
	else
		printf("null");
	if (extra && *extra)
		printf(",%s", extra);
	printf("}\n");
	fflush(stdout);
}

static hsa_status_t agent_cb(hsa_agent_t agent, void *data)
{
	char name[64] = { 0 }, vendor[64] = { 0 };
	uint32_t dev = 0xffffffffu, node = 0xffffffffu;
	hsa_status_t s1 = p_agent_get_info(agent, HSA_AGENT_INFO_NAME, name);
	hsa_status_t s2 = p_agent_get_info(agent, HSA_AGENT_INFO_VENDOR_NAME, vendor);
	hsa_status_t s3 = p_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &dev);
	hsa_status_t s4 = p_agent_get_info(agent, HSA_AMD_AGENT_INFO_DRIVER_NODE_ID, &node);
	const char *type = dev == 0 ? "CPU" : dev == 1 ? "GPU" : dev == 2 ? "DSP" : dev == 3 ? "AIE" : "?";

	(void)data;
	name[63] = vendor[63] = 0;
	printf("{\"step\":\"agent\",\"ms\":%.1f,\"index\":%d,\"name\":", elapsed_ms(), n_agents);
	json_str(name);
	printf(",\"vendor\":");
	json_str(vendor);
	printf(",\"device_type\":%u,\"device\":\"%s\",\"node_id\":%d,\"info_status\":[%d,%d,%d,%d]}\n", dev, type,
	       s4 == 0 ? (int)node : -1, s1, s2, s3, s4);
	fflush(stdout);
	n_agents++;
	return 0;
}

/* Offset of SYM in the object that defines it (what a uprobe is placed at). */
static void emit_symbol(void *lib, const char *sym)
{
	void *p = dlsym(lib, sym);
	Dl_info info;

	printf("{\"step\":\"symbol\",\"name\":\"%s\"", sym);
	if (p && dladdr(p, &info) && info.dli_fbase) {
		printf(",\"offset\":\"0x%lx\",\"object\":", (unsigned long)((char *)p - (char *)info.dli_fbase));
		json_str(info.dli_fname);
	} else {
		printf(",\"offset\":null");
	}
	printf("}\n");
}

/* The fds of this process open on /dev/kfd, as a JSON array. */
static void emit_kfd_fds(const char *when)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[64], target[256];
	int first = 1;

	printf("{\"step\":\"kfd_fds\",\"when\":\"%s\",\"fds\":[", when);
	while (d && (e = readdir(d))) {
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%.40s", e->d_name);
		n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, "/dev/kfd"))
			continue;
		printf("%s%s", first ? "" : ",", e->d_name);
		first = 0;
	}
	if (d)
		closedir(d);
	printf("]}\n");
	fflush(stdout);
}

static hsa_signal_t user_signal;
static int have_signal;
static int64_t store_count;

static void store_pair(void)
{
	if (!have_signal)
		return;
	p_relaxed(user_signal, ++store_count);
	p_screlease(user_signal, ++store_count);
}

static void create_signal(void *h)
{
	signal_create_fn create = (signal_create_fn)dlsym(h, "hsa_signal_create");
	char extra[256];
	const volatile int64_t *amd;
	hsa_status_t s;

	if (have_signal || !create)
		return;
	s = create(0, 0, NULL, &user_signal);
	amd = (const int64_t *)(uintptr_t)user_signal.handle;
	if (s != 0 || !amd) {
		emit_status("hsa_signal_create", s, NULL);
		return;
	}
	have_signal = 1;
	snprintf(extra, sizeof extra,
		 "\"handle\":\"0x%" PRIx64 "\",\"kind_at_0\":%" PRId64 ",\"queue_ptr_at_48\":\"0x%" PRIx64 "\"",
		 user_signal.handle, amd[0], (uint64_t)amd[6]);
	emit_status("hsa_signal_create", s, extra);
}

/* A store to a hand-made doorbell signal: what a uprobe on the real
 * hsa_signal_store_* sees is a doorbell of queue `fake_queue`; ROCr itself
 * rejects the handle (its SharedSignal magic is missing) and aborts. */
static void fake_doorbell(const char *fn, long long value)
{
	static volatile uint64_t doorbell_word;
	static uint64_t fake_queue[32] __attribute__((aligned(64)));
	static amd_signal_t sig;
	hsa_signal_t h;
	signal_store_fn store = !strcmp(fn, "relaxed") ? p_relaxed : p_screlease;

	sig.kind = AMD_SIGNAL_KIND_DOORBELL;
	sig.hardware_doorbell_ptr = &doorbell_word;
	sig.queue_ptr = (uint64_t)(uintptr_t)fake_queue;
	h.handle = (uint64_t)(uintptr_t)&sig;
	printf("{\"step\":\"fake_doorbell\",\"ms\":%.1f,\"function\":\"hsa_signal_store_%s\",\"handle\":\"0x%" PRIx64
	       "\",\"queue\":\"0x%" PRIx64 "\",\"value\":%lld}\n",
	       elapsed_ms(), store == p_relaxed ? "relaxed" : "screlease", h.handle, sig.queue_ptr, value);
	fflush(stdout);
	store(h, value);
	/* Not reached with a real ROCr (it aborts on the invalid handle). */
	printf("{\"step\":\"fake_doorbell_returned\"}\n");
	fflush(stdout);
}

/* One line from fd 0 (unbuffered, so poll() sees what is left); with every_ms,
 * a store pair each time that long passes without input. 0 at EOF. */
static int read_command(char *line, size_t size, int every_ms)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = { 0, POLLIN, 0 };
		char c;
		ssize_t r;

		if (every_ms > 0 && have_signal && poll(&p, 1, every_ms) == 0) {
			store_pair();
			continue;
		}
		r = read(0, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		line[n++] = c;
		if (c == '\n')
			break;
	}
	line[n] = 0;
	return n > 0;
}

static void hold_stdin(int every_ms)
{
	char line[256];

	printf("{\"step\":\"hold\",\"ms\":%.1f,\"until\":\"stdin-eof\",\"store_every_ms\":%d}\n", elapsed_ms(),
	       every_ms);
	fflush(stdout);
	while (read_command(line, sizeof line, every_ms)) {
		char fn[32];
		long long value;

		if (!strncmp(line, "end", 3))
			break;
		if (!strncmp(line, "store", 5)) {
			store_pair();
			printf("{\"step\":\"store\",\"ms\":%.1f,\"stores\":%" PRId64 ",\"signal\":%s}\n", elapsed_ms(),
			       store_count, have_signal ? "true" : "false");
		} else if (sscanf(line, "fake-doorbell %31s %lld", fn, &value) == 2) {
			fake_doorbell(fn, value);
		} else {
			printf("{\"step\":\"unknown_command\"}\n");
		}
		fflush(stdout);
	}
	if (every_ms > 0)
		printf("{\"step\":\"stores\",\"ms\":%.1f,\"stores\":%" PRId64 "}\n", elapsed_ms(), store_count);
}

static void hold_seconds(double secs, int every_ms)
{
	struct timespec end, now;

	printf("{\"step\":\"hold\",\"ms\":%.1f,\"seconds\":%g,\"store_every_ms\":%d}\n", elapsed_ms(), secs, every_ms);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)secs;
	end.tv_nsec += (long)((secs - (time_t)secs) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		struct timespec step = { 0, 0 };
		double left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (end.tv_sec - now.tv_sec) + (end.tv_nsec - now.tv_nsec) / 1e9;
		if (left <= 0)
			break;
		if (every_ms > 0 && have_signal) {
			store_pair();
			if (left > every_ms / 1e3)
				left = every_ms / 1e3;
		}
		step.tv_sec = (time_t)left;
		step.tv_nsec = (long)((left - (time_t)left) * 1e9);
		nanosleep(&step, NULL);
	}
	if (every_ms > 0)
		printf("{\"step\":\"stores\",\"ms\":%.1f,\"stores\":%" PRId64 "}\n", elapsed_ms(), store_count);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--lib PATH] [--open-kfd] [--gate] [--signal N] [--store-every-ms MS]\n"
		"          [--hold SECONDS|stdin] [--no-shutdown]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *lib = getenv("HSA_PROBE_LIB");
	const char *hold = NULL;
	int shutdown = 1, n_stores = 0, open_kfd = 0, gate = 0, every_ms = 0;
	char extra[256];
	hsa_status_t s, init_status;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	/* Run under an explicit ld.so, comm would be "ld-linux-x86-64". */
	prctl(PR_SET_NAME, "hsa-probe");
	if (!lib || !*lib)
		lib = "libhsa-runtime64.so.1";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lib") && i + 1 < argc)
			lib = argv[++i];
		else if (!strcmp(argv[i], "--hold") && i + 1 < argc)
			hold = argv[++i];
		else if (!strcmp(argv[i], "--signal") && i + 1 < argc)
			n_stores = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--store-every-ms") && i + 1 < argc)
			every_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--open-kfd"))
			open_kfd = 1;
		else if (!strcmp(argv[i], "--gate"))
			gate = 1;
		else if (!strcmp(argv[i], "--no-shutdown"))
			shutdown = 0;
		else
			usage(argv[0]);
	}

	printf("{\"step\":\"start\",\"pid\":%d,\"glibc\":\"%s\",\"lib\":", (int)getpid(), gnu_get_libc_version());
	json_str(lib);
	printf("}\n");
	fflush(stdout);

	if (open_kfd) {
		int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
		printf("{\"step\":\"open_kfd\",\"ms\":%.1f,\"fd\":%d,\"errno\":%d,\"error\":", elapsed_ms(), fd,
		       fd < 0 ? errno : 0);
		json_str(fd < 0 ? strerror(errno) : "");
		printf("}\n");
		fflush(stdout);
	}

	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("{\"step\":\"dlopen\",\"ok\":false,\"error\":");
		json_str(dlerror());
		printf("}\n");
		return 3;
	}
	struct link_map *lm = NULL;
	dlinfo(h, RTLD_DI_LINKMAP, &lm);
	printf("{\"step\":\"dlopen\",\"ok\":true,\"ms\":%.1f,\"path\":", elapsed_ms());
	json_str(lm ? lm->l_name : lib);
	printf("}\n");

	void_fn p_init = (void_fn)dlsym(h, "hsa_init");
	void_fn p_shut_down = (void_fn)dlsym(h, "hsa_shut_down");
	iterate_agents_fn p_iterate = (iterate_agents_fn)dlsym(h, "hsa_iterate_agents");
	system_get_info_fn p_sysinfo = (system_get_info_fn)dlsym(h, "hsa_system_get_info");
	p_agent_get_info = (agent_get_info_fn)dlsym(h, "hsa_agent_get_info");
	p_status_string = (status_string_fn)dlsym(h, "hsa_status_string");
	p_relaxed = (signal_store_fn)dlsym(h, "hsa_signal_store_relaxed");
	p_screlease = (signal_store_fn)dlsym(h, "hsa_signal_store_screlease");
	if (!p_init || !p_shut_down || !p_iterate || !p_agent_get_info || !p_sysinfo || !p_relaxed || !p_screlease) {
		printf("{\"step\":\"dlsym\",\"ok\":false,\"error\":\"missing hsa_* entry point\"}\n");
		return 3;
	}
	emit_symbol(h, "hsa_signal_store_screlease");
	emit_symbol(h, "hsa_signal_store_relaxed");
	fflush(stdout);

	if (gate) {
		char line[64];
		printf("{\"step\":\"gate\",\"ms\":%.1f}\n", elapsed_ms());
		fflush(stdout);
		if (!read_command(line, sizeof line, 0)) {
			printf("{\"step\":\"gate\",\"error\":\"stdin ended before the go-ahead line\"}\n");
			return 2;
		}
	}

	s = p_init();
	init_status = s;
	emit_status("hsa_init", s, NULL);
	if (s == 0) {
		uint16_t major = 0, minor = 0;
		hsa_status_t s1 = p_sysinfo(HSA_SYSTEM_INFO_VERSION_MAJOR, &major);
		hsa_status_t s2 = p_sysinfo(HSA_SYSTEM_INFO_VERSION_MINOR, &minor);
		snprintf(extra, sizeof extra, "\"hsa_version\":\"%u.%u\",\"minor_status\":%d", major, minor, s2);
		emit_status("hsa_system_get_info", s1, extra);
		s = p_iterate(agent_cb, NULL);
		snprintf(extra, sizeof extra, "\"agents\":%d", n_agents);
		emit_status("hsa_iterate_agents", s, extra);
		if (n_stores > 0 || every_ms > 0 || (hold && !strcmp(hold, "stdin")))
			create_signal(h);
		for (int i = 0; i < n_stores && have_signal; i++)
			p_relaxed(user_signal, ++store_count);
		for (int i = 0; i < n_stores && have_signal; i++)
			p_screlease(user_signal, ++store_count);
		if (n_stores > 0 && have_signal) {
			signal_load_fn load = (signal_load_fn)dlsym(h, "hsa_signal_load_scacquire");
			snprintf(extra, sizeof extra, "\"stores\":%" PRId64 ",\"value\":%" PRId64, store_count,
				 load ? load(user_signal) : -1);
			emit_status("hsa_signal_store", 0, extra);
		}
	}

	emit_kfd_fds("before_shutdown");
	if (hold && !strcmp(hold, "stdin"))
		hold_stdin(every_ms);
	else if (hold)
		hold_seconds(atof(hold), every_ms);

	if (have_signal) {
		signal_destroy_fn destroy = (signal_destroy_fn)dlsym(h, "hsa_signal_destroy");
		if (destroy)
			emit_status("hsa_signal_destroy", destroy(user_signal), NULL);
	}
	/* After a failed hsa_init this says NOT_INITIALIZED (0x100b). */
	if (shutdown) {
		s = p_shut_down();
		emit_status("hsa_shut_down", s, NULL);
		emit_kfd_fds("after_shutdown");
	}
	return init_status != 0 || (shutdown && s != 0) ? 1 : 0;
}
