/* bench-getpid [N]: N raw getpid syscalls (default 1000000), timed with
 * CLOCK_MONOTONIC. Prints `getpid: N calls, X.Y ns/call` (the format
 * `isola bench syscall` parses).
 *
 * The syscall is issued with inline `syscall` rather than libc's getpid()
 * so that nothing is cached and every call enters the kernel. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

static inline long raw_getpid(void)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_getpid) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000000;
    if (argc > 2) {
        fprintf(stderr, "usage: bench-getpid [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        n = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n == 0) {
            fprintf(stderr, "bench-getpid: N must be a positive whole number, not '%s'\n", argv[1]);
            return 2;
        }
    }
    struct timespec t0, t1;
    long pid = raw_getpid();
    if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0) {
        perror("bench-getpid: clock_gettime");
        return 1;
    }
    for (unsigned long i = 0; i < n; i++) {
        if (raw_getpid() != pid) {
            fprintf(stderr, "bench-getpid: getpid changed\n");
            return 1;
        }
    }
    if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0) {
        perror("bench-getpid: clock_gettime");
        return 1;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("getpid: %lu calls, %.1f ns/call\n", n, ns / (double)n);
    return 0;
}
