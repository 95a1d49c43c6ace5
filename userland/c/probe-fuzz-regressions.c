/* probe-fuzz-regressions: every kernel panic or hang that fuzz-syscalls or
 * fuzz-elf found, minimised to one call, as a check that it stays fixed.
 *
 * Each call runs in a forked child with a watchdog, so a call that kills
 * its caller or blocks forever is still an answer; a panic or a hang of the
 * kernel ends the VM before the summary line. The checks marked known are
 * bugs of other parts of issue 9 (memory management, time arithmetic,
 * fork) that still take the kernel down on this branch: they are skipped
 * with their reason unless `--known` is given (docs/fuzzing.md).
 *
 * Usage: probe-fuzz-regressions [--known | --only I]   (--only: check I alone,
 * counted from 0 in the order below, known or not) */
#include "child.h"

#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>

/* What a check's child should do. */
enum expect { EXITS_0, EXITS_0_OR_SEGV, BLOCKS };

struct regression {
    const char *name;     /* the minimised call */
    int (*run)(void);     /* in the child: 0 if the call did what Linux does */
    enum expect expect;
    const char *known;    /* NULL, or why it is skipped without --known */
};

static long raw(long nr, long a, long b, long c, long d, long e)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
    return ret;
}

/* fuzz-syscalls seed 1 call 23526: recvmsg's iovec lengths (each < 2^63)
 * were summed without a check; the sum overflowed, panic. Linux checks each
 * whole length against the user address space first (EFAULT here: 2^62
 * bytes do not fit), then cuts the total at MAX_RW_COUNT; a length that
 * fits is received into. */
static int recvmsg_iovec_sum(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || write(sv[1], "hi", 2) != 2)
        return 10;
    static char buf[16];
    struct iovec iov[4];
    for (int i = 0; i < 4; i++)
        iov[i] = (struct iovec){buf, 1UL << 62};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 4};
    long n = raw(SYS_recvmsg, sv[0], (long)&msg, 0, 0, 0);
    if (n != -EFAULT)
        return 11;
    /* Lengths that fit (the sum of 1 GiB + 1 GiB + 1 GiB passes
     * MAX_RW_COUNT and is cut): the 2 bytes come in. */
    for (int i = 0; i < 3; i++)
        iov[i] = (struct iovec){buf, 1UL << 30};
    msg.msg_iovlen = 3;
    n = raw(SYS_recvmsg, sv[0], (long)&msg, 0, 0, 0);
    if (n != 2 || memcmp(buf, "hi", 2) != 0)
        return 13;
    /* And on a bad fd: EBADF, not a sum. */
    n = raw(SYS_recvmsg, 0x7fffffff, (long)&msg, 0, 0, 0);
    return n == -EBADF ? 0 : 12;
}

/* The same sum for writev: the lengths are cut, nothing overflows. */
static int writev_iovec_sum(void)
{
    int fd = open("/dev/null", O_WRONLY);
    char buf[16] = "0123456789abcdef";
    struct iovec iov[4] = {{buf, 16}, {buf, 1UL << 62}, {buf, 1UL << 62}, {buf, 1UL << 62}};
    long n = raw(SYS_writev, fd, (long)iov, 4, 0, 0);
    /* Linux: EFAULT (the second iovec runs past the stack) or a count; never a panic. */
    return n == -EFAULT || n > 0 ? 0 : 20;
}

/* fuzz-syscalls seed 1 call 1112: mprotect(0x406000, 1 GiB,
 * PROT_WRITE|PROT_EXEC): the WRPKRU scan copies the range into one kernel
 * allocation first; it fails and the kernel panics. Linux: ENOMEM (the
 * range is not all mapped); Isola may say EACCES (W^X) first. */
static int mprotect_exec_huge(void)
{
    long page = (long)&mprotect_exec_huge & ~4095L;
    long r = raw(SYS_mprotect, page, 1L << 30, PROT_WRITE | PROT_EXEC, 0, 0);
    if (r != -ENOMEM && r != -EACCES)
        return 30;
    r = raw(SYS_mprotect, page, 1L << 30, PROT_READ | PROT_EXEC, 0, 0);
    return r == -ENOMEM ? 0 : 31;
}

/* fuzz-syscalls seed 1 call 15513: munmap(0, 0x7fffffffd7b7) walks every
 * page of 128 TiB: the VM hangs. Linux unmaps everything, and the caller
 * dies of SIGSEGV on its next instruction. */
static int munmap_everything(void)
{
    raw(SYS_munmap, 0, 0x7fffffffd7b7L, 0, 0, 0);
    return 0;
}

/* fuzz-syscalls seed 1 call 1734 (issue 9 item 4): alarm(1 << 40) overflows
 * seconds * 1e9, panic. Linux takes an unsigned int: alarm(0), 0. */
static int alarm_huge(void)
{
    long r = raw(SYS_alarm, 1L << 40, 0, 0, 0, 0);
    raw(SYS_alarm, 0, 0, 0, 0, 0);
    return r == 0 ? 0 : 40;
}

/* setitimer(ITIMER_REAL, {0, {2^62, 0}}): the same overflow (issue 9 item 4).
 * Linux accepts it (the timer never fires in practice). */
static int setitimer_huge(void)
{
    struct itimerval v = {{0, 0}, {1L << 62, 0}};
    long r = raw(SYS_setitimer, ITIMER_REAL, (long)&v, 0, 0, 0);
    struct itimerval off = {{0, 0}, {0, 0}};
    raw(SYS_setitimer, ITIMER_REAL, (long)&off, 0, 0, 0);
    return r == 0 ? 0 : 50;
}

/* select(0, NULL, NULL, NULL, {2^40, 0}): tv_sec * 1e9 overflows, panic.
 * Linux sleeps (for 35,000 years): the child blocks until killed. */
static int select_huge(void)
{
    struct timeval tv = {1L << 40, 0};
    raw(SYS_select, 0, 0, 0, 0, (long)&tv);
    return 60;
}

/* fuzz-syscalls seed 1 call 3923: clone(CLONE_VFORK|CLONE_PARENT_SETTID,
 * 0, &tid, 0, 0): the tid is written through the parent's memory while
 * vfork has lent it to the child: a bogus page-table walk, panic. Linux
 * writes the child's pid to tid in the parent. */
static int clone_vfork_settid(void)
{
    static volatile int tid;
    long r;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n"
                     "1:"
                     : "=a"(r)
                     : "a"(SYS_clone), "D"((long)(CLONE_VFORK | CLONE_PARENT_SETTID | SIGCHLD)), "S"(0L),
                       "d"((long)&tid), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    if (r <= 0)
        return 70;
    int st;
    if (wait_for((pid_t)r, &st) != r)
        return 71;
    return tid == r ? 0 : 72;
}

/* fuzz-elf --with-huge-memsz (issue 9 item 5): an ELF whose PT_LOAD has
 * p_memsz = 1 TiB hangs the VM. Linux: execve fails with ENOMEM. */
static int exec_huge_memsz(void)
{
    unsigned char f[0x1100] = {0};
    Elf64_Ehdr *h = (Elf64_Ehdr *)f;
    memcpy(h->e_ident, ELFMAG, SELFMAG);
    h->e_ident[EI_CLASS] = ELFCLASS64, h->e_ident[EI_DATA] = ELFDATA2LSB, h->e_ident[EI_VERSION] = EV_CURRENT;
    h->e_type = ET_EXEC, h->e_machine = EM_X86_64, h->e_version = EV_CURRENT;
    h->e_entry = 0x400200, h->e_phoff = sizeof *h, h->e_ehsize = sizeof *h;
    h->e_phentsize = sizeof(Elf64_Phdr), h->e_phnum = 2;
    Elf64_Phdr *p = (Elf64_Phdr *)(f + sizeof *h);
    p[0] = (Elf64_Phdr){PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x400000, 0x1000, 0x1000, 0x1000};
    p[1] = (Elf64_Phdr){PT_LOAD, PF_R | PF_W, 0x1000, 0x401000, 0x401000, 0x100, 1UL << 40, 0x1000};
    memcpy(f + 0x200, "\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05", 9); /* exit(0) */
    mkdir("/tmp", 01777);
    const char *path = "/tmp/probe-fuzz-huge-memsz";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write_all(fd, f, sizeof f) != 0)
        return 80;
    close(fd);
    char *argv[] = {(char *)path, NULL};
    execve(path, argv, argv + 1);
    int e = errno;
    unlink(path);
    return e == ENOMEM ? 0 : 81;
}

/* The last field names a known, unfixed bug (the check is skipped unless
 * --known); every bug found so far is fixed, so none is. */

static const struct regression REGRESSIONS[] = {
    {"recvmsg(fd, {4 iovecs of 2^62 bytes}, 0): EFAULT, no overflow; 3 x 1 GiB: what fits", recvmsg_iovec_sum, EXITS_0, NULL},
    {"writev(fd, {16 bytes, 3 x 2^62 bytes}, 4): no overflow", writev_iovec_sum, EXITS_0, NULL},
    {"mprotect(text, 1 GiB, PROT_WRITE|PROT_EXEC) -> ENOMEM/EACCES", mprotect_exec_huge, EXITS_0, NULL},
    {"munmap(0, 0x7fffffffd7b7): the caller dies, the kernel stays", munmap_everything, EXITS_0_OR_SEGV, NULL},
    {"execve of an ELF with p_memsz 1 TiB -> ENOMEM", exec_huge_memsz, EXITS_0, NULL},
    {"alarm(1 << 40) -> 0", alarm_huge, EXITS_0, NULL},
    {"setitimer(ITIMER_REAL, {tv_sec = 2^62}) -> 0", setitimer_huge, EXITS_0, NULL},
    {"select(0, 0, 0, 0, {tv_sec = 2^40}) blocks", select_huge, BLOCKS, NULL},
    {"clone(CLONE_VFORK|CLONE_PARENT_SETTID, 0, &tid) writes the pid", clone_vfork_settid, EXITS_0, NULL},
};

static void check_one(const struct regression *t)
{
    pid_t pid = fork();
    if (pid < 0) {
        not_ok(t->name, "fork: %s", errname(errno));
        return;
    }
    if (pid == 0)
        _exit(t->run());
    int st = 0;
    int64_t deadline = now_ns() + (t->expect == BLOCKS ? 300 : 5000) * 1000000LL;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_ns() < deadline)
        sleep_ms(5);
    if (w == 0) {
        kill(pid, SIGKILL);
        wait_for(pid, &st);
        if (t->expect == BLOCKS && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
            ok(t->name);
        else
            not_ok(t->name, "still running after %s, then %s", t->expect == BLOCKS ? "300 ms" : "5 s",
                   describe_status(st));
        return;
    }
    int good = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
               (t->expect == EXITS_0_OR_SEGV && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    if (t->expect == BLOCKS)
        good = 0;
    check(good, t->name, "%s (exit codes say which step failed)", describe_status(st));
}

int main(int argc, char **argv)
{
    int known = argc > 1 && strcmp(argv[1], "--known") == 0;
    long only = argc > 2 && strcmp(argv[1], "--only") == 0 ? atol(argv[2]) : -1;
    for (size_t i = 0; i < sizeof REGRESSIONS / sizeof REGRESSIONS[0]; i++) {
        const struct regression *t = &REGRESSIONS[i];
        if (only >= 0 && (long)i != only)
            continue;
        if (t->known && !known && only < 0)
            skip(t->name, t->known);
        else
            check_one(t);
    }
    return tap_done();
}
