/* bench-futex [N]: N round trips of a futex ping-pong between two threads
 * of one process (default 10000): each thread waits on its own word
 * (FUTEX_WAIT_PRIVATE) until the other sets it and wakes it
 * (FUTEX_WAKE_PRIVATE). Timed with CLOCK_MONOTONIC. Prints
 * `futex: N round trips, X.Y us/round trip` (what `isola bench futex`
 * parses). */
#include <errno.h>
/* musl-gcc has no kernel headers: the two futex operations used. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int ping, pong;
static unsigned long rounds;

static void wait_for(_Atomic int *word, int value)
{
    for (;;) {
        int seen = atomic_load(word);
        if (seen == value)
            return;
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
    }
}

static void set_and_wake(_Atomic int *word, int value)
{
    atomic_store(word, value);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *ponger(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < rounds; i++) {
        int v = (int)((i + 1) & 1);
        wait_for(&ping, v);
        set_and_wake(&pong, v);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    rounds = 10000;
    if (argc > 2) {
        fprintf(stderr, "usage: bench-futex [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        rounds = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || rounds == 0) {
            fprintf(stderr, "bench-futex: N must be a positive whole number, not '%s'\n", argv[1]);
            return 2;
        }
    }
    pthread_t t;
    if (pthread_create(&t, NULL, ponger, NULL) != 0) {
        fprintf(stderr, "bench-futex: pthread_create failed\n");
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (unsigned long i = 0; i < rounds; i++) {
        int v = (int)((i + 1) & 1);
        set_and_wake(&ping, v);
        wait_for(&pong, v);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / (double)rounds;
    printf("futex: %lu round trips, %.3f us/round trip\n", rounds, us);
    return 0;
}
