/* test-calls: syscalls added for issue 12, each against Linux's answers:
 * creat, link/linkat, close_range, preadv/pwritev(2), and the uid/gid
 * calls (setuid ... getresgid, setfsuid), each identity scenario in its own
 * child since a process that gives up root cannot take it back; getrusage,
 * times and /proc/self/stat's CPU times; mknod/mknodat/mkfifo and FIFOs;
 * fallocate and msync; rt_sigtimedwait; futex as a process of one thread
 * sees it (libcrypto's pthread_once ends with a FUTEX_WAKE).
 *
 * Works in a fresh directory `test-calls.<pid>` under /tmp and removes it
 * at the end. Raw syscall() is used so that each check names the syscall
 * it exercises (musl may route a libc wrapper elsewhere). */
#include "tap.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/sysmacros.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "child.h"

/* eventfd(2) flags, without <sys/eventfd.h> (musl has it; the values are Linux's). */
#define EFD_SEMAPHORE_FLAG 1L
#define EFD_NONBLOCK_FLAG 04000L

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef RWF_APPEND
#define RWF_HIPRI 0x1
#define RWF_NOWAIT 0x8
#define RWF_APPEND 0x10
#endif

/* musl's syscall() gives -1 with errno set; every argument a long. */
#define SC(...) syscall(__VA_ARGS__)

static long file_size(const char *path)
{
    struct stat st;
    if (SC(SYS_stat, path, &st) != 0)
        return -1;
    return (long)st.st_size;
}

static long nlink_of(const char *path)
{
    struct stat st;
    if (SC(SYS_lstat, path, &st) != 0)
        return -1;
    return (long)st.st_nlink;
}

static void test_creat(void)
{
    long fd = SC(SYS_creat, "c.txt", 0640);
    check(fd >= 0, "creat makes a file", "creat returned %ld (%s)", fd, errname(errno));
    if (fd < 0)
        return;
    check(SC(SYS_write, fd, "abcdef", 6) == 6, "creat: write-only descriptor writes", "%s", errname(errno));
    char c;
    expect_errno("creat: descriptor is not readable (EBADF)", SC(SYS_read, fd, &c, 1), EBADF);
    struct stat st;
    SC(SYS_fstat, fd, &st);
    check((st.st_mode & 07777) == (0640 & ~022 & 07777) || (st.st_mode & 07777) == 0640, "creat: mode from the argument",
          "mode %o", st.st_mode & 07777);
    close((int)fd);
    fd = SC(SYS_creat, "c.txt", 0600);
    check(fd >= 0 && file_size("c.txt") == 0, "creat of an existing file truncates it", "size %ld", file_size("c.txt"));
    close((int)fd);
    expect_errno("creat on a directory (EISDIR)", SC(SYS_creat, ".", 0600), EISDIR);
    expect_errno("creat in a missing directory (ENOENT)", SC(SYS_creat, "nodir/x", 0600), ENOENT);
    SC(SYS_unlink, "c.txt");
}

static void test_link(void)
{
    long fd = SC(SYS_open, "orig", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    SC(SYS_write, fd, "data", 4);
    close((int)fd);
    check(SC(SYS_link, "orig", "second") == 0, "link makes a second name", "%s", errname(errno));
    check(nlink_of("orig") == 2 && nlink_of("second") == 2, "link: st_nlink is 2 under both names", "nlink %ld/%ld",
          nlink_of("orig"), nlink_of("second"));
    struct stat a, b;
    SC(SYS_stat, "orig", &a);
    SC(SYS_stat, "second", &b);
    check(a.st_ino == b.st_ino, "link: both names are one inode", "ino %lu vs %lu", (unsigned long)a.st_ino,
          (unsigned long)b.st_ino);
    fd = SC(SYS_open, "second", O_WRONLY | O_APPEND);
    SC(SYS_write, fd, "more", 4);
    close((int)fd);
    check(file_size("orig") == 8, "link: a write through one name shows in the other", "size %ld", file_size("orig"));
    check(SC(SYS_unlink, "orig") == 0 && nlink_of("second") == 1 && file_size("second") == 8,
          "unlink of one name keeps the data", "nlink %ld size %ld", nlink_of("second"), file_size("second"));
    expect_errno("link to an existing name (EEXIST)", SC(SYS_link, "second", "second"), EEXIST);
    expect_errno("link of a missing file (ENOENT)", SC(SYS_link, "missing", "x"), ENOENT);
    expect_errno("link into a missing directory (ENOENT)", SC(SYS_link, "second", "nodir/x"), ENOENT);
    SC(SYS_mkdir, "dir", 0755);
    expect_errno("link of a directory (EPERM)", SC(SYS_link, "dir", "dir2"), EPERM);
    expect_errno("link over an existing directory (EEXIST)", SC(SYS_link, "second", "dir"), EEXIST);
    expect_errno("link with a file as the directory (ENOTDIR)", SC(SYS_link, "second", "second/x"), ENOTDIR);

    /* linkat: symlinks followed only with AT_SYMLINK_FOLLOW. */
    SC(SYS_symlink, "second", "sym");
    check(SC(SYS_linkat, AT_FDCWD, "sym", AT_FDCWD, "sym-link", 0) == 0, "linkat without flags links the symlink itself",
          "%s", errname(errno));
    struct stat st;
    SC(SYS_lstat, "sym-link", &st);
    check(S_ISLNK(st.st_mode), "linkat(0): the new name is a symlink", "mode %o", st.st_mode);
    check(SC(SYS_linkat, AT_FDCWD, "sym", AT_FDCWD, "sym-follow", AT_SYMLINK_FOLLOW) == 0,
          "linkat AT_SYMLINK_FOLLOW links the target", "%s", errname(errno));
    SC(SYS_lstat, "sym-follow", &st);
    check(S_ISREG(st.st_mode) && nlink_of("second") == 2, "linkat AT_SYMLINK_FOLLOW: a regular file, nlink 2",
          "mode %o nlink %ld", st.st_mode, nlink_of("second"));
    expect_errno("linkat unknown flag (EINVAL)", SC(SYS_linkat, AT_FDCWD, "second", AT_FDCWD, "x", 0x8000), EINVAL);
    expect_errno("linkat AT_SYMLINK_NOFOLLOW is not a linkat flag (EINVAL)",
                 SC(SYS_linkat, AT_FDCWD, "second", AT_FDCWD, "x", AT_SYMLINK_NOFOLLOW), EINVAL);
    long dfd = SC(SYS_open, "dir", O_RDONLY | O_DIRECTORY);
    check(SC(SYS_linkat, AT_FDCWD, "second", dfd, "inner", 0) == 0 && nlink_of("dir/inner") == 3,
          "linkat relative to a directory fd", "%s nlink %ld", errname(errno), nlink_of("dir/inner"));
    fd = SC(SYS_open, "second", O_RDONLY);
    check(SC(SYS_linkat, fd, "", AT_FDCWD, "by-fd", AT_EMPTY_PATH) == 0 && nlink_of("second") == 4,
          "linkat AT_EMPTY_PATH links the open file", "%s nlink %ld", errname(errno), nlink_of("second"));
    expect_errno("linkat empty path without AT_EMPTY_PATH (ENOENT)", SC(SYS_linkat, fd, "", AT_FDCWD, "y", 0), ENOENT);
    expect_errno("linkat AT_EMPTY_PATH of a directory fd (EPERM)",
                 SC(SYS_linkat, dfd, "", AT_FDCWD, "y", AT_EMPTY_PATH), EPERM);
    expect_errno("linkat bad olddirfd (EBADF)", SC(SYS_linkat, 999, "rel", AT_FDCWD, "y", 0), EBADF);
    close((int)fd);
    close((int)dfd);
    /* An open file whose last name is gone still works. */
    fd = SC(SYS_open, "by-fd", O_RDONLY);
    SC(SYS_unlink, "second");
    SC(SYS_unlink, "sym-follow");
    SC(SYS_unlink, "dir/inner");
    SC(SYS_unlink, "by-fd");
    char buf[16] = {0};
    check(SC(SYS_read, fd, buf, sizeof buf) == 8 && memcmp(buf, "datamore", 8) == 0,
          "all names unlinked: the open file still reads", "got '%s'", buf);
    close((int)fd);
    SC(SYS_unlink, "sym");
    SC(SYS_unlink, "sym-link");
    SC(SYS_rmdir, "dir");
}

static void test_close_range(void)
{
    int base = (int)SC(SYS_open, "/", O_RDONLY);
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = (int)SC(SYS_dup, base);
    /* fds are base+1..base+4 unless something else was open. */
    check(SC(SYS_close_range, fds[0], fds[1], 0) == 0, "close_range closes a range", "%s", errname(errno));
    check(SC(SYS_fcntl, fds[0], F_GETFD) == -1 && errno == EBADF && SC(SYS_fcntl, fds[1], F_GETFD) == -1 &&
              SC(SYS_fcntl, fds[2], F_GETFD) == 0,
          "close_range: inside closed, outside open", "fd %d flags %ld", fds[2], SC(SYS_fcntl, fds[2], F_GETFD));
    check(SC(SYS_close_range, fds[2], ~0U, CLOSE_RANGE_CLOEXEC) == 0, "close_range CLOSE_RANGE_CLOEXEC", "%s",
          errname(errno));
    check(SC(SYS_fcntl, fds[2], F_GETFD) == FD_CLOEXEC && SC(SYS_fcntl, fds[3], F_GETFD) == FD_CLOEXEC &&
              SC(SYS_fcntl, base, F_GETFD) == 0,
          "close_range CLOEXEC: marked, still open, below the range untouched", "flags %ld",
          SC(SYS_fcntl, fds[2], F_GETFD));
    expect_errno("close_range first > last (EINVAL)", SC(SYS_close_range, 10, 5, 0), EINVAL);
    expect_errno("close_range unknown flag (EINVAL)", SC(SYS_close_range, fds[2], fds[3], 1), EINVAL);
    check(SC(SYS_close_range, 900, 1000, CLOSE_RANGE_UNSHARE) == 0, "close_range of nothing open, UNSHARE: 0", "%s",
          errname(errno));
    check(SC(SYS_close_range, fds[2], ~0U, 0) == 0 && SC(SYS_fcntl, fds[3], F_GETFD) == -1 &&
              SC(SYS_fcntl, base, F_GETFD) == 0,
          "close_range to ~0U closes the rest", "%s", errname(errno));
    close(base);
}

static void test_vectored(void)
{
    long fd = SC(SYS_open, "v.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    SC(SYS_write, fd, "0123456789", 10);
    char a[3] = {0}, b[5] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 4}};
    long n = SC(SYS_preadv, fd, iov, 2, (long)3, 0L);
    check(n == 6 && memcmp(a, "34", 2) == 0 && memcmp(b, "5678", 4) == 0, "preadv reads at the offset", "n %ld '%s' '%s'",
          n, a, b);
    check(SC(SYS_lseek, fd, 0, SEEK_CUR) == 10, "preadv leaves the file position", "pos %ld",
          SC(SYS_lseek, fd, 0, SEEK_CUR));
    struct iovec out[2] = {{"ab", 2}, {"cd", 2}};
    n = SC(SYS_pwritev, fd, out, 2, (long)1, 0L);
    char whole[16] = {0};
    SC(SYS_pread64, fd, whole, 15, 0);
    check(n == 4 && strcmp(whole, "0abcd56789") == 0 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 10,
          "pwritev writes at the offset, position kept", "n %ld '%s'", n, whole);
    n = SC(SYS_pwritev, fd, out, 2, (long)12, 0L);
    check(n == 4 && file_size("v.txt") == 16, "pwritev past the end extends the file", "size %ld", file_size("v.txt"));
    expect_errno("preadv negative offset (EINVAL)", SC(SYS_preadv, fd, iov, 2, (long)-5, 0L), EINVAL);
    expect_errno("preadv bad fd (EBADF)", SC(SYS_preadv, 999, iov, 2, (long)0, 0L), EBADF);
    expect_errno("preadv too many iovecs (EINVAL)", SC(SYS_preadv, fd, iov, 1025, (long)0, 0L), EINVAL);

    SC(SYS_lseek, fd, 2, SEEK_SET);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    n = SC(SYS_preadv2, fd, iov, 2, (long)-1, 0L, 0L);
    check(n == 6 && memcmp(a, "bc", 2) == 0 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 8,
          "preadv2 offset -1 reads at and moves the position", "n %ld pos %ld", n, SC(SYS_lseek, fd, 0, SEEK_CUR));
    n = SC(SYS_preadv2, fd, iov, 2, (long)0, 0L, 0L);
    check(n == 6 && memcmp(a, "0a", 2) == 0 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 8,
          "preadv2 offset 0 reads at 0, position kept", "n %ld", n);
    check(SC(SYS_preadv2, fd, iov, 2, (long)0, 0L, (long)RWF_HIPRI) == 6, "preadv2 RWF_HIPRI accepted", "%s", errname(errno));
    expect_errno("preadv2 unknown flag (EOPNOTSUPP)", SC(SYS_preadv2, fd, iov, 2, (long)0, 0L, 0x100000L), EOPNOTSUPP);
    expect_errno("preadv2 offset -2 (EINVAL)", SC(SYS_preadv2, fd, iov, 2, (long)-2, 0L, 0L), EINVAL);
    struct iovec one[1] = {{"XY", 2}};
    n = SC(SYS_pwritev2, fd, one, 1, (long)-1, 0L, 0L);
    check(n == 2 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 10, "pwritev2 offset -1 writes at the position", "n %ld pos %ld", n,
          SC(SYS_lseek, fd, 0, SEEK_CUR));
    n = SC(SYS_pwritev2, fd, one, 1, (long)0, 0L, (long)RWF_APPEND);
    check(n == 2 && file_size("v.txt") == 18 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 10,
          "pwritev2 RWF_APPEND appends, position kept", "n %ld size %ld", n, file_size("v.txt"));
    n = SC(SYS_pwritev2, fd, one, 1, (long)-1, 0L, (long)RWF_APPEND);
    check(n == 2 && file_size("v.txt") == 20 && SC(SYS_lseek, fd, 0, SEEK_CUR) == 20,
          "pwritev2 RWF_APPEND offset -1 moves the position to the end", "size %ld pos %ld", file_size("v.txt"),
          SC(SYS_lseek, fd, 0, SEEK_CUR));
    SC(SYS_pread64, fd, whole, 15, 0);
    expect_errno("pwritev2 unknown flag (EOPNOTSUPP)", SC(SYS_pwritev2, fd, one, 1, (long)0, 0L, 0x100000L), EOPNOTSUPP);
    close((int)fd);
    int p[2];
    pipe(p);
    expect_errno("preadv on a pipe (ESPIPE)", SC(SYS_preadv, p[0], iov, 2, (long)0, 0L), ESPIPE);
    expect_errno("pwritev on a pipe (ESPIPE)", SC(SYS_pwritev, p[1], out, 2, (long)0, 0L), ESPIPE);
    check(SC(SYS_pwritev2, p[1], out, 2, (long)-1, 0L, 0L) == 4 && SC(SYS_preadv2, p[0], iov, 2, (long)-1, 0L, 0L) == 4,
          "preadv2/pwritev2 offset -1 on a pipe", "%s", errname(errno));
    close(p[0]);
    close(p[1]);
    SC(SYS_unlink, "v.txt");
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile unsigned long sink;

/* Spins in user code for `ms` of wall time. */
static void burn_user(long ms)
{
    long end = now_ms() + ms;
    while (now_ms() < end)
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i * 7;
}

/* Spends `ms` mostly in the kernel: reads of /dev/zero (the kernel zeroes and copies). */
static void burn_system(long ms)
{
    static char buf[65536];
    int fd = (int)SC(SYS_open, "/dev/zero", O_RDONLY);
    long end = now_ms() + ms;
    while (now_ms() < end)
        SC(SYS_read, fd, buf, sizeof buf);
    close(fd);
}

static long tv_ms(struct timeval tv)
{
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int rusage_child(void *arg)
{
    (void)arg;
    burn_user(300);
    /* 8 MiB touched: maxrss at least that. */
    char *big = malloc(8 << 20);
    if (big == NULL)
        return 2;
    for (size_t i = 0; i < (8 << 20); i += 4096)
        big[i] = 1;
    sink += (unsigned long)big[4096];
    return 0;
}

/* Field `n` (1-based) of /proc/self/stat as a number; -1 if unreadable. */
static long proc_stat_field(int n)
{
    char buf[1024];
    int fd = (int)SC(SYS_open, "/proc/self/stat", O_RDONLY);
    if (fd < 0)
        return -1;
    long len = SC(SYS_read, fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p += 2; /* field 3 */
    for (int field = 3; field < n; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    return strtol(p, NULL, 10);
}

static void test_usage(void)
{
    struct rusage before, after;
    check(SC(SYS_getrusage, (long)RUSAGE_SELF, &before) == 0, "getrusage RUSAGE_SELF", "%s", errname(errno));
    long t0 = now_ms();
    burn_user(400);
    long wall = now_ms() - t0;
    SC(SYS_getrusage, (long)RUSAGE_SELF, &after);
    long user = tv_ms(after.ru_utime) - tv_ms(before.ru_utime);
    long sys = tv_ms(after.ru_stime) - tv_ms(before.ru_stime);
    check(user >= wall / 2 && user + sys <= wall + 20, "getrusage: 400 ms of spinning is user time",
          "user %ld ms, system %ld ms in %ld ms", user, sys, wall);
    before = after;
    t0 = now_ms();
    burn_system(300);
    wall = now_ms() - t0;
    SC(SYS_getrusage, (long)RUSAGE_SELF, &after);
    sys = tv_ms(after.ru_stime) - tv_ms(before.ru_stime);
    user = tv_ms(after.ru_utime) - tv_ms(before.ru_utime);
    check(sys >= wall / 4 && user + sys <= wall + 20, "getrusage: 300 ms of reading /dev/zero is mostly system time",
          "user %ld ms, system %ld ms in %ld ms", user, sys, wall);
    before = after;
    struct timespec nap = {0, 200 * 1000 * 1000};
    nanosleep(&nap, NULL);
    SC(SYS_getrusage, (long)RUSAGE_SELF, &after);
    long slept = tv_ms(after.ru_utime) + tv_ms(after.ru_stime) - tv_ms(before.ru_utime) - tv_ms(before.ru_stime);
    check(slept <= 20, "getrusage: a 200 ms sleep costs no CPU time", "%ld ms", slept);
    check(after.ru_maxrss > 0, "getrusage: ru_maxrss in KiB", "%ld", after.ru_maxrss);

    struct rusage kids0, kids1, waited;
    SC(SYS_getrusage, (long)RUSAGE_CHILDREN, &kids0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(rusage_child(NULL));
    int status = 0;
    memset(&waited, 0, sizeof waited);
    long r;
    do
        r = SC(SYS_wait4, (long)pid, &status, 0L, &waited);
    while (r < 0 && errno == EINTR);
    check(r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "rusage child ran", "%s", describe_status(status));
    check(tv_ms(waited.ru_utime) >= 150 && waited.ru_maxrss >= 8192, "wait4 fills the child's rusage",
          "user %ld ms maxrss %ld KiB", tv_ms(waited.ru_utime), waited.ru_maxrss);
    SC(SYS_getrusage, (long)RUSAGE_CHILDREN, &kids1);
    check(tv_ms(kids1.ru_utime) - tv_ms(kids0.ru_utime) >= 150 && kids1.ru_maxrss >= 8192,
          "getrusage RUSAGE_CHILDREN: the waited-for child's time and maxrss", "user +%ld ms, maxrss %ld KiB",
          tv_ms(kids1.ru_utime) - tv_ms(kids0.ru_utime), kids1.ru_maxrss);
    check(after.ru_maxrss < 8192, "getrusage: the child's 8 MiB are not the parent's maxrss", "%ld",
          after.ru_maxrss);
    expect_errno("getrusage(2) (EINVAL)", SC(SYS_getrusage, 2L, &after), EINVAL);
    expect_errno("getrusage(-2) (EINVAL)", SC(SYS_getrusage, -2L, &after), EINVAL);
    expect_errno("getrusage bad pointer (EFAULT)", SC(SYS_getrusage, (long)RUSAGE_SELF, (void *)8), EFAULT);
    check(SC(SYS_getrusage, (long)RUSAGE_THREAD, &after) == 0, "getrusage RUSAGE_THREAD", "%s", errname(errno));

    struct tms tms;
    long ticks0 = SC(SYS_times, &tms);
    long hz = sysconf(_SC_CLK_TCK);
    check(ticks0 > 0 && tms.tms_utime >= 25 * hz / 100 && tms.tms_utime + tms.tms_stime >= 55 * hz / 100 &&
              tms.tms_cutime >= 15 * hz / 100,
          "times: own and children's CPU time in clock ticks", "ret %ld utime %ld stime %ld cutime %ld", ticks0,
          (long)tms.tms_utime, (long)tms.tms_stime, (long)tms.tms_cutime);
    nanosleep(&nap, NULL);
    long ticks1 = SC(SYS_times, NULL);
    check(ticks1 - ticks0 >= 15 * hz / 100 && ticks1 - ticks0 <= hz, "times(NULL): elapsed ticks grow with real time",
          "%ld -> %ld", ticks0, ticks1);
    expect_errno("times bad pointer (EFAULT)", SC(SYS_times, (void *)8), EFAULT);
    struct timespec cpu0, cpu1, mono0, mono1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    clock_gettime(CLOCK_MONOTONIC, &mono0);
    nanosleep(&nap, NULL);
    burn_user(100);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    clock_gettime(CLOCK_MONOTONIC, &mono1);
    long cpu_ms = (cpu1.tv_sec - cpu0.tv_sec) * 1000 + (cpu1.tv_nsec - cpu0.tv_nsec) / 1000000;
    long mono_ms = (mono1.tv_sec - mono0.tv_sec) * 1000 + (mono1.tv_nsec - mono0.tv_nsec) / 1000000;
    check(cpu_ms >= 50 && cpu_ms <= mono_ms - 150 && cpu0.tv_sec * 1000 + cpu0.tv_nsec / 1000000 >= 600,
          "CLOCK_PROCESS_CPUTIME_ID counts CPU time, not sleep", "cpu +%ld ms in %ld ms (from %ld ms)", cpu_ms, mono_ms,
          (long)(cpu0.tv_sec * 1000 + cpu0.tv_nsec / 1000000));
    long utime = proc_stat_field(14), cutime = proc_stat_field(16);
    check(utime >= 25 * hz / 100 && cutime >= 15 * hz / 100, "/proc/self/stat utime and cutime count",
          "utime %ld cutime %ld", utime, cutime);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static int fifo_late_writer(void *arg)
{
    (void)arg;
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    int fd = (int)SC(SYS_open, "fifo", O_WRONLY);
    if (fd < 0)
        return 2;
    if (SC(SYS_write, fd, "ping", 4) != 4)
        return 3;
    close(fd);
    return 0;
}

static int fifo_early_writer(void *arg)
{
    (void)arg;
    /* Blocks until the parent opens the read side. */
    int fd = (int)SC(SYS_open, "fifo", O_WRONLY);
    if (fd < 0)
        return 2;
    if (SC(SYS_write, fd, "pong", 4) != 4)
        return 3;
    close(fd);
    return 0;
}

static int mknod_unprivileged(void *arg)
{
    (void)arg;
    if (SC(SYS_setuid, 33L) != 0)
        return 2;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test-calls-nod.%d", (int)getpid());
    if (SC(SYS_mknodat, (long)AT_FDCWD, path, (long)(S_IFCHR | 0600), (long)makedev(1, 3)) != -1 || errno != EPERM)
        return 3;
    if (SC(SYS_mknodat, (long)AT_FDCWD, path, (long)(S_IFIFO | 0600), 0L) != 0)
        return 4;
    struct stat st;
    if (SC(SYS_stat, path, &st) != 0 || st.st_uid != 33 || !S_ISFIFO(st.st_mode))
        return 5;
    SC(SYS_unlink, path);
    return 0;
}

static void test_fifos(void)
{
    check(mkfifo("fifo", 0640) == 0, "mkfifo", "%s", errname(errno));
    struct stat st;
    check(SC(SYS_stat, "fifo", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640 && st.st_size == 0,
          "mkfifo: stat shows S_IFIFO, the mode, size 0", "mode %o size %ld", st.st_mode, (long)st.st_size);
    expect_errno("mkfifo on an existing name (EEXIST)", mkfifo("fifo", 0600), EEXIST);
    expect_errno("fifo: O_WRONLY|O_NONBLOCK without a reader (ENXIO)", SC(SYS_open, "fifo", O_WRONLY | O_NONBLOCK), ENXIO);
    long r = SC(SYS_open, "fifo", O_RDONLY | O_NONBLOCK);
    check(r >= 0, "fifo: O_RDONLY|O_NONBLOCK opens without a writer", "%s", errname(errno));
    char buf[16] = {0};
    check(SC(SYS_read, r, buf, sizeof buf) == 0, "fifo: read without a writer is end of file", "%s", errname(errno));
    long w = SC(SYS_open, "fifo", O_WRONLY | O_NONBLOCK);
    check(w >= 0, "fifo: O_WRONLY|O_NONBLOCK opens with a reader", "%s", errname(errno));
    expect_errno("fifo: a read with a writer and no data (EAGAIN)", SC(SYS_read, r, buf, sizeof buf), EAGAIN);
    check(SC(SYS_write, w, "hello", 5) == 5 && SC(SYS_read, r, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0,
          "fifo: data flows like a pipe", "got '%s'", buf);
    SC(SYS_fstat, w, &st);
    check(S_ISFIFO(st.st_mode), "fifo: fstat of an open end is S_IFIFO", "mode %o", st.st_mode);
    expect_errno("fifo: lseek (ESPIPE)", SC(SYS_lseek, r, 0L, (long)SEEK_SET), ESPIPE);
    close((int)w);
    close((int)r);

    /* A blocking read open waits for the writer. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(fifo_late_writer(NULL));
    long t0 = now_ms();
    r = SC(SYS_open, "fifo", O_RDONLY);
    long waited = now_ms() - t0;
    memset(buf, 0, sizeof buf);
    long n = r >= 0 ? SC(SYS_read, r, buf, sizeof buf) : -1;
    int status;
    wait_for(pid, &status);
    check(r >= 0 && waited >= 200 && n == 4 && memcmp(buf, "ping", 4) == 0 && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0,
          "fifo: a blocking read open waits for a writer", "fd %ld waited %ld ms, read %ld '%s', child %s", r, waited,
          n, buf, describe_status(status));
    check(r >= 0 && SC(SYS_read, r, buf, sizeof buf) == 0, "fifo: end of file once the writer closed", "%s",
          errname(errno));
    close((int)r);

    /* A blocking write open waits for the reader. */
    pid = fork();
    if (pid == 0)
        _exit(fifo_early_writer(NULL));
    struct timespec nap = {0, 200 * 1000 * 1000};
    nanosleep(&nap, NULL);
    check(waitpid(pid, &status, WNOHANG) == 0, "fifo: the writer's open is still waiting", "it ended: %s",
          describe_status(status));
    r = SC(SYS_open, "fifo", O_RDONLY);
    memset(buf, 0, sizeof buf);
    n = SC(SYS_read, r, buf, sizeof buf);
    wait_for(pid, &status);
    check(n == 4 && memcmp(buf, "pong", 4) == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "fifo: a blocking write open goes on when a reader opens", "read %ld '%s', child %s", n, buf,
          describe_status(status));
    close((int)r);

    /* An open interrupted by a handled signal is EINTR and leaves no reader behind. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    r = SC(SYS_open, "fifo", O_RDONLY);
    int e = errno;
    alarm(0);
    check(r == -1 && e == EINTR, "fifo: a waiting open interrupted by a signal (EINTR)", "%ld %s", r, errname(e));
    expect_errno("fifo: the interrupted open left no reader (ENXIO)", SC(SYS_open, "fifo", O_WRONLY | O_NONBLOCK),
                 ENXIO);
    signal(SIGALRM, SIG_DFL);

    long rw = SC(SYS_open, "fifo", O_RDWR | O_NONBLOCK);
    check(rw >= 0 && SC(SYS_write, rw, "xy", 2) == 2 && SC(SYS_read, rw, buf, 1) == 1, "fifo: O_RDWR opens at once, both ends",
          "%s", errname(errno));
    struct pollfd pfd = {(int)rw, POLLIN | POLLOUT, 0};
    SC(SYS_write, rw, "z", 1);
    check(SC(SYS_poll, &pfd, 1L, 0L) == 1 && pfd.revents == (POLLIN | POLLOUT), "fifo: poll of an O_RDWR end: POLLIN and POLLOUT",
          "revents %#x", pfd.revents);
    close((int)rw);
    rw = SC(SYS_open, "fifo", O_RDWR | O_NONBLOCK);
    expect_errno("fifo: data is gone once every end closed (EAGAIN)", SC(SYS_read, rw, buf, 1), EAGAIN);
    close((int)rw);
    check(SC(SYS_unlink, "fifo") == 0, "fifo: unlink", "%s", errname(errno));

    /* mknod's other types. */
    check(SC(SYS_mknod, "reg0", 0600L, 0L) == 0 && SC(SYS_stat, "reg0", &st) == 0 && S_ISREG(st.st_mode),
          "mknod type 0 makes a regular file", "%s", errname(errno));
    check(SC(SYS_mknodat, (long)AT_FDCWD, "reg", (long)(S_IFREG | 0600), 0L) == 0 && SC(SYS_stat, "reg", &st) == 0 &&
              S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
          "mknodat S_IFREG makes a regular file", "%s", errname(errno));
    expect_errno("mknod on an existing name (EEXIST)", SC(SYS_mknod, "reg", (long)(S_IFIFO | 0600), 0L), EEXIST);
    expect_errno("mknod S_IFDIR (EPERM)", SC(SYS_mknod, "d", (long)(S_IFDIR | 0700), 0L), EPERM);
    expect_errno("mknod of an unknown type (EINVAL)", SC(SYS_mknod, "x", 0030600L, 0L), EINVAL);
    expect_errno("mknod in a missing directory (ENOENT)", SC(SYS_mknod, "nodir/x", (long)(S_IFIFO | 0600), 0L), ENOENT);
    check(SC(SYS_mknod, "null", (long)(S_IFCHR | 0666), (long)makedev(1, 3)) == 0 && SC(SYS_stat, "null", &st) == 0 &&
              S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
          "mknod S_IFCHR (1, 3) as root: a null device node", "%s", errname(errno));
    if (in_isola()) {
        long fd = SC(SYS_open, "null", O_RDWR);
        check(fd >= 0 && SC(SYS_write, fd, "abc", 3) == 3 && SC(SYS_read, fd, buf, 4) == 0,
              "the new null device swallows writes and reads end of file", "%s", errname(errno));
        close((int)fd);
        expect_errno("mknod S_IFCHR of a device Isola lacks (EPERM, documented)",
                     SC(SYS_mknod, "nodev", (long)(S_IFCHR | 0600), (long)makedev(10, 200)), EPERM);
        expect_errno("mknod S_IFBLK (EPERM, documented)", SC(SYS_mknod, "blk", (long)(S_IFBLK | 0600), (long)makedev(8, 0)),
                     EPERM);
    } else {
        skip("the new null device works", "the host container's device cgroup may refuse to open it");
        skip("mknod of devices Isola lacks", "Linux makes such nodes; Isola answers EPERM (documented)");
    }
    SC(SYS_unlink, "null");
    SC(SYS_unlink, "reg");
    SC(SYS_unlink, "reg0");
    int st2 = run_child(mknod_unprivileged, NULL);
    check(st2 != -1 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0, "mknod unprivileged: S_IFCHR EPERM, FIFO allowed and owned",
          "child %s", describe_status(st2));
}

static void test_fallocate_msync(void)
{
    long fd = SC(SYS_open, "fa", O_CREAT | O_RDWR | O_TRUNC, 0644);
    SC(SYS_write, fd, "abc", 3);
    check(SC(SYS_fallocate, fd, 0L, 0L, 10000L) == 0 && file_size("fa") == 10000, "fallocate mode 0 extends the file",
          "%s size %ld", errname(errno), file_size("fa"));
    char buf[8] = {0};
    check(SC(SYS_pread64, fd, buf, 5L, 0L) == 5 && memcmp(buf, "abc\0\0", 5) == 0, "fallocate: data kept, zeros after",
          "got '%s'", buf);
    check(SC(SYS_fallocate, fd, 0L, 0L, 100L) == 0 && file_size("fa") == 10000, "fallocate never shrinks", "size %ld",
          file_size("fa"));
    check(SC(SYS_fallocate, fd, (long)FALLOC_FL_KEEP_SIZE, 0L, 50000L) == 0 && file_size("fa") == 10000,
          "fallocate FALLOC_FL_KEEP_SIZE keeps the size", "%s size %ld", errname(errno), file_size("fa"));
    expect_errno("fallocate unknown mode bit (EOPNOTSUPP)", SC(SYS_fallocate, fd, 0x1000L, 0L, 4096L), EOPNOTSUPP);
    if (in_isola())
        expect_errno("fallocate COLLAPSE_RANGE (EOPNOTSUPP)", SC(SYS_fallocate, fd, 0x08L, 0L, 4096L), EOPNOTSUPP);
    else
        skip("fallocate COLLAPSE_RANGE", "the host's file system may support it");
    expect_errno("fallocate length 0 (EINVAL)", SC(SYS_fallocate, fd, 0L, 0L, 0L), EINVAL);
    expect_errno("fallocate negative offset (EINVAL)", SC(SYS_fallocate, fd, 0L, -1L, 10L), EINVAL);
    close((int)fd);
    fd = SC(SYS_open, "fa", O_RDONLY);
    expect_errno("fallocate on a read-only descriptor (EBADF)", SC(SYS_fallocate, fd, 0L, 0L, 10L), EBADF);
    close((int)fd);
    expect_errno("fallocate on a closed descriptor (EBADF)", SC(SYS_fallocate, 999L, 0L, 0L, 10L), EBADF);
    int p[2];
    pipe(p);
    expect_errno("fallocate on a pipe (ESPIPE)", SC(SYS_fallocate, (long)p[1], 0L, 0L, 10L), ESPIPE);
    close(p[0]);
    close(p[1]);
    SC(SYS_unlink, "fa");

    char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(SC(SYS_msync, m, 8192L, (long)MS_SYNC) == 0 && SC(SYS_msync, m, 100L, (long)MS_ASYNC) == 0 &&
              SC(SYS_msync, m, 0L, 0L) == 0,
          "msync of mapped memory", "%s", errname(errno));
    expect_errno("msync unaligned (EINVAL)", SC(SYS_msync, m + 1, 4096L, (long)MS_SYNC), EINVAL);
    expect_errno("msync unknown flag (EINVAL)", SC(SYS_msync, m, 4096L, 8L), EINVAL);
    expect_errno("msync MS_SYNC|MS_ASYNC (EINVAL)", SC(SYS_msync, m, 4096L, (long)(MS_SYNC | MS_ASYNC)), EINVAL);
    munmap(m + 4096, 4096);
    expect_errno("msync over a hole (ENOMEM)", SC(SYS_msync, m, 3 * 4096L, (long)MS_SYNC), ENOMEM);
    check(SC(SYS_msync, m + 8192, 4096L, (long)MS_INVALIDATE) == 0, "msync MS_INVALIDATE of the mapped last page", "%s",
          errname(errno));
    munmap(m, 3 * 4096);
    expect_errno("msync of unmapped memory (ENOMEM)", SC(SYS_msync, m, 4096L, (long)MS_SYNC), ENOMEM);
}

static long sigwait_raw(const sigset_t *set, siginfo_t *info, const struct timespec *timeout, long size)
{
    return SC(SYS_rt_sigtimedwait, set, info, timeout, size);
}

static volatile sig_atomic_t futex_alarms;
static void on_futex_alarm(int sig)
{
    (void)sig;
    futex_alarms++;
}

/* futex(2): a wait sleeps until its timeout or a signal, a wake finds
 * nobody (no other thread), and the arguments are checked as Linux does. */
static void test_futex(void)
{
    static uint32_t word = 7, other = 0;
    const int wait = 0, wake = 1, cmp_requeue = 4, wait_bitset = 9, wake_bitset = 10, private = 128, realtime = 256;
    check(SC(SYS_futex, &word, wake | private, INT32_MAX, NULL, NULL, 0) == 0, "futex WAKE (private, wake-all): nobody", "%s",
          errname(errno));
    check(SC(SYS_futex, &word, wake, 1, NULL, NULL, 0) == 0, "futex WAKE (shared): nobody", "%s", errname(errno));
    check(SC(SYS_futex, (uint32_t *)0x1000, wake | private, 1, NULL, NULL, 0) == 0,
          "futex private WAKE does not touch the word", "%s", errname(errno));
    expect_errno("futex shared WAKE of an unmapped word: EFAULT", SC(SYS_futex, (uint32_t *)0x1000, wake, 1, NULL, NULL, 0),
                 EFAULT);
    expect_errno("futex on a misaligned word: EINVAL", SC(SYS_futex, (char *)&word + 1, wake, 1, NULL, NULL, 0), EINVAL);
    expect_errno("futex WAIT on a word that changed: EAGAIN", SC(SYS_futex, &word, wait | private, 8, NULL, NULL, 0),
                 EAGAIN);
    expect_errno("futex WAIT on an unmapped word: EFAULT", SC(SYS_futex, (uint32_t *)0x1000, wait, 0, NULL, NULL, 0), EFAULT);
    struct timespec rel = {0, 50 * 1000000L};
    long t0 = now_ms();
    long r = SC(SYS_futex, &word, wait | private, 7, &rel, NULL, 0);
    int e = errno;
    long waited = now_ms() - t0;
    check(r == -1 && e == ETIMEDOUT && waited >= 50, "futex WAIT with a 50 ms timeout: ETIMEDOUT after it", "%ld %s, %ld ms",
          r, errname(e), waited);
    struct timespec bad = {0, 2000000000L};
    expect_errno("futex WAIT with tv_nsec out of range: EINVAL", SC(SYS_futex, &word, wait, 7, &bad, NULL, 0), EINVAL);
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_nsec += 30 * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    t0 = now_ms();
    r = SC(SYS_futex, &word, wait_bitset | private, 7, &at, NULL, -1);
    e = errno;
    waited = now_ms() - t0;
    check(r == -1 && e == ETIMEDOUT && waited >= 25, "futex WAIT_BITSET to an absolute CLOCK_MONOTONIC time: ETIMEDOUT",
          "%ld %s, %ld ms", r, errname(e), waited);
    struct timespec past = {1, 0};
    expect_errno("futex WAIT_BITSET|CLOCK_REALTIME to a past time: ETIMEDOUT",
                 SC(SYS_futex, &word, wait_bitset | private | realtime, 7, &past, NULL, -1), ETIMEDOUT);
    expect_errno("futex WAIT_BITSET with bitset 0: EINVAL", SC(SYS_futex, &word, wait_bitset, 7, &past, NULL, 0), EINVAL);
    expect_errno("futex WAKE_BITSET with bitset 0: EINVAL", SC(SYS_futex, &word, wake_bitset, 1, NULL, NULL, 0), EINVAL);
    expect_errno("futex WAKE|CLOCK_REALTIME: ENOSYS", SC(SYS_futex, &word, wake | realtime, 1, NULL, NULL, 0), ENOSYS);
    expect_errno("futex command 14: ENOSYS", SC(SYS_futex, &word, 14, 1, NULL, NULL, 0), ENOSYS);
    expect_errno("futex CMP_REQUEUE on a word that changed: EAGAIN",
                 SC(SYS_futex, &word, cmp_requeue | private, 1, (void *)1, &other, 8), EAGAIN);
    check(SC(SYS_futex, &word, cmp_requeue | private, 1, (void *)1, &other, 7) == 0, "futex CMP_REQUEUE: nobody moved",
          "%s", errname(errno));
    /* No timeout: only a signal ends the wait (no SA_RESTART: EINTR). */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_futex_alarm;
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {{0, 0}, {0, 100 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = now_ms();
    r = SC(SYS_futex, &word, wait | private, 7, NULL, NULL, 0);
    e = errno;
    waited = now_ms() - t0;
    check(r == -1 && e == EINTR && futex_alarms == 1 && waited >= 90,
          "futex WAIT without timeout: EINTR when a handler runs", "%ld %s, %d alarms, %ld ms", r, errname(e),
          (int)futex_alarms, waited);
    sigaction(SIGALRM, &old, NULL);
}

static void test_sigtimedwait(void)
{
    sigset_t usr1, usr2, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    kill(getpid(), SIGUSR1);
    long r = sigwait_raw(&usr1, &info, NULL, 8);
    check(r == SIGUSR1 && info.si_signo == SIGUSR1 && info.si_code == SI_USER && info.si_pid == getpid(),
          "rt_sigtimedwait takes a pending blocked signal and fills siginfo", "ret %ld signo %d code %d pid %d", r,
          info.si_signo, info.si_code, (int)info.si_pid);
    sigset_t pending;
    sigpending(&pending);
    check(!sigismember(&pending, SIGUSR1), "rt_sigtimedwait: the signal is no longer pending", "still pending");

    struct timespec zero = {0, 0}, short_wait = {0, 150 * 1000 * 1000};
    expect_errno("rt_sigtimedwait zero timeout, nothing pending (EAGAIN)", sigwait_raw(&usr1, &info, &zero, 8), EAGAIN);
    long t0 = now_ms();
    r = sigwait_raw(&usr1, &info, &short_wait, 8);
    long waited = now_ms() - t0;
    check(r == -1 && errno == EAGAIN && waited >= 120, "rt_sigtimedwait times out with EAGAIN", "ret %ld %s after %ld ms",
          r, errname(errno), waited);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    memset(&info, 0, sizeof info);
    t0 = now_ms();
    r = sigwait_raw(&usr1, &info, NULL, 8);
    waited = now_ms() - t0;
    int status;
    wait_for(pid, &status);
    check(r == SIGUSR1 && info.si_pid == pid && waited >= 150, "rt_sigtimedwait waits for a signal sent later",
          "ret %ld pid %d (child %d) after %ld ms", r, (int)info.si_pid, (int)pid, waited);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct timespec long_wait = {5, 0};
    alarm(1);
    t0 = now_ms();
    r = sigwait_raw(&usr2, &info, &long_wait, 8);
    int e = errno;
    waited = now_ms() - t0;
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    check(r == -1 && e == EINTR && waited < 4000, "rt_sigtimedwait interrupted by a handled signal (EINTR, even with SA_RESTART)",
          "ret %ld %s after %ld ms", r, errname(e), waited);

    expect_errno("rt_sigtimedwait sigsetsize 4 (EINVAL)", sigwait_raw(&usr1, &info, &zero, 4), EINVAL);
    struct timespec bad = {0, 2000000000};
    expect_errno("rt_sigtimedwait bad timespec (EINVAL)", sigwait_raw(&usr1, &info, &bad, 8), EINVAL);
    expect_errno("rt_sigtimedwait bad set pointer (EFAULT)", sigwait_raw((void *)8, &info, &zero, 8), EFAULT);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* In an identity child: on failure, say where and return the line. */
#define EXPECT(cond)                                                                                 \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            tap_line("# %s:%d: %s (errno %s)", __func__, __LINE__, #cond, errname(errno));            \
            return __LINE__;                                                                         \
        }                                                                                            \
    } while (0)

#define NONE ((long)(unsigned)-1)

static int resuid_is(unsigned r, unsigned e, unsigned s)
{
    unsigned a = 1234, b = 1234, c = 1234;
    return SC(SYS_getresuid, &a, &b, &c) == 0 && a == r && b == e && c == s;
}

static int resgid_is(unsigned r, unsigned e, unsigned s)
{
    unsigned a = 1234, b = 1234, c = 1234;
    return SC(SYS_getresgid, &a, &b, &c) == 0 && a == r && b == e && c == s;
}

static int root_drops_for_good(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setuid, 33L) == 0);
    EXPECT(SC(SYS_getuid) == 33 && SC(SYS_geteuid) == 33 && resuid_is(33, 33, 33));
    EXPECT(SC(SYS_setuid, 0L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setresuid, NONE, 0L, NONE) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setreuid, 0L, NONE) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setuid, NONE) == -1 && errno == EINVAL);
    EXPECT(SC(SYS_setuid, 33L) == 0);
    gid_t g = 5;
    EXPECT(SC(SYS_setgroups, 1L, &g) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setgid, 5L) == -1 && errno == EPERM);
    /* setfsuid returns the old value and, unprivileged, refuses a stranger's id. */
    EXPECT(SC(SYS_setfsuid, 0L) == 33);
    EXPECT(SC(SYS_setfsuid, NONE) == 33);
    return 0;
}

static int saved_uid_brings_root_back(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setresuid, NONE, 33L, NONE) == 0);
    EXPECT(resuid_is(0, 33, 0) && SC(SYS_geteuid) == 33 && SC(SYS_getuid) == 0);
    EXPECT(SC(SYS_setuid, 44L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setuid, 0L) == 0 && resuid_is(0, 0, 0));
    /* Root again: setreuid(-1, 33) also moves the saved uid (33 != real 0). */
    EXPECT(SC(SYS_setreuid, NONE, 33L) == 0 && resuid_is(0, 33, 33));
    EXPECT(SC(SYS_setreuid, NONE, 0L) == 0 && resuid_is(0, 0, 33));
    return 0;
}

static int reuid_and_resuid_rules(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setreuid, 10L, 20L) == 0 && resuid_is(10, 20, 20));
    EXPECT(SC(SYS_setreuid, 20L, NONE) == 0 && resuid_is(20, 20, 20));
    EXPECT(SC(SYS_setreuid, NONE, 10L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setresuid, 20L, 20L, 20L) == 0);
    return 0;
}

static int resuid_permutes(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setresuid, 1L, 2L, 3L) == 0 && resuid_is(1, 2, 3));
    EXPECT(SC(SYS_setresuid, 3L, 1L, 2L) == 0 && resuid_is(3, 1, 2));
    EXPECT(SC(SYS_setresuid, 4L, NONE, NONE) == -1 && errno == EPERM && resuid_is(3, 1, 2));
    EXPECT(SC(SYS_setresuid, NONE, NONE, NONE) == 0 && resuid_is(3, 1, 2));
    EXPECT(SC(SYS_setfsuid, 9L) == 1 && SC(SYS_setfsuid, 2L) == 1 && SC(SYS_setfsuid, NONE) == 2);
    return 0;
}

static int gid_rules(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setresgid, 1L, 2L, 3L) == 0 && resgid_is(1, 2, 3));
    EXPECT(SC(SYS_getgid) == 1 && SC(SYS_getegid) == 2);
    EXPECT(SC(SYS_setregid, 4L, 5L) == 0 && resgid_is(4, 5, 5));
    EXPECT(SC(SYS_setgid, 7L) == 0 && resgid_is(7, 7, 7));
    EXPECT(SC(SYS_setresgid, 1L, 2L, 3L) == 0);
    EXPECT(SC(SYS_setuid, 50L) == 0);
    EXPECT(SC(SYS_setgid, 9L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setgid, 3L) == 0 && resgid_is(1, 3, 3));
    EXPECT(SC(SYS_setregid, 3L, NONE) == 0 && resgid_is(3, 3, 3));
    EXPECT(SC(SYS_setregid, NONE, 1L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setresgid, 3L, 3L, 1L) == -1 && errno == EPERM);
    EXPECT(SC(SYS_setgid, NONE) == -1 && errno == EINVAL);
    EXPECT(SC(SYS_setfsgid, 9L) == 3 && SC(SYS_setfsgid, NONE) == 3);
    return 0;
}

static int getres_efault(void *arg)
{
    (void)arg;
    unsigned a, b;
    EXPECT(SC(SYS_getresuid, &a, &b, (void *)8) == -1 && errno == EFAULT);
    EXPECT(SC(SYS_getresgid, (void *)8, &a, &b) == -1 && errno == EFAULT);
    return 0;
}

static int ids_inherited(void *arg)
{
    (void)arg;
    EXPECT(SC(SYS_setresgid, NONE, 44L, NONE) == 0);
    EXPECT(SC(SYS_setresuid, NONE, 33L, NONE) == 0);
    /* A new file belongs to the fs uid and gid (in /tmp: world-writable). */
    char path[64];
    snprintf(path, sizeof path, "/tmp/test-calls-owner.%d", (int)getpid());
    long fd = SC(SYS_open, path, O_CREAT | O_WRONLY | O_EXCL, 0644);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT(SC(SYS_fstat, fd, &st) == 0 && st.st_uid == 33 && st.st_gid == 44);
    close((int)fd);
    EXPECT(SC(SYS_unlink, path) == 0);
    /* fork copies the ids. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(resuid_is(0, 33, 0) && resgid_is(0, 44, 0) ? 0 : 1);
    int status;
    EXPECT(pid > 0 && wait_for(pid, &status) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* execve keeps the real and effective ids; the saved ones become the effective. */
    pid = fork();
    if (pid == 0) {
        char *argv[] = {"test-calls", "--exec-ids", NULL};
        execve("/proc/self/exe", argv, NULL);
        _exit(100);
    }
    EXPECT(pid > 0 && wait_for(pid, &status) == pid && WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        tap_line("# exec child: %s", describe_status(status));
    EXPECT(WEXITSTATUS(status) == 0);
    return 0;
}

/* After ids_inherited's execve: ruid 0, euid 33, suid 33; the real uid 0
 * still lets it take euid 0 back. */
static int exec_ids(void)
{
    if (!resuid_is(0, 33, 33))
        return 2;
    if (!resgid_is(0, 44, 44))
        return 3;
    if (SC(SYS_setuid, 0L) != 0 || SC(SYS_geteuid) != 0)
        return 4;
    return 0;
}

static void identity(const char *name, int (*fn)(void *))
{
    int status = run_child(fn, NULL);
    check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, name, "child: %s (line %d)",
          describe_status(status), WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

static void test_identity(void)
{
    if (SC(SYS_getuid) != 0 || SC(SYS_geteuid) != 0) {
        skip("identity", "not running as root");
        return;
    }
    check(resuid_is(0, 0, 0) && resgid_is(0, 0, 0), "getresuid/getresgid: root", "not all 0");
    identity("setuid as root drops every uid: no way back (EPERM), setuid(-1) EINVAL, setgroups EPERM",
             root_drops_for_good);
    identity("setresuid(-1, 33, -1): the saved uid 0 brings root back", saved_uid_brings_root_back);
    identity("setreuid: real/effective rules, saved uid follows", reuid_and_resuid_rules);
    identity("setresuid unprivileged: permutations only; setfsuid", resuid_permutes);
    identity("setgid/setregid/setresgid/setfsgid, root and not", gid_rules);
    identity("getresuid/getresgid bad pointer (EFAULT)", getres_efault);
    identity("ids: new files owned by fsuid/fsgid, inherited by fork, exec resets saved ids", ids_inherited);
}

/* struct statx of <linux/stat.h>, the fields checked. */
struct statx_buf {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, pad;
    uint64_t ino, size, blocks, attributes_mask;
    struct { int64_t sec; uint32_t nsec; int32_t pad; } atime, btime, ctime, mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t spare[14];
};

static void test_statx(void)
{
    long fd = SC(SYS_open, "sx.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    SC(SYS_write, fd, "0123456789", 10);
    struct stat st;
    SC(SYS_fstat, fd, &st);
    struct statx_buf sx;
    memset(&sx, 0xa5, sizeof sx);
    long r = SC(SYS_statx, AT_FDCWD, "sx.txt", 0, 0x7ff, &sx);
    check(r == 0, "statx of a file", "statx returned %ld (%s)", r, errname(errno));
    check((sx.mask & 0x7ff) == 0x7ff, "statx: the basic fields are in stx_mask", "mask %#x", sx.mask);
    check(sx.size == 10 && sx.ino == (uint64_t)st.st_ino && sx.nlink == 1, "statx: size, inode and links as fstat's",
          "size %llu ino %llu/%llu nlink %u", (unsigned long long)sx.size, (unsigned long long)sx.ino,
          (unsigned long long)st.st_ino, sx.nlink);
    check(sx.mode == (uint16_t)st.st_mode && (sx.mode & S_IFMT) == S_IFREG, "statx: mode as fstat's", "mode %o/%o",
          sx.mode, st.st_mode);
    check(makedev(sx.dev_major, sx.dev_minor) == st.st_dev && sx.mtime.sec == st.st_mtime,
          "statx: device and mtime as fstat's", "dev %u:%u", sx.dev_major, sx.dev_minor);
    struct statx_buf by_fd;
    r = SC(SYS_statx, fd, "", AT_EMPTY_PATH, 0x7ff, &by_fd);
    check(r == 0 && by_fd.ino == sx.ino, "statx: AT_EMPTY_PATH on a descriptor", "r %ld (%s)", r, errname(errno));
    SC(SYS_symlink, "sx.txt", "sx.link");
    struct statx_buf link;
    r = SC(SYS_statx, AT_FDCWD, "sx.link", AT_SYMLINK_NOFOLLOW, 0x7ff, &link);
    check(r == 0 && (link.mode & S_IFMT) == S_IFLNK, "statx: AT_SYMLINK_NOFOLLOW sees the link", "mode %o", link.mode);
    r = SC(SYS_statx, AT_FDCWD, "sx.link", 0, 0x7ff, &link);
    check(r == 0 && link.ino == sx.ino, "statx: a link is followed by default", "r %ld", r);
    expect_errno("statx: a missing file (ENOENT)", SC(SYS_statx, AT_FDCWD, "nope", 0, 0x7ff, &sx), ENOENT);
    expect_errno("statx: unknown flags (EINVAL)", SC(SYS_statx, AT_FDCWD, "sx.txt", 0x80000000L, 0x7ff, &sx), EINVAL);
    expect_errno("statx: STATX__RESERVED in the mask (EINVAL)", SC(SYS_statx, AT_FDCWD, "sx.txt", 0, 0x80000000L, &sx),
                 EINVAL);
    expect_errno("statx: a bad buffer (EFAULT)", SC(SYS_statx, AT_FDCWD, "sx.txt", 0, 0x7ff, (void *)8), EFAULT);
    check(SC(SYS_fadvise64, fd, 0, 0, 2 /* POSIX_FADV_SEQUENTIAL */) == 0, "fadvise64: advice on a file is accepted",
          "%s", errname(errno));
    expect_errno("fadvise64: unknown advice (EINVAL)", SC(SYS_fadvise64, fd, 0, 0, 99), EINVAL);
    expect_errno("fadvise64: a closed descriptor (EBADF)", SC(SYS_fadvise64, 999, 0, 0, 0), EBADF);
    int p[2];
    if (pipe(p) == 0) {
        expect_errno("fadvise64: a pipe (ESPIPE)", SC(SYS_fadvise64, p[0], 0, 0, 0), ESPIPE);
        close(p[0]);
        close(p[1]);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    check(sx.mtime.sec > now.tv_sec - 60 && sx.mtime.sec <= now.tv_sec + 1,
          "a new file's mtime is the wall clock", "mtime %lld, now %lld", (long long)sx.mtime.sec, (long long)now.tv_sec);
    close((int)fd);
    SC(SYS_unlink, "sx.link");
    SC(SYS_unlink, "sx.txt");
}

/* fsync, fdatasync, syncfs, sync: 0 for files and directories; Linux's
 * EINVAL for what has nothing to flush and EBADF for a bad descriptor. */
static void test_fsync(void)
{
    long fd = SC(SYS_open, "fs", O_CREAT | O_RDWR | O_TRUNC, 0644);
    SC(SYS_write, fd, "data", 4);
    check(SC(SYS_fsync, fd) == 0 && SC(SYS_fdatasync, fd) == 0, "fsync and fdatasync of a file", "%s", errname(errno));
    long dir = SC(SYS_open, ".", O_RDONLY | O_DIRECTORY);
    check(SC(SYS_fsync, dir) == 0, "fsync of a directory", "%s", errname(errno));
    check(SC(SYS_syncfs, fd) == 0 && SC(SYS_sync) == 0, "syncfs and sync", "%s", errname(errno));
    int p[2];
    if (pipe(p) == 0) {
        expect_errno("fsync of a pipe (EINVAL)", SC(SYS_fsync, p[0]), EINVAL);
        close(p[0]);
        close(p[1]);
    }
    long null = SC(SYS_open, "/dev/null", O_WRONLY);
    expect_errno("fdatasync of /dev/null (EINVAL)", SC(SYS_fdatasync, null), EINVAL);
    expect_errno("fsync of a closed descriptor (EBADF)", SC(SYS_fsync, 999L), EBADF);
    long path_only = SC(SYS_open, "fs", O_PATH);
    expect_errno("fsync of an O_PATH descriptor (EBADF)", SC(SYS_fsync, path_only), EBADF);
    expect_errno("syncfs of a closed descriptor (EBADF)", SC(SYS_syncfs, 999L), EBADF);
    close((int)path_only);
    close((int)null);
    close((int)dir);
    close((int)fd);
    unlink("fs");
}

/* eventfd: counter, EFD_SEMAPHORE, EFD_NONBLOCK, Linux's errors, poll,
 * epoll, and a blocked read woken by another process's write. */
static void test_eventfd(void)
{
    long fd = SC(SYS_eventfd2, 5L, (long)EFD_NONBLOCK_FLAG);
    uint64_t v = 0;
    check(fd >= 0 && read((int)fd, &v, 8) == 8 && v == 5, "eventfd2 read takes the initial value", "fd %ld, v %llu (%s)",
          fd, (unsigned long long)v, errname(errno));
    errno = 0;
    check(read((int)fd, &v, 8) < 0 && errno == EAGAIN, "eventfd read of 0, non-blocking (EAGAIN)", "%s", errname(errno));
    v = 3;
    write((int)fd, &v, 8);
    v = 4;
    write((int)fd, &v, 8);
    check(read((int)fd, &v, 8) == 8 && v == 7, "eventfd writes add up", "v %llu", (unsigned long long)v);
    char small[4];
    errno = 0;
    check(read((int)fd, small, 4) < 0 && errno == EINVAL, "eventfd read of 4 bytes (EINVAL)", "%s", errname(errno));
    v = UINT64_MAX;
    errno = 0;
    check(write((int)fd, &v, 8) < 0 && errno == EINVAL, "eventfd write of 2^64-1 (EINVAL)", "%s", errname(errno));
    v = UINT64_MAX - 1;
    write((int)fd, &v, 8);
    v = 1;
    errno = 0;
    check(write((int)fd, &v, 8) < 0 && errno == EAGAIN, "eventfd write past the maximum, non-blocking (EAGAIN)", "%s",
          errname(errno));
    struct pollfd pfd = {.fd = (int)fd, .events = POLLIN | POLLOUT};
    check(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "poll: a full eventfd is readable, not writable",
          "revents %#x", pfd.revents);
    read((int)fd, &v, 8);
    pfd.revents = 0;
    check(poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT, "poll: an empty eventfd is writable only", "revents %#x",
          pfd.revents);
    check(SC(SYS_lseek, fd, 10L, 0L) == 0, "lseek on an eventfd stays at 0 (Linux's noop_llseek)", "%s", errname(errno));
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
    check(readlink(path, link, sizeof link - 1) > 0 && strcmp(link, "anon_inode:[eventfd]") == 0,
          "/proc/self/fd names an eventfd anon_inode:[eventfd]", "'%s'", link);
    close((int)fd);

    long sem = SC(SYS_eventfd2, 2L, (long)(EFD_SEMAPHORE_FLAG | O_CLOEXEC));
    uint64_t a = 0, b = 0;
    check(read((int)sem, &a, 8) == 8 && read((int)sem, &b, 8) == 8 && a == 1 && b == 1 &&
              (fcntl((int)sem, F_GETFD) & FD_CLOEXEC),
          "EFD_SEMAPHORE reads 1 at a time; EFD_CLOEXEC", "%llu %llu", (unsigned long long)a, (unsigned long long)b);
    /* Blocking: the read waits for a child's write. */
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        uint64_t one = 42;
        _exit(write((int)sem, &one, 8) == 8 ? 0 : 1);
    }
    uint64_t got = 0;
    long n = read((int)sem, &got, 8);
    int status = -1;
    waitpid(child, &status, 0);
    check(n == 8 && got == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a blocked eventfd read is woken by another process's write", "read %ld got %llu status %#x", n,
          (unsigned long long)got, status);
    close((int)sem);
    expect_errno("eventfd2 with an unknown flag (EINVAL)", SC(SYS_eventfd2, 0L, 0x10L), EINVAL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--exec-ids") == 0)
        return exec_ids();
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/test-calls.%d", (int)getpid());
    if (SC(SYS_mkdir, dir, 0755) != 0 || SC(SYS_chdir, dir) != 0) {
        not_ok("setup", "mkdir/chdir %s: %s", dir, errname(errno));
        return tap_done();
    }
    umask(022);
    tap_family("files");
    test_creat();
    test_link();
    test_close_range();
    test_vectored();
    tap_family("cputime");
    test_usage();
    tap_family("fifos");
    test_fifos();
    tap_family("files");
    test_fallocate_msync();
    tap_family("signals");
    test_sigtimedwait();
    tap_family("futex");
    test_futex();
    tap_family("ids");
    test_identity();
    tap_family("files");
    test_statx();
    test_fsync();
    tap_family("eventfd");
    test_eventfd();
    tap_family("files");
    SC(SYS_chdir, "/");
    check(SC(SYS_rmdir, dir) == 0, "cleanup: the work directory is empty", "%s", errname(errno));
    return tap_done();
}
