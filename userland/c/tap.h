/* The output format shared by Isola's userland test programs.
 *
 * One line per check:
 *     ok - <name>
 *     not ok - <name>: <why>
 *     skip - <name>: <reason>
 * then a summary line `N passed, M failed[, K skipped]` (", K skipped" only
 * when K > 0), and the exit status is 0 iff no check failed. A program
 * that checks several families of calls starts each with a line
 *     # family <name>
 * (tap_family); scripts/test counts the checks after it per family.
 *
 * Isola is detected from uname().version, which contains "Isola" and
 * "isolation=strict", "isolation=mpk" or "isolation=none" there. Checks that only hold inside
 * Isola are skipped on the host.
 *
 * Header-only: each program is one translation unit.
 */
#ifndef ISOLA_TAP_H
#define ISOLA_TAP_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static int tap_passed, tap_failed, tap_skipped;

/* Unbuffered-enough output: each line goes out whole even if the program
 * dies right after it (the probes expect to be killed). */
__attribute__((unused)) static void tap_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((unused)) static void tap_line(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(1, p, (size_t)n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (int)w;
    }
}

__attribute__((unused)) static void ok(const char *name)
{
    tap_passed++;
    tap_line("ok - %s", name);
}

__attribute__((unused)) static void not_ok(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((unused)) static void not_ok(const char *name, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    tap_failed++;
    tap_line("not ok - %s: %s", name, why);
}

__attribute__((unused)) static void skip(const char *name, const char *reason)
{
    tap_skipped++;
    tap_line("skip - %s: %s", name, reason);
}

/* The checks that follow belong to family `name` (signals, net, ...). */
__attribute__((unused)) static void tap_family(const char *name)
{
    tap_line("# family %s", name);
}

/* ok if cond, else not ok with the message (errno appended when set). */
__attribute__((unused)) static void check(int cond, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
__attribute__((unused)) static void check(int cond, const char *name, const char *fmt, ...)
{
    if (cond) {
        ok(name);
        return;
    }
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    not_ok(name, "%s", why);
}

/* Print the summary and return the exit status. */
__attribute__((unused)) static int tap_done(void)
{
    if (tap_skipped > 0)
        tap_line("%d passed, %d failed, %d skipped", tap_passed, tap_failed, tap_skipped);
    else
        tap_line("%d passed, %d failed", tap_passed, tap_failed);
    return tap_failed == 0 ? 0 : 1;
}

/* What the kernel says about itself. */
enum isola_env { ENV_HOST, ENV_ISOLA_NONE, ENV_ISOLA_MPK, ENV_ISOLA_STRICT, ENV_ISOLA_OTHER };

__attribute__((unused)) static enum isola_env isola_env(void)
{
    struct utsname u;
    if (uname(&u) != 0 || strstr(u.version, "Isola") == NULL)
        return ENV_HOST;
    if (strstr(u.version, "isolation=mpk"))
        return ENV_ISOLA_MPK;
    if (strstr(u.version, "isolation=strict"))
        return ENV_ISOLA_STRICT;
    if (strstr(u.version, "isolation=none"))
        return ENV_ISOLA_NONE;
    return ENV_ISOLA_OTHER;
}

__attribute__((unused)) static int in_isola(void)
{
    return isola_env() != ENV_HOST;
}

/* errno name for messages (the ones the tests expect or commonly see). */
__attribute__((unused)) static const char *errname(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOEXEC: return "ENOEXEC";
    case EPIPE: return "EPIPE";
    case ENOTSOCK: return "ENOTSOCK";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ECONNRESET: return "ECONNRESET";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EALREADY: return "EALREADY";
    case EINPROGRESS: return "EINPROGRESS";
    case ESRCH: return "ESRCH";
    case EBUSY: return "EBUSY";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    default: {
        static char buf[16];
        snprintf(buf, sizeof buf, "errno %d", e);
        return buf;
    }
    }
}

/* A raw syscall's result as (ret, err): Linux returns -errno in rax. */
#define RAW_ERR(r) ((r) < 0 && (r) > -4096 ? (int)-(r) : 0)

/* Expect a libc call to fail (return -1) with `want`. */
__attribute__((unused)) static void expect_errno(const char *name, long ret, int want)
{
    int e = errno;
    if (ret == -1 && e == want)
        ok(name);
    else if (ret == -1)
        not_ok(name, "expected %s, got %s", errname(want), errname(e));
    else
        not_ok(name, "expected failure with %s, got %ld", errname(want), ret);
}

#endif
