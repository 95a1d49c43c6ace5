/* bench-exec N PROGRAM [ARGS...]: N times fork + execv(PROGRAM, ARGS) in
 * the child + waitpid in the parent, timed with CLOCK_MONOTONIC; every
 * child must exit 0. Prints `exec: N execs, X ns/op, Y.Y us/op` (the
 * format `isola bench exec` parses). With Debian's dynamic /usr/bin/true
 * this is the cost of starting a dynamically linked program: exec, ld.so
 * mapping libc, relocation, exit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-exec N PROGRAM [ARGS...]\n");
        return 2;
    }
    char *end;
    unsigned long n = strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || n == 0) {
        fprintf(stderr, "bench-exec: N must be a positive whole number, not '%s'\n", argv[1]);
        return 2;
    }
    char **child_argv = argv + 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "bench-exec: fork %lu: %s\n", i, strerror(errno));
            return 1;
        }
        if (pid == 0) {
            execv(child_argv[0], child_argv);
            _exit(127);
        }
        int st;
        pid_t w;
        do
            w = waitpid(pid, &st, 0);
        while (w < 0 && errno == EINTR);
        if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench-exec: %s: status %#x (127: exec failed)\n", child_argv[0], st);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("exec: %lu execs, %.0f ns/op, %.1f us/op\n", n, ns / (double)n, ns / (double)n / 1000.0);
    return 0;
}
