/* test-memory-limits: huge memory arguments fail fast, RLIMIT_AS and
 * RLIMIT_NPROC hold.
 *
 * - mmap of 1 TiB (read-write, private): ENOMEM, at once;
 * - munmap of a huge empty range returns 0 at once, and a forked child's
 *   munmap(0, 0x7ffffffff000) returns too: the child then dies of SIGSEGV
 *   fetching its next instruction (its code is gone), as on Linux;
 * - a 1 TiB PROT_NONE reservation made read-write: ENOMEM at once, and it
 *   unmaps at once; a process holding 100 TiB of reservations ends at once;
 * - execve of an ELF whose PT_LOAD has p_memsz = 1 TiB (and 1 GiB, more
 *   than the VM holds): ENOMEM at once, the caller goes on (Linux fails such
 *   an image after the point of no return and kills the child, or runs it
 *   when it fits: accepted there);
 * - RLIMIT_AS lowered: mmap, brk and stack growth beyond it fail, smaller
 *   ones work, and the limit holds in a forked child and across execve;
 * - RLIMIT_NPROC lowered to 1: fork fails with EAGAIN; raised back: works;
 * - (Isola, last: the kernel heap keeps what it grew) children that fill
 *   pipes until memory runs out get ENOMEM from write, and the kernel, this
 *   process and fork and pipes afterwards are fine.
 * Each "at once" is under 10 s of TCG time (the old per-page loops took
 * hours). */
#include "child.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define TIB (1UL << 40)
#define GIB (1UL << 30)
#define MIB (1UL << 20)
#define QUICK_NS (10LL * 1000000000LL)

static char self[4096];
static char scratch[64];

static void check_quick(const char *name, int64_t start)
{
    int64_t took = now_ns() - start;
    check(took < QUICK_NS, name, "took %lld ms", (long long)(took / 1000000));
}

static void test_mmap_huge(void)
{
    int64_t t = now_ns();
    void *p = mmap(NULL, TIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int e = errno;
    check(p == MAP_FAILED && e == ENOMEM, "mmap of 1 TiB read-write: ENOMEM", "returned %p, errno %s", p, errname(e));
    check_quick("mmap of 1 TiB fails at once", t);
    if (p != MAP_FAILED)
        munmap(p, TIB);
    /* Memory still works after the refusal. */
    char *q = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(q != MAP_FAILED && (q[0] = 1, q[MIB - 1] = 2, q[0] + q[MIB - 1] == 3), "1 MiB mmap after the refusal works",
          "errno %s", errname(errno));
    if (q != MAP_FAILED)
        munmap(q, MIB);
}

static void test_reservation(void)
{
    int64_t t = now_ns();
    void *p = mmap(NULL, TIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        /* Linux may refuse under strict overcommit; Isola must not. */
        check(!in_isola(), "a 1 TiB PROT_NONE reservation is made", "errno %s", errname(errno));
        return;
    }
    ok("a 1 TiB PROT_NONE reservation is made");
    long r = mprotect(p, TIB, PROT_READ | PROT_WRITE);
    int e = errno;
    check(r == -1 && e == ENOMEM, "mprotect of the reservation to read-write: ENOMEM", "returned %ld, errno %s", r,
          errname(e));
    r = mprotect(p, TIB, PROT_NONE);
    check(r == 0, "mprotect of the reservation to PROT_NONE: 0", "errno %s", errname(errno));
    r = munmap(p, TIB);
    check(r == 0, "munmap of the reservation: 0", "errno %s", errname(errno));
    check_quick("the reservation's mprotect and munmap are quick", t);

    /* A process that ends holding 100 TiB of reservations goes at once. */
    t = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        void *q = mmap(NULL, 100 * TIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        _exit(q == MAP_FAILED ? 1 : 0);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child reserves 100 TiB (PROT_NONE) and exits", "%s",
          describe_status(st));
    check_quick("... and its end is quick", t);
}

static void test_munmap_huge(void)
{
    /* Nothing of this process lives between 16 TiB and 126 TiB (image and
     * brk are low, mmaps just below 127 TiB, the stack at the top). */
    int64_t t = now_ns();
    long r = syscall(SYS_munmap, 0x100000000000UL, 0x6e0000000000UL);
    check(r == 0, "munmap of 110 TiB with nothing mapped: 0", "returned %ld, errno %s", r, errname(errno));
    check_quick("munmap of 110 TiB is quick", t);

    t = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        /* Everything goes, this code included: the next fetch faults. */
        syscall(SYS_munmap, 0UL, 0x7ffffffff000UL);
        syscall(SYS_exit, 42);
    }
    int st = 0;
    pid_t w = wait_for(pid, &st);
    check(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
          "a child's munmap(0, 0x7ffffffff000) returns: it dies of SIGSEGV at its next instruction", "%s",
          describe_status(st));
    check_quick("munmap of the whole lower half is quick", t);
}

/* A static ELF with one PT_LOAD (RW, 1 page of file) whose p_memsz is
 * `memsz`; its code would just exit(0). */
static size_t big_bss_elf(unsigned char *b, size_t cap, unsigned long memsz)
{
    const size_t code_off = 64 + 56;
    const unsigned char code[] = {0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05};
    size_t total = code_off + sizeof code;
    if (cap < total)
        return 0;
    memset(b, 0, total);
    const unsigned long base = 0x400000;
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16] = 2; /* ET_EXEC */
    b[18] = 62; /* EM_X86_64 */
    b[20] = 1;
    unsigned long entry = base + code_off;
    memcpy(b + 24, &entry, 8);
    unsigned long phoff = 64;
    memcpy(b + 32, &phoff, 8);
    b[52] = 64;
    b[54] = 56;
    b[56] = 1;
    unsigned char *ph = b + 64;
    ph[0] = 1; /* PT_LOAD */
    ph[4] = 5; /* PF_R | PF_X */
    unsigned long zero = 0, size = total, align = 0x1000;
    memcpy(ph + 8, &zero, 8);
    memcpy(ph + 16, &base, 8);
    memcpy(ph + 24, &base, 8);
    memcpy(ph + 32, &size, 8);
    memcpy(ph + 40, &memsz, 8);
    memcpy(ph + 48, &align, 8);
    memcpy(b + code_off, code, sizeof code);
    return total;
}

static void test_exec_huge(unsigned long memsz, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "execve of an ELF with p_memsz %s fails with ENOMEM at once", what);
    unsigned char elf[256];
    size_t n = big_bss_elf(elf, sizeof elf, memsz);
    snprintf(scratch, sizeof scratch, "/tmp/test-memory-limits.%d.elf", (int)getpid());
    int fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write_all(fd, elf, n) != 0) {
        not_ok(name, "cannot write %s: %s", scratch, errname(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    chmod(scratch, 0755);
    int64_t t = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"big-bss", NULL};
        char *envp[] = {NULL};
        execve(scratch, argv, envp);
        _exit(errno == ENOMEM ? 31 : errno == ENOEXEC ? 32 : 33);
    }
    int st = 0;
    wait_for(pid, &st);
    int refused = WIFEXITED(st) && (WEXITSTATUS(st) == 31 || WEXITSTATUS(st) == 32);
    /* Linux gets past the point of no return first, then kills the child
     * (or, with that much memory, runs it). */
    int linux_kill = !in_isola() && (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
    check(refused || linux_kill, name, "%s (31: ENOMEM, 32: ENOEXEC)", describe_status(st));
    snprintf(name, sizeof name, "... and the execve with p_memsz %s is quick", what);
    check_quick(name, t);
    unlink(scratch);
}

/* The limits a child set, seen after execve (`--check-as BYTES`). */
static int check_as_after_exec(unsigned long limit)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur != limit)
        return 1;
    void *p = mmap(NULL, 2 * limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED || errno != ENOMEM)
        return 2;
    return 0;
}

static int rlimit_as_child(void *arg)
{
    (void)arg;
    const unsigned long limit = 64 * MIB;
    struct rlimit rl = {limit, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 1;
    struct rlimit got;
    if (getrlimit(RLIMIT_AS, &got) != 0 || got.rlim_cur != limit)
        return 2;
    /* Beyond the limit: mmap and brk fail. */
    void *p = mmap(NULL, limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED || errno != ENOMEM)
        return 3;
    p = mmap(NULL, limit, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED || errno != ENOMEM)
        return 4;
    void *brk0 = (void *)syscall(SYS_brk, 0);
    void *brk1 = (void *)syscall(SYS_brk, (char *)brk0 + limit);
    if (brk1 != brk0)
        return 5;
    /* Within it: works. */
    char *q = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
        return 6;
    q[0] = 1;
    munmap(q, MIB);
    /* A forked child has the same limit. */
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit c;
        void *r = mmap(NULL, limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        _exit(getrlimit(RLIMIT_AS, &c) == 0 && c.rlim_cur == limit && r == MAP_FAILED ? 0 : 1);
    }
    int st;
    if (wait_for(pid, &st) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 7;
    /* And so does the program it execs. */
    pid = fork();
    if (pid == 0) {
        char arg[32];
        snprintf(arg, sizeof arg, "%lu", limit);
        char *argv[] = {"test-memory-limits", "--check-as", arg, NULL};
        execv(self, argv);
        _exit(100);
    }
    if (wait_for(pid, &st) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 8;
    /* Raising the soft limit back (up to the hard one) works again. */
    rl.rlim_cur = RLIM_INFINITY;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 9;
    p = mmap(NULL, limit, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 10;
    return 0;
}

/* Stack growth beyond RLIMIT_AS kills with SIGSEGV (no room for a handler). */
static int __attribute__((noinline)) deep(int n)
{
    volatile char pad[4096];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : deep(n - 1) + pad[0];
}

/* The smallest soft RLIMIT_AS under which one more page can be mapped:
 * about this process's size (binary search, 4 KiB steps up to 1 GiB). */
static unsigned long as_in_use(void)
{
    unsigned long lo = 0, hi = GIB;
    while (hi - lo > 4096) {
        unsigned long mid = (lo + hi) / 2;
        struct rlimit rl = {mid, RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            return 0;
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            munmap(p, 4096);
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

static int stack_as_child(void *arg)
{
    (void)arg;
    unsigned long used = as_in_use();
    if (used == 0 || used >= GIB)
        return 1;
    /* 1 MiB of room: the stack may not grow the 4 MiB deep() needs. */
    struct rlimit rl = {used + MIB, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 2;
    return deep(1024) == 12345 ? 3 : 4;
}

static void test_rlimit_as(void)
{
    int st = run_child(rlimit_as_child, NULL);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "RLIMIT_AS 64 MiB: mmap and brk beyond fail with ENOMEM, within work; inherited by fork and execve",
          "%s (exit code = step that failed)", describe_status(st));
    st = run_child(stack_as_child, NULL);
    check(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "stack growth beyond RLIMIT_AS: SIGSEGV", "%s",
          describe_status(st));
}

static int nproc_child(void *arg)
{
    (void)arg;
    struct rlimit old;
    if (getrlimit(RLIMIT_NPROC, &old) != 0)
        return 1;
    struct rlimit one = {1, old.rlim_max};
    if (setrlimit(RLIMIT_NPROC, &one) != 0)
        return 2;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        wait_for(pid, NULL);
        return 3;
    }
    if (errno != EAGAIN)
        return 4;
    /* vfork too. */
    pid = vfork();
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        return 5;
    if (errno != EAGAIN)
        return 6;
    if (setrlimit(RLIMIT_NPROC, &old) != 0)
        return 7;
    pid = fork();
    if (pid == 0)
        _exit(0);
    int st;
    if (pid < 0 || wait_for(pid, &st) != pid)
        return 8;
    return 0;
}

static void test_rlimit_nproc(void)
{
    if (!in_isola() && geteuid() == 0) {
        skip("RLIMIT_NPROC 1: fork and vfork fail with EAGAIN; raised back, fork works",
             "Linux exempts root (CAP_SYS_RESOURCE)");
        return;
    }
    struct rlimit rl;
    check(getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur >= 3000, "the default RLIMIT_NPROC allows 3000 processes",
          "%lu", (unsigned long)rl.rlim_cur);
    int st = run_child(nproc_child, NULL);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "RLIMIT_NPROC 1: fork and vfork fail with EAGAIN; raised back, fork works", "%s (exit code = step)",
          describe_status(st));
}

/* Makes pipes with a byte in each until write or pipe fails; reports the
 * errno (1 byte) on `report`, then waits to be killed. */
static void pipe_filler(int report)
{
    int e = 0;
    for (;;) {
        int p[2];
        if (pipe(p) != 0) {
            e = errno;
            break;
        }
        if (write(p[1], "x", 1) != 1) {
            e = errno;
            break;
        }
    }
    char c = (char)e;
    if (write(report, &c, 1) != 1)
        _exit(2);
    for (;;)
        pause();
}

static void test_pipes_beyond_memory(void)
{
    const char *name = "pipes beyond memory: write fails with ENOMEM";
    if (!in_isola()) {
        skip(name, "Isola only: Linux shrinks pipe buffers instead");
        return;
    }
    int report[2];
    if (pipe(report) != 0) {
        not_ok(name, "pipe: %s", errname(errno));
        return;
    }
    pid_t kids[32];
    int n = 0, enomem = 0;
    for (; n < 32 && !enomem; n++) {
        kids[n] = fork();
        if (kids[n] == 0) {
            close(report[0]);
            pipe_filler(report[1]);
        }
        if (kids[n] < 0)
            break;
        char c = 0;
        if (read_full(report[0], &c, 1) == 1 && c == ENOMEM)
            enomem = 1;
    }
    check(enomem, name, "%d children filled pipes without an ENOMEM", n);
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    int reaped = 0, st;
    for (int i = 0; i < n; i++)
        reaped += wait_for(kids[i], &st) == kids[i] && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    check(reaped == n, "the pipe fillers are killed and reaped", "%d of %d", reaped, n);
    int p[2];
    char c = 0;
    check(pipe(p) == 0 && write(p[1], "y", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'y',
          "a pipe works again once they are gone", "%s", errname(errno));
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    check(pid > 0 && wait_for(pid, &st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "fork works again too", "%s",
          pid > 0 ? describe_status(st) : errname(errno));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check-as") == 0)
        return check_as_after_exec(strtoul(argv[2], NULL, 10));
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = '\0';
    else
        snprintf(self, sizeof self, "%s", argv[0]);
    test_mmap_huge();
    test_reservation();
    test_munmap_huge();
    test_exec_huge(TIB, "1 TiB");
    test_exec_huge(GIB, "1 GiB");
    test_rlimit_as();
    test_rlimit_nproc();
    test_pipes_beyond_memory();
    return tap_done();
}
