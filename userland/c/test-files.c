/* test-files: file-system syscalls, checked one by one.
 *
 * Works in a fresh directory `test-files.<pid>` under the current one (on
 * the host: run it in a temporary directory) and removes it at the end.
 * Raw syscall() is used wherever libc would pick a different syscall
 * (musl's stat() calls newfstatat, and so on), so each check names the
 * syscall it exercises. */
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>

static long sys_open(const char *path, int flags, int mode)
{
    return syscall(SYS_open, path, flags, mode);
}

/* Read the whole of `path` into buf (NUL-terminated); -1 on error. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = (int)sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    long total = 0;
    for (;;) {
        long n = syscall(SYS_read, fd, buf + total, cap - 1 - (size_t)total);
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        total += n;
    }
    buf[total] = '\0';
    close(fd);
    return total;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void test_basic_io(void)
{
    long fd = sys_open("a.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    check(fd >= 0, "open O_CREAT", "open returned %ld (%s)", fd, errname(errno));
    if (fd < 0)
        return;
    long n = syscall(SYS_write, fd, "hello world\n", 12);
    check(n == 12, "write", "write returned %ld (%s)", n, errname(errno));
    long r = syscall(SYS_close, fd);
    check(r == 0, "close", "close returned %ld (%s)", r, errname(errno));
    r = syscall(SYS_close, fd);
    expect_errno("close twice -> EBADF", r, EBADF);

    fd = syscall(SYS_openat, AT_FDCWD, "a.txt", O_RDONLY, 0);
    check(fd >= 0, "openat", "openat returned %ld (%s)", fd, errname(errno));
    if (fd < 0)
        return;
    char buf[64] = {0};
    n = syscall(SYS_read, fd, buf, sizeof buf);
    check(n == 12 && memcmp(buf, "hello world\n", 12) == 0, "read",
          "read returned %ld '%.*s'", n, n > 0 ? (int)n : 0, buf);
    n = syscall(SYS_read, fd, buf, sizeof buf);
    check(n == 0, "read at end of file -> 0", "read returned %ld", n);

    long off = syscall(SYS_lseek, fd, 6, SEEK_SET);
    memset(buf, 0, sizeof buf);
    n = syscall(SYS_read, fd, buf, 5);
    check(off == 6 && n == 5 && memcmp(buf, "world", 5) == 0, "lseek SEEK_SET",
          "lseek returned %ld, read %ld '%.5s'", off, n, buf);
    off = syscall(SYS_lseek, fd, -5L, SEEK_CUR);
    check(off == 6, "lseek SEEK_CUR", "lseek returned %ld, want 6", off);
    off = syscall(SYS_lseek, fd, 0, SEEK_END);
    check(off == 12, "lseek SEEK_END", "lseek returned %ld, want 12", off);
    off = syscall(SYS_lseek, fd, -100L, SEEK_SET);
    expect_errno("lseek negative -> EINVAL", off, EINVAL);

    struct stat st;
    memset(&st, 0, sizeof st);
    r = syscall(SYS_fstat, fd, &st);
    check(r == 0 && S_ISREG(st.st_mode) && st.st_size == 12, "fstat",
          "fstat returned %ld, mode %o size %lld", r, st.st_mode, (long long)st.st_size);
    syscall(SYS_close, fd);

    memset(&st, 0, sizeof st);
    r = syscall(SYS_stat, "a.txt", &st);
    check(r == 0 && S_ISREG(st.st_mode) && st.st_size == 12 && (st.st_mode & 0777) == 0644, "stat",
          "stat returned %ld, mode %o size %lld", r, st.st_mode, (long long)st.st_size);
    memset(&st, 0, sizeof st);
    r = syscall(SYS_lstat, "a.txt", &st);
    check(r == 0 && S_ISREG(st.st_mode) && st.st_size == 12, "lstat",
          "lstat returned %ld, mode %o size %lld", r, st.st_mode, (long long)st.st_size);
    memset(&st, 0, sizeof st);
    r = syscall(SYS_newfstatat, AT_FDCWD, "a.txt", &st, 0);
    check(r == 0 && S_ISREG(st.st_mode) && st.st_size == 12, "newfstatat",
          "newfstatat returned %ld, mode %o size %lld", r, st.st_mode, (long long)st.st_size);
    memset(&st, 0, sizeof st);
    r = syscall(SYS_stat, ".", &st);
    check(r == 0 && S_ISDIR(st.st_mode), "stat of a directory", "stat returned %ld, mode %o", r,
          st.st_mode);
}

static void test_vectored(void)
{
    long fd = sys_open("v.txt", O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0) {
        not_ok("writev", "open failed (%s)", errname(errno));
        return;
    }
    struct iovec out[3] = {
        {.iov_base = "abc", .iov_len = 3},
        {.iov_base = "", .iov_len = 0},
        {.iov_base = "defgh", .iov_len = 5},
    };
    long n = syscall(SYS_writev, fd, out, 3);
    check(n == 8, "writev", "writev returned %ld (%s)", n, errname(errno));
    syscall(SYS_lseek, fd, 0, SEEK_SET);
    char a[4] = {0}, b[8] = {0};
    struct iovec in[2] = {{.iov_base = a, .iov_len = 2}, {.iov_base = b, .iov_len = 7}};
    n = syscall(SYS_readv, fd, in, 2);
    check(n == 8 && memcmp(a, "ab", 2) == 0 && memcmp(b, "cdefgh", 6) == 0, "readv",
          "readv returned %ld, '%.2s' '%.6s'", n, a, b);
    syscall(SYS_close, fd);
}

static void test_open_flags(void)
{
    char buf[64];
    long fd = sys_open("a.txt", O_WRONLY | O_TRUNC, 0);
    struct stat st;
    memset(&st, 0, sizeof st);
    long r = fd >= 0 ? syscall(SYS_fstat, fd, &st) : -1;
    check(fd >= 0 && r == 0 && st.st_size == 0, "O_TRUNC empties the file",
          "open %ld, fstat %ld, size %lld", fd, r, (long long)st.st_size);
    if (fd >= 0) {
        syscall(SYS_write, fd, "ab", 2);
        syscall(SYS_close, fd);
    }
    fd = sys_open("a.txt", O_WRONLY | O_APPEND, 0);
    if (fd >= 0) {
        syscall(SYS_lseek, fd, 0, SEEK_SET);
        syscall(SYS_write, fd, "cd", 2);
        syscall(SYS_close, fd);
    }
    long n = slurp("a.txt", buf, sizeof buf);
    check(n == 4 && strcmp(buf, "abcd") == 0, "O_APPEND writes at the end",
          "file holds %ld bytes '%s'", n, n > 0 ? buf : "");

    fd = sys_open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644);
    expect_errno("O_CREAT|O_EXCL on an existing file -> EEXIST", fd, EEXIST);
    fd = sys_open("new.txt", O_CREAT | O_EXCL | O_WRONLY, 0644);
    check(fd >= 0, "O_CREAT|O_EXCL on a new file", "open returned %ld (%s)", fd, errname(errno));
    if (fd >= 0)
        syscall(SYS_close, fd);
    fd = sys_open("new.txt", O_RDONLY, 0);
    memset(&st, 0, sizeof st);
    r = fd >= 0 ? syscall(SYS_fstat, fd, &st) : -1;
    check(r == 0 && st.st_size == 0, "O_CREAT makes an empty file", "size %lld",
          (long long)st.st_size);
    if (fd >= 0)
        syscall(SYS_close, fd);
}

static void test_errors(void)
{
    long r = sys_open("does-not-exist", O_RDONLY, 0);
    expect_errno("open missing file -> ENOENT", r, ENOENT);
    struct stat st;
    r = syscall(SYS_stat, "does-not-exist", &st);
    expect_errno("stat missing file -> ENOENT", r, ENOENT);
    r = sys_open("no-such-dir/x", O_CREAT | O_WRONLY, 0644);
    expect_errno("O_CREAT in a missing directory -> ENOENT", r, ENOENT);
    char c;
    r = syscall(SYS_read, 999, &c, 1);
    expect_errno("read bad fd -> EBADF", r, EBADF);
    r = syscall(SYS_write, 999, &c, 1);
    expect_errno("write bad fd -> EBADF", r, EBADF);
    r = syscall(SYS_fstat, 999, &st);
    expect_errno("fstat bad fd -> EBADF", r, EBADF);
    r = sys_open("a.txt/x", O_RDONLY, 0);
    expect_errno("open through a file -> ENOTDIR", r, ENOTDIR);
    r = syscall(SYS_chdir, "a.txt");
    expect_errno("chdir to a file -> ENOTDIR", r, ENOTDIR);
    r = sys_open("a.txt", O_RDONLY | O_DIRECTORY, 0);
    expect_errno("O_DIRECTORY on a file -> ENOTDIR", r, ENOTDIR);
    r = syscall(SYS_mkdir, "sub", 0755);
    check(r == 0, "mkdir", "mkdir returned %ld (%s)", r, errname(errno));
    r = syscall(SYS_mkdir, "sub", 0755);
    expect_errno("mkdir existing -> EEXIST", r, EEXIST);
    r = sys_open("sub", O_WRONLY, 0);
    expect_errno("open a directory for writing -> EISDIR", r, EISDIR);
    long fd = sys_open("sub", O_RDONLY | O_DIRECTORY, 0);
    check(fd >= 0, "open a directory O_DIRECTORY", "open returned %ld (%s)", fd, errname(errno));
    if (fd >= 0) {
        r = syscall(SYS_read, fd, &c, 1);
        expect_errno("read a directory -> EISDIR", r, EISDIR);
        syscall(SYS_close, fd);
    }
}

static void test_access_dirs(void)
{
    long r = syscall(SYS_access, "a.txt", F_OK);
    check(r == 0, "access F_OK", "access returned %ld (%s)", r, errname(errno));
    r = syscall(SYS_access, "a.txt", R_OK | W_OK);
    check(r == 0, "access R_OK|W_OK", "access returned %ld (%s)", r, errname(errno));
    r = syscall(SYS_access, "does-not-exist", F_OK);
    expect_errno("access missing -> ENOENT", r, ENOENT);

    long fd = sys_open(".", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) {
        not_ok("getdents64", "open . failed (%s)", errname(errno));
        return;
    }
    char buf[2048];
    int seen_dot = 0, seen_dotdot = 0, seen_a = 0, seen_sub = 0, bad_type = 0;
    long n, total = 0;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        total += n;
        for (long pos = 0; pos < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + pos);
            if (d->d_reclen == 0)
                break;
            if (strcmp(d->d_name, ".") == 0)
                seen_dot = 1;
            else if (strcmp(d->d_name, "..") == 0)
                seen_dotdot = 1;
            else if (strcmp(d->d_name, "a.txt") == 0)
                seen_a = 1, bad_type |= d->d_type != DT_REG && d->d_type != DT_UNKNOWN;
            else if (strcmp(d->d_name, "sub") == 0)
                seen_sub = 1, bad_type |= d->d_type != DT_DIR && d->d_type != DT_UNKNOWN;
            pos += d->d_reclen;
        }
    }
    check(n == 0 && seen_dot && seen_dotdot && seen_a && seen_sub && !bad_type, "getdents64",
          "last %ld, %ld bytes, '.' %d '..' %d a.txt %d sub %d, wrong d_type %d", n, total,
          seen_dot, seen_dotdot, seen_a, seen_sub, bad_type);
    syscall(SYS_close, fd);
}

static void test_fcntl(void)
{
    long fd = sys_open("a.txt", O_RDWR | O_APPEND, 0);
    if (fd < 0) {
        not_ok("fcntl", "open failed (%s)", errname(errno));
        return;
    }
    long r = syscall(SYS_fcntl, fd, F_GETFD);
    check(r == 0, "fcntl F_GETFD (no FD_CLOEXEC)", "F_GETFD returned %ld", r);
    r = syscall(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    long g = syscall(SYS_fcntl, fd, F_GETFD);
    check(r == 0 && g == FD_CLOEXEC, "fcntl F_SETFD FD_CLOEXEC", "F_SETFD %ld, then F_GETFD %ld", r,
          g);
    r = syscall(SYS_fcntl, fd, F_GETFL);
    check(r >= 0 && (r & O_ACCMODE) == O_RDWR && (r & O_APPEND), "fcntl F_GETFL",
          "F_GETFL returned %#lx", r);
    syscall(SYS_close, fd);
    fd = sys_open("a.txt", O_RDONLY | O_CLOEXEC, 0);
    r = syscall(SYS_fcntl, fd, F_GETFD);
    check(r == FD_CLOEXEC, "O_CLOEXEC sets FD_CLOEXEC", "F_GETFD returned %ld", r);
    syscall(SYS_close, fd);
    r = syscall(SYS_fcntl, 999, F_GETFD);
    expect_errno("fcntl bad fd -> EBADF", r, EBADF);
}

static void test_devices(void)
{
    char buf[16];
    long fd = sys_open("/dev/null", O_RDWR, 0);
    if (fd < 0) {
        not_ok("/dev/null", "open failed (%s)", errname(errno));
    } else {
        long w = syscall(SYS_write, fd, "discard", 7);
        long r = syscall(SYS_read, fd, buf, sizeof buf);
        check(w == 7 && r == 0, "/dev/null swallows writes and reads EOF", "write %ld, read %ld",
              w, r);
        syscall(SYS_close, fd);
    }
    fd = sys_open("/dev/zero", O_RDWR, 0);
    if (fd < 0) {
        not_ok("/dev/zero", "open failed (%s)", errname(errno));
    } else {
        memset(buf, 0xaa, sizeof buf);
        long r = syscall(SYS_read, fd, buf, sizeof buf);
        int zero = 1;
        for (size_t i = 0; i < sizeof buf; i++)
            zero &= buf[i] == 0;
        long w = syscall(SYS_write, fd, "x", 1);
        check(r == (long)sizeof buf && zero && w == 1, "/dev/zero reads zeros, accepts writes",
              "read %ld (all zero %d), write %ld", r, zero, w);
        syscall(SYS_close, fd);
    }
}

static void test_terminal(void)
{
    /* Inside Isola fd 1 is the serial console and must look like a
     * terminal; on the host it may be a pipe or file. */
    int tty_expected = in_isola() || isatty(1);
    struct termios t;
    struct winsize ws;
    if (!tty_expected) {
        skip("ioctl TCGETS on fd 1", "fd 1 is not a terminal on this host run");
        skip("ioctl TIOCGWINSZ on fd 1", "fd 1 is not a terminal on this host run");
        skip("isatty(1)", "fd 1 is not a terminal on this host run");
    } else {
        long r = syscall(SYS_ioctl, 1, TCGETS, &t);
        check(r == 0, "ioctl TCGETS on fd 1", "returned %ld (%s)", r, errname(errno));
        memset(&ws, 0, sizeof ws);
        r = syscall(SYS_ioctl, 1, TIOCGWINSZ, &ws);
        check(r == 0, "ioctl TIOCGWINSZ on fd 1", "returned %ld (%s)", r, errname(errno));
        check(isatty(1), "isatty(1)", "isatty(1) is false (%s)", errname(errno));
    }
    long fd = sys_open("a.txt", O_RDONLY, 0);
    long r = syscall(SYS_ioctl, fd, TCGETS, &t);
    expect_errno("ioctl TCGETS on a file -> ENOTTY", r, ENOTTY);
    syscall(SYS_close, fd);
}

static void test_unlink(void)
{
    long r = syscall(SYS_unlink, "a.txt");
    struct stat st;
    long s = syscall(SYS_stat, "a.txt", &st);
    int e = errno;
    check(r == 0 && s == -1 && e == ENOENT, "unlink", "unlink %ld, then stat %ld (%s)", r, s,
          errname(e));
    r = syscall(SYS_unlink, "a.txt");
    expect_errno("unlink missing -> ENOENT", r, ENOENT);
    r = syscall(SYS_unlink, "sub");
    expect_errno("unlink a directory -> EISDIR", r, EISDIR);
}

int main(void)
{
    char start[4096], dir[64], cwd[4096];
    long r = syscall(SYS_getcwd, start, sizeof start);
    check(r > 0 && start[0] == '/' && (size_t)r == strlen(start) + 1, "getcwd",
          "getcwd returned %ld (%s)", r, errname(errno));
    if (r <= 0)
        return tap_done();
    snprintf(dir, sizeof dir, "test-files.%d", (int)getpid());
    r = syscall(SYS_mkdir, dir, 0755);
    long c = r == 0 ? syscall(SYS_chdir, dir) : -1;
    check(r == 0 && c == 0, "mkdir + chdir into a work directory", "mkdir %ld, chdir %ld (%s)",
          r, c, errname(errno));
    if (c != 0)
        return tap_done();
    r = syscall(SYS_getcwd, cwd, sizeof cwd);
    size_t sl = strlen(start);
    int want = strncmp(cwd, start, sl) == 0 && strcmp(cwd + sl + (start[sl - 1] != '/'), dir) == 0;
    check(r > 0 && want, "getcwd after chdir", "getcwd '%s', expected '%s/%s'", cwd, start, dir);
    r = syscall(SYS_getcwd, cwd, 2);
    expect_errno("getcwd small buffer -> ERANGE", r, ERANGE);

    test_basic_io();
    test_vectored();
    test_open_flags();
    test_errors();
    test_access_dirs();
    test_fcntl();
    test_devices();
    test_terminal();
    test_unlink();

    /* Clean up (not checked: rmdir is not in this file's list). */
    syscall(SYS_unlink, "v.txt");
    syscall(SYS_unlink, "new.txt");
    syscall(SYS_rmdir, "sub");
    r = syscall(SYS_chdir, "..");
    syscall(SYS_getcwd, cwd, sizeof cwd);
    check(r == 0 && strcmp(cwd, start) == 0, "chdir ..", "chdir %ld, cwd '%s'", r, cwd);
    syscall(SYS_rmdir, dir);
    return tap_done();
}
