/* Shared by the isolation probes: decide whether the probe applies.
 *
 * A probe applies only inside Isola at isolation level mpk. At level none,
 * and outside Isola, every check is skipped with "not applicable: no PKU"
 * (outside Isola nothing says which protections exist, and the probes'
 * expectations are Isola's). */
#ifndef ISOLA_PROBE_H
#define ISOLA_PROBE_H

#include "tap.h"

#define NO_PKU "not applicable: no PKU"

/* 1 if the probe's checks should run; 0 if they are all skipped. An
 * unknown level is itself a failed check. */
__attribute__((unused)) static int probe_applies(void)
{
#ifdef PROBE_FORCE
    /* Only for checking the expectations against Linux on the host. */
    return 1;
#endif
    switch (isola_env()) {
    case ENV_ISOLA_MPK:
    case ENV_ISOLA_STRICT:
        return 1;
    case ENV_ISOLA_OTHER: {
        struct utsname u;
        uname(&u);
        not_ok("isolation level", "uname version '%s' names none of isolation=strict, mpk or none",
               u.version);
        return 0;
    }
    default:
        return 0;
    }
}

/* The two kernel addresses every probe tries: the start of the higher half
 * (direct map) and the kernel image. */
static const unsigned long KERNEL_ADDRS[] = {0xffff800000000000UL, 0xffffffff80100000UL};

#endif
