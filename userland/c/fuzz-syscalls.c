/* fuzz-syscalls: random system calls with random and boundary arguments,
 * issued from forked children; the kernel must survive them all.
 *
 * Usage: fuzz-syscalls [SEED [CALLS]] [-v] [--from N] [--batch B]
 *                      [--watchdog-ms MS] [--mem-trace] [--known-skips]
 *   SEED   the seed (default 1); CALLS the number of calls (default 20000)
 *   --from N       start at call N (replay: calls N .. N+CALLS-1)
 *   --batch B      calls per child (default 100)
 *   -v             each child prints every call before issuing it
 *   --watchdog-ms  a child that starts no new call for this long is killed
 *                  with SIGKILL (default 500) and counted as a timeout
 *   --mem-trace    print MemFree after each batch that takes it to a new
 *                  low (to find the batch behind a failed memory check)
 *   --known-skips  leave out the calls of known_skip(): bugs of issue 9 that
 *                  took the kernel down before they were fixed (for
 *                  fuzzing an older kernel)
 *
 * Call i is a pure function of (SEED, i): its number and arguments come
 * from a splitmix64 stream seeded with both, and the memory it points into
 * is refilled from the same stream just before the call, so one call can
 * be replayed alone (`SEED 1 --from i`) and a batch exactly
 * (`SEED B --from FIRST`, FIRST printed as "batch at call FIRST").
 * docs/fuzzing.md says how to minimise a failure.
 *
 * pid 1 forks one child at a time; a child sets up a fixed environment
 * (fds 0-2 on /dev/null, a file, a directory, a pipe, a socket pair, sockets,
 * an epoll fd, a 4-page buffer at a fixed address followed by an unmapped
 * page) and issues its batch with raw `syscall` instructions, telling pid 1
 * the index of each call before issuing it (8 bytes on a pipe at fd 1000).
 * A child that dies (a signal, or a call that unmapped its own stack) or
 * stops starting calls (a call that blocks) is replaced by the next one,
 * which starts after the last call started. pid 1 then checks that the
 * kernel still works: fork + exec + pipe round trip, free memory back.
 *
 * What no call may do is take the kernel down: a panic or a hang ends the
 * VM before the summary line, and the suite fails. */
#include "child.h"

#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define PROGRESS_FD 1000 /* child: write end of the progress pipe */
#define LOG_FD 1001      /* child with -v: the console */
#define NULL_FD 1002     /* pid 1's /dev/null, inherited */
#define PEEK_FD 1003      /* child: a pipe (1003 read, 1004 write) for peek() */

#define BUF_ADDR 0x10000000UL /* the child's buffer: 4 pages, then a hole */
#define PAGE 4096UL
#define BUF_SIZE (4 * PAGE)
#define STRUCTS (BUF_ADDR + PAGE)     /* page 1: words that look like structs */
#define STRINGS (BUF_ADDR + 2 * PAGE) /* pages 2-3: path strings */

#define PROG "fuzz"
#define WORK_DIR "/tmp/fuzz"

/* --- the random stream ---------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
    return next(r) % n;
}

static struct rng stream(uint64_t seed, uint64_t call)
{
    struct rng r = {seed * 0xd1b54a32d192ed03ULL ^ call};
    next(&r);
    return r;
}

#define PICK(r, table) ((table)[below(r, sizeof(table) / sizeof((table)[0]))])

/* --- what a child has ----------------------------------------------------- */

struct env {
    uint64_t sp;   /* the child's stack pointer, roughly */
    uint64_t code; /* the child's code */
    long pid;
    int fds[16];
    int nfds;
};

static const uint64_t HUGE[] = {
    1ULL << 63, ~0ULL, 0x7ffffffff000ULL, 1ULL << 40, 0x7fffffffffffffffULL, 0x80000000ULL,
    0xffffffffULL, 1ULL << 32, 0x7fffffffULL, 1ULL << 47, 0xfffffffffffff000ULL, 1ULL << 30,
};
static const int64_t NEGATIVE[] = {-1, -2, -4095, -4096, -4097, INT32_MIN, INT64_MIN, -100, -(1LL << 32)};
static const uint64_t UNMAPPED[] = {
    0x1000, 0x8000, 0x40000000000ULL, 0x7ffffffff000ULL - 0x1000, 0x500000000ULL, BUF_ADDR + BUF_SIZE,
    0x7fffffffe000ULL, 0x200000,
};
static const uint64_t KERNEL[] = {
    0xffff800000000000ULL, 0xffff800000100000ULL, 0xffffffff80000000ULL, 0xffffffff80100000ULL,
    0xffffffff80200000ULL, 0xfffffffffffff000ULL, 0xffff888000000000ULL, 0x800000000000ULL,
};
static const uint64_t LENGTHS[] = {
    0, 1, 2, 7, 8, 16, 64, 100, 4095, 4096, 4097, 8192, 16384, 65536, 1 << 20, 1 << 30,
};

/* NUL-terminated, one after the other from STRINGS. No executable, nothing
 * the harness needs (/dev/null is open in pid 1 already), nothing that
 * writes to the console. */
static const char *const PATHS[] = {
    WORK_DIR "/a", WORK_DIR "/b", WORK_DIR, WORK_DIR "/a/b", WORK_DIR "/d/", "/", "/tmp",
    "/proc/self/stat", "/proc/self/cmdline", "/proc/1/stat", "/proc/self/fd/3", "/proc/self/fd",
    "/proc/meminfo", "/proc", "/dev",
    "", ".", "..", "a", "b", "d", "d/e", "../fuzz/a", "/nonexistent/x", "a/../../..", "//", "/./tmp/fuzz/./a",
};
static uint64_t path_at[sizeof PATHS / sizeof PATHS[0] + 2];
static size_t npaths;

static uint64_t addr_in_buf(struct rng *r, int aligned)
{
    uint64_t off = below(r, BUF_SIZE);
    return BUF_ADDR + (aligned ? off & ~(PAGE - 1) : off);
}

static uint64_t pointer(struct rng *r, const struct env *e)
{
    unsigned c = (unsigned)below(r, 100);
    if (c < 8)
        return 0;
    if (c < 35)
        return STRUCTS + (below(r, PAGE / 8) * 8);
    if (c < 50)
        return addr_in_buf(r, 0);
    if (c < 55)
        return addr_in_buf(r, 1);
    if (c < 62)
        return BUF_ADDR + BUF_SIZE - 1 - below(r, 16); /* runs into the hole */
    if (c < 70)
        return e->sp - below(r, 2048);
    if (c < 74)
        return e->sp + below(r, 4096);
    if (c < 78)
        return e->code + below(r, 65536);
    if (c < 87)
        return PICK(r, UNMAPPED) + below(r, 3) * 0x800;
    return PICK(r, KERNEL) + (below(r, 2) ? below(r, 1 << 20) : 0);
}

static uint64_t length(struct rng *r)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 5)
        return PICK(r, LENGTHS);
    if (c < 7)
        return below(r, 256);
    if (c < 9)
        return PICK(r, HUGE);
    return (uint64_t)PICK(r, NEGATIVE);
}

static uint64_t any(struct rng *r, const struct env *e);

static uint64_t fd(struct rng *r, const struct env *e)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 8)
        return (uint64_t)e->fds[below(r, (uint64_t)e->nfds)];
    if (c < 9)
        return (uint64_t)PICK(r, NEGATIVE);
    static const uint64_t bad[] = {64, 999, 1023, 1024, 65535, 0x7fffffff, 1ULL << 32 | 3, (uint64_t)-100};
    return PICK(r, bad);
}

static uint64_t path(struct rng *r, const struct env *e)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 8)
        return path_at[below(r, npaths)];
    if (c < 9)
        return STRINGS + below(r, 2 * PAGE); /* inside a string, or the long unterminated one */
    return pointer(r, e);
}

static uint64_t page_addr(struct rng *r, const struct env *e)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 1)
        return pointer(r, e); /* unaligned */
    if (c < 2)
        return 0;
    if (c < 5)
        return addr_in_buf(r, 1);
    if (c < 6)
        return (e->sp & ~(PAGE - 1)) - below(r, 4) * PAGE;
    if (c < 7)
        return (e->code & ~(PAGE - 1)) + below(r, 8) * PAGE;
    if (c < 9)
        return PICK(r, UNMAPPED) & ~(PAGE - 1);
    return PICK(r, KERNEL);
}

static uint64_t flags(struct rng *r)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 3)
        return below(r, 16);
    if (c < 5)
        return 1ULL << below(r, 32);
    if (c < 8)
        return (1ULL << below(r, 24)) | (1ULL << below(r, 24)) | below(r, 4);
    if (c < 9)
        return next(r) & 0xffffffff;
    return next(r);
}

static uint64_t integer(struct rng *r)
{
    unsigned c = (unsigned)below(r, 10);
    if (c < 5)
        return below(r, 17);
    if (c < 7)
        return (uint64_t)PICK(r, NEGATIVE);
    if (c < 8)
        return PICK(r, HUGE);
    if (c < 9)
        return below(r, 4096);
    return next(r);
}

static uint64_t pid_arg(struct rng *r, const struct env *e)
{
    unsigned c = (unsigned)below(r, 6);
    if (c < 2)
        return 0;
    if (c < 4)
        return (uint64_t)e->pid;
    if (c < 5)
        return (uint64_t)-1;
    return integer(r);
}

/* Any argument: a class first, then a value of it. */
static uint64_t any(struct rng *r, const struct env *e)
{
    switch (below(r, 10)) {
    case 0: return below(r, 17);
    case 1: return 0;
    case 2: return (uint64_t)PICK(r, NEGATIVE);
    case 3: return PICK(r, HUGE);
    case 4: return pointer(r, e);
    case 5: return pointer(r, e);
    case 6: return fd(r, e);
    case 7: return path(r, e);
    case 8: return flags(r);
    default: return next(r);
    }
}

/* Argument kinds of the calls the kernel implements, so that a call gets
 * past its first check often enough to reach the code behind it:
 * f fd, p pointer, s path, l length, i integer, x flags, a page address,
 * g signal, t pid, o offset, u anything. Calls not listed get 'u's. */
static const char *const SIGNATURE[512] = {
    [SYS_read] = "fpl", [SYS_write] = "fpl", [SYS_open] = "sxi", [SYS_close] = "f", [SYS_stat] = "sp",
    [SYS_fstat] = "fp", [SYS_lstat] = "sp", [SYS_poll] = "pli", [SYS_lseek] = "foi", [SYS_mmap] = "alxxfo",
    [SYS_mprotect] = "alx", [SYS_mremap] = "allxa", [SYS_munmap] = "al", [SYS_brk] = "a", [SYS_rt_sigaction] = "gppl",
    [SYS_rt_sigprocmask] = "ippl", [SYS_ioctl] = "fxp", [SYS_pread64] = "fplo", [SYS_pwrite64] = "fplo",
    [SYS_readv] = "fpl", [SYS_writev] = "fpl", [SYS_access] = "si", [SYS_pipe] = "p", [SYS_select] = "lpppp",
    [SYS_madvise] = "ali", [SYS_dup] = "f", [SYS_dup2] = "ff", [SYS_nanosleep] = "pp", [SYS_alarm] = "l",
    [SYS_getitimer] = "ip", [SYS_setitimer] = "ipp", [SYS_sendfile] = "ffpl", [SYS_socket] = "iii",
    [SYS_connect] = "fpl", [SYS_accept] = "fpp", [SYS_sendto] = "fplxpl", [SYS_recvfrom] = "fplxpp",
    [SYS_sendmsg] = "fpx", [SYS_recvmsg] = "fpx", [SYS_shutdown] = "fi", [SYS_bind] = "fpl",
    [SYS_listen] = "fi", [SYS_getsockname] = "fpp", [SYS_getpeername] = "fpp", [SYS_socketpair] = "iiip",
    [SYS_setsockopt] = "fiipl", [SYS_getsockopt] = "fiipp", [SYS_clone] = "xppuu", [SYS_wait4] = "tpxp",
    [SYS_kill] = "tg", [SYS_uname] = "p", [SYS_fcntl] = "fiu", [SYS_truncate] = "so", [SYS_ftruncate] = "fo",
    [SYS_getcwd] = "pl", [SYS_chdir] = "s", [SYS_fchdir] = "f", [SYS_rename] = "ss", [SYS_mkdir] = "si",
    [SYS_rmdir] = "s", [SYS_unlink] = "s", [SYS_symlink] = "ss", [SYS_readlink] = "spl", [SYS_chmod] = "si",
    [SYS_fchmod] = "fi", [SYS_chown] = "sii", [SYS_fchown] = "fii", [SYS_lchown] = "sii", [SYS_umask] = "i",
    [SYS_gettimeofday] = "pp", [SYS_getrlimit] = "ip", [SYS_sysinfo] = "p", [SYS_getgroups] = "lp",
    [SYS_setgroups] = "lp", [SYS_setpgid] = "tt", [SYS_getpgid] = "t", [SYS_getsid] = "t",
    [SYS_rt_sigpending] = "pl", [SYS_rt_sigsuspend] = "pl", [SYS_sigaltstack] = "pp", [SYS_statfs] = "sp",
    [SYS_fstatfs] = "fp", [SYS_arch_prctl] = "iu", [SYS_prctl] = "iuuuu", [SYS_tkill] = "tg", [SYS_time] = "p",
    [SYS_sched_getaffinity] = "tlp", [SYS_epoll_create] = "l", [SYS_getdents64] = "fpl",
    [SYS_set_tid_address] = "p", [SYS_clock_gettime] = "ip", [SYS_clock_getres] = "ip",
    [SYS_clock_nanosleep] = "ixpp", [SYS_epoll_wait] = "fpli", [SYS_epoll_ctl] = "fifp", [SYS_tgkill] = "ttg",
    [SYS_waitid] = "itpxp", [SYS_openat] = "fsxi", [SYS_mkdirat] = "fsi", [SYS_fchownat] = "fsiix",
    [SYS_newfstatat] = "fspx", [SYS_unlinkat] = "fsx", [SYS_renameat] = "fsfs", [SYS_symlinkat] = "sfs",
    [SYS_readlinkat] = "fspl", [SYS_fchmodat] = "fsix", [SYS_faccessat] = "fsi", [SYS_pselect6] = "lppppp",
    [SYS_ppoll] = "plppl", [SYS_set_robust_list] = "pl", [SYS_utimensat] = "fspx", [SYS_epoll_pwait] = "fplipl",
    [SYS_accept4] = "fppx", [SYS_epoll_create1] = "x", [SYS_dup3] = "ffx", [SYS_pipe2] = "px",
    [SYS_prlimit64] = "tipp", [SYS_renameat2] = "fsfsx", [SYS_getrandom] = "plx", [SYS_execve] = "spp",
    [SYS_faccessat2] = "fsix", [SYS_epoll_pwait2] = "fplppl", [SYS_getpid] = "", [SYS_fork] = "",
    [SYS_vfork] = "", [SYS_sched_yield] = "", [SYS_getppid] = "", [SYS_getpgrp] = "", [SYS_setsid] = "",
    [SYS_getuid] = "", [SYS_gettid] = "", [SYS_pause] = "",
};

/* Calls never issued: they would only end or stall the child in an
 * uninteresting way (exit, exit_group, pause), or jump to whatever the
 * stack holds with the registers it holds (rt_sigreturn: probe-sigreturn-*
 * test it), or stop the machine (reboot, kexec). */
static int denied(uint64_t nr)
{
    switch (nr) {
    case SYS_exit: case SYS_exit_group: case SYS_pause: case SYS_rt_sigreturn: case SYS_reboot:
    case SYS_kexec_load: case SYS_kexec_file_load:
        return 1;
    default:
        return 0;
    }
}

struct call {
    uint64_t index, nr, a[6];
};

static uint64_t arg_of(char kind, struct rng *r, const struct env *e, uint64_t nr)
{
    switch (kind) {
    case 'f': return fd(r, e);
    case 'p': return pointer(r, e);
    case 's': return path(r, e);
    case 'l': return length(r);
    case 'i': return integer(r);
    case 'x': return flags(r);
    case 'a': return page_addr(r, e);
    case 'g': return below(r, 8) ? below(r, 66) : integer(r);
    case 't': return pid_arg(r, e);
    case 'o': return below(r, 2) ? below(r, 8192) : below(r, 2) ? PICK(r, HUGE) : (uint64_t)PICK(r, NEGATIVE);
    default: (void)nr; return any(r, e);
    }
}

/* Bugs of other parts of issue 9, each reachable from one call, that take
 * the whole kernel down until their fix is merged (docs/fuzzing.md lists
 * them); --known-skips leaves them out (they are fixed; the option is for older kernels). */
static int known_bugs_skipped = 0;
static uint64_t known_skips; /* in the child: its count, for -v */

static long raw3(long nr, long a, long b, long c);

/* Would the kernel read a timeval with tv_sec >= 2^32 at p? 1 also near the
 * stack, whose words change between this check and the call, and when the
 * peek pipe is gone. */
static int huge_timeval_at(uint64_t p, const struct env *e, int count)
{
    if (p + 8 >= e->sp - 8192 && p <= e->sp + 8192)
        return 1;
    for (int i = 0; i < count; i++) {
        uint64_t sec;
        long r = raw3(SYS_write, PEEK_FD + 1, (long)(p + 16 * (uint64_t)i), 8);
        if (r == -EFAULT)
            return 0; /* the kernel will say EFAULT too */
        if (r != 8 || raw3(SYS_read, PEEK_FD, (long)&sec, 8) != 8)
            return 1;
        if (sec >= (1ULL << 32))
            return 1;
    }
    return 0;
}

static int known_skip(const struct call *c, const struct env *e)
{
    switch (c->nr) {
    case SYS_alarm:
        /* alarm(1 << 40): seconds * 1e9 overflows, panic (time, issue 9 item 4). */
        return c->a[0] >= (1ULL << 32);
    case SYS_setitimer:
        /* setitimer(ITIMER_REAL, {tv_sec = 2^62}): the same (issue 9 item 4). */
        return c->a[0] == 0 && c->a[1] && huge_timeval_at(c->a[1], e, 2);
    case SYS_clone:
        /* clone(CLONE_VFORK|CLONE_PARENT_SETTID, 0, 0x1000, 0, 0): the tid is
         * written through the parent's memory after vfork lent it to the
         * child; the page walk reads a bogus table, panic (fork, issue 9). */
        return (c->a[0] & CLONE_VFORK) && (c->a[0] & (CLONE_PARENT_SETTID | CLONE_CHILD_SETTID));
    case SYS_select:
        /* select(..., {tv_sec = 2^40}): tv_sec * 1e9 overflows, panic (time). */
        return c->a[4] && huge_timeval_at(c->a[4], e, 1);
    case SYS_mprotect:
        /* mprotect(0x406000, 1 GiB, PROT_WRITE|PROT_EXEC): the WRPKRU scan
         * copies the whole range into one kernel Vec first; the allocation
         * fails and the kernel panics (memory management, issue 9 item 2).
         * Smaller, it succeeds and the heap keeps what it grew by: 32 MiB
         * cost 64 MiB of MemFree for good. Over 1 MiB is left out. */
        if ((c->a[2] & PROT_EXEC) && c->a[1] > (1ULL << 20))
            return 1;
        __attribute__((fallthrough)); /* the page-by-page walk of munmap applies too */
    case SYS_munmap: case SYS_madvise:
        /* munmap(0, 0x7fffffffd7b7): a walk over every page of the range,
         * the VM hangs (memory management, issue 9 item 5). */
        return c->a[1] > (1ULL << 32);
    default:
        return 0;
    }
}

/* A pid-taking argument that would reach pid 1 (or everyone: 0 and -1 are
 * the process group and every process) is made the child's own pid. */
static void spare_pid1(uint64_t *arg, const struct env *e)
{
    if ((int64_t)(int32_t)*arg <= 1)
        *arg = (uint64_t)e->pid;
}

/* Keep the harness alive: no signal to pid 1 or a group it is in, no
 * limit or group change on pid 1, the progress and log fds left alone. */
static void sanitise(struct call *c, const struct env *e)
{
    switch (c->nr) {
    case SYS_kill: case SYS_tkill: case SYS_rt_sigqueueinfo: case SYS_pidfd_open:
        spare_pid1(&c->a[0], e);
        break;
    case SYS_tgkill: case SYS_rt_tgsigqueueinfo:
        spare_pid1(&c->a[0], e);
        spare_pid1(&c->a[1], e);
        break;
    case SYS_setpgid:
        if (c->a[0] == 1)
            c->a[0] = 0;
        if (c->a[1] == 1)
            c->a[1] = 0;
        break;
    case SYS_prlimit64: case SYS_sched_setaffinity: case SYS_sched_setscheduler: case SYS_sched_setparam:
    case SYS_process_vm_readv: case SYS_process_vm_writev: case SYS_migrate_pages: case SYS_move_pages:
    case SYS_kcmp: case SYS_get_robust_list:
        if ((int32_t)c->a[0] == 1)
            c->a[0] = 0;
        break;
    case SYS_ptrace: case SYS_setpriority: case SYS_ioprio_set:
        if ((int32_t)c->a[1] == 1)
            c->a[1] = 0;
        break;
    case SYS_close_range:
        if (c->a[1] >= PROGRESS_FD)
            c->a[1] = PROGRESS_FD - 1;
        break;
    default:
        break;
    }
    for (int i = 0; i < 6; i++)
        if (c->a[i] >= PROGRESS_FD && c->a[i] <= PEEK_FD + 1)
            c->a[i] = PROGRESS_FD - 1;
}

static void generate(uint64_t seed, uint64_t index, const struct env *e, struct call *c)
{
    struct rng r = stream(seed, index);
    c->index = index;
    static const uint64_t odd[] = {460, 511, 512, 1000, 0x40000000ULL | SYS_getpid, 1ULL << 32, ~0ULL, 0x7fffffff};
    do {
        unsigned how = (unsigned)below(&r, 100);
        if (how < 75) {
            do
                c->nr = below(&r, 512);
            while (SIGNATURE[c->nr] == NULL);
        } else if (how < 97) {
            c->nr = below(&r, 460);
        } else {
            c->nr = PICK(&r, odd);
        }
    } while (denied(c->nr));
    const char *sig = c->nr < 512 && SIGNATURE[c->nr] && below(&r, 8) ? SIGNATURE[c->nr] : "";
    size_t n = strlen(sig);
    for (int i = 0; i < 6; i++)
        c->a[i] = (size_t)i < n ? arg_of(sig[i], &r, e, c->nr) : any(&r, e);
    sanitise(c, e);
}

/* The buffer's bytes for call `index`: page 0 random, page 1 struct-like
 * words (small numbers, lengths, pointers, a valid sockaddr_in, timespec
 * and iovec at its start), pages 2-3 the path strings and then a long
 * name that runs up to the hole without a NUL. */
static void fill(uint64_t seed, uint64_t index, const struct env *e)
{
    struct rng r = stream(seed ^ 0x5eed, index);
    uint64_t *w = (uint64_t *)BUF_ADDR;
    for (size_t i = 0; i < PAGE / 8; i++)
        w[i] = next(&r);
    uint64_t *s = (uint64_t *)STRUCTS;
    for (size_t i = 0; i < PAGE / 8; i++) {
        switch (below(&r, 8)) {
        case 0: s[i] = 0; break;
        case 1: s[i] = below(&r, 64); break;
        case 2: s[i] = length(&r); break;
        case 3: s[i] = pointer(&r, e); break;
        case 4: s[i] = (uint64_t)e->fds[below(&r, (uint64_t)e->nfds)] | below(&r, 8) << 32; break;
        case 5: s[i] = integer(&r); break;
        case 6: s[i] = PICK(&r, HUGE); break;
        default: s[i] = next(&r); break;
        }
    }
    /* sockaddr_in 127.0.0.1 port 7000+k; timespec {0, 1 ms}; iovec {buf, 64}. */
    unsigned char *b = (unsigned char *)STRUCTS;
    b[0] = 2, b[1] = 0, b[2] = 0x1b, b[3] = (unsigned char)(0x58 + below(&r, 4));
    b[4] = 127, b[5] = 0, b[6] = 0, b[7] = 1;
    memset(b + 8, 0, 8);
    s[2] = 0, s[3] = 1000000;
    s[4] = BUF_ADDR, s[5] = 64;
    char *p = (char *)STRINGS;
    for (size_t i = 0; i < sizeof PATHS / sizeof PATHS[0]; i++) {
        size_t len = strlen(PATHS[i]) + 1;
        memcpy(p, PATHS[i], len);
        p += len;
    }
    memset(p, 'n', (size_t)((char *)(BUF_ADDR + BUF_SIZE) - p)); /* no NUL before the hole */
}

static void describe(const struct call *c, char *out, size_t size)
{
    snprintf(out, size, "call %lu: syscall(%lu, %#lx, %#lx, %#lx, %#lx, %#lx, %#lx)", (unsigned long)c->index,
             (unsigned long)c->nr, (unsigned long)c->a[0], (unsigned long)c->a[1], (unsigned long)c->a[2],
             (unsigned long)c->a[3], (unsigned long)c->a[4], (unsigned long)c->a[5]);
}

/* --- the child ------------------------------------------------------------ */

static long raw6(uint64_t nr, const uint64_t a[6])
{
    register uint64_t r10 __asm__("r10") = a[3];
    register uint64_t r8 __asm__("r8") = a[4];
    register uint64_t r9 __asm__("r9") = a[5];
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* fork, vfork, clone, clone3: the new process (which may share this
 * memory and have any stack pointer) exits at once, touching no memory. */
static long raw6_fork(uint64_t nr, const uint64_t a[6])
{
    register uint64_t r10 __asm__("r10") = a[3];
    register uint64_t r8 __asm__("r8") = a[4];
    register uint64_t r9 __asm__("r9") = a[5];
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw3(long nr, long a, long b, long c)
{
    uint64_t args[6] = {(uint64_t)a, (uint64_t)b, (uint64_t)c, 0, 0, 0};
    return raw6((uint64_t)nr, args);
}

static void raw_print(int fd, const char *s)
{
    raw3(SYS_write, fd, (long)s, (long)strlen(s));
}

struct options {
    uint64_t seed, calls, from, batch;
    long watchdog_ms;
    int verbose, mem_trace;
};

/* Exit statuses of a child that ended by itself. */
enum { CHILD_DONE = 0, CHILD_SETUP_FAILED = 2, CHILD_LOST_PROGRESS = 3 };

/* Static, not on the stack: a call may write anywhere near the stack
 * pointer, and the pid it spares and the loop's index must survive that. */
static struct env e;
static uint64_t cur, cur_end;

static struct options child_options;

static __attribute__((noreturn)) void child_run(const struct options *options, uint64_t first, uint64_t end,
                                                int progress)
{
    child_options = *options;
    const struct options *o = &child_options;
    volatile char anchor = 0;
    e.sp = (uint64_t)&anchor;
    e.code = (uint64_t)&child_run;
    e.pid = getpid();
    setpgid(0, 0);
    if (o->verbose)
        dup2(2, LOG_FD);
    if (dup2(progress, PROGRESS_FD) < 0)
        _exit(CHILD_SETUP_FAILED);
    for (int i = 0; i < 3; i++)
        dup2(NULL_FD, i);
    for (int f = 3; f < PROGRESS_FD; f++)
        close(f);
    fcntl(PROGRESS_FD, F_SETFL, O_NONBLOCK);
    int peek_pipe[2];
    if (pipe2(peek_pipe, O_NONBLOCK) != 0 || dup2(peek_pipe[0], PEEK_FD) < 0 || dup2(peek_pipe[1], PEEK_FD + 1) < 0)
        _exit(CHILD_SETUP_FAILED);
    close(peek_pipe[0]);
    close(peek_pipe[1]);
    if (mmap((void *)BUF_ADDR, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
        (void *)BUF_ADDR)
        _exit(CHILD_SETUP_FAILED);
    char *p = (char *)STRINGS;
    npaths = 0;
    for (size_t i = 0; i < sizeof PATHS / sizeof PATHS[0]; i++) {
        path_at[npaths++] = (uint64_t)p;
        p += strlen(PATHS[i]) + 1;
    }
    if (chdir(WORK_DIR) != 0)
        _exit(CHILD_SETUP_FAILED);
    /* The same fds in the same order every time: 0-2, then these. */
    e.fds[e.nfds++] = 0;
    e.fds[e.nfds++] = 1;
    e.fds[e.nfds++] = 2;
    e.fds[e.nfds++] = open(WORK_DIR "/a", O_RDWR | O_CREAT, 0644);
    e.fds[e.nfds++] = open(WORK_DIR, O_RDONLY | O_DIRECTORY);
    int pfd[2], sfd[2];
    if (pipe2(pfd, O_NONBLOCK) == 0)
        e.fds[e.nfds++] = pfd[0], e.fds[e.nfds++] = pfd[1];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sfd) == 0)
        e.fds[e.nfds++] = sfd[0], e.fds[e.nfds++] = sfd[1];
    e.fds[e.nfds++] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    e.fds[e.nfds++] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    e.fds[e.nfds++] = (int)syscall(SYS_epoll_create1, 0);
    e.fds[e.nfds++] = open("/proc/self/stat", O_RDONLY);
    e.fds[e.nfds++] = open("/dev/zero", O_RDWR);
    for (cur = first, cur_end = end; cur < cur_end; cur++) {
        struct call c;
        generate(o->seed, cur, &e, &c);
        fill(o->seed, cur, &e);
        if (known_bugs_skipped && known_skip(&c, &e)) {
            known_skips++;
            continue;
        }
        if (raw3(SYS_write, PROGRESS_FD, (long)&cur, sizeof cur) != (long)sizeof cur) {
            /* A full pipe only loses this report; a closed one loses them all. */
            long err = raw3(SYS_fcntl, PROGRESS_FD, F_GETFD, 0);
            if (err < 0)
                _exit(CHILD_LOST_PROGRESS);
        }
        if (o->verbose) {
            char line[256];
            describe(&c, line, sizeof line - 1);
            strcat(line, "\n");
            raw_print(LOG_FD, line);
        }
        if (c.nr == SYS_fork || c.nr == SYS_vfork || c.nr == SYS_clone || c.nr == SYS_clone3)
            raw6_fork(c.nr, c.a);
        else
            raw6(c.nr, c.a);
    }
    raw3(SYS_exit, CHILD_DONE, 0, 0);
    __builtin_unreachable();
}

/* --- pid 1 ---------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    if (remove(p) != 0 && errno != ENOENT)
        chmod(p, 0700), remove(p);
    return 0;
}

static void reset_work_dir(void)
{
    chmod(WORK_DIR, 0755);
    nftw(WORK_DIR, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    mkdir("/tmp", 01777);
    mkdir(WORK_DIR, 0755);
}

/* For a failed memory check: the files the children left (a child may
 * chdir anywhere and create files by relative names), and /proc/meminfo. */
static int list_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (strncmp(p, "/proc", 5) == 0 || strncmp(p, "/dev", 4) == 0)
        return 0;
    if (type == FTW_F && st->st_size >= 4096)
        tap_line("fuzz:   file %s: %lld bytes", p, (long long)st->st_size);
    return 0;
}

static void report_memory(void)
{
    nftw("/", list_entry, 16, FTW_PHYS);
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        tap_line("fuzz:   meminfo: %s", line);
    }
    if (f)
        fclose(f);
}

struct totals {
    uint64_t issued, children, done, signalled, timeouts, lost_progress, setup_failed, strays;
    uint64_t by_signal[65];
};

/* Reap whatever ended (strays: grandchildren handed to pid 1). */
static void reap_strays(struct totals *t, pid_t keep)
{
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (w != keep)
            t->strays++;
    (void)keep;
}

/* Kill every process but pid 1 and wait until all are gone; 0 if they
 * went within 5 s (a SIGKILL must end a process whatever it is doing). */
static int kill_all(struct totals *t)
{
    kill(-1, SIGKILL);
    for (int tries = 0; tries < 500; tries++) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w < 0 && errno == ECHILD)
            return 0;
        if (w > 0) {
            t->strays++;
            continue;
        }
        sleep_ms(10);
    }
    return -1;
}

/* Run calls [first, end) in one child; returns the index to go on from. */
static uint64_t run_batch(const struct options *o, uint64_t first, uint64_t end, struct totals *t, int *unkillable)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        tap_line("fuzz: pipe failed: %s", errname(errno));
        return end;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child_run(o, first, end, pfd[1]);
    }
    close(pfd[1]);
    if (pid < 0) {
        tap_line("fuzz: fork failed: %s", errname(errno));
        close(pfd[0]);
        return end;
    }
    t->children++;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    uint64_t last = first; /* the last call started, once started_any */
    int started_any = 0, status = 0;
    int64_t last_progress = now_ns();
    for (;;) {
        uint64_t got[512];
        ssize_t n;
        while ((n = read(pfd[0], got, sizeof got)) > 0) {
            if (n >= (ssize_t)sizeof got[0]) {
                last = got[n / sizeof got[0] - 1];
                started_any = 1;
                last_progress = now_ns();
            }
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (now_ns() - last_progress > o->watchdog_ms * 1000000LL) {
            t->timeouts++;
            tap_line("fuzz: timeout: call %lu started and nothing after it for %ld ms: killed",
                     (unsigned long)last, o->watchdog_ms);
            if (kill_all(t) != 0) {
                tap_line("fuzz: a process outlived SIGKILL for 5 s (call %lu)", (unsigned long)last);
                *unkillable = 1;
            }
            /* kill_all reaped the child too (counted as a stray). */
            t->strays--;
            status = -1;
            break;
        }
        sleep_ms(20);
    }
    uint64_t got[512];
    ssize_t n;
    while ((n = read(pfd[0], got, sizeof got)) > 0)
        if (n >= (ssize_t)sizeof got[0])
            last = got[n / sizeof got[0] - 1], started_any = 1;
    close(pfd[0]);
    reap_strays(t, pid);
    if (status == -1) {
        /* timed out, counted */
    } else if (WIFSIGNALED(status)) {
        t->signalled++;
        t->by_signal[WTERMSIG(status) & 63]++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_DONE) {
        t->done++;
        t->issued += end - first;
        return end;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_LOST_PROGRESS) {
        t->lost_progress++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SETUP_FAILED) {
        t->setup_failed++;
        tap_line("fuzz: child for call %lu could not set up", (unsigned long)first);
        t->issued += 0;
        return end;
    } else {
        tap_line("fuzz: child for calls %lu.. ended with %s", (unsigned long)first, describe_status(status));
    }
    uint64_t resume = started_any ? last + 1 : first + 1;
    if (resume <= first || resume > end)
        resume = first + 1; /* a report the child's own calls garbled */
    t->issued += resume - first;
    return resume;
}

/* After the run: fork + exec of this program + a pipe round trip. */
static int round_trip(const char *self)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        execl(self, self, "--echo", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char buf[64] = {0};
    size_t got = read_full(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int st;
    if (pid < 0 || wait_for(pid, &st) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 5 && memcmp(buf, "echo\n", 5) == 0 ? 0 : -1;
}

static uint64_t number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s) {
        tap_line("fuzz-syscalls: bad %s '%s'", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 1)
        return 0;
    if (argc == 2 && strcmp(argv[1], "--echo") == 0) {
        write_all(1, "echo\n", 5);
        return 0;
    }
    struct options o = {.seed = 1, .calls = 20000, .from = 0, .batch = 100, .watchdog_ms = 500, .verbose = 0};
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            o.verbose = 1;
        else if (strcmp(argv[i], "--mem-trace") == 0)
            o.mem_trace = 1;
        else if (strcmp(argv[i], "--known-skips") == 0)
            known_bugs_skipped = 1;
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            o.from = number(argv[++i], "--from");
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            o.batch = number(argv[++i], "--batch");
        else if (strcmp(argv[i], "--watchdog-ms") == 0 && i + 1 < argc)
            o.watchdog_ms = (long)number(argv[++i], "--watchdog-ms");
        else if (positional == 0 && argv[i][0] != '-')
            o.seed = number(argv[i], "SEED"), positional++;
        else if (positional == 1 && argv[i][0] != '-')
            o.calls = number(argv[i], "CALLS"), positional++;
        else {
            tap_line("usage: fuzz-syscalls [SEED [CALLS]] [-v] [--from N] [--batch B] [--watchdog-ms MS] "
                     "[--mem-trace] [--known-skips]");
            return 2;
        }
    }
    if (o.batch == 0)
        o.batch = 1;
    signal(SIGPIPE, SIG_IGN);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, NULL_FD) != NULL_FD) {
        not_ok("setup", "cannot open /dev/null: %s", errname(errno));
        return tap_done();
    }
    close(null_fd);
    reset_work_dir();
    long free_before = mem_free_kb(), heap_before = meminfo_kb("Slab");
    tap_line("fuzz: seed %lu, calls %lu..%lu, %lu per child, watchdog %ld ms%s", (unsigned long)o.seed,
             (unsigned long)o.from, (unsigned long)(o.from + o.calls), (unsigned long)o.batch, o.watchdog_ms,
             known_bugs_skipped ? "" : ", known bugs not skipped");
    struct totals t = {0};
    int unkillable = 0;
    int64_t start = now_ns();
    uint64_t end = o.from + o.calls;
    long mem_low = free_before;
    for (uint64_t at = o.from; at < end;) {
        uint64_t stop = at + o.batch < end ? at + o.batch : end;
        tap_line("fuzz: batch at call %lu", (unsigned long)at);
        uint64_t batch_start = at;
        at = run_batch(&o, at, stop, &t, &unkillable);
        reset_work_dir();
        if (o.mem_trace) {
            long now = mem_free_kb(), heap = meminfo_kb("Slab");
            if (now < mem_low - 256) /* a new low: whatever the batch did kept memory */
                tap_line("fuzz: MemFree %ld kB, kernel heap %ld kB after the batch at call %lu (%ld kB below the "
                         "lowest before)", now, heap, (unsigned long)batch_start, mem_low - now);
            if (now < mem_low)
                mem_low = now;
        }
    }
    int64_t ms = (now_ns() - start) / 1000000;
    if (kill_all(&t) != 0)
        unkillable = 1;
    reset_work_dir();
    tap_line("fuzz: %lu calls in %ld ms (%ld calls/s), %lu children: %lu finished their batch, %lu killed by a "
             "signal, %lu timed out (blocked), %lu lost their progress pipe, %lu could not set up, %lu strays reaped",
             (unsigned long)t.issued, (long)ms, ms > 0 ? (long)(t.issued * 1000 / (uint64_t)ms) : 0L,
             (unsigned long)t.children, (unsigned long)t.done, (unsigned long)t.signalled, (unsigned long)t.timeouts,
             (unsigned long)t.lost_progress, (unsigned long)t.setup_failed, (unsigned long)t.strays);
    for (int s = 1; s < 65; s++)
        if (t.by_signal[s])
            tap_line("fuzz:   killed by signal %d (%s): %lu", s, strsignal(s), (unsigned long)t.by_signal[s]);
    char name[128];
    snprintf(name, sizeof name, "%lu random calls from seed %lu, and pid 1 goes on", (unsigned long)t.issued,
             (unsigned long)o.seed);
    check(t.issued > 0 && t.setup_failed < t.children, name, "issued %lu, %lu children could not set up",
          (unsigned long)t.issued, (unsigned long)t.setup_failed);
    check(!unkillable, "every child ended by SIGKILL within 5 s", "a process outlived SIGKILL");
    check(round_trip(argv[0]) == 0, "afterwards: fork + exec + pipe round trip", "failed");
    long free_after = mem_free_kb(), heap_after = meminfo_kb("Slab");
    /* Frames are either free or the kernel heap's (Slab:), which grows on
     * demand and keeps what it took (a 8 MiB file written and removed
     * leaves it 32 MiB bigger): a frame in neither is leaked. Within 1 MiB
     * or 2 %. */
    tap_line("%s: MemFree %ld -> %ld kB, kernel heap (Slab) %ld -> %ld kB", PROG, free_before, free_after,
             heap_before, heap_after);
    long slack = free_before / 50 > 1024 ? free_before / 50 : 1024;
    int memory_back = free_before > 0 && heap_before > 0 && free_after + heap_after >= free_before + heap_before - slack;
    if (!memory_back)
        report_memory();
    check(memory_back, "afterwards: no frame lost (MemFree + kernel heap back)",
          "MemFree + Slab %ld kB before, %ld kB after", free_before + heap_before, free_after + heap_after);
    return tap_done();
}
