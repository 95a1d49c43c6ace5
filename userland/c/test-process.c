/* test-process: identity, signals, limits and a few odd syscalls.
 *
 * Inside Isola the program is expected to be the first process (pid 1,
 * ppid 0) running as root; on the host those checks only ask for
 * consistent answers. Raw syscalls throughout, since libc caches or
 * reshapes several of these. */
#include "tap.h"

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif

/* The kernel's struct sigaction on x86-64 (not libc's). */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};
#define K_SA_RESTORER 0x04000000UL

static volatile sig_atomic_t got_signal;

static void on_usr1(int sig)
{
    got_signal = sig;
}

/* The signal trampoline: rt_sigreturn. */
__attribute__((naked)) static void restore_rt(void)
{
    __asm__ volatile("mov $15, %eax\n\tsyscall\n\thlt");
}

static uint64_t bit(int sig)
{
    return 1ULL << (sig - 1);
}

static void test_ids(int isola)
{
    long pid = syscall(SYS_getpid);
    long ppid = syscall(SYS_getppid);
    long tid = syscall(SYS_gettid);
    if (pid == 1)
        ok("getpid == 1 (first process)");
    else if (isola && ppid == 0)
        not_ok("getpid == 1 (first process)", "getpid %ld with ppid 0", pid);
    else
        skip("getpid == 1 (first process)", isola ? "not the first process" : "not pid 1 on the host");
    if (pid == 1)
        check(ppid == 0, "getppid == 0 for pid 1", "getppid returned %ld", ppid);
    else
        check(ppid > 0 && ppid != pid, "getppid", "getppid returned %ld (pid %ld)", ppid, pid);
    check(tid == pid, "gettid == getpid", "gettid %ld, getpid %ld", tid, pid);

    long uid = syscall(SYS_getuid), euid = syscall(SYS_geteuid);
    long gid = syscall(SYS_getgid), egid = syscall(SYS_getegid);
    if (isola) {
        check(uid == 0 && euid == 0 && gid == 0 && egid == 0, "uid/euid/gid/egid are 0",
              "uid %ld euid %ld gid %ld egid %ld", uid, euid, gid, egid);
    } else {
        check(uid >= 0 && uid == euid && gid >= 0 && gid == egid, "uid/euid/gid/egid consistent",
              "uid %ld euid %ld gid %ld egid %ld", uid, euid, gid, egid);
    }
}

static void test_uname_random(void)
{
    struct utsname u;
    memset(&u, 0, sizeof u);
    long r = syscall(SYS_uname, &u);
    check(r == 0 && strcmp(u.sysname, "Linux") == 0, "uname sysname Linux",
          "returned %ld, sysname '%s'", r, u.sysname);
    check(r == 0 && strcmp(u.machine, "x86_64") == 0, "uname machine x86_64",
          "returned %ld, machine '%s'", r, u.machine);
    check(r == 0 && u.release[0] != '\0', "uname release set", "release '%s'", u.release);

    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    r = syscall(SYS_getrandom, buf, sizeof buf, 0L);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        nonzero |= buf[i];
    check(r == 32 && nonzero, "getrandom 32 bytes", "returned %ld, any non-zero %d", r, nonzero);
    unsigned char buf2[32];
    r = syscall(SYS_getrandom, buf2, sizeof buf2, 0L);
    check(r == 32 && memcmp(buf, buf2, sizeof buf) != 0, "getrandom twice differs",
          "returned %ld", r);
}

static void test_signals(void)
{
    struct k_sigaction act = {
        .handler = on_usr1,
        .flags = K_SA_RESTORER | SA_RESTART,
        .restorer = restore_rt,
        .mask = bit(SIGUSR2),
    };
    struct k_sigaction old, now;
    memset(&old, 0, sizeof old);
    memset(&now, 0xff, sizeof now);
    long r1 = syscall(SYS_rt_sigaction, (long)SIGUSR1, &act, &old, 8L);
    long r2 = syscall(SYS_rt_sigaction, (long)SIGUSR1, NULL, &now, 8L);
    check(r1 == 0 && r2 == 0 && now.handler == on_usr1 && (now.flags & SA_RESTART) &&
              (now.mask & bit(SIGUSR2)) && old.handler == SIG_DFL,
          "rt_sigaction set/get round trip", "set %ld get %ld, handler %s, flags %#lx, mask %#llx",
          r1, r2, now.handler == on_usr1 ? "ok" : "wrong", now.flags,
          (unsigned long long)now.mask);
    long r = syscall(SYS_rt_sigaction, (long)SIGKILL, &act, NULL, 8L);
    expect_errno("rt_sigaction SIGKILL -> EINVAL", r, EINVAL);
    r = syscall(SYS_rt_sigaction, (long)SIGUSR1, NULL, &now, 4L);
    expect_errno("rt_sigaction bad sigsetsize -> EINVAL", r, EINVAL);
    r = syscall(SYS_rt_sigaction, 65L, NULL, &now, 8L);
    expect_errno("rt_sigaction signal 65 -> EINVAL", r, EINVAL);

    uint64_t set = bit(SIGUSR1), oldset = ~0ULL, cur = 0;
    long b = syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, &oldset, 8L);
    long g = syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, &cur, 8L);
    int blocked = (cur & bit(SIGUSR1)) != 0;
    long u = syscall(SYS_rt_sigprocmask, (long)SIG_UNBLOCK, &set, NULL, 8L);
    uint64_t after = ~0ULL;
    long g2 = syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, NULL, &after, 8L);
    check(b == 0 && g == 0 && u == 0 && g2 == 0 && blocked && !(oldset & bit(SIGUSR1)) &&
              !(after & bit(SIGUSR1)),
          "rt_sigprocmask block/unblock round trip",
          "calls %ld %ld %ld %ld, old %#llx, blocked %#llx, after %#llx", b, g, u, g2,
          (unsigned long long)oldset, (unsigned long long)cur, (unsigned long long)after);
    /* SIGKILL and SIGSTOP can't be blocked: asking is not an error, they
     * just stay unblocked. */
    set = bit(SIGKILL) | bit(SIGSTOP);
    b = syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, &set, NULL, 8L);
    syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, NULL, &cur, 8L);
    check(b == 0 && !(cur & set), "SIGKILL/SIGSTOP cannot be blocked",
          "returned %ld, mask %#llx", b, (unsigned long long)cur);
    syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, &after, NULL, 8L);
}

static void test_misc(void)
{
    struct rlimit lim = {0, 0};
    long r = syscall(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, NULL, &lim);
    check(r == 0 && lim.rlim_cur > 0 && lim.rlim_cur <= lim.rlim_max, "prlimit64 RLIMIT_NOFILE get",
          "returned %ld, cur %llu max %llu", r, (unsigned long long)lim.rlim_cur,
          (unsigned long long)lim.rlim_max);
    r = syscall(SYS_sched_yield);
    check(r == 0, "sched_yield", "returned %ld", r);

    unsigned long fs = 0, self;
    r = syscall(SYS_arch_prctl, (long)ARCH_GET_FS, &fs);
    __asm__("mov %%fs:0, %0" : "=r"(self));
    check(r == 0 && fs != 0 && fs == self, "arch_prctl ARCH_GET_FS is the TLS pointer",
          "returned %ld, fs %#lx, %%fs:0 %#lx", r, fs, self);

    static int clear_tid;
    long tid = syscall(SYS_set_tid_address, &clear_tid);
    check(tid == syscall(SYS_gettid), "set_tid_address returns the tid", "returned %ld", tid);

    r = syscall(500L);
    expect_errno("unknown syscall 500 -> ENOSYS", r, ENOSYS);
}

/* kill: signal 0 probes, an ignored signal is dropped, an unknown pid is
 * ESRCH. Delivery to a handler (and back through rt_sigreturn) comes with
 * the multi-process work in Isola: there it is skipped, on Linux it runs. */
static void test_kill(int isola)
{
    long self = syscall(SYS_getpid);
    long probe = syscall(SYS_kill, self, 0L);
    check(probe == 0, "kill(self, 0) probes", "returned %ld", probe);
    struct k_sigaction ignore = { .handler = SIG_IGN, .flags = K_SA_RESTORER, .restorer = restore_rt, .mask = 0 };
    syscall(SYS_rt_sigaction, (long)SIGUSR2, &ignore, NULL, 8L);
    long dropped = syscall(SYS_kill, self, (long)SIGUSR2);
    check(dropped == 0, "kill(self, ignored SIGUSR2) is dropped", "returned %ld", dropped);
    long nobody = syscall(SYS_kill, 424242L, (long)SIGUSR2);
    expect_errno("kill(no such pid) -> ESRCH", nobody, ESRCH);
    if (isola) {
        skip("kill self SIGUSR1 runs the handler", "signal delivery comes with the multi-process issue");
        return;
    }
    struct k_sigaction act = {
        .handler = on_usr1,
        .flags = K_SA_RESTORER,
        .restorer = restore_rt,
        .mask = 0,
    };
    syscall(SYS_rt_sigaction, (long)SIGUSR1, &act, NULL, 8L);
    got_signal = 0;
    long r = syscall(SYS_kill, self, (long)SIGUSR1);
    check(r == 0 && got_signal == SIGUSR1, "kill self SIGUSR1 runs the handler",
          "kill returned %ld, handler saw %d", r, (int)got_signal);
}

int main(void)
{
    int isola = in_isola();
    test_ids(isola);
    test_uname_random();
    test_signals();
    test_misc();
    test_kill(isola);
    return tap_done();
}
