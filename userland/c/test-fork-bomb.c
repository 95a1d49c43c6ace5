/* test-fork-bomb (Isola only): fork until the kernel refuses.
 *
 * Idle children (each writes a few pages, then blocks reading a pipe) are
 * forked one after the other until fork fails. The refusal must be EAGAIN
 * or ENOMEM and come after at least 3000 children (at the default 256 MiB);
 * a sibling that was running before still answers, no child was killed,
 * and once all are reaped the free memory is back to its figure. Two
 * rounds: the first grows the kernel heap (which keeps its frames), the
 * second must fork as many and leave MemFree where the first left it.
 * Prints the count and the memory one child costs. */
#include "child.h"

#define MAX_KIDS 40000
#define MIN_KIDS 3000
/* MemFree may differ this much between rounds (kernel heap slack). */
#define MARGIN_KB 2048

static pid_t kids[MAX_KIDS];
static char touched[4 * 4096];

/* Forks until refusal; returns the count, the errno of the refusal and the
 * free memory at that point. Every child is released and reaped before it
 * returns; *unharmed counts those that exited 0. */
static long bomb(int ping_to, int ping_from, int *refusal, long *free_at_refusal, long *unharmed, int *sibling_ok)
{
    int hold[2], ready[2];
    if (pipe(hold) != 0 || pipe(ready) != 0) {
        *refusal = errno;
        return 0;
    }
    long n = 0;
    *refusal = 0;
    while (n < MAX_KIDS) {
        pid_t pid = fork();
        if (pid < 0) {
            *refusal = errno;
            break;
        }
        if (pid == 0) {
            close(hold[1]);
            close(ready[0]);
            for (size_t i = 0; i < sizeof touched; i += 4096)
                touched[i] = 1;
            char c = 'r';
            if (write(ready[1], &c, 1) != 1)
                _exit(2);
            ssize_t r;
            do
                r = read(hold[0], &c, 1);
            while (r < 0 && errno == EINTR);
            _exit(r == 0 ? 0 : 3);
        }
        kids[n++] = pid;
        char c;
        if (read_full(ready[0], &c, 1) != 1)
            break;
    }
    *free_at_refusal = mem_free_kb();
    /* The sibling still answers while the machine is full. */
    char c = 'p';
    *sibling_ok = write(ping_to, &c, 1) == 1 && read_full(ping_from, &c, 1) == 1 && c == 'P';
    close(hold[1]);
    close(hold[0]);
    close(ready[0]);
    close(ready[1]);
    *unharmed = 0;
    for (long i = 0; i < n; i++) {
        int st;
        if (wait_for(kids[i], &st) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            (*unharmed)++;
        else if (*unharmed == i)
            tap_line("# child %ld (pid %d): %s", i, (int)kids[i], describe_status(st));
    }
    return n;
}

int main(void)
{
    if (!in_isola()) {
        skip("fork until refusal", "Isola only: a fork bomb on the host");
        return tap_done();
    }
    /* The sibling: echoes 'p' as 'P' until its pipe closes. */
    int to_s[2], from_s[2];
    if (pipe(to_s) != 0 || pipe(from_s) != 0) {
        not_ok("pipes", "%s", errname(errno));
        return tap_done();
    }
    pid_t sibling = fork();
    if (sibling == 0) {
        close(to_s[1]);
        close(from_s[0]);
        char c;
        while (read_full(to_s[0], &c, 1) == 1) {
            c = 'P';
            if (write(from_s[1], &c, 1) != 1)
                _exit(2);
        }
        _exit(0);
    }
    close(to_s[0]);
    close(from_s[1]);
    mem_free_kb();
    long start_kb = mem_free_kb();
    long after_kb[2] = {0, 0}, counts[2] = {0, 0};
    for (int round = 0; round < 2; round++) {
        int refusal = 0, sibling_ok = 0;
        long at_refusal_kb = 0, unharmed = 0;
        long before_kb = mem_free_kb();
        long n = bomb(to_s[1], from_s[0], &refusal, &at_refusal_kb, &unharmed, &sibling_ok);
        counts[round] = n;
        after_kb[round] = mem_free_kb();
        tap_line("# round %d: %ld children forked, then fork failed with %s; MemFree %ld kB before, %ld kB at the refusal, "
                 "%ld kB after reaping; %ld KiB per child",
                 round + 1, n, errname(refusal), before_kb, at_refusal_kb, after_kb[round],
                 n > 0 ? (before_kb - at_refusal_kb) / n : 0);
        char name[128];
        snprintf(name, sizeof name, "round %d: fork fails with EAGAIN or ENOMEM", round + 1);
        check(refusal == EAGAIN || refusal == ENOMEM, name, "errno %s after %ld children", errname(refusal), n);
        snprintf(name, sizeof name, "round %d: at least %d children before the refusal", round + 1, MIN_KIDS);
        check(n >= MIN_KIDS, name, "%ld", n);
        snprintf(name, sizeof name, "round %d: the sibling running before answers at the refusal", round + 1);
        check(sibling_ok, name, "no answer");
        /* Round 1 also grows the kernel heap while the children are
         * forked: fork keeps its headroom through the heap's growth, so
         * no child is OOM-killed in either round. */
        snprintf(name, sizeof name, "round %d: every child exits 0 when released", round + 1);
        check(unharmed == n, name, "%ld of %ld", unharmed, n);
    }
    check(counts[1] + 16 >= counts[0], "the second round forks as many children as the first",
          "%ld, then %ld", counts[0], counts[1]);
    long drift = after_kb[0] - after_kb[1];
    check(drift < MARGIN_KB && drift > -MARGIN_KB, "MemFree after the second round is back to its figure after the first",
          "%ld kB, then %ld kB", after_kb[0], after_kb[1]);
    tap_line("# MemFree at the start %ld kB, after round 1 %ld kB (kernel heap kept %ld kB), after round 2 %ld kB",
             start_kb, after_kb[0], start_kb - after_kb[0], after_kb[1]);
    check(start_kb - after_kb[1] < 32 * 1024, "the kernel heap keeps under 32 MiB of the bomb", "%ld kB",
          start_kb - after_kb[1]);
    close(to_s[1]);
    int st;
    check(wait_for(sibling, &st) == sibling && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "the sibling ends normally when its pipe closes", "%s", describe_status(st));
    return tap_done();
}
