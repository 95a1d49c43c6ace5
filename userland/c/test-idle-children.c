/* test-idle-children [N]: N (default 1000) forked children that wait in
 * pause() all fit at once (Isola: in a 256 MiB VM), each is killed with
 * SIGTERM and reaped; in Isola the memory one idle child costs (MemFree of
 * /proc/meminfo before and during) is printed and must stay under 128 KiB. */
#include "tap.h"
#include "child.h"

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    if (n <= 0 || n > 100000)
        n = 1000;
    pid_t *kids = calloc((size_t)n, sizeof *kids);
    if (!kids) {
        not_ok("idle children", "calloc failed");
        return tap_done();
    }
    mem_free_kb();
    long before = mem_free_kb();
    long forked = 0;
    for (; forked < n; forked++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            pause();
            _exit(0);
        }
        kids[forked] = pid;
    }
    char name[96];
    snprintf(name, sizeof name, "%ld idle forked children alive at once", n);
    check(forked == n, name, "fork %ld failed: %s", forked + 1, errname(errno));
    long during = mem_free_kb();
    if (in_isola() && forked > 0) {
        long per_child = (before - during) / forked;
        tap_line("# memory per idle forked child: %ld KiB (kernel records, stack, page tables, copied pages)", per_child);
        check(per_child > 0 && per_child < 128, "an idle forked child costs under 128 KiB", "%ld KiB", per_child);
    } else {
        skip("an idle forked child costs under 128 KiB", "Isola only: /proc/meminfo of the host moves with other work");
    }
    for (long i = 0; i < forked; i++)
        kill(kids[i], SIGTERM);
    long reaped = 0, by_term = 0;
    int st;
    while (wait(&st) > 0) {
        reaped++;
        by_term += WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
    }
    check(reaped == forked && by_term == forked, "every idle child dies of SIGTERM and is reaped", "%ld reaped, %ld by SIGTERM of %ld",
          reaped, by_term, forked);
    return tap_done();
}
