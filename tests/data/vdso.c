/* The vDSO seen from a glibc program (tests/vdso.rs builds it dynamic and
 * static). `vdso MODE`:
 *   clocks  1000 clock_gettime per vDSO clock, monotonic, agreeing with
 *           the system call (exactly 3 clock_gettime syscalls: the trace
 *           counts them), and gettimeofday, time, clock_getres, getcpu,
 *           and a CPU-time clock (the vDSO falls back to the syscall);
 *   fork    the clocks in a forked child, at the parent's vDSO address;
 *   exec    prints the vDSO address, then execs `vdso clocks`;
 *   maps    prints /proc/self/maps' [vvar] and [vdso] lines and checks
 *           AT_SYSINFO_EHDR is the start of [vdso];
 *   write   a child writes to the vDSO and to the vvar page, then
 *           mprotects the vvar page writable (EACCES expected), both
 *           PROT_NONE and back, and reads the clocks;
 *   settime clock_settime and settimeofday move CLOCK_REALTIME by a day
 *           and the vDSO follows; monotonic does not move; EPERM
 *           without privilege;
 *   bench-vdso N, bench-syscall N: N reads of CLOCK_MONOTONIC, through
 *           the vDSO or the system call (instruction counts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                          \
	do {                                                                                                      \
		if (!(cond)) {                                                                                    \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                               \
			printf(__VA_ARGS__);                                                                      \
			printf("\n");                                                                             \
			failures++;                                                                               \
		}                                                                                                 \
	} while (0)

static int64_t ns_of(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t sys_now(clockid_t clock)
{
	struct timespec ts;
	CHECK(syscall(SYS_clock_gettime, clock, &ts) == 0, "syscall clock_gettime(%d)", clock);
	return ns_of(ts);
}

static int64_t vdso_now(clockid_t clock)
{
	struct timespec ts;
	CHECK(clock_gettime(clock, &ts) == 0, "clock_gettime(%d)", clock);
	return ns_of(ts);
}

static void clocks(void)
{
	static const clockid_t fast[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
					 CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME};
	CHECK(getauxval(AT_SYSINFO_EHDR) != 0, "no AT_SYSINFO_EHDR");
	/* Interleaved: vDSO <= syscall <= vDSO on the monotonic clock. */
	int64_t before = vdso_now(CLOCK_MONOTONIC);
	int64_t sys_mono = sys_now(CLOCK_MONOTONIC);
	int64_t after = vdso_now(CLOCK_MONOTONIC);
	CHECK(before <= sys_mono && sys_mono <= after, "monotonic: vdso %lld, syscall %lld, vdso %lld", (long long)before,
	      (long long)sys_mono, (long long)after);
	int64_t sys_real = sys_now(CLOCK_REALTIME);
	int64_t real = vdso_now(CLOCK_REALTIME);
	CHECK(real >= sys_real && real - sys_real < 1000000000, "realtime: syscall %lld, vdso %lld", (long long)sys_real,
	      (long long)real);
	for (unsigned c = 0; c < sizeof fast / sizeof fast[0]; c++) {
		int64_t last = vdso_now(fast[c]);
		for (int i = 0; i < 1000; i++) {
			int64_t now = vdso_now(fast[c]);
			CHECK(now >= last, "clock %d went back: %lld after %lld", fast[c], (long long)now, (long long)last);
			last = now;
		}
		struct timespec res;
		CHECK(clock_getres(fast[c], &res) == 0 && res.tv_sec == 0 && res.tv_nsec == 1, "clock_getres(%d)", fast[c]);
	}
	int64_t end = vdso_now(CLOCK_MONOTONIC);
	int64_t sys_end = sys_now(CLOCK_MONOTONIC);
	CHECK(end <= sys_end, "monotonic at the end: vdso %lld, then syscall %lld", (long long)end, (long long)sys_end);
	struct timeval tv;
	struct timezone tz = {-1, -1};
	CHECK(gettimeofday(&tv, &tz) == 0, "gettimeofday");
	int64_t tv_ns = (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
	CHECK(tv_ns >= real - 1000 && tv_ns - real < 1000000000, "gettimeofday %lld, realtime %lld", (long long)tv_ns,
	      (long long)real);
	CHECK(tz.tz_minuteswest == 0 && tz.tz_dsttime == 0, "timezone %d %d", tz.tz_minuteswest, tz.tz_dsttime);
	time_t t = 0, secs = time(&t);
	CHECK(secs == t && secs >= real / 1000000000 && secs - real / 1000000000 < 2, "time %lld", (long long)secs);
	unsigned cpu = 99, node = 99;
	CHECK(getcpu(&cpu, &node) == 0 && cpu == 0 && node == 0, "getcpu %u %u", cpu, node);
	CHECK(sched_getcpu() == 0, "sched_getcpu");
	/* A CPU-time clock: the vDSO makes the system call. */
	struct timespec cpu_time;
	CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_time) == 0 && ns_of(cpu_time) > 0, "CPU time");
	CHECK(clock_gettime(12345, &cpu_time) == -1 && errno == EINVAL, "unknown clock: errno %d", errno);
	printf("clocks ok: monotonic %lld..%lld ns\n", (long long)before, (long long)end);
}

static void maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long vdso_start = 0, vvar_end = 0;
	CHECK(f != NULL, "open /proc/self/maps");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long start, end;
		if (strstr(line, "[vdso]") || strstr(line, "[vvar]")) {
			printf("%s", line);
			sscanf(line, "%lx-%lx", &start, &end);
			if (strstr(line, "[vdso]"))
				vdso_start = start;
			else
				vvar_end = end;
		}
	}
	CHECK(vdso_start == getauxval(AT_SYSINFO_EHDR), "[vdso] at %#lx, AT_SYSINFO_EHDR %#lx", vdso_start,
	      getauxval(AT_SYSINFO_EHDR));
	CHECK(vvar_end == vdso_start, "[vvar] ends at %#lx", vvar_end);
	CHECK(memcmp((void *)vdso_start, "\177ELF", 4) == 0, "no ELF header at the vDSO");
}

static void in_child(void (*what)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		what();
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	if (WIFSIGNALED(status))
		printf("child killed by signal %d\n", WTERMSIG(status));
	else
		printf("child exited %d\n", WEXITSTATUS(status));
}

static void write_vdso(void)
{
	*(volatile char *)getauxval(AT_SYSINFO_EHDR) = 0;
	printf("wrote the vDSO\n");
}

static void write_vvar(void)
{
	*(volatile char *)(getauxval(AT_SYSINFO_EHDR) - 4096) = 1;
	printf("wrote the vvar page\n");
}

static void child_clocks(void)
{
	printf("child vdso %#lx\n", getauxval(AT_SYSINFO_EHDR));
	clocks();
}

static void unprivileged_settime(void)
{
	struct timespec now;
	struct timezone zone = {0, 0};
	clock_gettime(CLOCK_REALTIME, &now);
	CHECK(setuid(65534) == 0, "setuid: errno %d", errno);
	CHECK(clock_settime(CLOCK_REALTIME, &now) == -1 && errno == EPERM, "unprivileged clock_settime: errno %d", errno);
	CHECK(settimeofday(NULL, &zone) == -1 && errno == EPERM, "unprivileged settimeofday: errno %d", errno);
}

static void settime(void)
{
	int64_t mono = vdso_now(CLOCK_MONOTONIC);
	int64_t real = vdso_now(CLOCK_REALTIME);
	struct timespec later = {.tv_sec = real / 1000000000 + 86400, .tv_nsec = 0};
	CHECK(clock_settime(CLOCK_REALTIME, &later) == 0, "clock_settime: errno %d", errno);
	int64_t moved = vdso_now(CLOCK_REALTIME);
	CHECK(moved >= ns_of(later) && moved - ns_of(later) < 1000000000, "realtime after clock_settime %lld, set %lld",
	      (long long)moved, (long long)ns_of(later));
	CHECK(vdso_now(CLOCK_MONOTONIC) >= mono && vdso_now(CLOCK_MONOTONIC) - mono < 1000000000, "monotonic moved");
	CHECK(time(NULL) >= later.tv_sec, "time() after clock_settime");
	struct timeval back = {.tv_sec = real / 1000000000, .tv_usec = 0};
	struct timezone zone = {.tz_minuteswest = -60, .tz_dsttime = 0};
	/* glibc refuses both at once (EINVAL since 2.31); the time goes
	 * through clock_settime, the zone through the settimeofday syscall. */
	CHECK(settimeofday(&back, NULL) == 0, "settimeofday: errno %d", errno);
	CHECK(settimeofday(NULL, &zone) == 0, "settimeofday (zone): errno %d", errno);
	struct timezone far = {.tz_minuteswest = 16 * 60, .tz_dsttime = 0};
	CHECK(settimeofday(NULL, &far) == -1 && errno == EINVAL, "zone beyond 15 h: errno %d", errno);
	struct timeval now;
	struct timezone tz;
	CHECK(gettimeofday(&now, &tz) == 0 && now.tv_sec >= back.tv_sec && now.tv_sec - back.tv_sec < 2,
	      "gettimeofday after settimeofday: %lld", (long long)now.tv_sec);
	CHECK(tz.tz_minuteswest == -60, "timezone after settimeofday: %d", tz.tz_minuteswest);
	int64_t sys_real = sys_now(CLOCK_REALTIME);
	CHECK(llabs(sys_real - vdso_now(CLOCK_REALTIME)) < 1000000000, "vdso and syscall disagree after settimeofday");
	struct timespec mono_ts = {1, 0};
	CHECK(clock_settime(CLOCK_MONOTONIC, &mono_ts) == -1 && errno == EINVAL, "set monotonic: errno %d", errno);
	struct timespec bad = {0, 1000000000};
	CHECK(clock_settime(CLOCK_REALTIME, &bad) == -1 && errno == EINVAL, "bad timespec: errno %d", errno);
	struct timespec before_boot = {0, 0};
	CHECK(clock_settime(CLOCK_REALTIME, &before_boot) == -1 && errno == EINVAL, "before boot: errno %d", errno);
	in_child(unprivileged_settime);
	printf("settime ok\n");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "clocks";
	if (!strcmp(mode, "clocks")) {
		clocks();
	} else if (!strcmp(mode, "fork")) {
		printf("parent vdso %#lx\n", getauxval(AT_SYSINFO_EHDR));
		in_child(child_clocks);
	} else if (!strcmp(mode, "exec")) {
		printf("before exec vdso %#lx\n", getauxval(AT_SYSINFO_EHDR));
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "maps", (char *)NULL);
		printf("exec failed: errno %d\n", errno);
		return 1;
	} else if (!strcmp(mode, "maps")) {
		printf("vdso %#lx\n", getauxval(AT_SYSINFO_EHDR));
		maps();
		clocks();
	} else if (!strcmp(mode, "write")) {
		in_child(write_vdso);
		in_child(write_vvar);
		void *vvar = (void *)(getauxval(AT_SYSINFO_EHDR) - 4096);
		CHECK(mprotect(vvar, 4096, PROT_READ | PROT_WRITE) == -1 && errno == EACCES, "mprotect vvar writable: errno %d",
		      errno);
		CHECK(mprotect(vvar, 4096, PROT_READ | PROT_EXEC) == -1 && errno == EACCES, "mprotect vvar executable: errno %d",
		      errno);
		/* PROT_NONE and back: the same pages return. */
		void *image = (void *)getauxval(AT_SYSINFO_EHDR);
		CHECK(mprotect(vvar, 8192, PROT_NONE) == 0, "mprotect PROT_NONE: errno %d", errno);
		CHECK(mprotect(vvar, 4096, PROT_READ) == 0 && mprotect(image, 4096, PROT_READ | PROT_EXEC) == 0,
		      "mprotect back: errno %d", errno);
		CHECK(memcmp(image, "\177ELF", 4) == 0, "the image after PROT_NONE");
		clocks();
	} else if (!strcmp(mode, "settime")) {
		settime();
	} else if (!strcmp(mode, "bench-vdso") || !strcmp(mode, "bench-syscall")) {
		/* N reads of CLOCK_MONOTONIC, for instruction counts
		 * (docs/BENCHMARKS.md): through glibc (the vDSO) or the syscall. */
		long n = argc > 2 ? atol(argv[2]) : 1000;
		struct timespec ts;
		if (mode[6] == 'v')
			for (long i = 0; i < n; i++)
				clock_gettime(CLOCK_MONOTONIC, &ts);
		else
			for (long i = 0; i < n; i++)
				syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	} else {
		printf("unknown mode %s\n", mode);
		return 2;
	}
	printf("%s: %d failures\n", mode, failures);
	return failures ? 1 : 0;
}
