/* probe-fork-segv [N]: N children (default 1000) each read kernel memory
 * (0xffff800000100000, the direct map at isolation mpk) and must die of
 * SIGSEGV; the parent counts the signal deaths. Runs inside Isola at
 * isolation mpk and on the host (where the address is a kernel address
 * too); at isolation none (no PKU: the read would succeed) every check is
 * skipped. Children run eight at a time. In Isola the parent also checks
 * that the kernel's free memory (MemFree of /proc/meminfo) is back to its
 * figure after two warm-up batches once every child is reaped. */
#include "probe.h"
#include "child.h"

/* `count` children that read kernel memory, alive at once, then reaped:
 * how many died of SIGSEGV. */
static int faulting_batch(int count)
{
    int forked = 0, segv = 0;
    for (; forked < count; forked++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            unsigned long v = read_kernel();
            _exit((int)(v & 0x3f) | 0x40);
        }
    }
    for (int i = 0; i < forked; i++) {
        int st = 0;
        if (wait(&st) > 0)
            segv += WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
    }
    return segv;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    if (n <= 0)
        n = 1000;
    char name[96];
    snprintf(name, sizeof name, "%ld children reading kernel memory all die of SIGSEGV", n);
    enum isola_env env = isola_env();
    if (env != ENV_HOST && !probe_applies()) {
        skip(name, NO_PKU);
        skip("the parent survives its children's faults", NO_PKU);
        return tap_done();
    }
    const int batch = 8;
    /* Warm-up: two batches alive at once, so that what the kernel keeps
     * for reuse between forks (its heap, kernel stacks, stack slots and
     * their page tables) reaches what a batch needs before the free-memory
     * figure is taken; a leak then shows as a loss over the N children. */
    int warm = faulting_batch(batch) + faulting_batch(batch);
    check(warm == 2 * batch, "two warm-up batches of faulting children die of SIGSEGV", "%d of %d", warm, 2 * batch);
    mem_free_kb(); /* the first read allocates the process's stdio buffers */
    long free_before = mem_free_kb();
    long segv = 0, other = 0, forked = 0, alive = 0;
    char first_other[64] = "";
    while (forked < n || alive > 0) {
        while (forked < n && alive < batch) {
            pid_t pid = fork();
            if (pid < 0) {
                not_ok(name, "fork %ld failed: %s", forked + 1, errname(errno));
                return tap_done();
            }
            if (pid == 0) {
                unsigned long v = read_kernel();
                _exit((int)(v & 0x3f) | 0x40);
            }
            forked++;
            alive++;
        }
        int st;
        pid_t w = wait(&st);
        if (w < 0) {
            not_ok(name, "wait: %s after %ld children", errname(errno), forked);
            return tap_done();
        }
        alive--;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
            segv++;
        else if (other++ == 0)
            snprintf(first_other, sizeof first_other, "%s", describe_status(st));
    }
    check(segv == n, name, "%ld of %ld died of SIGSEGV; first other: %s", segv, n, first_other);
    check(getpid() > 0 && kill(getpid(), 0) == 0, "the parent survives its children's faults", "%s",
          errname(errno));
    if (env == ENV_HOST) {
        skip("the kernel's free memory returns to its starting figure", "Isola only: the host runs other work");
    } else {
        long free_after = mem_free_kb();
        check(free_before > 0 && free_after == free_before, "the kernel's free memory returns to its starting figure",
              "MemFree %ld kB before, %ld kB after", free_before, free_after);
    }
    return tap_done();
}
