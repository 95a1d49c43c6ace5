/* bench-fork [N]: N times fork + _exit(0) in the child + waitpid in the
 * parent (default 1000), timed with CLOCK_MONOTONIC. Prints
 * `fork: N forks, X ns/op, Y.Y us/op` (the format `isola bench fork`
 * parses). The parent touches 1 MiB of heap before timing, so each fork
 * has a realistic address space to copy-on-write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned long n = 1000;
    if (argc > 2) {
        fprintf(stderr, "usage: bench-fork [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n == 0) {
            fprintf(stderr, "bench-fork: N must be a positive whole number, not '%s'\n", argv[1]);
            return 2;
        }
    }
    char *heap = malloc(1 << 20);
    if (heap)
        memset(heap, 1, 1 << 20);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bench-fork: fork %lu: %s\n", i, strerror(errno));
            return 1;
        }
        if (pid == 0)
            _exit(0);
        int st;
        pid_t w;
        do
            w = waitpid(pid, &st, 0);
        while (w < 0 && errno == EINTR);
        if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench-fork: waitpid %d: status %#x (%s)\n", (int)w, st, strerror(errno));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("fork: %lu forks, %.0f ns/op, %.1f us/op\n", n, ns / (double)n, ns / (double)n / 1000.0);
    free(heap);
    return 0;
}
