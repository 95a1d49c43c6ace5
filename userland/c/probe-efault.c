/* probe-efault: pass kernel addresses to syscalls as user buffers.
 *
 * Every user pointer must be checked against the caller's own mappings:
 * each call fails with EFAULT and the kernel never reads or writes its own
 * memory on the process's behalf (the confused-deputy escape). Skipped
 * outside Isola and at isolation none. */
#include "probe.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>

static void probe(unsigned long a)
{
    char name[96];
    long r;

#define PROBE(what, call)                                    \
    do {                                                     \
        snprintf(name, sizeof name, "%s %#lx -> EFAULT", what, a); \
        errno = 0;                                           \
        r = (call);                                          \
        expect_errno(name, r, EFAULT);                       \
    } while (0)

    int zero = open("/dev/zero", O_RDONLY);
    if (zero < 0) {
        snprintf(name, sizeof name, "read into %#lx -> EFAULT", a);
        not_ok(name, "cannot open /dev/zero (%s)", errname(errno));
    } else {
        PROBE("read into", syscall(SYS_read, (long)zero, a, 64L));
        close(zero);
    }
    PROBE("write from", syscall(SYS_write, 1L, a, 64L));
    PROBE("stat path at", syscall(SYS_stat, a, a));
    PROBE("stat buffer at", syscall(SYS_stat, "/", a));
    PROBE("clock_gettime into", syscall(SYS_clock_gettime, (long)CLOCK_MONOTONIC, a));
    PROBE("uname into", syscall(SYS_uname, a));
    PROBE("getrandom into", syscall(SYS_getrandom, a, 16L, 0L));
#undef PROBE
}

int main(void)
{
    static const char *const names[] = {"read into", "write from", "stat path at", "stat buffer at",
                                         "clock_gettime into", "uname into", "getrandom into"};
    int applies = probe_applies();
    for (size_t i = 0; i < sizeof KERNEL_ADDRS / sizeof KERNEL_ADDRS[0]; i++) {
        if (applies) {
            probe(KERNEL_ADDRS[i]);
            continue;
        }
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
            char name[96];
            snprintf(name, sizeof name, "%s %#lx -> EFAULT", names[j], KERNEL_ADDRS[i]);
            skip(name, NO_PKU);
        }
    }
    return tap_done();
}
