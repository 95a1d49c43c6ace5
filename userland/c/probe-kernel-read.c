/* probe-kernel-read: read kernel memory from a process.
 *
 * At isolation mpk the read must fault: the process dies with SIGSEGV, so
 * `isola run` exits 139 and the console shows `isola: pid 1 ... SIGSEGV`.
 * If the read returns, the probe prints `not ok` and exits 1. Outside
 * Isola or at level none it reads nothing and reports a skip. */
#include "probe.h"

/* Physical 1 MiB in the kernel's direct map: always mapped (key 0, U/S=1),
 * so the read is stopped by the protection key, not by a missing page. */
#define TARGET 0xffff800000100000UL

int main(void)
{
    if (!probe_applies()) {
        skip("kernel read faults", NO_PKU);
        return tap_done();
    }
    tap_line("# reading %#lx: the process should now die with SIGSEGV", TARGET);
    volatile unsigned long *p = (volatile unsigned long *)TARGET;
    unsigned long v = *p;
    not_ok("kernel read faults", "read %#lx returned %#lx and the process survived", TARGET, v);
    return tap_done();
}
