/* probe-sigreturn-pkru: a signal handler forges PKRU in its frame and
 * returns; kernel memory must stay closed.
 *
 * The handler (on an alternate stack with spare room above it, so nothing
 * it writes can land on live data) makes the frame's FPU area claim an
 * XSAVE image with a PKRU component of 0 (all keys open): the software
 * bytes at 464 say FP_XSTATE_MAGIC1 with every feature, the XSAVE header at
 * 512 sets XSTATE_BV bit 9, the PKRU slot (CPUID 0xD.9, else 2688) is 0,
 * MAGIC2 closes the area, UC_FP_XSTATE is set, and the reserved words of the
 * mcontext are zeroed. Isola's frame holds only a 512-byte FXSAVE image and
 * its return gate takes PKRU from the kernel's process record, so:
 *   1. a child forges, returns, reads kernel memory: dies of SIGSEGV;
 *   2. the parent forges, returns, forks: the child's read dies of SIGSEGV;
 *   3. after its summary, the parent itself reads kernel memory: it must die
 *      of SIGSEGV (`isola run` exits 139). If the read returns, it prints
 *      `not ok` and exits 1.
 * Applies inside Isola at isolation mpk only; elsewhere every check is
 * skipped (build with -DPROBE_FORCE to try it on the host). */
#include "probe.h"
#include "child.h"

#include <cpuid.h>
#include <stdint.h>
#include <ucontext.h>

#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U
#define UC_FP_XSTATE 0x1UL

static char altstack[256 * 1024] __attribute__((aligned(64)));
#define ALT_SIZE (64 * 1024) /* the rest, above it, is spare room */

static volatile int forged;

static unsigned pkru_offset(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_count(0xd, 9, &a, &b, &c, &d) && a == 8 && b >= 576)
        return b;
    return 2688;
}

static void forge(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
    unsigned off = pkru_offset();
    unsigned size = (off + 8 + 63) & ~63U; /* xstate_size */
    uintptr_t lo = (uintptr_t)altstack, hi = lo + sizeof altstack;
    if (fp && (uintptr_t)fp >= lo && (uintptr_t)fp + size + 4 <= hi) {
        /* fpx_sw_bytes at 464: magic1, extended_size, xfeatures, xstate_size. */
        uint32_t m1 = FP_XSTATE_MAGIC1, ext = size + 4, xs = size;
        uint64_t feats = 0x2ff;
        memcpy(fp + 464, &m1, 4);
        memcpy(fp + 468, &ext, 4);
        memcpy(fp + 472, &feats, 8);
        memcpy(fp + 480, &xs, 4);
        /* XSAVE header: XSTATE_BV with PKRU (bit 9), XCOMP_BV 0 (standard). */
        memset(fp + 512, 0, 64);
        memcpy(fp + 512, &feats, 8);
        /* Every byte after the header up to the PKRU slot: zero, as an
         * all-open PKRU would be; the PKRU slot itself: 0. */
        memset(fp + 576, 0, size - 576);
        uint32_t pkru = 0, m2 = FP_XSTATE_MAGIC2;
        memcpy(fp + off, &pkru, 4);
        memcpy(fp + size, &m2, 4);
        forged = 2;
    } else {
        forged = 1;
    }
    uc->uc_flags |= UC_FP_XSTATE;
    /* sigcontext's reserved words (after fpstate): 0 as a PKRU would be. */
    unsigned char *mc_end = (unsigned char *)&uc->uc_mcontext.fpregs + sizeof uc->uc_mcontext.fpregs;
    memset(mc_end, 0, 64);
}

/* Install the forging handler on the alternate stack and run it once. */
static void forge_once(void)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = ALT_SIZE};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forge;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    forged = 0;
    kill(getpid(), SIGUSR1);
}

int main(void)
{
    if (!probe_applies()) {
        skip("forged PKRU in a signal frame: the forging process still cannot read the kernel", NO_PKU);
        skip("forged PKRU in a signal frame: a child forked after it cannot either", NO_PKU);
        skip("forged PKRU in a signal frame: the parent itself dies of SIGSEGV", NO_PKU);
        return tap_done();
    }
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        forge_once();
        char f = (char)('0' + forged);
        write(p[1], &f, 1);
        unsigned long v = read_kernel();
        _exit((int)(v & 0x3f) | 0x40);
    }
    close(p[1]);
    char f = 0;
    ssize_t n = read(p[0], &f, 1);
    close(p[0]);
    int st = 0;
    wait_for(pid, &st);
    check(n == 1 && f != '0' && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
          "forged PKRU in a signal frame: the forging process still cannot read the kernel",
          "handler ran: %c, child %s", n == 1 ? f : '?', describe_status(st));
    if (f == '1')
        tap_line("# the FPU area was not on the alternate stack: only the in-frame bytes were forged");

    forge_once();
    pid = fork();
    if (pid == 0) {
        unsigned long v = read_kernel();
        _exit((int)(v & 0x3f) | 0x40);
    }
    wait_for(pid, &st);
    check(forged != 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
          "forged PKRU in a signal frame: a child forked after it cannot either", "forged %d, child %s", forged,
          describe_status(st));
    tap_line("# the last check: the parent reads kernel memory and should die with SIGSEGV (exit 139)");
    int status = tap_done();
    if (status != 0)
        return status;
    unsigned long v = read_kernel();
    tap_line("not ok - the parent read %#lx after a forged sigreturn: %#lx", KERNEL_DIRECT_MAP, v);
    return 1;
}
