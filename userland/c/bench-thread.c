/* bench-thread [N]: N times pthread_create of a thread that returns at
 * once, then pthread_join of it (default 1000). Timed with
 * CLOCK_MONOTONIC. Prints `thread: N creates, X.Y us/op` (what
 * `isola bench thread` parses). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *nothing(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000;
    if (argc > 2) {
        fprintf(stderr, "usage: bench-thread [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n == 0) {
            fprintf(stderr, "bench-thread: N must be a positive whole number, not '%s'\n", argv[1]);
            return 2;
        }
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (unsigned long i = 0; i < n; i++) {
        pthread_t t;
        void *back;
        if (pthread_create(&t, NULL, nothing, (void *)i) != 0 || pthread_join(t, &back) != 0 || back != (void *)i) {
            fprintf(stderr, "bench-thread: create/join %lu failed\n", i);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / (double)n;
    printf("thread: %lu creates, %.3f us/op\n", n, us);
    return 0;
}
