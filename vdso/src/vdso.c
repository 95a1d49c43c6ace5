/*
 * The vDSO: clock_gettime, gettimeofday, time, clock_getres and getcpu
 * answered in the process, from the vvar page the kernel publishes one page
 * below this image (docs/dynamic.md, "vDSO"). The layout of `struct vvar`
 * is vdso/src/lib.rs's `Vvar`; the clock is the kernel's (kernel/src/time.rs):
 *
 *   monotonic ns = ((tsc - tsc_base) * mult) >> shift   (128-bit product)
 *   realtime ns  = monotonic ns + realtime_offset
 *
 * The kernel writes the page under a sequence counter (odd while it
 * writes); readers retry until they see the same even value before and
 * after. Clocks the page cannot answer (the CPU-time clocks, unknown ids,
 * or every clock while the kernel has not published one) make the real
 * system call, which is what Linux's vDSO does too. The image must hold no
 * WRPKRU (0F 01 EF) at any byte offset: the build and a host test check.
 */
typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;

struct vvar {
	u64 seq;
	u64 flags;
	u64 tsc_base;
	u64 mult;
	u64 shift;
	u64 realtime_offset;
	s64 tz_minuteswest;
	s64 tz_dsttime;
};

#define VVAR_CLOCK 1UL  /* the clock fields are valid */
#define VVAR_RDTSCP 2UL /* TSC_AUX holds (node << 12) | cpu */

/* Placed by vdso.lds one page below the image's first byte. */
extern const volatile struct vvar vvar_page __attribute__((visibility("hidden")));

struct timespec {
	s64 tv_sec;
	s64 tv_nsec;
};
struct timeval {
	s64 tv_sec;
	s64 tv_usec;
};
struct timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7

#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

#define NSEC_PER_SEC 1000000000UL

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;
	/* lfence: the TSC is read after the loads before it (the sequence count). */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

#define barrier() __asm__ volatile("" : : : "memory")

/* Nanoseconds of CLOCK_MONOTONIC (and the realtime offset), or 0 when the
 * kernel publishes no clock. */
static inline int read_clock(u64 *mono, u64 *offset)
{
	u64 seq, tsc, base, mult, shift;
	for (;;) {
		seq = vvar_page.seq;
		barrier();
		if (!(vvar_page.flags & VVAR_CLOCK))
			return 0;
		base = vvar_page.tsc_base;
		mult = vvar_page.mult;
		shift = vvar_page.shift;
		*offset = vvar_page.realtime_offset;
		tsc = rdtsc_ordered();
		barrier();
		if (!(seq & 1) && seq == vvar_page.seq)
			break;
		__asm__ volatile("pause");
	}
	*mono = (u64)(((unsigned __int128)(tsc - base) * mult) >> (shift & 127));
	return 1;
}

int __vdso_clock_gettime(int clock, struct timespec *ts)
{
	u64 ns, offset;
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
		if (!read_clock(&ns, &offset))
			break;
		ns += offset;
		goto done;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		if (!read_clock(&ns, &offset))
			break;
		goto done;
	}
	return syscall3(NR_clock_gettime, clock, (long)ts, 0);
done:
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
	u64 ns, offset;
	if (tv) {
		if (!read_clock(&ns, &offset))
			return syscall3(NR_gettimeofday, (long)tv, (long)tz, 0);
		ns += offset;
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		u64 seq;
		do {
			seq = vvar_page.seq;
			barrier();
			tz->tz_minuteswest = vvar_page.tz_minuteswest;
			tz->tz_dsttime = vvar_page.tz_dsttime;
			barrier();
		} while ((seq & 1) || seq != vvar_page.seq);
	}
	return 0;
}

s64 __vdso_time(s64 *t)
{
	u64 ns, offset;
	s64 secs;
	if (!read_clock(&ns, &offset))
		return syscall3(NR_time, (long)t, 0, 0);
	secs = (ns + offset) / NSEC_PER_SEC;
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(int clock, struct timespec *res)
{
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		if (!(vvar_page.flags & VVAR_CLOCK))
			break;
		/* The kernel's resolution for every clock it serves (sys_clock_getres). */
		if (res) {
			res->tv_sec = 0;
			res->tv_nsec = 1;
		}
		return 0;
	}
	return syscall3(NR_clock_getres, clock, (long)res, 0);
}

int __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	u32 lo, hi, aux;
	if (!(vvar_page.flags & VVAR_RDTSCP))
		return syscall3(NR_getcpu, (long)cpu, (long)node, (long)unused);
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	if (cpu)
		*cpu = aux & 0xfff;
	if (node)
		*node = aux >> 12;
	return 0;
}

int clock_gettime(int, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, struct timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
s64 time(s64 *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
