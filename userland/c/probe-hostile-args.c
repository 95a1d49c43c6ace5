/* probe-hostile-args: what an attacker passes to the time, count and limit
 * arguments of system calls: huge, negative, invalid and boundary values.
 * Every answer is Linux's (the program passes on the host too); the kernel
 * must survive all of them, so the summary line is the last check.
 *
 * Calls that correctly sleep "forever" run in a forked child that must
 * still be asleep after a moment, and is then killed. */
#include "child.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <netinet/in.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

/* Linux's fs.nr_open default; Isola's ceiling on RLIMIT_NOFILE. */
#define NR_OPEN_DEFAULT 1048576L

static long raw_errno(long r)
{
    return r == -1 ? errno : 0;
}

/* A raw call must fail with `want`. */
static void expect_raw(const char *name, long r, int want)
{
    expect_errno(name, r, want);
}

/* fn runs in a child and must block: the child is still there after
 * 300 ms and dies of the SIGKILL sent then. If fn returns, the child exits
 * with 100 + errno and the check fails with that. */
static void expect_blocks(const char *name, void (*fn)(void))
{
    pid_t pid = fork();
    if (pid < 0) {
        not_ok(name, "fork: %s", errname(errno));
        return;
    }
    if (pid == 0) {
        errno = 0;
        fn();
        _exit(100 + (errno & 0x7f));
    }
    struct timespec pause = {0, 300000000};
    nanosleep(&pause, NULL);
    int st = 0;
    pid_t early = waitpid(pid, &st, WNOHANG);
    if (early == pid) {
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
        not_ok(name, "returned at once (%s%s%s)", describe_status(st), code >= 100 ? ", errno " : "",
               code >= 100 ? errname(code - 100) : "");
        return;
    }
    kill(pid, SIGKILL);
    if (wait_for(pid, &st) != pid) {
        not_ok(name, "wait: %s", errname(errno));
        return;
    }
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, name, "child ended with %s", describe_status(st));
}

/* The forever-sleepers. */
static void sleep_nanosleep_max(void)
{
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_nanosleep, &t, NULL);
}

static void sleep_nanosleep_2_62(void)
{
    struct timespec t = {1L << 62, 0};
    syscall(SYS_nanosleep, &t, NULL);
}

static void sleep_clock_nanosleep_rel(void)
{
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_clock_nanosleep, (long)CLOCK_MONOTONIC, 0L, &t, NULL);
}

static void sleep_clock_nanosleep_abs(void)
{
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_clock_nanosleep, (long)CLOCK_REALTIME, (long)TIMER_ABSTIME, &t, NULL);
}

static void sleep_poll_intmax(void)
{
    syscall(SYS_poll, NULL, 0L, (long)INT_MAX);
}

static void sleep_poll_negative(void)
{
    /* Any negative int is "no timeout"; the upper half is ignored. */
    syscall(SYS_poll, NULL, 0L, 0x12345678ffffffffL);
}

static void sleep_ppoll_max(void)
{
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_ppoll, NULL, 0L, &t, NULL, 8L);
}

static void sleep_select_max(void)
{
    struct timeval t = {LONG_MAX, 999999};
    syscall(SYS_select, 0L, NULL, NULL, NULL, &t);
}

static void sleep_select_folded(void)
{
    /* tv_usec folds into seconds: 9.2e12 s, still a valid timeout. */
    struct timeval t = {0, LONG_MAX};
    syscall(SYS_select, 0L, NULL, NULL, NULL, &t);
}

static void sleep_pselect_max(void)
{
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_pselect6, 0L, NULL, NULL, NULL, &t, NULL);
}

static int child_epoll = -1;

static void sleep_epoll_wait_intmax(void)
{
    struct epoll_event ev;
    syscall(SYS_epoll_wait, (long)child_epoll, &ev, 1L, (long)INT_MAX);
}

static void sleep_epoll_pwait2_max(void)
{
    struct epoll_event ev;
    struct timespec t = {LONG_MAX, 999999999};
    syscall(SYS_epoll_pwait2, (long)child_epoll, &ev, 1L, &t, NULL, 8L);
}

static void check_alarm(void)
{
    /* alarm takes an unsigned int: 1 << 40 is alarm(0) on Linux. */
    long r = syscall(SYS_alarm, 1L << 40);
    check(r == 0, "alarm(1 << 40) -> 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    r = syscall(SYS_alarm, 0L);
    check(r == 0, "alarm(1 << 40) armed nothing", "alarm(0) returned %ld", r);
    r = syscall(SYS_alarm, 0xffffffffL);
    check(r == 0, "alarm(UINT_MAX) -> 0", "returned %ld", r);
    r = syscall(SYS_alarm, (1L << 40) | 5);
    check(r >= 4294967290L && r <= 4294967295L, "alarm returns UINT_MAX s left, rounded",
          "returned %ld", r);
    r = syscall(SYS_alarm, 0L);
    check(r >= 4 && r <= 5, "alarm(0) returns the 5 s of the truncated alarm", "returned %ld", r);
    r = syscall(SYS_alarm, 0L);
    check(r == 0, "alarm(0) again -> 0", "returned %ld", r);
    /* musl's alarm() is setitimer. */
    unsigned left = alarm(UINT_MAX);
    unsigned again = alarm(0);
    check(left == 0 && again >= UINT_MAX - 5, "libc alarm(UINT_MAX) then alarm(0)", "%u, %u", left, again);
}

static void check_itimer(void)
{
    struct itimerval huge = {{1L << 62, 0}, {1L << 62, 999999}}, old, now;
    long r = syscall(SYS_setitimer, (long)ITIMER_REAL, &huge, NULL);
    check(r == 0, "setitimer tv_sec = 2^62", "returned %ld (%s)", r, errname(raw_errno(r)));
    r = syscall(SYS_getitimer, (long)ITIMER_REAL, &now);
    check(r == 0 && now.it_value.tv_sec > 1000000000L && now.it_interval.tv_sec > 1000000000L,
          "getitimer after 2^62 s: far in the future", "returned %ld, value %ld s, interval %ld s", r,
          (long)now.it_value.tv_sec, (long)now.it_interval.tv_sec);
    struct itimerval max = {{LONG_MAX, 999999}, {LONG_MAX, 999999}};
    r = syscall(SYS_setitimer, (long)ITIMER_REAL, &max, &old);
    check(r == 0 && old.it_value.tv_sec > 1000000000L, "setitimer LONG_MAX s, old value kept",
          "returned %ld, old %ld s", r, (long)old.it_value.tv_sec);
    struct itimerval off = {{0, 0}, {0, 0}};
    r = syscall(SYS_setitimer, (long)ITIMER_REAL, &off, &old);
    check(r == 0 && old.it_value.tv_sec > 1000000000L, "setitimer 0 disarms", "returned %ld, old %ld s", r,
          (long)old.it_value.tv_sec);
    r = syscall(SYS_getitimer, (long)ITIMER_REAL, &now);
    check(r == 0 && now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0, "getitimer after disarm: 0",
          "returned %ld, %ld.%06ld", r, (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);

    struct itimerval bad_usec = {{0, 0}, {1, 1000000}};
    expect_raw("setitimer tv_usec = 1e6 -> EINVAL", syscall(SYS_setitimer, (long)ITIMER_REAL, &bad_usec, NULL), EINVAL);
    struct itimerval neg_usec = {{0, 0}, {1, -1}};
    expect_raw("setitimer tv_usec = -1 -> EINVAL", syscall(SYS_setitimer, (long)ITIMER_REAL, &neg_usec, NULL), EINVAL);
    struct itimerval neg_sec = {{0, 0}, {-1, 0}};
    expect_raw("setitimer tv_sec = -1 -> EINVAL", syscall(SYS_setitimer, (long)ITIMER_REAL, &neg_sec, NULL), EINVAL);
    struct itimerval bad_interval = {{LONG_MIN, 0}, {1, 0}};
    expect_raw("setitimer interval tv_sec = LONG_MIN -> EINVAL",
               syscall(SYS_setitimer, (long)ITIMER_REAL, &bad_interval, NULL), EINVAL);
    expect_raw("setitimer which = 99 -> EINVAL", syscall(SYS_setitimer, 99L, &off, NULL), EINVAL);
    r = syscall(SYS_getitimer, (long)ITIMER_REAL, &now);
    check(r == 0 && now.it_value.tv_sec == 0, "failed setitimer calls armed nothing", "%ld s", (long)now.it_value.tv_sec);
}

static void check_sleeps(void)
{
    struct timespec neg = {-1, 0}, big_nsec = {0, 1000000000L}, neg_nsec = {0, -1}, min = {LONG_MIN, 0};
    struct timespec zero = {0, 0}, one_ns = {0, 1};
    expect_raw("nanosleep tv_sec = -1 -> EINVAL", syscall(SYS_nanosleep, &neg, NULL), EINVAL);
    expect_raw("nanosleep tv_nsec = 1e9 -> EINVAL", syscall(SYS_nanosleep, &big_nsec, NULL), EINVAL);
    expect_raw("nanosleep tv_nsec = -1 -> EINVAL", syscall(SYS_nanosleep, &neg_nsec, NULL), EINVAL);
    expect_raw("nanosleep tv_sec = LONG_MIN -> EINVAL", syscall(SYS_nanosleep, &min, NULL), EINVAL);
    long r = syscall(SYS_nanosleep, &zero, NULL);
    check(r == 0, "nanosleep 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    r = syscall(SYS_nanosleep, &one_ns, NULL);
    check(r == 0, "nanosleep 1 ns", "returned %ld (%s)", r, errname(raw_errno(r)));
    expect_raw("nanosleep NULL -> EFAULT", syscall(SYS_nanosleep, NULL, NULL), EFAULT);
    expect_raw("clock_nanosleep tv_nsec = 1e9 -> EINVAL",
               syscall(SYS_clock_nanosleep, (long)CLOCK_MONOTONIC, 0L, &big_nsec, NULL), EINVAL);
    expect_raw("clock_nanosleep ABSTIME tv_sec = -1 -> EINVAL",
               syscall(SYS_clock_nanosleep, (long)CLOCK_MONOTONIC, (long)TIMER_ABSTIME, &neg, NULL), EINVAL);
    r = syscall(SYS_clock_nanosleep, (long)CLOCK_REALTIME, (long)TIMER_ABSTIME, &zero, NULL);
    check(r == 0, "clock_nanosleep ABSTIME in the past returns at once", "returned %ld (%s)", r,
          errname(raw_errno(r)));
    expect_blocks("nanosleep {LONG_MAX, 999999999} sleeps", sleep_nanosleep_max);
    expect_blocks("nanosleep 2^62 s sleeps", sleep_nanosleep_2_62);
    expect_blocks("clock_nanosleep LONG_MAX relative sleeps", sleep_clock_nanosleep_rel);
    expect_blocks("clock_nanosleep LONG_MAX absolute sleeps", sleep_clock_nanosleep_abs);
}

static void check_poll_select(void)
{
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    expect_raw("poll nfds = UINT_MAX -> EINVAL", syscall(SYS_poll, NULL, 0xffffffffL, 0L), EINVAL);
    expect_raw("poll nfds = RLIMIT_NOFILE + 1 -> EINVAL", syscall(SYS_poll, NULL, (long)lim.rlim_cur + 1, 0L), EINVAL);
    expect_raw("poll nfds = RLIMIT_NOFILE, NULL -> EFAULT", syscall(SYS_poll, NULL, (long)lim.rlim_cur, 0L), EFAULT);
    struct pollfd pfd = {.fd = 1000000, .events = POLLIN};
    long r = syscall(SYS_poll, &pfd, 1L, 0L);
    check(r == 1 && pfd.revents == POLLNVAL, "poll fd 1000000 -> POLLNVAL", "returned %ld, revents %#x", r, pfd.revents);
    r = syscall(SYS_poll, NULL, 0L, 0L);
    check(r == 0, "poll nothing, timeout 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    struct timespec big_nsec = {0, 1000000000L}, neg = {-1, 0};
    expect_raw("ppoll tv_nsec = 1e9 -> EINVAL", syscall(SYS_ppoll, NULL, 0L, &big_nsec, NULL, 8L), EINVAL);
    expect_raw("ppoll tv_sec = -1 -> EINVAL", syscall(SYS_ppoll, NULL, 0L, &neg, NULL, 8L), EINVAL);
    expect_blocks("poll timeout INT_MAX ms sleeps", sleep_poll_intmax);
    expect_blocks("poll timeout -1 (upper half ignored) sleeps", sleep_poll_negative);
    expect_blocks("ppoll {LONG_MAX, 999999999} sleeps", sleep_ppoll_max);

    struct timeval zero = {0, 0}, neg_sec = {-1, 0}, neg_usec = {0, -1}, wraps = {LONG_MAX, LONG_MAX};
    expect_raw("select nfds = -1 -> EINVAL", syscall(SYS_select, -1L, NULL, NULL, NULL, &zero), EINVAL);
    r = syscall(SYS_select, (long)INT_MAX, NULL, NULL, NULL, &zero);
    check(r == 0, "select nfds = INT_MAX, no sets -> 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(1, &rd);
    r = syscall(SYS_select, (long)INT_MAX, NULL, &rd, NULL, &zero);
    check(r == 1 && FD_ISSET(1, &rd), "select nfds = INT_MAX reads only the table's bits",
          "returned %ld (%s)", r, errname(raw_errno(r)));
    expect_raw("select tv_sec = -1 -> EINVAL", syscall(SYS_select, 0L, NULL, NULL, NULL, &neg_sec), EINVAL);
    expect_raw("select tv_usec = -1 -> EINVAL", syscall(SYS_select, 0L, NULL, NULL, NULL, &neg_usec), EINVAL);
    expect_raw("select {LONG_MAX, LONG_MAX} wraps -> EINVAL", syscall(SYS_select, 0L, NULL, NULL, NULL, &wraps), EINVAL);
    expect_raw("pselect6 tv_nsec = 1e9 -> EINVAL", syscall(SYS_pselect6, 0L, NULL, NULL, NULL, &big_nsec, NULL), EINVAL);
    expect_blocks("select {LONG_MAX, 999999} sleeps", sleep_select_max);
    expect_blocks("select {0, LONG_MAX} folds and sleeps", sleep_select_folded);
    expect_blocks("pselect6 {LONG_MAX, 999999999} sleeps", sleep_pselect_max);
}

static void check_epoll(void)
{
    int ep = epoll_create1(0);
    if (ep < 0) {
        not_ok("epoll_create1", "%s", errname(errno));
        return;
    }
    struct epoll_event ev[4];
    expect_raw("epoll_wait maxevents 0 -> EINVAL", syscall(SYS_epoll_wait, (long)ep, ev, 0L, 0L), EINVAL);
    expect_raw("epoll_wait maxevents -1 -> EINVAL", syscall(SYS_epoll_wait, (long)ep, ev, -1L, 0L), EINVAL);
    expect_raw("epoll_wait maxevents INT_MAX -> EINVAL", syscall(SYS_epoll_wait, (long)ep, ev, (long)INT_MAX, 0L), EINVAL);
    long r = syscall(SYS_epoll_wait, (long)ep, ev, 4L, 0L);
    check(r == 0, "epoll_wait nothing ready, timeout 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    struct timespec big_nsec = {0, 1000000000L}, neg = {-1, 0};
    expect_raw("epoll_pwait2 tv_nsec = 1e9 -> EINVAL",
               syscall(SYS_epoll_pwait2, (long)ep, ev, 4L, &big_nsec, NULL, 8L), EINVAL);
    expect_raw("epoll_pwait2 tv_sec = -1 -> EINVAL", syscall(SYS_epoll_pwait2, (long)ep, ev, 4L, &neg, NULL, 8L), EINVAL);
    child_epoll = ep;
    expect_blocks("epoll_wait timeout INT_MAX ms sleeps", sleep_epoll_wait_intmax);
    expect_blocks("epoll_pwait2 {LONG_MAX, 999999999} sleeps", sleep_epoll_pwait2_max);
    close(ep);
}

static void check_socket_timeouts(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        not_ok("socket", "%s", errname(errno));
        return;
    }
    struct timeval bad = {0, 1000000}, neg_usec = {1, -1}, huge = {LONG_MAX, 999999}, neg = {-5, 0};
    expect_errno("SO_RCVTIMEO tv_usec = 1e6 -> EDOM", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof bad), EDOM);
    expect_errno("SO_SNDTIMEO tv_usec = -1 -> EDOM", setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &neg_usec, sizeof neg_usec), EDOM);
    int r = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &huge, sizeof huge);
    check(r == 0, "SO_RCVTIMEO LONG_MAX s accepted", "%s", errname(errno));
    r = setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &neg, sizeof neg);
    check(r == 0, "SO_SNDTIMEO negative seconds accepted", "%s", errname(errno));
    close(s);
}

static void check_counts(void)
{
    char buf[64];
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    if (zero < 0 || null < 0) {
        not_ok("open /dev/zero and /dev/null", "%s", errname(errno));
        return;
    }
    struct iovec iov[2] = {{buf, 8}, {buf + 8, 8}};
    expect_raw("readv iovcnt 1025 -> EINVAL", syscall(SYS_readv, (long)zero, iov, 1025L), EINVAL);
    expect_raw("readv iovcnt -1 -> EINVAL", syscall(SYS_readv, (long)zero, iov, -1L), EINVAL);
    expect_raw("writev iovcnt 1025 -> EINVAL", syscall(SYS_writev, (long)null, iov, 1025L), EINVAL);
    expect_raw("readv iovcnt 1024, NULL array -> EFAULT", syscall(SYS_readv, (long)zero, NULL, 1024L), EFAULT);
    long r = syscall(SYS_readv, (long)zero, iov, 0L);
    check(r == 0, "readv iovcnt 0 -> 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    r = syscall(SYS_readv, (long)zero, iov, 2L);
    check(r == 16, "readv 2 x 8 bytes", "returned %ld (%s)", r, errname(raw_errno(r)));
    /* 1024 iovecs of 1 MiB each, all on one buffer: a short read is fine,
     * but the call must come back. */
    static struct iovec many[1024];
    char *mib = malloc(1 << 20);
    if (mib) {
        for (int i = 0; i < 1024; i++)
            many[i] = (struct iovec){mib, 1 << 20};
        r = syscall(SYS_readv, (long)zero, many, 1024L);
        check(r >= (1L << 20) && r <= (1L << 30), "readv 1024 x 1 MiB from /dev/zero returns", "returned %ld (%s)", r,
              errname(raw_errno(r)));
        free(mib);
    }
    expect_raw("readv bad fd, iovcnt 1025 -> EBADF", syscall(SYS_readv, 999L, iov, 1025L), EBADF);
    struct iovec neg[2] = {{buf, 8}, {buf, (size_t)-1}};
    expect_raw("writev iov_len = -1 -> EINVAL", syscall(SYS_writev, (long)null, neg, 2L), EINVAL);
    struct iovec halves[2] = {{buf, 1UL << 62}, {buf, 1UL << 62}};
    expect_raw("writev 2 x 2^62 bytes -> EFAULT", syscall(SYS_writev, (long)null, halves, 2L), EFAULT);
    struct iovec wrap = {(void *)0xfffffffffffff000UL, 0x2000};
    expect_raw("readv iovec wrapping the address space -> EFAULT", syscall(SYS_readv, (long)zero, &wrap, 1L), EFAULT);
    expect_raw("readv array at the top of the address space -> EFAULT",
               syscall(SYS_readv, (long)zero, (void *)0xfffffffffffffff8UL, 2L), EFAULT);

    expect_raw("read /dev/zero NULL, SIZE_MAX -> EFAULT", syscall(SYS_read, (long)zero, NULL, -1L), EFAULT);
    expect_raw("read /dev/zero buf, 2^62 -> EFAULT", syscall(SYS_read, (long)zero, buf, 1L << 62), EFAULT);
    expect_raw("read /dev/zero buf, SSIZE_MAX -> EFAULT", syscall(SYS_read, (long)zero, buf, LONG_MAX), EFAULT);
    expect_raw("write /dev/null buf, SIZE_MAX -> EFAULT", syscall(SYS_write, (long)null, buf, -1L), EFAULT);
    expect_raw("write /dev/null at the top of memory -> EFAULT",
               syscall(SYS_write, (long)null, (void *)0xfffffffffffffff0UL, 32L), EFAULT);
    expect_raw("read on a write-only fd -> EBADF", syscall(SYS_read, (long)null, NULL, -1L), EBADF);
    expect_raw("pread64 offset -1 -> EINVAL", syscall(SYS_pread64, (long)zero, buf, 8L, -1L), EINVAL);
    r = syscall(SYS_write, (long)null, NULL, 0L);
    check(r == 0, "write NULL, 0 -> 0", "returned %ld (%s)", r, errname(raw_errno(r)));
    int p[2];
    if (pipe2(p, O_NONBLOCK) == 0) {
        /* Only the range is checked up front (access_ok): /dev/null would
         * take NULL, 2^40 without reading it; a pipe copies and faults. */
        expect_raw("write pipe NULL, 2^40 -> EFAULT", syscall(SYS_write, (long)p[1], NULL, 1L << 40), EFAULT);
        expect_raw("read empty non-blocking pipe, bad buffer -> EAGAIN", syscall(SYS_read, (long)p[0], (void *)1, 10L), EAGAIN);
        struct timespec times[2] = {{0, 0}, {0, 1000000000L}};
        expect_raw("utimensat tv_nsec = 1e9 -> EINVAL", syscall(SYS_utimensat, (long)p[0], NULL, times, 0L), EINVAL);
        times[0].tv_nsec = -1;
        times[1].tv_nsec = 0;
        expect_raw("utimensat tv_nsec = -1 -> EINVAL", syscall(SYS_utimensat, (long)p[0], NULL, times, 0L), EINVAL);
        close(p[0]);
        close(p[1]);
    }
    expect_raw("getrandom NULL, 2^30 -> EFAULT", syscall(SYS_getrandom, NULL, 1L << 30, 0L), EFAULT);
    expect_raw("getrandom bad flags -> EINVAL", syscall(SYS_getrandom, buf, 8L, 0xff00L), EINVAL);
    r = syscall(SYS_getrandom, buf, 0L, 0L);
    check(r == 0, "getrandom 0 bytes", "returned %ld (%s)", r, errname(raw_errno(r)));
    expect_raw("uname NULL -> EFAULT", syscall(SYS_uname, NULL), EFAULT);
    expect_raw("readlink bufsiz 0 -> EINVAL", syscall(SYS_readlink, "/proc/self/exe", buf, 0L), EINVAL);
    expect_raw("readlink bufsiz -1 -> EINVAL", syscall(SYS_readlink, "/proc/self/exe", buf, -1L), EINVAL);
    expect_raw("readlink bufsiz 1 << 32 (int 0) -> EINVAL", syscall(SYS_readlink, "/proc/self/exe", buf, 1L << 32), EINVAL);
    expect_raw("rt_sigaction sigsetsize 16 -> EINVAL", syscall(SYS_rt_sigaction, (long)SIGUSR1, NULL, NULL, 16L), EINVAL);
    expect_raw("rt_sigaction sigsetsize 2^40 -> EINVAL", syscall(SYS_rt_sigaction, (long)SIGUSR1, NULL, NULL, 1L << 40), EINVAL);
    expect_raw("kill pid INT_MIN -> ESRCH", syscall(SYS_kill, (long)INT_MIN, 0L), ESRCH);
    expect_raw("kill signal 65 -> EINVAL", syscall(SYS_kill, (long)getpid(), 65L), EINVAL);
    r = syscall(SYS_kill, (long)getpid(), 1L << 32);
    check(r == 0, "kill signal 1 << 32 is int 0: an existence check", "returned %ld (%s)", r, errname(raw_errno(r)));
    expect_raw("kill signal -1 -> EINVAL", syscall(SYS_kill, (long)getpid(), -1L), EINVAL);
    expect_raw("rt_sigsuspend sigsetsize 1 << 40 -> EINVAL", syscall(SYS_rt_sigsuspend, buf, 1L << 40), EINVAL);
    expect_raw("rt_sigprocmask sigsetsize -1 -> EINVAL", syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, NULL, -1L), EINVAL);
    close(zero);
    close(null);
}

static void check_execve(const char *self)
{
    char *args[] = {(char *)self, (char *)"--never", NULL};
    expect_raw("execve argv at the top of the address space -> EFAULT",
               syscall(SYS_execve, self, (void *)0xfffffffffffffff8UL, NULL), EFAULT);
    expect_raw("execve argv unmapped -> EFAULT", syscall(SYS_execve, self, (void *)0x1000UL, NULL), EFAULT);
    expect_raw("execve envp at the top of the address space -> EFAULT",
               syscall(SYS_execve, self, args, (void *)0xfffffffffffffff8UL), EFAULT);
    char *bad_string[] = {(char *)self, (char *)0x10, NULL};
    expect_raw("execve argv string unmapped -> EFAULT", syscall(SYS_execve, self, bad_string, NULL), EFAULT);
    /* One string over MAX_ARG_STRLEN (128 KiB). */
    char *big = malloc(200000);
    if (big) {
        memset(big, 'a', 199999);
        big[199999] = 0;
        char *big_args[] = {(char *)self, big, NULL};
        expect_raw("execve a 200000-byte argument -> E2BIG", syscall(SYS_execve, self, big_args, NULL), E2BIG);
        free(big);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* kill(self, SIGUSR1) with RSP = 0x100: the signal frame would sit below
 * address 0. Linux cannot push it and kills with SIGSEGV. */
static int signal_on_wrapping_stack(void *arg)
{
    (void)arg;
    signal(SIGUSR1, on_usr1);
    long pid = getpid();
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %[sp], %%rsp\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp\n\t"
                     :
                     : "a"((long)SYS_kill), "D"(pid), "S"((long)SIGUSR1), [sp] "r"(0x100L)
                     : "rcx", "r11", "r12", "memory");
    return 3;
}

/* An alternate signal stack whose end wraps past 2^64. */
static int signal_on_wrapping_altstack(void *arg)
{
    (void)arg;
    stack_t ss = {.ss_sp = (void *)0xfffffffffffff000UL, .ss_size = 0x10000, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return 10 + (errno & 0x3f);
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    return 3;
}

static void check_signal_stacks(void)
{
    int st = run_child(signal_on_wrapping_stack, NULL);
    check(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a signal frame below address 0 -> SIGSEGV",
          "child: %s", st < 0 ? errname(errno) : describe_status(st));
    st = run_child(signal_on_wrapping_altstack, NULL);
    check(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "an alternate stack wrapping 2^64 -> SIGSEGV",
          "child: %s", st < 0 ? errname(errno) : describe_status(st));
}

/* CAP_SYS_RESOURCE (bit 24) in /proc/self/status's CapEff. */
static int has_cap_sys_resource(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 1;
    char line[256];
    unsigned long long caps = ~0ULL;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    fclose(f);
    return (caps >> 24) & 1;
}

/* Child of the fork check: the lowered limit is inherited. */
static int nofile_child(void *arg)
{
    (void)arg;
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 8)
        return 1;
    int fd = open("/dev/null", O_RDONLY);
    return fd == -1 && errno == EMFILE ? 0 : 2;
}

static const char *self_path;

/* Child of the exec check: execs this program again, which runs
 * nofile_child as its main (see main). */
static int nofile_exec_child(void *arg)
{
    (void)arg;
    char *args[] = {(char *)self_path, (char *)"--nofile-child", NULL};
    execv(self_path, args);
    return 4;
}

static void check_nofile(void)
{
    struct rlimit start, lim;
    if (getrlimit(RLIMIT_NOFILE, &start) != 0) {
        not_ok("getrlimit RLIMIT_NOFILE", "%s", errname(errno));
        return;
    }
    check(start.rlim_cur <= start.rlim_max && start.rlim_cur >= 64, "RLIMIT_NOFILE soft <= hard",
          "%lu / %lu", (unsigned long)start.rlim_cur, (unsigned long)start.rlim_max);
    lim = (struct rlimit){start.rlim_max + 1, start.rlim_max};
    expect_errno("setrlimit NOFILE soft > hard -> EINVAL", setrlimit(RLIMIT_NOFILE, &lim), EINVAL);
    lim = (struct rlimit){1, NR_OPEN_DEFAULT + 1};
    expect_errno("setrlimit NOFILE hard > nr_open -> EPERM", setrlimit(RLIMIT_NOFILE, &lim), EPERM);
    lim = (struct rlimit){RLIM_INFINITY, RLIM_INFINITY};
    expect_errno("setrlimit NOFILE infinity -> EPERM", setrlimit(RLIMIT_NOFILE, &lim), EPERM);
    lim = (struct rlimit){NR_OPEN_DEFAULT, NR_OPEN_DEFAULT};
    int r = setrlimit(RLIMIT_NOFILE, &lim);
    if (!in_isola() && !has_cap_sys_resource()) {
        /* A host container without CAP_SYS_RESOURCE: raising is refused. */
        check(r == -1 && errno == EPERM, "raising the NOFILE hard limit without CAP_SYS_RESOURCE -> EPERM",
              "returned %d (%s)", r, errname(errno));
        skip("root raises NOFILE to nr_open", "no CAP_SYS_RESOURCE on this host");
    } else {
        check(r == 0, "root raises NOFILE to nr_open", "%s", errname(errno));
        r = dup2(0, NR_OPEN_DEFAULT - 1);
        check(r == NR_OPEN_DEFAULT - 1, "dup2 to fd nr_open - 1 (one entry, not a 1M array)", "returned %d (%s)",
              r, errname(errno));
        close(NR_OPEN_DEFAULT - 1);
    }
    expect_errno("dup2 to fd nr_open -> EBADF", dup2(0, NR_OPEN_DEFAULT), EBADF);

    /* Every fd above 2 closed, one kept at 20 across the lowering. */
    for (int fd = 3; fd < 64; fd++)
        close(fd);
    r = dup2(1, 20);
    check(r == 20, "dup2(1, 20)", "returned %d (%s)", r, errname(errno));
    /* The raw setrlimit syscall (musl's setrlimit is prlimit64). */
    lim = (struct rlimit){8, start.rlim_max};
    r = (int)syscall(SYS_setrlimit, (long)RLIMIT_NOFILE, &lim);
    check(r == 0, "setrlimit syscall: NOFILE soft 8", "%s", errname(errno));
    struct rlimit got;
    r = (int)syscall(SYS_getrlimit, (long)RLIMIT_NOFILE, &got);
    check(r == 0 && got.rlim_cur == 8 && got.rlim_max == start.rlim_max, "getrlimit reads it back", "%lu / %lu",
          (unsigned long)got.rlim_cur, (unsigned long)got.rlim_max);
    int opened = 0, last = -1, err = 0;
    for (int i = 0; i < 16; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            err = errno;
            break;
        }
        opened++;
        last = fd;
    }
    check(opened == 5 && last == 7 && err == EMFILE, "open fills fds 3..7, then EMFILE",
          "opened %d, last fd %d, then %s", opened, last, errname(err));
    expect_errno("dup at the limit -> EMFILE", dup(0), EMFILE);
    expect_errno("dup2 to fd 8 (= limit) -> EBADF", dup2(0, 8), EBADF);
    expect_errno("dup3 to fd 100 -> EBADF", dup3(0, 100, O_CLOEXEC), EBADF);
    expect_errno("fcntl F_DUPFD 8 (= limit) -> EINVAL", fcntl(0, F_DUPFD, 8), EINVAL);
    expect_errno("fcntl F_DUPFD_CLOEXEC INT_MAX -> EINVAL", fcntl(0, F_DUPFD_CLOEXEC, INT_MAX), EINVAL);
    expect_errno("fcntl F_DUPFD 5, all taken -> EMFILE", fcntl(0, F_DUPFD, 5), EMFILE);
    int p[2];
    expect_errno("pipe at the limit -> EMFILE", pipe(p), EMFILE);
    expect_errno("socket at the limit -> EMFILE", socket(AF_INET, SOCK_DGRAM, 0), EMFILE);
    expect_errno("epoll_create1 at the limit -> EMFILE", epoll_create1(0), EMFILE);
    expect_raw("poll nfds 9 (> limit 8) -> EINVAL", syscall(SYS_poll, NULL, 9L, 0L), EINVAL);
    r = dup2(0, 7);
    check(r == 7, "dup2 below the limit replaces", "returned %d (%s)", r, errname(errno));
    r = (int)write(20, "", 0);
    check(r == 0, "fd 20, opened before the limit was lowered, still works", "returned %d (%s)", r, errname(errno));
    int st = run_child(nofile_child, NULL);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork inherits the lowered limit", "child: %s",
          st < 0 ? errname(errno) : describe_status(st));
    st = run_child(nofile_exec_child, NULL);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "execve keeps the lowered limit", "child: %s",
          st < 0 ? errname(errno) : describe_status(st));
    close(7);
    r = pipe(p);
    check(r == -1 && errno == EMFILE, "pipe with one free fd -> EMFILE", "returned %d (%s)", r, errname(errno));
    r = fcntl(0, F_DUPFD, 5);
    check(r == 7, "F_DUPFD finds the freed fd 7", "returned %d (%s)", r, errname(errno));
    check(close(20) == 0, "close of fd 20 above the limit", "%s", errname(errno));

    lim = start;
    r = setrlimit(RLIMIT_NOFILE, &lim);
    check(r == 0, "setrlimit back to the start", "%s", errname(errno));
    for (int fd = 3; fd < 8; fd++)
        close(fd);
    int fd = open("/dev/null", O_RDONLY);
    check(fd == 3, "open works again after raising the limit", "returned %d (%s)", fd, errname(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    const char *self = argv[0] && access(argv[0], X_OK) == 0 ? argv[0] : "/bin/probe-hostile-args";
    self_path = self;
    if (argc == 2 && strcmp(argv[1], "--nofile-child") == 0)
        return nofile_child(NULL);
    check_alarm();
    check_itimer();
    check_sleeps();
    check_poll_select();
    check_epoll();
    check_socket_timeouts();
    check_counts();
    check_execve(self);
    check_signal_stacks();
    check_nofile();
    long r = syscall(SYS_getpid);
    check(r == getpid() && r > 0, "kernel alive after all of it", "getpid returned %ld", r);
    return tap_done();
}
