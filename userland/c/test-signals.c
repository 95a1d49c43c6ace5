/* test-signals: signal delivery and default actions.
 *
 * rt_sigaction (old action back), SA_SIGINFO delivery (si_signo, si_code,
 * si_pid, si_uid) from kill and tgkill, rt_sigprocmask (blocked signals stay
 * pending and arrive when unblocked; the handler's mask), rt_sigreturn
 * restoring the interrupted registers (a handler that changes the saved RAX
 * changes what the interrupted syscall returns), sigaltstack, pause and
 * alarm, rt_sigsuspend woken by another process, EINTR and SA_RESTART on a
 * blocking read, default actions (terminate, ignore, core-as-terminate),
 * SIG_IGN, a SIGSEGV handler seeing si_addr, and inside Isola at isolation
 * mpk a domain fault delivered as SIGSEGV with si_code SEGV_PKUERR and
 * si_pkey 0. */
#define _GNU_SOURCE
#include "child.h"

#include <stdint.h>
#include <ucontext.h>

#ifndef SEGV_PKUERR
#define SEGV_PKUERR 4
#endif
#ifndef SI_TKILL
#define SI_TKILL (-6)
#endif

static volatile sig_atomic_t hits;
static volatile int last_sig, last_code, last_pid, last_uid;
static volatile int mask_had_self, mask_had_extra;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    hits++;
    last_sig = si->si_signo == sig ? sig : -si->si_signo;
    last_code = si->si_code;
    last_pid = si->si_pid;
    last_uid = (int)si->si_uid;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    mask_had_self = sigismember(&now, sig);
    mask_had_extra = sigismember(&now, SIGUSR2);
}

static void on_plain(int sig)
{
    (void)sig;
    hits++;
}

static volatile sig_atomic_t backstop_hits;

static void on_backstop(int sig)
{
    (void)sig;
    backstop_hits++;
}

static int install(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

static int install_plain(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

static void test_sigaction_delivery(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    int r = sigaction(SIGUSR1, &sa, NULL);
    memset(&old, 0, sizeof old);
    r |= sigaction(SIGUSR1, NULL, &old);
    check(r == 0 && old.sa_sigaction == on_info && (old.sa_flags & SA_SIGINFO) && sigismember(&old.sa_mask, SIGUSR2),
          "rt_sigaction gives back the installed action", "r %d, flags %#x", r, (unsigned)old.sa_flags);
    hits = 0;
    kill(getpid(), SIGUSR1);
    check(hits == 1 && last_sig == SIGUSR1 && last_code == SI_USER && last_pid == getpid() &&
              last_uid == (int)getuid(),
          "kill to self: SA_SIGINFO handler with si_signo, SI_USER, si_pid, si_uid",
          "hits %d, signo %d, code %d, pid %d, uid %d", (int)hits, last_sig, last_code, last_pid, last_uid);
    check(mask_had_self && mask_had_extra, "inside the handler the signal and sa_mask are blocked",
          "self %d, sa_mask %d", mask_had_self, mask_had_extra);
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(!sigismember(&now, SIGUSR1) && !sigismember(&now, SIGUSR2), "the mask is restored after the handler",
          "SIGUSR1 %d SIGUSR2 %d", sigismember(&now, SIGUSR1), sigismember(&now, SIGUSR2));
    hits = 0;
    long t = syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
    check(t == 0 && hits == 1 && last_code == SI_TKILL, "tgkill: delivered with SI_TKILL", "r %ld, hits %d, code %d",
          t, (int)hits, last_code);
    expect_errno("kill with an invalid signal: EINVAL", kill(getpid(), 65), EINVAL);
    expect_errno("rt_sigaction on SIGKILL: EINVAL", sigaction(SIGKILL, &sa, NULL), EINVAL);
    check(kill(getpid(), 0) == 0, "kill(self, 0) checks existence", "%s", errname(errno));
}

static void test_mask_pending(void)
{
    install(SIGUSR1, on_info, 0);
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    hits = 0;
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigpending(&pend);
    check(hits == 0 && sigismember(&pend, SIGUSR1), "a blocked signal stays pending", "hits %d, pending %d",
          (int)hits, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(hits == 1, "unblocking delivers it once (standard signals do not queue)", "hits %d", (int)hits);
    /* SIGKILL and SIGSTOP cannot be blocked. */
    sigset_t all, got;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    sigprocmask(SIG_SETMASK, &old, &got);
    check(!sigismember(&got, SIGKILL) && !sigismember(&got, SIGSTOP), "SIGKILL and SIGSTOP cannot be blocked",
          "kill %d stop %d", sigismember(&got, SIGKILL), sigismember(&got, SIGSTOP));
}

/* rt_sigreturn restores the saved registers: the handler sets the saved
 * RAX (the interrupted kill's return value) to 4242. */
static void on_set_rax(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_RAX] = 4242;
    hits++;
}

static long raw_kill_self(int sig)
{
    long pid = syscall(SYS_getpid);
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_kill), "D"(pid), "S"((long)sig) : "rcx", "r11", "memory");
    return ret;
}

static void test_sigreturn(void)
{
    install(SIGUSR2, on_set_rax, 0);
    hits = 0;
    register long keep __asm__("r12") = 0x1122334455667788L;
    __asm__ volatile("" : "+r"(keep));
    long r = raw_kill_self(SIGUSR2);
    __asm__ volatile("" : "+r"(keep));
    check(hits == 1 && r == 4242, "rt_sigreturn restores registers from the frame (RAX changed by the handler)",
          "hits %d, kill returned %ld", (int)hits, r);
    check(keep == 0x1122334455667788L, "callee-saved registers survive a handler", "r12 %#lx", keep);
    double d = 1.5;
    __asm__ volatile("" : "+x"(d));
    install_plain(SIGUSR2, on_plain, 0);
    kill(getpid(), SIGUSR2);
    __asm__ volatile("" : "+x"(d));
    check(d == 1.5, "SSE registers survive a handler", "d %f", d);
}

static volatile uintptr_t handler_sp;
static volatile int on_alt_flag;

static void on_alt(int sig)
{
    (void)sig;
    int local;
    handler_sp = (uintptr_t)&local;
    stack_t now;
    sigaltstack(NULL, &now);
    on_alt_flag = (now.ss_flags & SS_ONSTACK) != 0;
}

static void test_sigaltstack(void)
{
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0}, old;
    int r = sigaltstack(&ss, &old);
    stack_t q;
    sigaltstack(NULL, &q);
    check(r == 0 && q.ss_sp == alt && q.ss_size == sizeof alt && q.ss_flags == 0, "sigaltstack set and read back",
          "r %d (%s), sp %p size %zu flags %d", r, r ? errname(errno) : "", q.ss_sp, q.ss_size, q.ss_flags);
    install_plain(SIGUSR1, on_alt, SA_ONSTACK);
    handler_sp = 0;
    kill(getpid(), SIGUSR1);
    check(handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt,
          "an SA_ONSTACK handler runs on the alternate stack", "handler sp %#lx, alt %p", (unsigned long)handler_sp,
          (void *)alt);
    check(on_alt_flag, "sigaltstack reports SS_ONSTACK inside the handler", "flags without SS_ONSTACK");
    stack_t small = {.ss_sp = alt, .ss_size = 512, .ss_flags = 0};
    expect_errno("sigaltstack smaller than MINSIGSTKSZ: ENOMEM", sigaltstack(&small, NULL), ENOMEM);
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    sigaltstack(NULL, &q);
    check(q.ss_flags == SS_DISABLE, "SS_DISABLE turns it off", "flags %d", q.ss_flags);
    install_plain(SIGUSR1, SIG_DFL, 0);
}

static void test_pause_alarm_suspend(void)
{
    install_plain(SIGALRM, on_plain, 0);
    hits = 0;
    unsigned left = alarm(1);
    unsigned again = alarm(1);
    check(left == 0 && again == 1, "alarm returns the seconds left of the previous one", "%u then %u", left, again);
    /* A backstop, so that a missing alarm fails instead of hanging: a child
     * sends SIGUSR2 (counted apart) after 4 s. */
    install_plain(SIGUSR2, on_backstop, 0);
    backstop_hits = 0;
    pid_t parent = getpid();
    pid_t backstop = fork();
    if (backstop == 0) {
        sleep_ms(4000);
        kill(parent, SIGUSR2);
        _exit(0);
    }
    int64_t t0 = now_ns();
    int r = pause();
    int e = errno;
    int64_t ms = (now_ns() - t0) / 1000000;
    if (backstop > 0) {
        kill(backstop, SIGKILL);
        int bst;
        wait_for(backstop, &bst);
    }
    install_plain(SIGUSR2, SIG_DFL, 0);
    check(r == -1 && e == EINTR && hits == 1 && ms >= 500 && ms < 3900, "pause returns EINTR after SIGALRM (alarm 1)",
          "r %d %s, hits %d, after %lld ms%s", r, errname(e), (int)hits, (long long)ms,
          backstop_hits ? " (woken by the 4 s backstop, not by SIGALRM)" : "");
    alarm(5);
    unsigned was = alarm(0);
    check(was >= 4, "alarm(0) cancels and returns what was left", "returned %u", was);
    install_plain(SIGALRM, SIG_DFL, 0);

    /* rt_sigsuspend: SIGUSR1 blocked, sent by a child, taken only inside
     * sigsuspend, which returns EINTR and restores the mask. */
    install_plain(SIGUSR1, on_plain, 0);
    sigset_t block, old, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    hits = 0;
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(20);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    sigemptyset(&empty);
    r = sigsuspend(&empty);
    e = errno;
    sigprocmask(SIG_BLOCK, NULL, &now);
    check(r == -1 && e == EINTR && hits == 1, "rt_sigsuspend returns EINTR after another process's signal",
          "r %d %s, hits %d", r, errname(e), (int)hits);
    check(sigismember(&now, SIGUSR1), "rt_sigsuspend restores the mask", "SIGUSR1 unblocked after it");
    sigprocmask(SIG_SETMASK, &old, NULL);
    int st;
    wait_for(pid, &st);
}

static void test_eintr_restart(void)
{
    for (int restart = 0; restart < 2; restart++) {
        install_plain(SIGUSR1, on_plain, restart ? SA_RESTART : 0);
        int p[2];
        pipe(p);
        pid_t parent = getpid();
        hits = 0;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            sleep_ms(30);
            kill(parent, SIGUSR1);
            sleep_ms(30);
            write(p[1], "r", 1);
            _exit(0);
        }
        close(p[1]);
        char c = 0;
        ssize_t n = read(p[0], &c, 1);
        int e = errno;
        if (restart)
            check(n == 1 && c == 'r' && hits == 1, "SA_RESTART: a read interrupted by a handler resumes",
                  "read %zd (%s), hits %d", n, n < 0 ? errname(e) : "", (int)hits);
        else
            check(n == -1 && e == EINTR && hits == 1, "without SA_RESTART: a blocked read fails with EINTR",
                  "read %zd (%s), hits %d", n, n < 0 ? errname(e) : "", (int)hits);
        close(p[0]);
        int st;
        wait_for(pid, &st);
    }
    install_plain(SIGUSR1, SIG_DFL, 0);
}

__attribute__((noreturn)) static void pause_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
}

static int raise_it(void *arg)
{
    kill(getpid(), (int)(long)arg);
    return 0;
}

static void test_default_actions(void)
{
    pid_t pid = fork();
    if (pid == 0)
        pause_forever(NULL);
    sleep_ms(10);
    kill(pid, SIGTERM);
    int st = 0;
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "default SIGTERM terminates (seen in wait)", "%s",
          describe_status(st));
    st = run_child(raise_it, (void *)(long)SIGQUIT);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT, "default SIGQUIT terminates (core bit allowed)", "%s",
          describe_status(st));
    st = run_child(raise_it, (void *)(long)SIGALRM);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM, "default SIGALRM terminates", "%s", describe_status(st));
    /* Default-ignored signals: the process lives on. */
    st = run_child(raise_it, (void *)(long)SIGCHLD);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "default SIGCHLD is ignored", "%s", describe_status(st));
    st = run_child(raise_it, (void *)(long)SIGWINCH);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "default SIGWINCH is ignored", "%s", describe_status(st));
    st = run_child(raise_it, (void *)(long)SIGURG);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "default SIGURG is ignored", "%s", describe_status(st));
    signal(SIGUSR2, SIG_IGN);
    int r = kill(getpid(), SIGUSR2);
    check(r == 0, "SIG_IGN: the process survives a SIGUSR2", "kill: %s", errname(errno));
    signal(SIGUSR2, SIG_DFL);
    /* SIG_IGN survives fork; a handler is reset to default by execve (not
     * tested here), and a child inherits the handler. */
    signal(SIGUSR2, SIG_IGN);
    st = run_child(raise_it, (void *)(long)SIGUSR2);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child inherits SIG_IGN", "%s", describe_status(st));
    signal(SIGUSR2, SIG_DFL);
    /* SIGKILL cannot be caught. */
    pid = fork();
    if (pid == 0) {
        signal(SIGTERM, SIG_IGN);
        pause_forever(NULL);
    }
    sleep_ms(10);
    kill(pid, SIGTERM);
    sleep_ms(10);
    kill(pid, SIGKILL);
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "SIGTERM ignored, then SIGKILL kills", "%s",
          describe_status(st));
}

/* Fault handlers: report si_signo, si_code, si_addr and si_pkey through a
 * pipe and exit; returning would fault again. */
static int fault_pipe = -1;

struct fault_report {
    int signo, code;
    uintptr_t addr;
    unsigned pkey;
};

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    struct fault_report r = {si->si_signo, si->si_code, (uintptr_t)si->si_addr, 0};
    /* si_pkey: offset 32 of the siginfo (after si_addr and _addr_lsb). */
    memcpy(&r.pkey, (char *)si + 32, sizeof r.pkey);
    write(fault_pipe, &r, sizeof r);
    _exit(77);
}

static int fault_child(uintptr_t addr, struct fault_report *out, int *status)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        fault_pipe = p[1];
        static char stack[16384];
        stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack};
        sigaltstack(&ss, NULL);
        install(SIGSEGV, on_fault, SA_ONSTACK);
        volatile unsigned long v = *(volatile unsigned long *)addr;
        (void)v;
        _exit(1);
    }
    close(p[1]);
    memset(out, 0, sizeof *out);
    size_t got = read_full(p[0], out, sizeof *out);
    close(p[0]);
    wait_for(pid, status);
    return got == sizeof *out ? 0 : -1;
}

static void test_fault_signals(void)
{
    struct fault_report r;
    int st = 0;
    int got = fault_child(0x10, &r, &st);
    check(got == 0 && r.signo == SIGSEGV && r.code == SEGV_MAPERR && r.addr == 0x10 && WEXITSTATUS(st) == 77,
          "a null-page read: SIGSEGV handler with SEGV_MAPERR and si_addr", "got %d, signo %d, code %d, addr %#lx, %s",
          got, r.signo, r.code, (unsigned long)r.addr, describe_status(st));

    const char *name = "a domain fault: SIGSEGV handler sees SEGV_PKUERR, si_addr and si_pkey 0";
    if (isola_env() != ENV_ISOLA_MPK) {
        skip(name, "Isola mpk only");
        return;
    }
    got = fault_child(KERNEL_DIRECT_MAP, &r, &st);
    check(got == 0 && r.signo == SIGSEGV && r.code == SEGV_PKUERR && r.addr == KERNEL_DIRECT_MAP && r.pkey == 0 &&
              WEXITSTATUS(st) == 77,
          name, "got %d, signo %d, code %d, addr %#lx, pkey %u, %s", got, r.signo, r.code, (unsigned long)r.addr,
          r.pkey, describe_status(st));
}

int main(void)
{
    test_sigaction_delivery();
    test_mask_pending();
    test_sigreturn();
    test_sigaltstack();
    test_pause_alarm_suspend();
    test_eintr_restart();
    test_default_actions();
    test_fault_signals();
    return tap_done();
}
