/* test-semantics: the behaviours issue 12 found differing from Linux, each
 * checked against Linux's answer (on the host first), one family at a time:
 *   cputime  ITIMER_VIRTUAL/ITIMER_PROF: SIGVTALRM and SIGPROF from a busy
 *            loop, getitimer's time left, sleep not counted, intervals,
 *            EINVAL, a fork child without timers, execve keeping them;
 *            RLIMIT_CPU's SIGXCPU and SIGKILL
 *   signals  SA_RESETHAND keeps SA_SIGINFO, prctl(PR_SET_PDEATHSIG),
 *            epoll_pwait with a signal mask, epoll_wait's EINTR and the
 *            calls after it
 *   time     clock_nanosleep of about a second (relative and absolute), on
 *            each clock; the time left that select, pselect6 and ppoll
 *            write back
 *   net      connect to 0.0.0.0 (TCP and UDP), send/recv on a socketpair
 *            after the peer shut down or closed
 *   exec     a copy of a program in /tmp, exec'ed
 *   files    lseek SEEK_DATA/SEEK_HOLE, renameat2 RENAME_NOREPLACE
 *   info     sysinfo's process count
 *   memory   munmap across mapped and unmapped pages
 * The other items of the issue are checked by test-calls (files, ids,
 * cputime accounting, FIFOs, msync, fallocate, rt_sigtimedwait), test-locks,
 * test-unix-sockets and test-pseudofiles. */
#include "tap.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "child.h"

static long long clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv)
{
    return (long long)tv.tv_sec * 1000000000LL + (long long)tv.tv_usec * 1000LL;
}

/* ---- cputime -------------------------------------------------------- */

static volatile sig_atomic_t vtalrm_count, prof_count, alrm_count, usr1_count;
static volatile int last_code;

static void on_timer(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    if (sig == SIGVTALRM)
        vtalrm_count++;
    else if (sig == SIGPROF)
        prof_count++;
    else if (sig == SIGALRM)
        alrm_count++;
    else if (sig == SIGUSR1)
        usr1_count++;
    last_code = info->si_code;
}

static void catch(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int set_timer(int which, long long value_us, long long interval_us, struct itimerval *old)
{
    struct itimerval it = {
        .it_interval = { interval_us / 1000000, interval_us % 1000000 },
        .it_value = { value_us / 1000000, value_us % 1000000 },
    };
    return setitimer(which, &it, old);
}

/* Spins in user code until *flag reaches want or wall_ms of monotonic time
 * pass; with syscalls, each round also enters the kernel. */
static void spin_until(volatile sig_atomic_t *flag, int want, long wall_ms, int syscalls)
{
    long long end = clock_ns(CLOCK_MONOTONIC) + wall_ms * 1000000LL;
    volatile unsigned long x = 0;
    while (*flag < want && clock_ns(CLOCK_MONOTONIC) < end) {
        for (int i = 0; i < 20000; i++)
            x += (unsigned long)i;
        if (syscalls)
            syscall(SYS_getppid);
    }
}

static long long user_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return tv_ns(ru.ru_utime);
}

static void test_itimer_virtual(void)
{
    catch(SIGVTALRM, 0);
    vtalrm_count = 0;
    last_code = -12345;
    long long before = user_ns();
    check(set_timer(ITIMER_VIRTUAL, 100000, 0, NULL) == 0, "setitimer(ITIMER_VIRTUAL, 100 ms)", "%s", errname(errno));
    spin_until(&vtalrm_count, 1, 20000, 0);
    long long used = user_ns() - before;
    check(vtalrm_count == 1, "a busy loop gets SIGVTALRM from ITIMER_VIRTUAL", "%d signals", (int)vtalrm_count);
    check(used >= 90000000LL, "SIGVTALRM after about 100 ms of user time", "%lld ms of user time", used / 1000000);
    check(last_code == SI_KERNEL, "SIGVTALRM is sent by the kernel (si_code SI_KERNEL)", "si_code %d", last_code);
    struct itimerval cur;
    check(getitimer(ITIMER_VIRTUAL, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0,
          "a one-shot ITIMER_VIRTUAL is disarmed after it fires", "%ld.%06ld left", (long)cur.it_value.tv_sec,
          (long)cur.it_value.tv_usec);
}

static void test_itimer_prof(void)
{
    catch(SIGPROF, 0);
    prof_count = 0;
    check(set_timer(ITIMER_PROF, 100000, 0, NULL) == 0, "setitimer(ITIMER_PROF, 100 ms)", "%s", errname(errno));
    spin_until(&prof_count, 1, 20000, 1);
    check(prof_count == 1, "a busy loop making syscalls gets SIGPROF from ITIMER_PROF", "%d signals", (int)prof_count);

    /* Periodic: 30 ms, three times. */
    prof_count = 0;
    set_timer(ITIMER_PROF, 30000, 30000, NULL);
    spin_until(&prof_count, 3, 20000, 0);
    struct itimerval old;
    set_timer(ITIMER_PROF, 0, 0, &old);
    check(prof_count >= 3, "ITIMER_PROF with an interval fires again and again", "%d signals", (int)prof_count);
    check(old.it_interval.tv_sec == 0 && old.it_interval.tv_usec == 30000 && tv_ns(old.it_value) > 0 &&
              tv_ns(old.it_value) <= 30000000LL + 20000000LL,
          "disarming returns the old interval and a reloaded time left", "interval %ld.%06ld, left %ld.%06ld",
          (long)old.it_interval.tv_sec, (long)old.it_interval.tv_usec, (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);
}

static void test_itimer_remaining(void)
{
    catch(SIGVTALRM, 0);
    vtalrm_count = 0;
    set_timer(ITIMER_VIRTUAL, 10000000, 1000000, NULL);
    struct itimerval cur;
    int r = getitimer(ITIMER_VIRTUAL, &cur);
    /* Linux adds a tick to a CPU timer's first expiry; at most 20 ms here. */
    check(r == 0 && tv_ns(cur.it_value) > 9900000000LL && tv_ns(cur.it_value) <= 10020000000LL &&
              cur.it_interval.tv_sec == 1 && cur.it_interval.tv_usec == 0,
          "getitimer(ITIMER_VIRTUAL) right after setitimer: about 10 s left, interval 1 s",
          "r=%d left %ld.%06ld interval %ld.%06ld", r, (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec,
          (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
    long long before = user_ns();
    volatile sig_atomic_t never = 0;
    spin_until(&never, 1, 300, 0);
    long long used = user_ns() - before;
    getitimer(ITIMER_VIRTUAL, &cur);
    long long left = tv_ns(cur.it_value);
    /* What is left went down by the user time used (within 2 ticks of 10 ms). */
    long long drop = 10020000000LL - left;
    check(drop >= used - 25000000LL && left < 10000000000LL,
          "getitimer's time left goes down with the user time used", "used %lld ms, left %lld ms", used / 1000000,
          left / 1000000);

    /* Sleeping is no CPU time: ITIMER_VIRTUAL does not move. */
    struct timespec nap = { 0, 300000000 };
    nanosleep(&nap, NULL);
    struct itimerval after;
    getitimer(ITIMER_VIRTUAL, &after);
    check(left - tv_ns(after.it_value) < 50000000LL && vtalrm_count == 0,
          "300 ms of sleep does not advance ITIMER_VIRTUAL", "left %lld ms before, %lld ms after",
          left / 1000000, tv_ns(after.it_value) / 1000000);
    set_timer(ITIMER_PROF, 10000000, 0, NULL);
    struct itimerval p1, p2;
    getitimer(ITIMER_PROF, &p1);
    nanosleep(&nap, NULL);
    getitimer(ITIMER_PROF, &p2);
    check(tv_ns(p1.it_value) - tv_ns(p2.it_value) < 50000000LL, "300 ms of sleep does not advance ITIMER_PROF",
          "left %lld ms before, %lld ms after", tv_ns(p1.it_value) / 1000000, tv_ns(p2.it_value) / 1000000);

    /* A fork child starts with no timers; the parent keeps its own. */
    pid_t pid = fork();
    if (pid == 0) {
        struct itimerval c1, c2;
        getitimer(ITIMER_VIRTUAL, &c1);
        getitimer(ITIMER_PROF, &c2);
        _exit(tv_ns(c1.it_value) == 0 && tv_ns(c2.it_value) == 0 && tv_ns(c1.it_interval) == 0 ? 0 : 1);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child has neither CPU timer armed", "%s", describe_status(st));
    getitimer(ITIMER_VIRTUAL, &cur);
    check(tv_ns(cur.it_value) > 0, "the parent's ITIMER_VIRTUAL stays armed after fork", "disarmed");

    /* A null new value disarms (Linux's old misfeature, still there). */
    struct itimerval old;
    long r2 = syscall(SYS_setitimer, ITIMER_VIRTUAL, NULL, &old);
    getitimer(ITIMER_VIRTUAL, &cur);
    check(r2 == 0 && tv_ns(old.it_value) > 0 && tv_ns(cur.it_value) == 0 && tv_ns(cur.it_interval) == 0,
          "setitimer with a null new value disarms and returns the old one", "r=%ld left now %lld ns", r2,
          tv_ns(cur.it_value));
    set_timer(ITIMER_PROF, 0, 0, NULL);
}

static void test_itimer_errors(void)
{
    struct itimerval it = { { 0, 0 }, { 1, 0 } }, cur;
    expect_errno("setitimer(3) is EINVAL", syscall(SYS_setitimer, 3, &it, NULL), EINVAL);
    expect_errno("getitimer(-1) is EINVAL", syscall(SYS_getitimer, -1, &cur), EINVAL);
    struct itimerval bad = { { 0, 0 }, { 0, 1000000 } };
    expect_errno("a tv_usec of 1000000 is EINVAL", syscall(SYS_setitimer, ITIMER_VIRTUAL, &bad, NULL), EINVAL);
    struct itimerval neg = { { 0, 0 }, { -1, 0 } };
    expect_errno("a negative tv_sec is EINVAL", syscall(SYS_setitimer, ITIMER_PROF, &neg, NULL), EINVAL);
    expect_errno("getitimer to a bad address is EFAULT", syscall(SYS_getitimer, ITIMER_PROF, (void *)8), EFAULT);
    expect_errno("setitimer from a bad address is EFAULT", syscall(SYS_setitimer, ITIMER_PROF, (void *)8, NULL), EFAULT);
}

static int xcpu_pipe[2];

static void on_xcpu(int sig)
{
    (void)sig;
    struct rlimit now;
    getrlimit(RLIMIT_CPU, &now);
    char soft = (char)('0' + (int)now.rlim_cur);
    if (write(xcpu_pipe[1], &soft, 1) != 1)
        _exit(6);
}

/* RLIMIT_CPU of 1 s soft, 3 s hard: SIGXCPU at 1 s and 2 s (the soft limit
 * moving on by one each time), SIGKILL at 3 s. */
static void test_rlimit_cpu(void)
{
    if (pipe(xcpu_pipe) != 0) {
        not_ok("pipe", "%s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(xcpu_pipe[0]);
        signal(SIGXCPU, on_xcpu);
        struct rlimit lim = { 1, 3 };
        if (setrlimit(RLIMIT_CPU, &lim) != 0)
            _exit(7);
        volatile sig_atomic_t never = 0;
        spin_until(&never, 1, 60000, 0);
        _exit(0);
    }
    close(xcpu_pipe[1]);
    char got[8] = { 0 };
    size_t n = 0;
    ssize_t r;
    while (n < sizeof got - 1 && (r = read(xcpu_pipe[0], got + n, 1)) == 1)
        n++;
    close(xcpu_pipe[0]);
    int st = 0;
    wait_for(pid, &st);
    check(n == 2 && got[0] == '2' && got[1] == '3', "RLIMIT_CPU: SIGXCPU at the soft limit and a second later, the soft limit moving on",
          "%zu signals, soft limits seen \"%s\"", n, got);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "RLIMIT_CPU: SIGKILL at the hard limit", "%s", describe_status(st));
    pid = fork();
    if (pid == 0) {
        struct rlimit lim = { 1, RLIM_INFINITY };
        setrlimit(RLIMIT_CPU, &lim);
        volatile sig_atomic_t never = 0;
        spin_until(&never, 1, 60000, 0);
        _exit(0);
    }
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU, "RLIMIT_CPU: an unhandled SIGXCPU kills", "%s", describe_status(st));
}

/* The exec'ed copy (argv[1] "--itimer-after-exec"): execve keeps both timers. */
static int itimer_after_exec(void)
{
    struct itimerval v, p;
    getitimer(ITIMER_VIRTUAL, &v);
    getitimer(ITIMER_PROF, &p);
    return tv_ns(v.it_value) > 0 && tv_ns(v.it_value) <= 50000000000LL && tv_ns(p.it_value) > 0 ? 0 : 3;
}

/* ---- signals -------------------------------------------------------- */

static volatile int resethand_signo, resethand_code;

static void on_resethand(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    resethand_signo = info->si_signo;
    resethand_code = info->si_code;
    (void)sig;
}

static void test_resethand(void)
{
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_resethand;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    resethand_signo = 0;
    kill(getpid(), SIGUSR2);
    check(resethand_signo == SIGUSR2 && resethand_code == SI_USER, "an SA_RESETHAND|SA_SIGINFO handler gets its siginfo",
          "si_signo %d si_code %d", resethand_signo, resethand_code);
    sigaction(SIGUSR2, NULL, &now);
    check(now.sa_handler == SIG_DFL, "SA_RESETHAND resets the handler to SIG_DFL", "handler %p", (void *)now.sa_handler);
    check((now.sa_flags & SA_SIGINFO) != 0, "SA_RESETHAND keeps SA_SIGINFO in sa_flags (as Linux)", "flags %#x",
          (unsigned)now.sa_flags);
    /* The next one takes the default action: SIGUSR2 kills. */
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGUSR2, &sa, NULL);
        raise(SIGUSR2);
        raise(SIGUSR2);
        _exit(0);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR2, "after SA_RESETHAND the second signal takes the default action",
          "%s", describe_status(st));
}

static int pdeath_pipe[2];

static void on_pdeath(int sig)
{
    (void)sig;
    char c = 'D';
    if (write(pdeath_pipe[1], &c, 1) != 1)
        _exit(5);
}

/* A middle process forks the child, which asks for SIGUSR1 when the middle
 * one dies; the middle one exits; the child reports what it got. */
static void test_pdeathsig(void)
{
    long r = prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
    int got = -1;
    long g = prctl(PR_GET_PDEATHSIG, &got, 0, 0, 0);
    check(r == 0 && g == 0 && got == SIGUSR1, "prctl(PR_SET_PDEATHSIG) then PR_GET_PDEATHSIG", "set %ld get %ld: %d", r, g, got);
    pid_t pid = fork();
    if (pid == 0) {
        int inherited = -1;
        prctl(PR_GET_PDEATHSIG, &inherited, 0, 0, 0);
        _exit(inherited == 0 ? 0 : 1);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child does not inherit the parent-death signal", "%s", describe_status(st));
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    expect_errno("PR_SET_PDEATHSIG of signal 65 is EINVAL", prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0), EINVAL);

    int report[2], ready[2];
    if (pipe(report) != 0 || pipe(ready) != 0) {
        not_ok("pipes", "%s", errname(errno));
        return;
    }
    pid_t middle = fork();
    if (middle == 0) {
        pid_t child = fork();
        if (child == 0) {
            pdeath_pipe[1] = report[1];
            signal(SIGUSR1, on_pdeath);
            prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
            char c = 'R';
            if (write(ready[1], &c, 1) != 1)
                _exit(4);
            struct timespec nap = { 0, 10000000 };
            for (int i = 0; i < 1000; i++)
                nanosleep(&nap, NULL);
            _exit(0);
        }
        char c;
        if (read(ready[0], &c, 1) != 1)
            _exit(4);
        _exit(0);
    }
    close(ready[1]);
    close(report[1]);
    wait_for(middle, &st);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char c = 0;
    ssize_t n = read(report[0], &c, 1);
    check(n == 1 && c == 'D', "the child gets its PR_SET_PDEATHSIG signal when its parent exits", "read %zd '%c'", n, c);
    close(report[0]);
    close(ready[0]);
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen++;
}

static void test_epoll_signals(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("pipe", "%s", errname(errno));
        return;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev);
    if (write(fds[1], "x", 1) != 1)
        not_ok("write", "%s", errname(errno));

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    struct epoll_event out[4];
    memset(out, 0, sizeof out);
    int n = epoll_pwait(ep, out, 4, 0, &mask);
    check(n == 1 && out[0].data.u64 == 77, "epoll_pwait with a signal mask returns the ready event", "n=%d %s", n,
          n < 0 ? errname(errno) : "");
    n = epoll_pwait(ep, out, 4, 1000, &mask);
    check(n == 1, "epoll_pwait with a mask and a timeout returns the ready event at once", "n=%d %s", n,
          n < 0 ? errname(errno) : "");
    n = (int)syscall(SYS_epoll_pwait, ep, out, 4, 0, &mask, 8);
    check(n == 1, "raw epoll_pwait with sigsetsize 8", "n=%d %s", n, n < 0 ? errname(errno) : "");
    n = (int)syscall(SYS_epoll_pwait, ep, out, 4, 0, &mask, 4);
    expect_errno("epoll_pwait with sigsetsize 4 is EINVAL", n, EINVAL);

    /* A pending blocked signal, unblocked by the mask: EINTR, handler run,
     * and the old mask back. */
    char buf[8];
    if (read(fds[0], buf, sizeof buf) != 1)
        not_ok("read", "%s", errname(errno));
    signal(SIGUSR1, on_usr1);
    sigset_t block, old, none;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    usr1_seen = 0;
    kill(getpid(), SIGUSR1);
    sigemptyset(&none);
    n = epoll_pwait(ep, out, 4, 2000, &none);
    int e = errno;
    sigset_t after;
    sigprocmask(SIG_SETMASK, NULL, &after);
    check(n == -1 && e == EINTR && usr1_seen == 1, "epoll_pwait whose mask unblocks a pending signal: EINTR, handler run",
          "n=%d %s, handler %d", n, errname(e), (int)usr1_seen);
    check(sigismember(&after, SIGUSR1) == 1, "epoll_pwait puts the old mask back", "SIGUSR1 unblocked after the call");
    /* A blocked pending signal and a mask that keeps it blocked: the event. */
    kill(getpid(), SIGUSR1);
    if (write(fds[1], "y", 1) != 1)
        not_ok("write", "%s", errname(errno));
    n = epoll_pwait(ep, out, 4, 0, &block);
    check(n == 1 && usr1_seen == 1, "epoll_pwait whose mask blocks the pending signal returns the event", "n=%d handler %d", n,
          (int)usr1_seen);
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(usr1_seen == 2, "the pending signal is delivered once unblocked", "handler %d", (int)usr1_seen);
    if (read(fds[0], buf, sizeof buf) != 1)
        not_ok("read", "%s", errname(errno));

    /* epoll_wait interrupted by a handled signal (no SA_RESTART): EINTR,
     * and the process goes on making calls. */
    catch(SIGALRM, 0);
    alrm_count = 0;
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    n = epoll_wait(ep, out, 4, 5000);
    e = errno;
    check(n == -1 && e == EINTR && alrm_count == 1, "epoll_wait interrupted by a handled SIGALRM is EINTR", "n=%d %s alarms %d",
          n, errname(e), (int)alrm_count);
    pid_t me = getpid();
    check(syscall(SYS_getpid) == me, "after epoll_wait's EINTR the next call works", "getpid differs");
    if (write(fds[1], "z", 1) != 1)
        not_ok("write", "%s", errname(errno));
    n = epoll_wait(ep, out, 4, 5000);
    check(n == 1 && out[0].data.u64 == 77, "after EINTR epoll_wait returns the next ready event", "n=%d %s", n,
          n < 0 ? errname(errno) : "");
    n = epoll_wait(ep, out, 4, 0);
    check(n == 1, "and again (level-triggered)", "n=%d", n);
    if (read(fds[0], buf, sizeof buf) != 1)
        not_ok("read", "%s", errname(errno));
    n = epoll_wait(ep, out, 4, 50);
    check(n == 0, "and times out once drained", "n=%d %s", n, n < 0 ? errname(errno) : "");

    /* Never restarted after a handler, SA_RESTART or not (signal(7)). */
    catch(SIGALRM, SA_RESTART);
    alrm_count = 0;
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    n = epoll_wait(ep, out, 4, 3000);
    e = errno;
    check(n == -1 && e == EINTR && alrm_count == 1, "epoll_wait is EINTR after an SA_RESTART handler too", "n=%d %s alarms %d", n,
          errname(e), (int)alrm_count);
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    n = poll(&pfd, 1, 3000);
    e = errno;
    check(n == -1 && e == EINTR && alrm_count == 2, "poll is EINTR after an SA_RESTART handler", "n=%d %s alarms %d", n, errname(e),
          (int)alrm_count);
    struct timespec long_nap = { 3, 0 }, rem = { 0, 0 };
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    int r = nanosleep(&long_nap, &rem);
    e = errno;
    check(r == -1 && e == EINTR && alrm_count == 3, "nanosleep is EINTR after an SA_RESTART handler", "r=%d %s alarms %d", r, errname(e),
          (int)alrm_count);
    check(rem.tv_sec >= 1 && rem.tv_sec <= 3, "nanosleep writes the time left to rem", "rem %ld.%09ld", (long)rem.tv_sec, (long)rem.tv_nsec);

    /* ppoll's mask, as epoll_pwait's. */
    sigprocmask(SIG_BLOCK, &block, &old);
    usr1_seen = 0;
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);
    struct timespec two = { 2, 0 };
    n = ppoll(&pfd, 1, &two, &none);
    e = errno;
    check(n == -1 && e == EINTR && usr1_seen == 1, "ppoll whose mask unblocks a pending signal: EINTR, handler run", "n=%d %s handler %d", n,
          errname(e), (int)usr1_seen);
    kill(getpid(), SIGUSR1);
    if (write(fds[1], "w", 1) != 1)
        not_ok("write", "%s", errname(errno));
    n = ppoll(&pfd, 1, &two, &block);
    check(n == 1 && usr1_seen == 1, "ppoll whose mask blocks the pending signal returns the event", "n=%d handler %d", n, (int)usr1_seen);
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(usr1_seen == 2, "and the signal comes once unblocked", "handler %d", (int)usr1_seen);
    if (read(fds[0], buf, sizeof buf) != 1)
        not_ok("read", "%s", errname(errno));

    close(ep);
    close(fds[0]);
    close(fds[1]);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
}

/* ---- time ----------------------------------------------------------- */

static void test_clock_nanosleep(void)
{
    struct timespec one = { 1, 0 };
    long long start = clock_ns(CLOCK_MONOTONIC);
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &one, NULL);
    long long took = clock_ns(CLOCK_MONOTONIC) - start;
    check(r == 0 && took >= 1000000000LL && took < 3000000000LL, "clock_nanosleep(CLOCK_MONOTONIC, relative 1 s) returns after 1 s",
          "r=%d after %lld ms", r, took / 1000000);
    struct timespec almost = { 0, 999999999 };
    start = clock_ns(CLOCK_MONOTONIC);
    r = clock_nanosleep(CLOCK_REALTIME, 0, &almost, NULL);
    took = clock_ns(CLOCK_MONOTONIC) - start;
    check(r == 0 && took >= 999000000LL && took < 3000000000LL, "clock_nanosleep(CLOCK_REALTIME, relative 0.999999999 s)",
          "r=%d after %lld ms", r, took / 1000000);
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += 1;
    start = clock_ns(CLOCK_MONOTONIC);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
    took = clock_ns(CLOCK_MONOTONIC) - start;
    check(r == 0 && took >= 990000000LL && took < 3000000000LL, "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME now + 1 s)",
          "r=%d after %lld ms", r, took / 1000000);
    struct timespec bad = { 0, 1000000000 };
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL);
    check(r == EINVAL, "clock_nanosleep with tv_nsec 1e9 is EINVAL", "r=%d", r);
    /* Raw: musl answers EINVAL for CLOCK_THREAD_CPUTIME_ID itself. */
    expect_errno("clock_nanosleep on CLOCK_THREAD_CPUTIME_ID is EOPNOTSUPP",
                 syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &one, NULL), EOPNOTSUPP);
    expect_errno("clock_nanosleep on CLOCK_MONOTONIC_RAW is EOPNOTSUPP", syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &one, NULL),
                 EOPNOTSUPP);
    expect_errno("clock_nanosleep on CLOCK_MONOTONIC_COARSE is EOPNOTSUPP",
                 syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_COARSE, 0, &one, NULL), EOPNOTSUPP);
    expect_errno("clock_nanosleep on clock 12 is EINVAL", syscall(SYS_clock_nanosleep, 12, 0, &one, NULL), EINVAL);
    /* The process's CPU time does not move while its one thread sleeps:
     * only a signal ends the sleep (EINTR, all of it left). */
    catch(SIGALRM, 0);
    alrm_count = 0;
    set_timer(ITIMER_REAL, 200000, 0, NULL);
    struct timespec cpu = { 0, 50000000 }, rem = { 0, 0 };
    start = clock_ns(CLOCK_MONOTONIC);
    long raw = syscall(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, 0, &cpu, &rem);
    int e = errno;
    took = clock_ns(CLOCK_MONOTONIC) - start;
    check(raw == -1 && e == EINTR && alrm_count == 1 && took >= 150000000LL,
          "clock_nanosleep on CLOCK_PROCESS_CPUTIME_ID sleeps until a signal", "r=%ld %s after %lld ms", raw, errname(e), took / 1000000);
    check(rem.tv_sec == 0 && rem.tv_nsec > 40000000L && rem.tv_nsec <= 50000000L, "and leaves (almost) all of its CPU time in rem",
          "rem %ld.%09ld", (long)rem.tv_sec, (long)rem.tv_nsec);
    signal(SIGALRM, SIG_DFL);
}

/* select, pselect6 and ppoll write the time left back to their timeout. */
static void test_time_left(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("pipe", "%s", errname(errno));
        return;
    }
    catch(SIGALRM, 0);
    alrm_count = 0;
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fds[0], &set);
    struct timeval tv = { 2, 0 };
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    /* Raw: musl's select passes the kernel a copy of the timeout. */
    int n = (int)syscall(SYS_select, fds[0] + 1, &set, NULL, NULL, &tv);
    int e = errno;
    check(n == -1 && e == EINTR && tv_ns(tv) > 1500000000LL && tv_ns(tv) < 2000000000LL,
          "select interrupted at 0.1 s of 2 s: EINTR, about 1.9 s left in the timeout", "n=%d %s left %ld.%06ld", n, errname(e),
          (long)tv.tv_sec, (long)tv.tv_usec);
    FD_ZERO(&set);
    FD_SET(fds[0], &set);
    struct timeval short_tv = { 0, 100000 };
    n = (int)syscall(SYS_select, fds[0] + 1, &set, NULL, NULL, &short_tv);
    check(n == 0 && short_tv.tv_sec == 0 && short_tv.tv_usec == 0, "select that times out leaves 0 in the timeout", "n=%d left %ld.%06ld", n,
          (long)short_tv.tv_sec, (long)short_tv.tv_usec);
    if (write(fds[1], "r", 1) != 1)
        not_ok("write", "%s", errname(errno));
    FD_ZERO(&set);
    FD_SET(fds[0], &set);
    struct timespec ts = { 5, 0 };
    n = (int)syscall(SYS_pselect6, fds[0] + 1, &set, NULL, NULL, &ts, NULL);
    check(n == 1 && ts.tv_sec >= 4 && ts.tv_sec <= 5 && (ts.tv_sec < 5 || ts.tv_nsec == 0),
          "pselect6 with a ready descriptor returns at once, nearly all its time left", "n=%d left %ld.%09ld", n, (long)ts.tv_sec,
          (long)ts.tv_nsec);
    char c;
    if (read(fds[0], &c, 1) != 1)
        not_ok("read", "%s", errname(errno));
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    struct timespec pts = { 2, 0 };
    set_timer(ITIMER_REAL, 100000, 0, NULL);
    n = (int)syscall(SYS_ppoll, &pfd, 1, &pts, NULL, 8);
    e = errno;
    check(n == -1 && e == EINTR && pts.tv_sec == 1, "ppoll interrupted at 0.1 s of 2 s: about 1.9 s left in the timeout",
          "n=%d %s left %ld.%09ld", n, errname(e), (long)pts.tv_sec, (long)pts.tv_nsec);
    struct timespec zero = { 0, 0 };
    n = (int)syscall(SYS_ppoll, &pfd, 1, &zero, NULL, 8);
    check(n == 0 && zero.tv_sec == 0 && zero.tv_nsec == 0, "ppoll with a zero timeout returns 0 at once", "n=%d", n);
    close(fds[0]);
    close(fds[1]);
    signal(SIGALRM, SIG_DFL);
}

/* ---- net ------------------------------------------------------------ */

static void test_connect_any(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY), .sin_port = 0 };
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0 || getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        not_ok("listener on 0.0.0.0", "%s", errname(errno));
        return;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY), .sin_port = a.sin_port };
    int r = connect(c, (struct sockaddr *)&to, sizeof to);
    check(r == 0, "TCP connect to 0.0.0.0 reaches the local listener", "%s", errname(errno));
    if (r == 0) {
        struct sockaddr_in peer;
        len = sizeof peer;
        getpeername(c, (struct sockaddr *)&peer, &len);
        check(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && peer.sin_port == a.sin_port, "its peer is 127.0.0.1",
              "peer %s:%d", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
        int s = accept(l, NULL, NULL);
        char buf[8] = { 0 };
        ssize_t n = s >= 0 && write(c, "ping", 4) == 4 ? read(s, buf, sizeof buf) : -1;
        check(n == 4 && memcmp(buf, "ping", 4) == 0, "data flows over the connection to 0.0.0.0", "read %zd", n);
        if (s >= 0)
            close(s);
    }
    close(c);
    close(l);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0 };
    len = sizeof ua;
    bind(u, (struct sockaddr *)&ua, sizeof ua);
    getsockname(u, (struct sockaddr *)&ua, &len);
    int v = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in uto = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY), .sin_port = ua.sin_port };
    r = connect(v, (struct sockaddr *)&uto, sizeof uto);
    check(r == 0, "UDP connect to 0.0.0.0", "%s", errname(errno));
    ssize_t sent = send(v, "dgram", 5, 0);
    char buf[16] = { 0 };
    struct pollfd pfd = { .fd = u, .events = POLLIN };
    ssize_t got = poll(&pfd, 1, 2000) == 1 ? recv(u, buf, sizeof buf, 0) : -1;
    check(sent == 5 && got == 5 && memcmp(buf, "dgram", 5) == 0, "a datagram sent to 0.0.0.0 arrives on 127.0.0.1", "sent %zd got %zd",
          sent, got);
    close(u);
    close(v);
}

/* recv that cannot hang: poll first (2 s). */
static ssize_t recv_within(int fd, void *buf, size_t len)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, 2000) != 1) {
        errno = ETIMEDOUT;
        return -2;
    }
    return recv(fd, buf, len, 0);
}

static void test_socketpair_shutdown(int type, const char *name)
{
    char label[128];
    int sv[2];
    if (socketpair(AF_UNIX, type, 0, sv) != 0) {
        not_ok(name, "socketpair: %s", errname(errno));
        return;
    }
    char buf[64];
    ssize_t s = send(sv[0], "0123456789abcdef", 16, 0);
    ssize_t r = recv_within(sv[1], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: send 16 then recv 16", name);
    check(s == 16 && r == 16, label, "send %zd recv %zd", s, r);
    shutdown(sv[0], SHUT_WR);
    r = recv_within(sv[1], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: recv after the peer's SHUT_WR is 0 (end of file)", name);
    check(r == 0, label, "recv %zd %s", r, r < 0 ? errname(errno) : "");
    r = recv_within(sv[1], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: and 0 again", name);
    check(r == 0, label, "recv %zd", r);
    s = send(sv[0], "x", 1, MSG_NOSIGNAL);
    snprintf(label, sizeof label, "%s: send after one's own SHUT_WR is EPIPE", name);
    expect_errno(label, s, EPIPE);
    s = send(sv[1], "back", 4, 0);
    r = recv_within(sv[0], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: the other direction still works", name);
    check(s == 4 && r == 4, label, "send %zd recv %zd", s, r);
    close(sv[1]);
    r = recv_within(sv[0], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: recv after the peer closed is 0", name);
    check(r == 0, label, "recv %zd %s", r, r < 0 ? errname(errno) : "");
    s = send(sv[0], "x", 1, MSG_NOSIGNAL);
    snprintf(label, sizeof label, "%s: send to a closed peer is EPIPE", name);
    expect_errno(label, s, EPIPE);
    close(sv[0]);

    /* Data sent before the close is still read, then end of file. */
    if (socketpair(AF_UNIX, type, 0, sv) != 0)
        return;
    send(sv[0], "last words", 10, 0);
    close(sv[0]);
    r = recv_within(sv[1], buf, sizeof buf);
    ssize_t r2 = recv_within(sv[1], buf, sizeof buf);
    snprintf(label, sizeof label, "%s: what was sent before the close is read, then 0", name);
    check(r == 10 && r2 == 0, label, "recv %zd then %zd", r, r2);
    close(sv[1]);
}

/* ---- exec ----------------------------------------------------------- */

static void test_exec_copy(const char *self)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test-semantics-copy.%d", (int)getpid());
    int in = open(self, O_RDONLY);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    long copied = 0;
    char buf[8192];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            copied = -1;
            break;
        }
        copied += n;
    }
    check(in >= 0 && out >= 0 && copied > 0, "copy the program to /tmp", "in %d out %d copied %ld: %s", in, out, copied, errname(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    catch(SIGVTALRM, 0);
    catch(SIGPROF, 0);
    set_timer(ITIMER_VIRTUAL, 30000000, 0, NULL);
    set_timer(ITIMER_PROF, 30000000, 0, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = { path, "--itimer-after-exec", NULL };
        char *envp[] = { NULL };
        execve(path, argv, envp);
        _exit(127);
    }
    set_timer(ITIMER_VIRTUAL, 0, 0, NULL);
    set_timer(ITIMER_PROF, 0, 0, NULL);
    int st = 0;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) != 127, "the copy in /tmp runs", "%s", describe_status(st));
    pid = fork();
    if (pid == 0) {
        /* The child's own timers, armed before its exec. */
        set_timer(ITIMER_VIRTUAL, 30000000, 0, NULL);
        set_timer(ITIMER_PROF, 30000000, 0, NULL);
        char *argv[] = { path, "--itimer-after-exec", NULL };
        char *envp[] = { NULL };
        execve(path, argv, envp);
        _exit(127);
    }
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "execve keeps ITIMER_VIRTUAL and ITIMER_PROF", "%s", describe_status(st));
    check(unlink(path) == 0, "remove the copy", "%s", errname(errno));
}

/* ---- files ---------------------------------------------------------- */

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif

static void test_files(void)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "/tmp/test-semantics-a.%d", (int)getpid());
    snprintf(b, sizeof b, "/tmp/test-semantics-b.%d", (int)getpid());
    int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789", 10) != 10) {
        not_ok("create a file", "%s", errname(errno));
        return;
    }
    check(lseek(fd, 3, SEEK_DATA) == 3, "lseek SEEK_DATA inside the file: the offset itself", "%s", errname(errno));
    check(lseek(fd, 3, SEEK_HOLE) == 10, "lseek SEEK_HOLE inside the file: its end", "%s", errname(errno));
    check(lseek(fd, 0, SEEK_CUR) == 10, "SEEK_HOLE moved the offset there", "offset moved elsewhere");
    expect_errno("lseek SEEK_DATA at the end is ENXIO", lseek(fd, 10, SEEK_DATA), ENXIO);
    expect_errno("lseek SEEK_HOLE past the end is ENXIO", lseek(fd, 11, SEEK_HOLE), ENXIO);
    expect_errno("lseek SEEK_DATA of a negative offset is ENXIO", lseek(fd, -1, SEEK_DATA), ENXIO);
    expect_errno("lseek whence 5 is EINVAL", lseek(fd, 0, 5), EINVAL);
    close(fd);

    int fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fb >= 0)
        close(fb);
    expect_errno("renameat2 RENAME_NOREPLACE onto an existing name is EEXIST",
                 syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE), EEXIST);
    check(access(a, F_OK) == 0 && access(b, F_OK) == 0, "and both names are still there", "%s", errname(errno));
    unlink(b);
    long r = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE);
    check(r == 0 && access(a, F_OK) != 0 && access(b, F_OK) == 0, "renameat2 RENAME_NOREPLACE to a free name renames", "r=%ld %s", r,
          errname(errno));
    expect_errno("renameat2 RENAME_NOREPLACE of a missing name is ENOENT",
                 syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE), ENOENT);
    expect_errno("renameat2 with an unknown flag is EINVAL", syscall(SYS_renameat2, AT_FDCWD, b, AT_FDCWD, a, 8), EINVAL);
    expect_errno("renameat2 RENAME_NOREPLACE|RENAME_EXCHANGE is EINVAL",
                 syscall(SYS_renameat2, AT_FDCWD, b, AT_FDCWD, a, RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
    check(unlink(b) == 0, "remove the file", "%s", errname(errno));
}

static int sleep_a_while(void *arg)
{
    (void)arg;
    struct timespec nap = { 2, 0 };
    nanosleep(&nap, NULL);
    return 0;
}

/* sysinfo's procs counts processes: it grows with three more children. */
static void test_sysinfo(void)
{
    struct sysinfo before, during;
    sysinfo(&before);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(sleep_a_while(NULL));
    }
    sysinfo(&during);
    for (int i = 0; i < 3; i++) {
        kill(kids[i], SIGKILL);
        int st;
        wait_for(kids[i], &st);
    }
    check(during.procs >= before.procs + 3 && before.procs >= 1, "sysinfo's procs counts the processes (3 more children: 3 more)",
          "before %u, with 3 children %u", (unsigned)before.procs, (unsigned)during.procs);
}

/* ---- memory --------------------------------------------------------- */

static int touch_fails(void *arg)
{
    volatile char *p = arg;
    return *p == 0 ? 0 : 1;
}

static void test_munmap_holes(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)(4 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        not_ok("mmap 4 pages", "%s", errname(errno));
        return;
    }
    memset(m, 1, (size_t)(4 * page));
    check(munmap(m + page, (size_t)page) == 0, "munmap the second of 4 pages", "%s", errname(errno));
    check(munmap(m + 3 * page, (size_t)page) == 0, "munmap the fourth", "%s", errname(errno));
    check(m[0] == 1 && m[2 * page] == 1, "the pages around the holes keep their data", "changed");
    int r = munmap(m, (size_t)(4 * page));
    check(r == 0, "munmap across mapped and unmapped pages succeeds", "%s", errname(errno));
    int st = run_child(touch_fails, m + 2 * page);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the whole range is unmapped after it", "%s", describe_status(st));
    check(munmap(m, (size_t)(4 * page)) == 0, "munmap of a range with nothing mapped succeeds", "%s", errname(errno));
    expect_errno("munmap of an unaligned address is EINVAL", munmap(m + 1, (size_t)page), EINVAL);
    expect_errno("munmap of length 0 is EINVAL", munmap(m, 0), EINVAL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--itimer-after-exec") == 0)
        return itimer_after_exec();
    tap_family("cputime");
    test_itimer_virtual();
    test_itimer_prof();
    test_itimer_remaining();
    test_itimer_errors();
    test_rlimit_cpu();
    tap_family("signals");
    test_resethand();
    test_pdeathsig();
    test_epoll_signals();
    tap_family("time");
    test_clock_nanosleep();
    test_time_left();
    tap_family("net");
    test_connect_any();
    test_socketpair_shutdown(SOCK_STREAM, "SOCK_STREAM socketpair");
    test_socketpair_shutdown(SOCK_SEQPACKET, "SOCK_SEQPACKET socketpair");
    tap_family("exec");
    test_exec_copy(argc > 0 ? argv[0] : "/proc/self/exe");
    tap_family("files");
    test_files();
    tap_family("info");
    test_sysinfo();
    tap_family("memory");
    test_munmap_holes();
    return tap_done();
}
