/* Helpers shared by the multi-process tests: start a child, wait for it,
 * describe a wait status, sleep a little, read the TSC.
 *
 * Header-only, like tap.h: each program is one translation unit. */
#ifndef ISOLA_CHILD_H
#define ISOLA_CHILD_H

#include "tap.h"

#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* The kernel address every "read kernel memory" child tries: physical
 * 1 MiB in Isola's direct map (key 0), a kernel address on Linux too. */
#define KERNEL_DIRECT_MAP 0xffff800000100000UL

/* A wait status in words: "exit 3", "killed by signal 9", "killed by
 * signal 3 (core)", "stopped by 19", "status 0x...". */
__attribute__((unused)) static const char *describe_status(int st)
{
    static char buf[4][48];
    static int next;
    char *b = buf[next++ % 4];
    if (WIFEXITED(st))
        snprintf(b, sizeof buf[0], "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(b, sizeof buf[0], "killed by signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " (core)" : "");
    else if (WIFSTOPPED(st))
        snprintf(b, sizeof buf[0], "stopped by %d", WSTOPSIG(st));
    else
        snprintf(b, sizeof buf[0], "status %#x", st);
    return b;
}

/* waitpid retried on EINTR; -1 with errno on failure. */
__attribute__((unused)) static pid_t wait_for(pid_t pid, int *status)
{
    pid_t r;
    do
        r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Fork, run fn(arg) in the child and _exit with what it returns; wait for
 * it. Returns the wait status, or -1 (errno set) if fork or wait failed. */
__attribute__((unused)) static int run_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg));
    int st;
    if (wait_for(pid, &st) != pid)
        return -1;
    return st;
}

/* Sleep ms milliseconds (nanosleep, restarted after signals). */
__attribute__((unused)) static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* CLOCK_MONOTONIC in nanoseconds. */
__attribute__((unused)) static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((unused)) static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Read kernel memory: the caller is expected to die with SIGSEGV. */
__attribute__((unused, noinline)) static unsigned long read_kernel(void)
{
    return *(volatile unsigned long *)KERNEL_DIRECT_MAP;
}

/* Write all of buf (retrying short writes and EINTR); 0 or -1. */
__attribute__((unused)) static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read exactly n bytes unless EOF or an error comes first; bytes read. */
__attribute__((unused)) static size_t read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* A field of /proc/meminfo in kB ("MemFree", "Slab", ...), or -1. */
__attribute__((unused)) static long meminfo_kb(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[128];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':' && sscanf(line + n + 1, " %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* MemFree of /proc/meminfo in kB, or -1. */
__attribute__((unused)) static long mem_free_kb(void)
{
    return meminfo_kb("MemFree");
}

#endif
