/* test-time: clocks and sleeping, checked with raw syscalls (musl would use
 * the vDSO on Linux; inside Isola there is none). */
#include "tap.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static long long ns_of(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static long sys_clock_gettime(clockid_t clk, struct timespec *t)
{
    return syscall(SYS_clock_gettime, (long)clk, t);
}

/* 2020-01-01T00:00:00Z and 2100-01-01. */
#define Y2020 1577836800LL
#define Y2100 4102444800LL

int main(void)
{
    struct timespec a, b;
    long r1 = sys_clock_gettime(CLOCK_MONOTONIC, &a);
    /* Spin a little so even a coarse clock moves. */
    long r2 = 0;
    int moved = 0;
    for (int i = 0; i < 10000000 && !moved; i++) {
        r2 = sys_clock_gettime(CLOCK_MONOTONIC, &b);
        moved = r2 == 0 && ns_of(&b) > ns_of(&a);
        if (r2 != 0 || ns_of(&b) < ns_of(&a))
            break;
    }
    check(r1 == 0 && r2 == 0 && moved, "clock_gettime MONOTONIC increases",
          "returned %ld/%ld, %lld -> %lld ns", r1, r2, ns_of(&a), ns_of(&b));
    check(a.tv_nsec >= 0 && a.tv_nsec < 1000000000L, "clock_gettime tv_nsec in range",
          "tv_nsec %ld", a.tv_nsec);

    struct timespec rt;
    long r = sys_clock_gettime(CLOCK_REALTIME, &rt);
    check(r == 0 && rt.tv_sec > Y2020 && rt.tv_sec < Y2100, "clock_gettime REALTIME plausible",
          "returned %ld, tv_sec %lld", r, (long long)rt.tv_sec);

    struct timeval tv;
    r = syscall(SYS_gettimeofday, &tv, NULL);
    check(r == 0 && tv.tv_sec > Y2020 && tv.tv_sec < Y2100 && tv.tv_usec >= 0 &&
              tv.tv_usec < 1000000 && tv.tv_sec - rt.tv_sec < 60 && rt.tv_sec - tv.tv_sec < 60,
          "gettimeofday agrees with REALTIME", "returned %ld, %lld.%06ld vs %lld", r,
          (long long)tv.tv_sec, (long)tv.tv_usec, (long long)rt.tv_sec);

    struct timespec res = {.tv_sec = -1, .tv_nsec = -1};
    r = syscall(SYS_clock_getres, (long)CLOCK_MONOTONIC, &res);
    check(r == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000L,
          "clock_getres MONOTONIC", "returned %ld, res %lld.%09ld", r, (long long)res.tv_sec,
          res.tv_nsec);
    r = syscall(SYS_clock_getres, 12345L, &res);
    expect_errno("clock_getres bad clock -> EINVAL", r, EINVAL);
    r = sys_clock_gettime((clockid_t)12345, &a);
    expect_errno("clock_gettime bad clock -> EINVAL", r, EINVAL);

    struct timespec req = {.tv_sec = 0, .tv_nsec = 20000000L}, rem = {0, 0};
    sys_clock_gettime(CLOCK_MONOTONIC, &a);
    r = syscall(SYS_nanosleep, &req, &rem);
    sys_clock_gettime(CLOCK_MONOTONIC, &b);
    long long slept = ns_of(&b) - ns_of(&a);
    check(r == 0 && slept >= 20000000LL, "nanosleep 20 ms takes at least 20 ms",
          "returned %ld, slept %lld ns", r, slept);
    req.tv_nsec = 1000000000L;
    r = syscall(SYS_nanosleep, &req, &rem);
    expect_errno("nanosleep tv_nsec >= 1e9 -> EINVAL", r, EINVAL);

    req.tv_nsec = 5000000L;
    sys_clock_gettime(CLOCK_MONOTONIC, &a);
    r = syscall(SYS_clock_nanosleep, (long)CLOCK_MONOTONIC, 0L, &req, NULL);
    sys_clock_gettime(CLOCK_MONOTONIC, &b);
    slept = ns_of(&b) - ns_of(&a);
    check(r == 0 && slept >= 5000000LL, "clock_nanosleep relative 5 ms",
          "returned %ld, slept %lld ns", r, slept);

    time_t t = (time_t)syscall(SYS_time, NULL);
    check(t > Y2020 && t < Y2100, "time", "time returned %lld", (long long)t);
    return tap_done();
}
