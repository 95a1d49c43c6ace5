/* test-wait: exit, wait4 and waitid.
 *
 * Exit statuses and signal deaths encoded as Linux does (exit code << 8,
 * signal in the low 7 bits, 0x80 for a core dump), WNOHANG, ECHILD, zombies
 * (a dead child stays waitable until reaped, then is gone), waitid's
 * siginfo, orphans re-parented (inside Isola to pid 1 when the test is pid 1;
 * on the host the test makes itself a child subreaper so it plays pid 1's
 * part), SIGCHLD to the parent with its siginfo, and SIGCHLD set to SIG_IGN
 * reaping children automatically. */
#include "child.h"

#include <sys/prctl.h>
#include <sys/resource.h>

static int exit_code(void *arg)
{
    return (int)(long)arg;
}

static void test_exit_statuses(void)
{
    const long codes[] = {0, 1, 42, 255, 256, 257};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        int st = run_child(exit_code, (void *)codes[i]);
        int want = (int)(codes[i] & 0xff);
        char name[80];
        snprintf(name, sizeof name, "_exit(%ld) gives status %#x", codes[i], want << 8);
        check(st == want << 8 && WIFEXITED(st) && WEXITSTATUS(st) == want, name, "got %#x (%s)", st,
              describe_status(st));
    }
    /* exit_group directly. */
    pid_t pid = fork();
    if (pid == 0)
        syscall(SYS_exit_group, 3);
    int st = 0;
    wait_for(pid, &st);
    check(st == 3 << 8, "exit_group(3) gives status 0x300", "got %#x", st);
}

static int die_by(void *arg)
{
    int sig = (int)(long)arg;
    signal(sig, SIG_DFL);
    kill(getpid(), sig);
    /* SIGSTOP-like or blocked: should not get here. */
    return 99;
}

static void test_signal_deaths(void)
{
    int st = run_child(die_by, (void *)(long)SIGKILL);
    check(st == SIGKILL, "SIGKILL death: status 9", "got %#x (%s)", st, describe_status(st));
    st = run_child(die_by, (void *)(long)SIGTERM);
    check(st == SIGTERM, "SIGTERM death: status 15", "got %#x (%s)", st, describe_status(st));
    st = run_child(die_by, (void *)(long)SIGUSR1);
    check(st == SIGUSR1, "SIGUSR1 death: status 10", "got %#x (%s)", st, describe_status(st));
    st = run_child(die_by, (void *)(long)SIGQUIT);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT && (st & ~0x80) == SIGQUIT,
          "SIGQUIT death: status 3, core bit 0x80 allowed", "got %#x (%s)", st, describe_status(st));
    st = run_child(die_by, (void *)(long)SIGABRT);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "SIGABRT death: signal 6", "got %#x (%s)", st,
          describe_status(st));
    /* Killed from outside while blocked in a syscall. */
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        _exit(1);
    }
    close(fds[0]);
    sleep_ms(10);
    kill(pid, SIGTERM);
    st = 0;
    pid_t w = wait_for(pid, &st);
    close(fds[1]);
    check(w == pid && st == SIGTERM, "a child blocked in read, killed by the parent's SIGTERM: status 15",
          "wait %d, %#x (%s)", w, st, describe_status(st));
}

static void test_wnohang_echild(void)
{
    int st = 0;
    pid_t w = waitpid(-1, &st, 0);
    expect_errno("wait with no children: ECHILD", w, ECHILD);
    w = waitpid(-1, &st, WNOHANG);
    expect_errno("WNOHANG with no children: ECHILD", w, ECHILD);
    w = waitpid(getpid() + 100000, &st, 0);
    expect_errno("wait for a pid that is not a child: ECHILD", w, ECHILD);

    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        _exit(5);
    }
    close(fds[0]);
    w = waitpid(pid, &st, WNOHANG);
    check(w == 0, "WNOHANG on a running child returns 0", "returned %d (%s)", w, w < 0 ? errname(errno) : "");
    w = waitpid(-1, &st, WNOHANG);
    check(w == 0, "WNOHANG for any child while one runs returns 0", "returned %d", w);
    close(fds[1]); /* the child reads EOF and exits */
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    w = wait4(pid, &st, 0, &ru);
    check(w == pid && WEXITSTATUS(st) == 5 && ru.ru_utime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 &&
              ru.ru_utime.tv_usec < 1000000,
          "wait4 with rusage: the pid, exit 5, a sane rusage", "wait4 %d, %s, utime %ld.%06ld", w,
          describe_status(st), (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
}

static void test_zombies(void)
{
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0)
        _exit(12);
    close(fds[1]);
    /* The child's exit closed its copy of the write end. */
    char c;
    read(fds[0], &c, 1);
    close(fds[0]);
    sleep_ms(20);
    check(kill(pid, 0) == 0, "a dead, unreaped child still exists (kill 0 succeeds)", "kill: %s",
          errname(errno));
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 400 && w == 0; i++) {
        w = waitpid(pid, &st, WNOHANG);
        if (w == 0)
            sleep_ms(5);
    }
    check(w == pid && WEXITSTATUS(st) == 12, "the zombie's status, reaped with WNOHANG", "waitpid %d, %s", w,
          describe_status(st));
    w = waitpid(pid, &st, WNOHANG);
    expect_errno("a reaped child cannot be waited for again: ECHILD", w, ECHILD);
    expect_errno("a reaped child is gone: kill(pid, 0) ESRCH", kill(pid, 0), ESRCH);

    /* Many zombies at once, all reaped. */
    int n = 0;
    for (int i = 0; i < 20; i++) {
        pid_t p = fork();
        if (p == 0)
            _exit(i);
        if (p > 0)
            n++;
    }
    int reaped = 0;
    while (wait(&st) > 0)
        reaped++;
    check(reaped == n && n == 20 && errno == ECHILD, "20 zombies reaped, then ECHILD", "forked %d, reaped %d",
          n, reaped);
}

static void test_waitid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, (id_t)pid, &si, WEXITED);
    check(r == 0 && si.si_signo == SIGCHLD && si.si_pid == pid && si.si_code == CLD_EXITED && si.si_status == 3,
          "waitid(P_PID, WEXITED): SIGCHLD, pid, CLD_EXITED, status 3",
          "r %d (%s), signo %d, pid %d, code %d, status %d", r, r ? errname(errno) : "", si.si_signo, si.si_pid,
          si.si_code, si.si_status);

    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    memset(&si, 0xaa, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    check(r == 0 && si.si_pid == 0, "waitid WNOHANG with a running child: 0 and si_pid 0",
          "r %d (%s), si_pid %d", r, r ? errname(errno) : "", si.si_pid);
    kill(pid, SIGKILL);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    check(r == 0 && si.si_pid == pid && si.si_code == CLD_KILLED && si.si_status == SIGKILL,
          "waitid(P_ALL) of a SIGKILLed child: CLD_KILLED, status 9", "r %d, pid %d/%d, code %d, status %d", r,
          si.si_pid, pid, si.si_code, si.si_status);
    r = waitid(P_ALL, 0, &si, WEXITED);
    expect_errno("waitid with no children: ECHILD", r, ECHILD);
}

/* Orphans: our child forks a grandchild and exits; the grandchild outlives
 * it and must be re-parented to the reaper (pid 1, or us as subreaper),
 * whose wait then returns it. */
static void test_orphans(void)
{
    pid_t me = getpid();
    int reaper = me == 1;
    if (!reaper && !in_isola())
        reaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
    if (!reaper) {
        skip("an orphan is re-parented to the reaper", "not pid 1 and no subreaper");
        skip("the reaper's wait returns the orphan", "not pid 1 and no subreaper");
        return;
    }
    int fds[2];
    pipe(fds);
    pid_t child = fork();
    if (child == 0) {
        pid_t g = fork();
        if (g == 0) {
            /* Wait until our parent is gone, then report our new parent. */
            close(fds[1]);
            char c;
            read(fds[0], &c, 1); /* EOF when the child exited */
            for (int i = 0; i < 200 && getppid() != me; i++)
                sleep_ms(5);
            _exit(getppid() == me ? 42 : 43);
        }
        /* Tell the parent the grandchild's pid through the exit... no: pass
         * it through the pipe's other direction is not needed; exit 0. */
        _exit(g > 0 ? 0 : 1);
    }
    close(fds[0]);
    int st = 0;
    pid_t w = wait_for(child, &st);
    close(fds[1]);
    check(w == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the orphan's parent exits 0", "%s",
          describe_status(st));
    st = 0;
    w = wait_for(-1, &st);
    check(w > 0 && w != child, "the reaper's wait returns the orphan", "wait %d (%s)", w,
          w < 0 ? errname(errno) : "");
    check(w > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42, "an orphan is re-parented to the reaper",
          "orphan %s (43: getppid never became %d)", describe_status(st), me);
    if (me != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

static volatile sig_atomic_t chld_count;
static volatile pid_t chld_pid;
static volatile int chld_code, chld_status;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    chld_count++;
    chld_pid = si->si_pid;
    chld_code = si->si_code;
    chld_status = si->si_status;
}

static void test_sigchld(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &orig);
    chld_count = 0;
    pid_t pid = fork();
    if (pid == 0)
        _exit(17);
    sigset_t empty;
    sigemptyset(&empty);
    while (chld_count == 0)
        sigsuspend(&empty);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    check(chld_count == 1 && chld_pid == pid && chld_code == CLD_EXITED && chld_status == 17,
          "SIGCHLD reaches the parent: si_pid, CLD_EXITED, si_status 17", "count %d, pid %d/%d, code %d, status %d",
          (int)chld_count, (int)chld_pid, pid, chld_code, chld_status);
    int st;
    wait_for(pid, &st);

    /* A killed child: CLD_KILLED with the signal. */
    chld_count = 0;
    sigprocmask(SIG_BLOCK, &block, &orig);
    pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    kill(pid, SIGKILL);
    while (chld_count == 0)
        sigsuspend(&empty);
    sigprocmask(SIG_SETMASK, &orig, NULL);
    check(chld_pid == pid && chld_code == CLD_KILLED && chld_status == SIGKILL,
          "SIGCHLD for a killed child: CLD_KILLED, si_status 9", "pid %d/%d, code %d, status %d", (int)chld_pid,
          pid, chld_code, chld_status);
    wait_for(pid, &st);

    /* Default disposition (ignore, but children stay waitable). */
    signal(SIGCHLD, SIG_DFL);
    pid = fork();
    if (pid == 0)
        _exit(8);
    st = 0;
    pid_t w = wait_for(pid, &st);
    check(w == pid && WEXITSTATUS(st) == 8, "SIGCHLD default: the parent lives and the child is waitable",
          "wait %d, %s", w, describe_status(st));

    /* SIG_IGN: children are reaped by the kernel; wait ends with ECHILD. */
    signal(SIGCHLD, SIG_IGN);
    pid = fork();
    if (pid == 0)
        _exit(9);
    w = wait_for(pid, &st);
    expect_errno("SIGCHLD ignored: children reaped automatically, wait gives ECHILD", w, ECHILD);
    sigaction(SIGCHLD, &old, NULL);
    signal(SIGCHLD, SIG_DFL);
}

int main(void)
{
    test_exit_statuses();
    test_signal_deaths();
    test_wnohang_echild();
    test_zombies();
    test_waitid();
    test_orphans();
    test_sigchld();
    return tap_done();
}
