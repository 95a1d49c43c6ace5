/* test-fork: fork, vfork and clone with fork-like flags.
 *
 * fork: return values, getppid in the child, copy-on-write of globals, heap
 * and stack (the child's writes never reach the parent), the fd table
 * copied (a pipe shared across fork), many children in a row.
 * vfork (SYS_vfork and clone(CLONE_VM|CLONE_VFORK)): the parent is held until
 * the child exits and shares its memory meanwhile. clone(SIGCHLD) and glibc's
 * fork flags (CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD), with
 * CLONE_PARENT_SETTID. */
#include "child.h"

#include <sched.h>
#include <fcntl.h>
#include <sys/mman.h>

#ifndef CLONE_VM
#define CLONE_VM 0x100
#endif

static int global_value = 1234;
static char global_page[3 * 4096] = {1};
volatile int clone_vm_flag; /* set by the raw clone child (asm below) */

static void test_fork_basics(void)
{
    pid_t parent = getpid();
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("fork returns 0 in the child", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        pid_t me = getpid();
        pid_t pp = getppid();
        pid_t report[2] = {me, pp};
        write_all(fds[1], report, sizeof report);
        _exit(7);
    }
    close(fds[1]);
    check(pid > 0, "fork returns the child's pid in the parent", "fork returned %d (%s)", pid,
          pid < 0 ? errname(errno) : "");
    if (pid < 0)
        return;
    pid_t report[2] = {0, 0};
    size_t got = read_full(fds[0], report, sizeof report);
    close(fds[0]);
    check(got == sizeof report && report[0] == pid, "child's getpid is fork's return value",
          "child says %d, fork said %d (read %zu bytes)", report[0], pid, got);
    check(got == sizeof report && report[1] == parent, "child's getppid is the parent",
          "child's getppid %d, parent %d", report[1], parent);
    check(pid != parent, "child's pid differs from the parent's", "both %d", pid);
    int st = 0;
    pid_t w = wait_for(pid, &st);
    check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "child's exit status 7 reaches the parent",
          "waitpid %d (%s), %s", w, w < 0 ? errname(errno) : "", describe_status(st));
}

static void test_cow(void)
{
    int stack_value = 77;
    char *heap = malloc(64 * 1024);
    if (!heap) {
        not_ok("copy-on-write", "malloc failed");
        return;
    }
    memset(heap, 'p', 64 * 1024);
    global_page[4096] = 'p';
    int fds[2], back[2];
    if (pipe(fds) != 0 || pipe(back) != 0) {
        not_ok("copy-on-write", "pipe: %s", errname(errno));
        free(heap);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* The child first sees the parent's values, then writes its own. */
        int seen = global_value == 1234 && stack_value == 77 && heap[0] == 'p' && heap[65535] == 'p' &&
                   global_page[4096] == 'p';
        global_value = 4321;
        stack_value = 88;
        memset(heap, 'c', 64 * 1024);
        memset(global_page, 'c', sizeof global_page);
        int reread = global_value == 4321 && stack_value == 88 && heap[40000] == 'c' && global_page[8191] == 'c';
        char r[2] = {(char)seen, (char)reread};
        write_all(fds[1], r, 2);
        /* Stay alive until the parent has checked its copy. */
        char c;
        read(back[0], &c, 1);
        _exit(0);
    }
    if (pid < 0) {
        not_ok("copy-on-write", "fork: %s", errname(errno));
        free(heap);
        return;
    }
    char r[2] = {0, 0};
    size_t got = read_full(fds[0], r, 2);
    check(got == 2 && r[0], "child sees the parent's memory at fork", "got %zu bytes, seen=%d", got, r[0]);
    check(got == 2 && r[1], "child reads back its own writes", "reread=%d", r[1]);
    /* The child is still alive with its writes done: the parent's copy must
     * be unchanged. */
    int unchanged = global_value == 1234 && stack_value == 77;
    check(unchanged, "child's writes to a global and the stack leave the parent's unchanged (CoW)",
          "global %d, stack %d", global_value, stack_value);
    int heap_ok = 1;
    for (int i = 0; i < 64 * 1024; i++)
        heap_ok &= heap[i] == 'p';
    check(heap_ok && global_page[4096] == 'p' && global_page[0] == 1,
          "child's writes to 64 KiB of heap and to .data leave the parent's unchanged",
          "heap_ok %d, global_page[4096] %d", heap_ok, global_page[4096]);
    /* And the parent's own writes after fork do not reach the child either
     * (checked by the child above having seen only pre-fork values). */
    global_value = 5555;
    write_all(back[1], "x", 1);
    close(fds[0]);
    close(fds[1]);
    close(back[0]);
    close(back[1]);
    int st;
    pid_t w = wait_for(pid, &st);
    check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "CoW child exits 0", "%s", describe_status(st));
    check(global_value == 5555, "parent writes its global after fork", "global %d", global_value);
    global_value = 1234;
    free(heap);
}

static void test_fd_table_copied(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("fd table copied by fork", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        const char msg[] = "through the pipe";
        _exit(write_all(fds[1], msg, sizeof msg) == 0 ? 0 : 1);
    }
    close(fds[1]);
    char buf[64] = {0};
    size_t got = read_full(fds[0], buf, sizeof buf);
    close(fds[0]);
    check(got == sizeof "through the pipe" && strcmp(buf, "through the pipe") == 0,
          "child writes to a pipe created before fork", "read %zu bytes '%s'", got, buf);
    int st;
    wait_for(pid, &st);
    /* Closing in the child did not close in the parent. */
    int p2[2];
    if (pipe(p2) == 0) {
        pid = fork();
        if (pid == 0) {
            close(p2[0]);
            close(p2[1]);
            _exit(0);
        }
        wait_for(pid, &st);
        int ok_fd = write(p2[1], "z", 1) == 1;
        char c = 0;
        ok_fd = ok_fd && read(p2[0], &c, 1) == 1 && c == 'z';
        check(ok_fd, "closing fds in the child leaves the parent's open", "%s", errname(errno));
        close(p2[0]);
        close(p2[1]);
    }
}

static void test_many_children(void)
{
    const int n = 50;
    int good = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(i);
        if (pid < 0)
            break;
        int st;
        if (wait_for(pid, &st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == i)
            good++;
    }
    check(good == n, "50 fork/exit/wait in a row with their statuses", "%d of %d", good, n);
    /* Ten at once, reaped in any order. */
    pid_t pids[10];
    int started = 0;
    for (int i = 0; i < 10; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(100 + i);
        if (pids[i] > 0)
            started++;
    }
    int seen = 0;
    for (int i = 0; i < started; i++) {
        int st;
        pid_t w = wait(&st);
        for (int j = 0; j < 10; j++)
            if (w == pids[j] && WIFEXITED(st) && WEXITSTATUS(st) == 100 + j)
                seen++;
    }
    check(started == 10 && seen == 10, "10 children alive at once, each reaped with its own status",
          "started %d, matched %d", started, seen);
}

/* Linux shares memory with a vfork child; POSIX leaves it undefined and
 * Isola copies it (each process has its own address space and key). */
#define VFORK_COPIES "Isola copies a vfork child's memory (Linux shares it; POSIX leaves it undefined)"

static void test_vfork(void)
{
    volatile int shared = 0;
    pid_t parent = getpid();
    int p[2];
    if (pipe2(p, O_NONBLOCK) != 0) {
        not_ok("vfork", "pipe2: %s", errname(errno));
        return;
    }
    pid_t pid = vfork();
    if (pid == 0) {
        /* Only what vfork allows: write memory, write, _exit. The parent
         * must not run before our _exit, however long we take. */
        shared = getppid() == parent ? 42 : 41;
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
        char c = getppid() == parent ? 'p' : 'q';
        write(p[1], &c, 1);
        _exit(9);
    }
    check(pid > 0, "vfork returns the child's pid", "vfork: %s", errname(errno));
    if (pid < 0)
        return;
    char c = 0;
    ssize_t n = read(p[0], &c, 1);
    check(n == 1, "vfork holds the parent until the child exits", "read %zd (%s): the parent ran first", n,
          n < 0 ? errname(errno) : "");
    check(c == 'p', "vfork child sees the parent as its ppid", "child wrote '%c'", c);
    if (in_isola() && shared != 42)
        skip("vfork child shares the parent's memory", VFORK_COPIES);
    else
        check(shared == 42, "vfork child shares the parent's memory", "shared = %d", shared);
    int st;
    pid_t w = wait_for(pid, &st);
    check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 9, "vfork child's exit status 9", "%s",
          describe_status(st));
    close(p[0]);
    close(p[1]);
}

/* clone(flags, stack) where the child, on `stack`, sets clone_vm_flag to 1
 * and exits 5 straight away (a child on a new stack cannot return). */
static long clone_exit5(unsigned long flags, void *stack)
{
    long ret;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "movl $1, clone_vm_flag(%%rip)\n\t"
                     "mov $60, %%eax\n\t"
                     "mov $5, %%edi\n\t"
                     "syscall\n\t"
                     "ud2\n"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone), "D"(flags), "S"(stack), "d"(0L), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

static void test_clone(void)
{
    /* Plain fork-like clone: clone(SIGCHLD, 0, 0, 0, 0). */
    long r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (r == 0)
        _exit(11);
    int st = 0;
    pid_t w = r > 0 ? wait_for((pid_t)r, &st) : -1;
    check(r > 0 && w == r && WIFEXITED(st) && WEXITSTATUS(st) == 11, "clone(SIGCHLD) acts as fork",
          "clone %ld (%s), wait %d, %s", r, r < 0 ? errname(errno) : "", w, describe_status(st));

    /* glibc's fork: CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD, ctid in
     * the child's copy of memory; plus CLONE_PARENT_SETTID in the parent. */
    static pid_t ctid, ptid;
    ctid = -1;
    ptid = -1;
    unsigned long flags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | SIGCHLD;
    /* x86-64 argument order: flags, stack, parent_tid, child_tid, tls. */
    r = syscall(SYS_clone, flags, 0L, &ptid, &ctid, 0L);
    if (r == 0) {
        pid_t me = (pid_t)syscall(SYS_gettid);
        _exit(ctid == me ? 0 : 1);
    }
    w = r > 0 ? wait_for((pid_t)r, &st) : -1;
    check(r > 0 && w == r && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "clone(CHILD_SETTID|CHILD_CLEARTID|SIGCHLD): the child's ctid holds its tid", "clone %ld (%s), %s", r,
          r < 0 ? errname(errno) : "", describe_status(st));
    check(r > 0 && ptid == r, "CLONE_PARENT_SETTID writes the child's tid in the parent", "ptid %d, clone %ld",
          ptid, r);
    check(ctid == -1, "the child's ctid write stays in the child's memory", "parent's ctid %d", ctid);

    /* CLONE_VM|CLONE_VFORK|SIGCHLD on a separate stack: vfork as musl's
     * posix_spawn and glibc's do it. */
    size_t size = 64 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) {
        not_ok("clone(CLONE_VM|CLONE_VFORK)", "mmap: %s", errname(errno));
        return;
    }
    clone_vm_flag = 0;
    r = clone_exit5(CLONE_VM | CLONE_VFORK | SIGCHLD, stack + size);
    int flag_seen = clone_vm_flag;
    w = r > 0 ? wait_for((pid_t)r, &st) : -1;
    if (in_isola() && r > 0 && flag_seen != 1)
        skip("clone(CLONE_VM|CLONE_VFORK): the child's write is seen when the parent resumes", VFORK_COPIES);
    else
        check(r > 0 && flag_seen == 1, "clone(CLONE_VM|CLONE_VFORK): the child's write is seen when the parent resumes",
              "clone %ld (%s), flag %d", r, r < 0 ? errname((int)-r) : "", flag_seen);
    check(r > 0 && w == r && WIFEXITED(st) && WEXITSTATUS(st) == 5, "clone(CLONE_VM|CLONE_VFORK) child's exit 5",
          "wait %d, %s", w, describe_status(st));
    munmap(stack, size);
}

int main(void)
{
    test_fork_basics();
    test_cow();
    test_fd_table_copied();
    test_many_children();
    test_vfork();
    test_clone();
    return tap_done();
}
