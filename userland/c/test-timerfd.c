/* test-timerfd: timerfd_create/settime/gettime, membarrier, CPU affinity
 * and getcpu, as Linux does them (the same checks pass on the host).
 *
 * Families:
 *   timerfd   clocks and flags, reads (count, EAGAIN, blocking, EINVAL for
 *             a short buffer), one-shot and interval expirations, absolute
 *             times, settime's old value, disarming, gettime, bad input,
 *             poll/select/epoll readiness, fork (one open file description),
 *             F_SETFL O_NONBLOCK, /proc/self/fd, TFD_TIMER_CANCEL_ON_SET
 *   membarrier QUERY, the barriers, registrations (EPERM before), flags,
 *             registrations inherited by fork and dropped by execve
 *   affinity  sched_getaffinity sizes, sched_setaffinity masks, ESRCH,
 *             EFAULT, getcpu and sched_getcpu
 *
 * Run as `test-timerfd` (the tests); `test-timerfd membarrier-exec` is the
 * image the membarrier family execs to see what execve keeps.
 */
#include "tap.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define TFD_CLOEXEC_FLAG O_CLOEXEC
#define TFD_NONBLOCK_FLAG O_NONBLOCK
#define TFD_TIMER_ABSTIME_FLAG 1
#define TFD_TIMER_CANCEL_ON_SET_FLAG 2
#define CLOCK_REALTIME_ALARM_ID 8
#define CLOCK_BOOTTIME_ALARM_ID 9
#define MS 1000000LL

#define MB_QUERY 0
#define MB_GLOBAL 1
#define MB_GLOBAL_EXPEDITED 2
#define MB_REGISTER_GLOBAL_EXPEDITED 4
#define MB_PRIVATE_EXPEDITED 8
#define MB_REGISTER_PRIVATE_EXPEDITED 16
#define MB_PRIVATE_EXPEDITED_SYNC_CORE 32
#define MB_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE 64
#define MB_PRIVATE_EXPEDITED_RSEQ 128
#define MB_GET_REGISTRATIONS 512

/* A raw system call: the result, or -1 with errno set. */
static long sc(long nr, long a, long b, long c, long d)
{
    return syscall(nr, a, b, c, d);
}

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t ts_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    return ts;
}

static long tfd_create(long clock, long flags)
{
    return sc(SYS_timerfd_create, clock, flags, 0, 0);
}

/* Arms fd: value and interval in ns. */
static long tfd_set(long fd, long flags, int64_t value_ns, int64_t interval_ns, struct itimerspec *old)
{
    struct itimerspec its = {.it_interval = ns_ts(interval_ns), .it_value = ns_ts(value_ns)};
    return sc(SYS_timerfd_settime, fd, flags, (long)&its, (long)old);
}

static long tfd_get(long fd, struct itimerspec *cur)
{
    return sc(SYS_timerfd_gettime, fd, (long)cur, 0, 0);
}

static int set_nonblock(int fd, int on)
{
    int flags = fcntl(fd, F_GETFL);
    return fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/* Whether the caller holds CAP_WAKE_ALARM (35): /proc/self/status's CapEff,
 * or, where that line is missing, being root. */
static int has_cap_wake_alarm(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (f != NULL) {
        while (fgets(line, sizeof line, f)) {
            unsigned long long caps;
            if (sscanf(line, "CapEff: %llx", &caps) == 1) {
                fclose(f);
                return (caps >> 35) & 1;
            }
        }
        fclose(f);
    }
    return geteuid() == 0;
}

static void timerfd_clocks_and_flags(void)
{
    const long good[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME};
    for (unsigned i = 0; i < sizeof good / sizeof good[0]; i++) {
        long fd = tfd_create(good[i], 0);
        char name[64];
        snprintf(name, sizeof name, "timerfd_create on clock %ld", good[i]);
        check(fd >= 0, name, "%s", errname(errno));
        if (fd >= 0)
            close((int)fd);
    }
    int cap = has_cap_wake_alarm();
    const long alarms[] = {CLOCK_REALTIME_ALARM_ID, CLOCK_BOOTTIME_ALARM_ID};
    for (unsigned i = 0; i < 2; i++) {
        errno = 0;
        long fd = tfd_create(alarms[i], 0);
        char name[96];
        snprintf(name, sizeof name, "timerfd_create on alarm clock %ld: %s", alarms[i],
                 cap ? "allowed with CAP_WAKE_ALARM" : "EPERM without CAP_WAKE_ALARM");
        check(cap ? fd >= 0 : (fd < 0 && errno == EPERM), name, "fd %ld %s", fd, errname(errno));
        if (fd >= 0)
            close((int)fd);
    }
    const long bad_clocks[] = {-1, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW,
                               CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, 10, 11, 1000};
    int all = 1;
    for (unsigned i = 0; i < sizeof bad_clocks / sizeof bad_clocks[0]; i++) {
        errno = 0;
        long fd = tfd_create(bad_clocks[i], 0);
        if (fd >= 0 || errno != EINVAL) {
            not_ok("timerfd_create on clocks it cannot use (EINVAL)", "clock %ld: fd %ld %s", bad_clocks[i], fd,
                   errname(errno));
            all = 0;
        }
    }
    if (all)
        ok("timerfd_create on clocks it cannot use (EINVAL)");
    expect_errno("timerfd_create with an unknown flag (EINVAL)", tfd_create(CLOCK_MONOTONIC, 1), EINVAL);
    expect_errno("timerfd_create with O_APPEND (EINVAL)", tfd_create(CLOCK_MONOTONIC, O_APPEND), EINVAL);
    long fd = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK_FLAG | TFD_CLOEXEC_FLAG);
    check(fd >= 0 && fcntl((int)fd, F_GETFL) == (O_RDWR | O_NONBLOCK) && fcntl((int)fd, F_GETFD) == FD_CLOEXEC,
          "TFD_NONBLOCK and TFD_CLOEXEC: F_GETFL O_RDWR|O_NONBLOCK, FD_CLOEXEC", "fl %#x fd %#x",
          fcntl((int)fd, F_GETFL), fcntl((int)fd, F_GETFD));
    long plain = tfd_create(CLOCK_MONOTONIC, 0);
    check(plain >= 0 && fcntl((int)plain, F_GETFL) == O_RDWR && fcntl((int)plain, F_GETFD) == 0,
          "timerfd without flags: O_RDWR, no FD_CLOEXEC", "fl %#x", fcntl((int)plain, F_GETFL));
    close((int)plain);
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
    check(readlink(path, link, sizeof link - 1) > 0 && strcmp(link, "anon_inode:[timerfd]") == 0,
          "/proc/self/fd names a timerfd anon_inode:[timerfd]", "'%s'", link);
    close((int)fd);
}

static void timerfd_reads(void)
{
    long fd = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK_FLAG);
    uint64_t v = 0;
    struct itimerspec cur;
    memset(&cur, 0xff, sizeof cur);
    check(tfd_get(fd, &cur) == 0 && ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 0,
          "timerfd_gettime of a new timer: all zero", "%s", errname(errno));
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "read of a disarmed timer, non-blocking (EAGAIN)", "%s",
          errname(errno));
    char small[7];
    errno = 0;
    check(read((int)fd, small, sizeof small) < 0 && errno == EINVAL, "read into 7 bytes (EINVAL)", "%s",
          errname(errno));
    errno = 0;
    v = 1;
    check(write((int)fd, &v, 8) < 0 && errno == EINVAL, "write to a timerfd (EINVAL)", "%s", errname(errno));

    /* One shot, 50 ms, read blocking. */
    check(tfd_set(fd, 0, 50 * MS, 0, NULL) == 0, "timerfd_settime relative 50 ms", "%s", errname(errno));
    check(tfd_get(fd, &cur) == 0 && ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 50 * MS &&
              ts_ns(cur.it_interval) == 0,
          "timerfd_gettime: time left within 50 ms, no interval", "value %lld",
          (long long)ts_ns(cur.it_value));
    struct pollfd pfd = {.fd = (int)fd, .events = POLLIN};
    check(poll(&pfd, 1, 0) == 0, "poll: an armed timer before its time is not readable", "revents %#x",
          pfd.revents);
    set_nonblock((int)fd, 0);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    long n = read((int)fd, &v, 8);
    int64_t waited = now_ns(CLOCK_MONOTONIC) - t0;
    check(n == 8 && v == 1 && waited >= 40 * MS, "a blocking read waits for the expiration and reads 1",
          "n %ld v %llu after %lld ms", n, (unsigned long long)v, (long long)(waited / MS));
    check(tfd_get(fd, &cur) == 0 && ts_ns(cur.it_value) == 0, "an expired one-shot timer reads as disarmed",
          "value %lld", (long long)ts_ns(cur.it_value));
    set_nonblock((int)fd, 1);
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "F_SETFL O_NONBLOCK: read after the expiration was taken (EAGAIN)",
          "%s", errname(errno));

    /* Interval: 10 ms then every 10 ms; after 65 ms, at least 5 expirations. */
    t0 = now_ns(CLOCK_MONOTONIC);
    tfd_set(fd, 0, 10 * MS, 10 * MS, NULL);
    usleep(65000);
    int64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
    v = 0;
    n = read((int)fd, &v, 8);
    int64_t most = elapsed / (10 * MS) + 1;
    check(n == 8 && v >= 5 && (int64_t)v <= most, "an interval timer counts every expiration (overruns)",
          "n %ld count %llu after %lld ms", n, (unsigned long long)v, (long long)(elapsed / MS));
    check(tfd_get(fd, &cur) == 0 && ts_ns(cur.it_interval) == 10 * MS && ts_ns(cur.it_value) > 0 &&
              ts_ns(cur.it_value) <= 10 * MS,
          "timerfd_gettime of an interval timer: time to the next, the interval", "value %lld interval %lld",
          (long long)ts_ns(cur.it_value), (long long)ts_ns(cur.it_interval));

    /* settime returns the old setting; zero disarms. */
    struct itimerspec old;
    tfd_set(fd, 0, 10000 * MS, 0, NULL);
    memset(&old, 0xff, sizeof old);
    check(tfd_set(fd, 0, 0, 5 * MS, &old) == 0 && ts_ns(old.it_value) > 9000 * MS &&
              ts_ns(old.it_value) <= 10000 * MS && ts_ns(old.it_interval) == 0,
          "timerfd_settime returns the old value and interval", "old %lld/%lld", (long long)ts_ns(old.it_value),
          (long long)ts_ns(old.it_interval));
    check(tfd_get(fd, &cur) == 0 && ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 5 * MS,
          "a zero value disarms (the interval is kept for gettime)", "value %lld interval %lld",
          (long long)ts_ns(cur.it_value), (long long)ts_ns(cur.it_interval));
    usleep(20000);
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "a disarmed timer never expires", "%s", errname(errno));

    /* Pending expirations are dropped by a new setting. */
    tfd_set(fd, 0, 1, 0, NULL);
    usleep(20000);
    tfd_set(fd, 0, 10000 * MS, 0, NULL);
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "timerfd_settime discards unread expirations", "%s",
          errname(errno));

    /* Absolute times. */
    int64_t past_t0 = now_ns(CLOCK_MONOTONIC);
    check(tfd_set(fd, TFD_TIMER_ABSTIME_FLAG, 1, 0, NULL) == 0 && read((int)fd, &v, 8) == 8 && v == 1,
          "TFD_TIMER_ABSTIME in the past expires at once", "%s v %llu", errname(errno), (unsigned long long)v);
    past_t0 = now_ns(CLOCK_MONOTONIC);
    tfd_set(fd, TFD_TIMER_ABSTIME_FLAG, 1, MS, NULL);
    n = read((int)fd, &v, 8);
    int64_t past_t1 = now_ns(CLOCK_MONOTONIC);
    check(n == 8 && (int64_t)v >= (past_t0 - 1) / MS + 1 && (int64_t)v <= (past_t1 - 1) / MS + 1,
          "an absolute interval timer from the past counts every interval since", "count %llu for %lld..%lld ms",
          (unsigned long long)v, (long long)(past_t0 / MS), (long long)(past_t1 / MS));
    set_nonblock((int)fd, 0);
    int64_t target = now_ns(CLOCK_MONOTONIC) + 30 * MS;
    tfd_set(fd, TFD_TIMER_ABSTIME_FLAG, target, 0, NULL);
    n = read((int)fd, &v, 8);
    check(n == 8 && v == 1 && now_ns(CLOCK_MONOTONIC) >= target, "TFD_TIMER_ABSTIME: a blocking read wakes at the time",
          "n %ld v %llu", n, (unsigned long long)v);
    close((int)fd);

    long rt = tfd_create(CLOCK_REALTIME, 0);
    target = now_ns(CLOCK_REALTIME) + 30 * MS;
    tfd_set(rt, TFD_TIMER_ABSTIME_FLAG, target, 0, NULL);
    n = read((int)rt, &v, 8);
    check(n == 8 && v == 1 && now_ns(CLOCK_REALTIME) >= target, "CLOCK_REALTIME absolute timer expires at the wall time",
          "n %ld v %llu", n, (unsigned long long)v);
    close((int)rt);
    long bt = tfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK_FLAG);
    tfd_set(bt, 0, 20 * MS, 0, NULL);
    pfd.fd = (int)bt;
    pfd.revents = 0;
    check(poll(&pfd, 1, 2000) == 1 && pfd.revents == POLLIN && read((int)bt, &v, 8) == 8 && v == 1,
          "CLOCK_BOOTTIME relative timer expires", "revents %#x", pfd.revents);
    close((int)bt);
}

static void timerfd_bad_input(void)
{
    long fd = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK_FLAG);
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 1000000000}};
    expect_errno("settime with tv_nsec 1e9 (EINVAL)", sc(SYS_timerfd_settime, fd, 0, (long)&its, 0), EINVAL);
    its.it_value.tv_nsec = -1;
    expect_errno("settime with tv_nsec -1 (EINVAL)", sc(SYS_timerfd_settime, fd, 0, (long)&its, 0), EINVAL);
    its.it_value.tv_nsec = 0;
    its.it_value.tv_sec = -1;
    expect_errno("settime with a negative tv_sec (EINVAL)", sc(SYS_timerfd_settime, fd, 0, (long)&its, 0), EINVAL);
    its.it_value.tv_sec = 1;
    its.it_interval.tv_nsec = 1000000000;
    expect_errno("settime with an invalid interval (EINVAL)", sc(SYS_timerfd_settime, fd, 0, (long)&its, 0), EINVAL);
    its.it_interval.tv_nsec = 0;
    expect_errno("settime with an unknown flag (EINVAL)", sc(SYS_timerfd_settime, fd, 4, (long)&its, 0), EINVAL);
    expect_errno("settime with a NULL new value (EFAULT)", sc(SYS_timerfd_settime, fd, 0, 0, 0), EFAULT);
    expect_errno("settime with an unmapped new value (EFAULT)", sc(SYS_timerfd_settime, fd, 0, 8, 0), EFAULT);
    expect_errno("settime on fd -1 (EBADF)", sc(SYS_timerfd_settime, -1, 0, (long)&its, 0), EBADF);
    expect_errno("settime on a closed fd (EBADF)", sc(SYS_timerfd_settime, 999, 0, (long)&its, 0), EBADF);
    expect_errno("settime with a bad flag before a bad fd (EINVAL)", sc(SYS_timerfd_settime, 999, 8, (long)&its, 0),
                 EINVAL);
    int p[2];
    pipe(p);
    expect_errno("settime on a pipe (EINVAL)", sc(SYS_timerfd_settime, p[0], 0, (long)&its, 0), EINVAL);
    struct itimerspec cur;
    expect_errno("gettime on a pipe (EINVAL)", sc(SYS_timerfd_gettime, p[0], (long)&cur, 0, 0), EINVAL);
    expect_errno("gettime on a closed fd (EBADF)", sc(SYS_timerfd_gettime, 999, (long)&cur, 0, 0), EBADF);
    expect_errno("gettime into NULL (EFAULT)", sc(SYS_timerfd_gettime, fd, 0, 0, 0), EFAULT);
    close(p[0]);
    close(p[1]);
    /* The setting took even though the old value could not be written. */
    its.it_value.tv_sec = 100;
    expect_errno("settime with an unmapped old value (EFAULT)", sc(SYS_timerfd_settime, fd, 0, (long)&its, 8), EFAULT);
    check(tfd_get(fd, &cur) == 0 && cur.it_value.tv_sec >= 99, "... and the new setting still took", "value %lld s",
          (long long)cur.it_value.tv_sec);
    check(lseek((int)fd, 10, SEEK_SET) == 0, "lseek on a timerfd stays at 0 (noop_llseek)", "%s", errname(errno));
    close((int)fd);
}

static void timerfd_readiness(void)
{
    long fd = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK_FLAG);
    uint64_t v;
    struct pollfd pfd = {.fd = (int)fd, .events = POLLIN | POLLOUT};
    tfd_set(fd, 0, 30 * MS, 0, NULL);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    int r = poll(&pfd, 1, 5000);
    int64_t waited = now_ns(CLOCK_MONOTONIC) - t0;
    check(r == 1 && pfd.revents == POLLIN && waited >= 20 * MS && waited < 4000 * MS,
          "poll wakes at the expiration: POLLIN only (never writable)", "r %d revents %#x after %lld ms", r,
          pfd.revents, (long long)(waited / MS));
    read((int)fd, &v, 8);

    tfd_set(fd, 0, 30 * MS, 0, NULL);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET((int)fd, &rd);
    struct timeval tv = {.tv_sec = 5};
    t0 = now_ns(CLOCK_MONOTONIC);
    r = select((int)fd + 1, &rd, NULL, NULL, &tv);
    waited = now_ns(CLOCK_MONOTONIC) - t0;
    check(r == 1 && FD_ISSET((int)fd, &rd) && waited >= 20 * MS && waited < 4000 * MS,
          "select wakes at the expiration", "r %d after %lld ms", r, (long long)(waited / MS));
    read((int)fd, &v, 8);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
    epoll_ctl(ep, EPOLL_CTL_ADD, (int)fd, &ev);
    struct epoll_event out;
    check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: nothing ready while the timer is disarmed", "%s",
          errname(errno));
    tfd_set(fd, 0, 30 * MS, 0, NULL);
    t0 = now_ns(CLOCK_MONOTONIC);
    r = epoll_wait(ep, &out, 1, 5000);
    waited = now_ns(CLOCK_MONOTONIC) - t0;
    check(r == 1 && out.events == EPOLLIN && out.data.u64 == 77 && waited >= 20 * MS && waited < 4000 * MS,
          "epoll_wait wakes at the expiration", "r %d events %#x after %lld ms", r, out.events,
          (long long)(waited / MS));
    check(epoll_wait(ep, &out, 1, 0) == 1, "epoll: level-triggered, ready until read", "%s", errname(errno));
    read((int)fd, &v, 8);
    check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: not ready once read", "%s", errname(errno));
    close(ep);
    close((int)fd);
}

static void timerfd_fork(void)
{
    long fd = tfd_create(CLOCK_MONOTONIC, 0);
    tfd_set(fd, 0, 40 * MS, 0, NULL);
    pid_t child = fork();
    if (child == 0) {
        struct itimerspec cur;
        uint64_t v = 0;
        if (tfd_get(fd, &cur) != 0 || ts_ns(cur.it_value) <= 0)
            _exit(10);
        if (read((int)fd, &v, 8) != 8)
            _exit(11);
        _exit((int)v);
    }
    int status = -1;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 1, "a fork child shares the timer: its blocking read gets 1",
          "status %#x", status);
    set_nonblock((int)fd, 1);
    uint64_t v;
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "... and took it for the parent (one open file description)",
          "%s", errname(errno));
    close((int)fd);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void timerfd_interrupted(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    long fd = tfd_create(CLOCK_MONOTONIC, 0);
    tfd_set(fd, 0, 10000 * MS, 0, NULL);
    alarm(1);
    uint64_t v;
    errno = 0;
    long n = read((int)fd, &v, 8);
    check(n < 0 && errno == EINTR, "a blocked read is interrupted by a signal (EINTR)", "n %ld %s", n,
          errname(errno));
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    close((int)fd);
}

static void timerfd_cancel_on_set(void)
{
    long fd = tfd_create(CLOCK_REALTIME, TFD_NONBLOCK_FLAG);
    long rel = tfd_create(CLOCK_REALTIME, TFD_NONBLOCK_FLAG);
    long mono = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK_FLAG);
    int both = TFD_TIMER_ABSTIME_FLAG | TFD_TIMER_CANCEL_ON_SET_FLAG;
    tfd_set(fd, both, now_ns(CLOCK_REALTIME) + 100000LL * 1000 * MS, 0, NULL);
    tfd_set(rel, TFD_TIMER_CANCEL_ON_SET_FLAG, 100000LL * 1000 * MS, 0, NULL);
    tfd_set(mono, both, now_ns(CLOCK_MONOTONIC) + 100000LL * 1000 * MS, 0, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
        skip("TFD_TIMER_CANCEL_ON_SET", "clock_settime not permitted here");
        close((int)fd);
        close((int)rel);
        close((int)mono);
        return;
    }
    struct pollfd pfd = {.fd = (int)fd, .events = POLLIN};
    check(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "TFD_TIMER_CANCEL_ON_SET: setting the clock makes it readable",
          "revents %#x", pfd.revents);
    uint64_t v;
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == ECANCELED, "... and the read fails with ECANCELED", "%s",
          errname(errno));
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "... once: the next read waits again (EAGAIN)", "%s",
          errname(errno));
    struct itimerspec cur;
    check(tfd_get(fd, &cur) == 0 && cur.it_value.tv_sec > 90000, "... the timer itself stays armed", "value %lld s",
          (long long)cur.it_value.tv_sec);
    errno = 0;
    check(read((int)rel, &v, 8) < 0 && errno == EAGAIN, "a relative timer is not cancelled by a clock change", "%s",
          errname(errno));
    errno = 0;
    check(read((int)mono, &v, 8) < 0 && errno == EAGAIN, "a CLOCK_MONOTONIC timer is not cancelled", "%s",
          errname(errno));
    close((int)fd);
    close((int)rel);
    close((int)mono);
}

static long mb(long cmd, long flags)
{
    return sc(SYS_membarrier, cmd, flags, 0, 0);
}

static void membarrier_family(const char *self)
{
    long q = mb(MB_QUERY, 0);
    long need = MB_GLOBAL | MB_GLOBAL_EXPEDITED | MB_REGISTER_GLOBAL_EXPEDITED | MB_PRIVATE_EXPEDITED |
                MB_REGISTER_PRIVATE_EXPEDITED | MB_PRIVATE_EXPEDITED_SYNC_CORE |
                MB_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE | MB_GET_REGISTRATIONS;
    check(q >= 0 && (q & need) == need && (q & ~0x3ffL) == 0, "MEMBARRIER_CMD_QUERY lists the commands", "%#lx %s",
          q, errname(errno));
    expect_errno("QUERY with flags (EINVAL)", mb(MB_QUERY, 1), EINVAL);
    check(mb(MB_GLOBAL, 0) == 0, "MEMBARRIER_CMD_GLOBAL", "%s", errname(errno));
    check(mb(MB_GLOBAL_EXPEDITED, 0) == 0, "GLOBAL_EXPEDITED needs no registration of the sender", "%s",
          errname(errno));
    check(mb(MB_GET_REGISTRATIONS, 0) == 0, "GET_REGISTRATIONS: none yet", "%s", errname(errno));
    expect_errno("PRIVATE_EXPEDITED before registering (EPERM)", mb(MB_PRIVATE_EXPEDITED, 0), EPERM);
    expect_errno("PRIVATE_EXPEDITED_SYNC_CORE before registering (EPERM)", mb(MB_PRIVATE_EXPEDITED_SYNC_CORE, 0),
                 EPERM);
    check(mb(MB_REGISTER_PRIVATE_EXPEDITED, 0) == 0 && mb(MB_PRIVATE_EXPEDITED, 0) == 0,
          "REGISTER_PRIVATE_EXPEDITED, then PRIVATE_EXPEDITED", "%s", errname(errno));
    expect_errno("PRIVATE_EXPEDITED_SYNC_CORE needs its own registration (EPERM)",
                 mb(MB_PRIVATE_EXPEDITED_SYNC_CORE, 0), EPERM);
    check(mb(MB_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0) == 0 && mb(MB_PRIVATE_EXPEDITED_SYNC_CORE, 0) == 0,
          "REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, then PRIVATE_EXPEDITED_SYNC_CORE", "%s", errname(errno));
    check(mb(MB_REGISTER_GLOBAL_EXPEDITED, 0) == 0 && mb(MB_GLOBAL_EXPEDITED, 0) == 0,
          "REGISTER_GLOBAL_EXPEDITED, then GLOBAL_EXPEDITED", "%s", errname(errno));
    long regs = mb(MB_GET_REGISTRATIONS, 0);
    check(regs == (MB_REGISTER_GLOBAL_EXPEDITED | MB_REGISTER_PRIVATE_EXPEDITED | MB_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE),
          "GET_REGISTRATIONS lists the three", "%#lx", regs);
    expect_errno("PRIVATE_EXPEDITED with flags (EINVAL)", mb(MB_PRIVATE_EXPEDITED, 1), EINVAL);
    expect_errno("an unknown command (EINVAL)", mb(3, 0), EINVAL);
    expect_errno("an unknown command bit (EINVAL)", mb(1 << 10, 0), EINVAL);
    expect_errno("a negative command (EINVAL)", mb(-1, 0), EINVAL);
    if (!(q & MB_PRIVATE_EXPEDITED_RSEQ))
        expect_errno("PRIVATE_EXPEDITED_RSEQ where QUERY does not list it (EINVAL)", mb(MB_PRIVATE_EXPEDITED_RSEQ, 0),
                     EINVAL);
    pid_t child = fork();
    if (child == 0)
        _exit(mb(MB_PRIVATE_EXPEDITED, 0) == 0 && mb(MB_GET_REGISTRATIONS, 0) == regs ? 0 : 1);
    int status = -1;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork child keeps the registrations (the mm is copied)",
          "status %#x", status);
    child = fork();
    if (child == 0) {
        execl(self, self, "membarrier-exec", (char *)NULL);
        _exit(99);
    }
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "execve drops the registrations", "status %#x", status);
}

/* The image execve runs for the membarrier family: 0 if unregistered. */
static int membarrier_exec(void)
{
    if (mb(MB_GET_REGISTRATIONS, 0) != 0)
        return 1;
    if (mb(MB_PRIVATE_EXPEDITED, 0) != -1 || errno != EPERM)
        return 2;
    return 0;
}

static void affinity_family(void)
{
    long nprocs = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned char mask[1024];
    memset(mask, 0xaa, sizeof mask);
    long r = sc(SYS_sched_getaffinity, 0, 8, (long)mask, 0);
    check(r == 8, "sched_getaffinity with 8 bytes returns 8", "%ld %s", r, errname(errno));
    memset(mask, 0xaa, sizeof mask);
    r = sc(SYS_sched_getaffinity, 0, sizeof mask, (long)mask, 0);
    int count = 0;
    for (long i = 0; i < r * 8; i++)
        count += (mask[i / 8] >> (i % 8)) & 1;
    check(r >= 8 && r % 8 == 0 && r <= (long)sizeof mask && mask[r] == 0xaa && count == nprocs,
          "sched_getaffinity with 1024 bytes: the kernel's mask size, one bit per online CPU, the rest untouched",
          "r %ld count %d nprocs %ld", r, count, nprocs);
    expect_errno("sched_getaffinity with 4 bytes (EINVAL)", sc(SYS_sched_getaffinity, 0, 4, (long)mask, 0), EINVAL);
    expect_errno("sched_getaffinity with 12 bytes (EINVAL)", sc(SYS_sched_getaffinity, 0, 12, (long)mask, 0), EINVAL);
    r = sc(SYS_sched_getaffinity, 0, (long)(0x100000000ULL + 8), (long)mask, 0);
    check(r == 8, "sched_getaffinity's size is an unsigned int (2^32 + 8 is 8)", "%ld %s", r, errname(errno));
    expect_errno("sched_getaffinity into an unmapped buffer (EFAULT)", sc(SYS_sched_getaffinity, 0, 8, 8, 0), EFAULT);
    cpu_set_t set;
    CPU_ZERO(&set);
    check(sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == nprocs,
          "libc sched_getaffinity (cpu_set_t): one CPU per online CPU", "count %d nprocs %ld", CPU_COUNT(&set),
          nprocs);

    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    uint64_t one = 1;
    check(sc(SYS_sched_getaffinity, child, 8, (long)mask, 0) == 8, "sched_getaffinity of another process", "%s",
          errname(errno));
    check(sc(SYS_sched_setaffinity, child, 8, (long)&one, 0) == 0, "sched_setaffinity of another process", "%s",
          errname(errno));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    expect_errno("sched_getaffinity of a reaped pid (ESRCH)", sc(SYS_sched_getaffinity, child, 8, (long)mask, 0),
                 ESRCH);
    expect_errno("sched_setaffinity of a reaped pid (ESRCH)", sc(SYS_sched_setaffinity, child, 8, (long)&one, 0),
                 ESRCH);
    expect_errno("sched_setaffinity of pid -1 (ESRCH)", sc(SYS_sched_setaffinity, -1, 8, (long)&one, 0), ESRCH);
    expect_errno("sched_getaffinity: size checked before the pid (EINVAL)",
                 sc(SYS_sched_getaffinity, child, 3, (long)mask, 0), EINVAL);
    expect_errno("sched_setaffinity: the mask read before the pid (EFAULT)", sc(SYS_sched_setaffinity, child, 8, 8, 0),
                 EFAULT);

    uint64_t zero = 0;
    expect_errno("sched_setaffinity to no CPU (EINVAL)", sc(SYS_sched_setaffinity, 0, 8, (long)&zero, 0), EINVAL);
    expect_errno("sched_setaffinity with size 0 (EINVAL: an empty mask)", sc(SYS_sched_setaffinity, 0, 0, (long)&one, 0),
                 EINVAL);
    if (nprocs < 64) {
        uint64_t offline = 1ULL << 63;
        expect_errno("sched_setaffinity to offline CPUs only (EINVAL)",
                     sc(SYS_sched_setaffinity, 0, 8, (long)&offline, 0), EINVAL);
    }
    uint64_t all = ~0ULL;
    check(sc(SYS_sched_setaffinity, 0, 8, (long)&all, 0) == 0, "sched_setaffinity to every CPU", "%s", errname(errno));
    check(sc(SYS_sched_setaffinity, 0, 1, (long)&one, 0) == 0, "sched_setaffinity with a 1-byte mask (zero-extended)",
          "%s", errname(errno));
    check(sc(SYS_sched_setaffinity, 0, 3, (long)&one, 0) == 0, "sched_setaffinity with a 3-byte mask", "%s",
          errname(errno));
    memset(mask, 0, sizeof mask);
    mask[0] = 1;
    check(sc(SYS_sched_setaffinity, 0, sizeof mask, (long)mask, 0) == 0,
          "sched_setaffinity with a 1024-byte mask (the rest ignored)", "%s", errname(errno));
    uint64_t now = 0;
    check(sc(SYS_sched_getaffinity, 0, 8, (long)&now, 0) == 8 && now == 1, "after setting CPU 0 alone, the mask is CPU 0",
          "%#llx", (unsigned long long)now);

    unsigned cpu = 99, node = 99;
    check(sc(SYS_getcpu, (long)&cpu, (long)&node, 0, 0) == 0 && cpu == 0 && node == 0,
          "getcpu on CPU 0 (the mask's only CPU), node 0", "cpu %u node %u", cpu, node);
    check(sc(SYS_getcpu, 0, 0, 0, 0) == 0, "getcpu with NULL pointers", "%s", errname(errno));
    expect_errno("getcpu into an unmapped cpu (EFAULT)", sc(SYS_getcpu, 8, 0, 0, 0), EFAULT);
    check(sched_getcpu() == 0, "sched_getcpu agrees", "%d", sched_getcpu());
    sc(SYS_sched_setaffinity, 0, 8, (long)&all, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "membarrier-exec") == 0)
        return membarrier_exec();
    char self[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = '\0';
    else
        snprintf(self, sizeof self, "%s", argv[0]);
    tap_family("timerfd");
    timerfd_clocks_and_flags();
    timerfd_reads();
    timerfd_bad_input();
    timerfd_readiness();
    timerfd_fork();
    timerfd_interrupted();
    timerfd_cancel_on_set();
    tap_family("membarrier");
    membarrier_family(self);
    tap_family("affinity");
    affinity_family();
    return tap_done();
}
