/* test-sched: preemptive scheduling.
 *
 * Two processes that spin without making syscalls both make progress: a
 * child spins and every ~5 ms stamps CLOCK_MONOTONIC into a pipe; the
 * parent spins for ~300 ms on the TSC alone (no syscall, so only a timer
 * preemption can let the child run) and then counts the child's stamps that
 * fall inside its own spin. Also sched_yield between two processes. */
#include "child.h"

#include <fcntl.h>
#include <sched.h>

/* TSC ticks per millisecond, measured over a 20 ms sleep. */
static uint64_t tsc_per_ms(void)
{
    int64_t t0 = now_ns();
    uint64_t c0 = rdtsc();
    sleep_ms(20);
    int64_t t1 = now_ns();
    uint64_t c1 = rdtsc();
    int64_t ns = t1 - t0;
    if (ns <= 0 || c1 <= c0)
        return 0;
    return (uint64_t)((double)(c1 - c0) * 1e6 / (double)ns);
}

static void spin_ticks(uint64_t ticks)
{
    uint64_t end = rdtsc() + ticks;
    while (rdtsc() < end)
        __asm__ volatile("pause");
}

static void test_preemption(void)
{
    uint64_t per_ms = tsc_per_ms();
    if (per_ms == 0) {
        not_ok("two spinning processes both make progress", "the TSC does not advance");
        return;
    }
    int p[2];
    if (pipe(p) != 0) {
        not_ok("two spinning processes both make progress", "pipe: %s", errname(errno));
        return;
    }
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        for (;;) {
            spin_ticks(5 * per_ms);
            int64_t t = now_ns();
            write(p[1], &t, sizeof t);
        }
    }
    close(p[1]);
    /* The child is running once its first stamp arrives. */
    int64_t first;
    size_t got = read_full(p[0], &first, sizeof first);
    int64_t t0 = now_ns();
    spin_ticks(300 * per_ms);
    int64_t t1 = now_ns();
    kill(pid, SIGKILL);
    int st;
    wait_for(pid, &st);
    int inside = 0, total = 0;
    int64_t t;
    while (read_full(p[0], &t, sizeof t) == sizeof t) {
        total++;
        inside += t > t0 && t < t1;
    }
    close(p[0]);
    tap_line("# parent spun %lld ms; child stamps: %d in all, %d during the parent's spin",
             (long long)((t1 - t0) / 1000000), total, inside);
    check(got == sizeof first, "the spinning child starts", "no first stamp");
    check(inside >= 2, "a child spinning without syscalls runs while the parent spins (preemption)",
          "%d stamps inside the parent's %lld ms spin", inside, (long long)((t1 - t0) / 1000000));
    check(t1 - t0 < 30LL * 1000000000LL, "the spinning parent gets the CPU back", "its spin took %lld ms",
          (long long)((t1 - t0) / 1000000));
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the spinner dies of SIGKILL", "%s", describe_status(st));
}

static void test_yield(void)
{
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        for (int i = 0; i < 100; i++)
            sched_yield();
        write(p[1], "y", 1);
        _exit(0);
    }
    close(p[1]);
    int ok_yield = 1;
    for (int i = 0; i < 100; i++)
        ok_yield &= sched_yield() == 0;
    char c = 0;
    ssize_t n = read(p[0], &c, 1);
    close(p[0]);
    int st;
    wait_for(pid, &st);
    check(ok_yield && n == 1 && c == 'y' && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "sched_yield in two processes", "yield ok %d, read %zd, %s", ok_yield, n, describe_status(st));
}

int main(void)
{
    test_preemption();
    test_yield();
    return tap_done();
}
