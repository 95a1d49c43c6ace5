/* test-splice: copy_file_range and splice as Linux has them: a file into
 * another at the offsets' positions or given ones (the given ones moved,
 * the descriptors' not), the errors (flags, a pipe, O_APPEND, an
 * overlapping range, a descriptor not open for it); splice from a file
 * into a pipe and from a pipe into a file, with and without offsets, a
 * pipe into a pipe, ESPIPE for a pipe's offset, EINVAL without a pipe,
 * EAGAIN with SPLICE_F_NONBLOCK on an empty pipe, end of file from a
 * pipe without writers, and what the output did not take staying in the
 * pipe. Runs on Linux as it does in Isola. */
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long copy_range(int in, loff_t *in_at, int out, loff_t *out_at, size_t len, unsigned flags)
{
    return syscall(SYS_copy_file_range, in, in_at, out, out_at, len, flags);
}

static long do_splice(int in, loff_t *in_at, int out, loff_t *out_at, size_t len, unsigned flags)
{
    return syscall(SYS_splice, in, in_at, out, out_at, len, flags);
}

static char path_a[64], path_b[64];

static int make_file(const char *path, const char *data)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd >= 0 && data)
        write(fd, data, strlen(data));
    return fd;
}

static void test_copy_file_range(void)
{
    int a = make_file(path_a, "0123456789");
    int b = make_file(path_b, NULL);
    lseek(a, 0, SEEK_SET);
    long n = copy_range(a, NULL, b, NULL, 5, 0);
    char buf[32] = "";
    check(n == 5 && pread(b, buf, sizeof buf, 0) == 5 && memcmp(buf, "01234", 5) == 0, "copy_file_range at the descriptors' offsets",
          "%ld %s", n, errname(errno));
    check(lseek(a, 0, SEEK_CUR) == 5 && lseek(b, 0, SEEK_CUR) == 5, "moves both offsets", "%ld %ld", (long)lseek(a, 0, SEEK_CUR),
          (long)lseek(b, 0, SEEK_CUR));
    loff_t in_at = 7, out_at = 20;
    n = copy_range(a, &in_at, b, &out_at, 100, 0);
    memset(buf, 0, sizeof buf);
    check(n == 3 && in_at == 10 && out_at == 23 && pread(b, buf, 3, 20) == 3 && memcmp(buf, "789", 3) == 0,
          "given offsets: copied there, the offsets moved, a short copy at the end", "%ld in %ld out %ld", n, (long)in_at, (long)out_at);
    check(lseek(a, 0, SEEK_CUR) == 5 && lseek(b, 0, SEEK_CUR) == 5, "and the descriptors' offsets stay", "%s", errname(errno));
    in_at = 10;
    check(copy_range(a, &in_at, b, NULL, 4, 0) == 0, "at the end of the input: 0", "%s", errname(errno));
    expect_errno("flags other than 0: EINVAL", copy_range(a, NULL, b, NULL, 1, 1), EINVAL);
    loff_t x = 0, y = 2;
    expect_errno("an overlapping range of one file: EINVAL", copy_range(a, &x, a, &y, 5, 0), EINVAL);
    x = 0, y = 10;
    check(copy_range(a, &x, a, &y, 5, 0) == 5, "a range of one file to another place of it", "%s", errname(errno));
    int p[2];
    pipe(p);
    expect_errno("a pipe: EINVAL", copy_range(p[0], NULL, b, NULL, 1, 0), EINVAL);
    int ro = open(path_b, O_RDONLY), app = open(path_b, O_WRONLY | O_APPEND);
    expect_errno("an output open read-only: EBADF", copy_range(a, NULL, ro, NULL, 1, 0), EBADF);
    expect_errno("an O_APPEND output: EBADF", copy_range(a, NULL, app, NULL, 1, 0), EBADF);
    close(ro);
    close(app);
    close(p[0]);
    close(p[1]);
    close(a);
    close(b);
}

static void test_splice(void)
{
    int a = make_file(path_a, "0123456789");
    lseek(a, 0, SEEK_SET);
    int p[2];
    pipe(p);
    char buf[32] = "";
    long n = do_splice(a, NULL, p[1], NULL, 5, 0);
    check(n == 5 && read(p[0], buf, sizeof buf) == 5 && memcmp(buf, "01234", 5) == 0, "splice a file into a pipe", "%ld %s", n,
          errname(errno));
    check(lseek(a, 0, SEEK_CUR) == 5, "moves the file's offset", "%ld", (long)lseek(a, 0, SEEK_CUR));
    loff_t in_at = 8;
    n = do_splice(a, &in_at, p[1], NULL, 100, 0);
    check(n == 2 && in_at == 10 && lseek(a, 0, SEEK_CUR) == 5 && read(p[0], buf, sizeof buf) == 2 && memcmp(buf, "89", 2) == 0,
          "with off_in: from there, off_in moved, the offset not", "%ld at %ld", n, (long)in_at);
    write(p[1], "abcdef", 6);
    int b = make_file(path_b, "..........");
    loff_t out_at = 3;
    n = do_splice(p[0], NULL, b, &out_at, 4, 0);
    memset(buf, 0, sizeof buf);
    check(n == 4 && out_at == 7 && pread(b, buf, 10, 0) == 10 && memcmp(buf, "...abcd...", 10) == 0, "splice a pipe into a file at off_out",
          "%ld '%s'", n, buf);
    check(read(p[0], buf, sizeof buf) == 2 && memcmp(buf, "ef", 2) == 0, "what was not asked for stays in the pipe", "%s", errname(errno));
    int q[2];
    pipe(q);
    write(p[1], "pipe", 4);
    n = do_splice(p[0], NULL, q[1], NULL, 64, 0);
    check(n == 4 && read(q[0], buf, sizeof buf) == 4 && memcmp(buf, "pipe", 4) == 0, "a pipe into a pipe", "%ld", n);
    loff_t zero = 0;
    expect_errno("an offset for a pipe: ESPIPE", do_splice(p[0], &zero, b, NULL, 1, 0), ESPIPE);
    expect_errno("no pipe: EINVAL", do_splice(a, NULL, b, NULL, 1, 0), EINVAL);
    expect_errno("an empty pipe with SPLICE_F_NONBLOCK: EAGAIN", do_splice(p[0], NULL, b, NULL, 1, 2), EAGAIN);
    expect_errno("an unknown flag: EINVAL", do_splice(p[0], NULL, b, NULL, 1, 0x10), EINVAL);
    int app = open(path_b, O_WRONLY | O_APPEND);
    write(p[1], "x", 1);
    expect_errno("an O_APPEND output: EINVAL", do_splice(p[0], NULL, app, NULL, 1, 0), EINVAL);
    close(app);
    close(p[1]);
    check(do_splice(p[0], NULL, b, NULL, 1, 0) == 1, "the byte left", "%s", errname(errno));
    check(do_splice(p[0], NULL, b, NULL, 1, 0) == 0, "a pipe without writers, emptied: 0", "%s", errname(errno));
    close(p[0]);
    close(q[0]);
    close(q[1]);
    close(a);
    close(b);
}

int main(void)
{
    snprintf(path_a, sizeof path_a, "/tmp/test-splice.%d.a", (int)getpid());
    snprintf(path_b, sizeof path_b, "/tmp/test-splice.%d.b", (int)getpid());
    tap_family("splice");
    test_copy_file_range();
    test_splice();
    unlink(path_a);
    unlink(path_b);
    return tap_done();
}
