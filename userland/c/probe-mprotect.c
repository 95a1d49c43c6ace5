/* probe-mprotect: memory-management calls aimed at the kernel's range.
 *
 * The expectations are what Linux answers for addresses outside user space
 * (checked on the host): mprotect -> ENOMEM, munmap -> EINVAL, mmap
 * MAP_FIXED -> ENOMEM, and a plain mmap hint there is ignored (the mapping
 * lands in user space). A kernel that honoured any of them would hand a
 * process its own memory. Skipped outside Isola and at isolation none. */
#include "probe.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#define USER_TOP 0x800000000000UL

static const unsigned long TARGETS[] = {0xffffffff80000000UL, 0xffff800000000000UL};

static const char *const CHECKS[] = {
    "mprotect %#lx R -> ENOMEM",
    "mprotect %#lx RW -> ENOMEM",
    "munmap %#lx -> EINVAL",
    "mmap MAP_FIXED %#lx -> ENOMEM",
    "mmap hint %#lx lands in user space",
};
#define NCHECKS (sizeof CHECKS / sizeof CHECKS[0])

static void probe(unsigned long a)
{
    char name[NCHECKS][96];
    for (size_t i = 0; i < NCHECKS; i++)
        snprintf(name[i], sizeof name[i], CHECKS[i], a);
    long r = syscall(SYS_mprotect, a, 4096L, (long)PROT_READ);
    expect_errno(name[0], r, ENOMEM);
    r = syscall(SYS_mprotect, a, 4096L, (long)(PROT_READ | PROT_WRITE));
    expect_errno(name[1], r, ENOMEM);
    r = syscall(SYS_munmap, a, 4096L);
    expect_errno(name[2], r, EINVAL);
    r = syscall(SYS_mmap, a, 4096L, (long)(PROT_READ | PROT_WRITE),
                (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), -1L, 0L);
    expect_errno(name[3], r, ENOMEM);
    r = syscall(SYS_mmap, a, 4096L, (long)(PROT_READ | PROT_WRITE),
                (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
    check(r != -1 && (unsigned long)r < USER_TOP, name[4], "mmap returned %#lx (%s)",
          (unsigned long)r, r == -1 ? errname(errno) : "mapped");
    if (r != -1 && (unsigned long)r < USER_TOP)
        syscall(SYS_munmap, r, 4096L);
}

int main(void)
{
    int applies = probe_applies();
    for (size_t t = 0; t < sizeof TARGETS / sizeof TARGETS[0]; t++) {
        if (applies) {
            probe(TARGETS[t]);
            continue;
        }
        for (size_t i = 0; i < NCHECKS; i++) {
            char name[96];
            snprintf(name, sizeof name, CHECKS[i], TARGETS[t]);
            skip(name, NO_PKU);
        }
    }
    return tap_done();
}
