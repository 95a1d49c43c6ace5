/* bench-pipe [N]: N round trips of one byte between a parent and its child
 * over two pipes (default 10000): the parent writes a byte to the child,
 * the child writes it back. Timed with CLOCK_MONOTONIC in the parent.
 * Prints `pipe: N round trips, X.Y us/round trip` (the format
 * `isola bench pipe` parses). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int xfer(int fd, char *c, int out)
{
    for (;;) {
        ssize_t r = out ? write(fd, c, 1) : read(fd, c, 1);
        if (r == 1)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

int main(int argc, char **argv)
{
    unsigned long n = 10000;
    if (argc > 2) {
        fprintf(stderr, "usage: bench-pipe [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n == 0) {
            fprintf(stderr, "bench-pipe: N must be a positive whole number, not '%s'\n", argv[1]);
            return 2;
        }
    }
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
        perror("bench-pipe: pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench-pipe: fork");
        return 1;
    }
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        char c;
        while (xfer(down[0], &c, 0) == 0)
            if (xfer(up[1], &c, 1) != 0)
                _exit(1);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    char c = 'x';
    /* One warm-up round trip: the child is running. */
    if (xfer(down[1], &c, 1) != 0 || xfer(up[0], &c, 0) != 0) {
        fprintf(stderr, "bench-pipe: warm-up failed: %s\n", strerror(errno));
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0; i < n; i++) {
        c = (char)i;
        char back = 0;
        if (xfer(down[1], &c, 1) != 0 || xfer(up[0], &back, 0) != 0 || back != c) {
            fprintf(stderr, "bench-pipe: round trip %lu failed: %s\n", i, strerror(errno));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(down[1]);
    int st;
    waitpid(pid, &st, 0);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("pipe: %lu round trips, %.2f us/round trip\n", n, ns / (double)n / 1000.0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
