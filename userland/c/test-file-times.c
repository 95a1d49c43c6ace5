/* test-file-times: the three times of a file (atime, mtime, ctime) with
 * nanoseconds, changed as Linux changes them on tmpfs: a write or a
 * truncation changes mtime and ctime, chmod/chown/link/unlink/rename only
 * ctime, a read (or getdents, readlink) atime by the relatime rule, a new
 * name its directory's mtime and ctime; utimensat/futimens with given
 * times, UTIME_NOW and UTIME_OMIT, AT_SYMLINK_NOFOLLOW, utimes, utime,
 * futimesat; statx reports what stat does. Runs on Linux as it does in
 * Isola. */
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <utime.h>

#ifndef STATX_BASIC_STATS
struct statx_timestamp { int64_t tv_sec; uint32_t tv_nsec; int32_t __reserved; };
struct statx {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, __spare0;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t __spare2[14];
};
#define STATX_BASIC_STATS 0x7ffU
#endif

static char dir[64];

struct times { struct timespec a, m, c; };

static struct times times_of(const char *path, int follow)
{
    struct stat st;
    struct times t = {0};
    if ((follow ? stat(path, &st) : lstat(path, &st)) == 0) {
        t.a = st.st_atim;
        t.m = st.st_mtim;
        t.c = st.st_ctim;
    }
    return t;
}

static int same(struct timespec x, struct timespec y)
{
    return x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec;
}

/* x strictly after y. */
static int after(struct timespec x, struct timespec y)
{
    return x.tv_sec > y.tv_sec || (x.tv_sec == y.tv_sec && x.tv_nsec > y.tv_nsec);
}

/* Lets the clock move on, so that a change is a later time (Linux's file
 * times come from the coarse clock: a tick is at most 10 ms). */
static void tick(void)
{
    struct timespec ms20 = {0, 20 * 1000 * 1000};
    nanosleep(&ms20, NULL);
}

static char path_buf[4][128];

static const char *in_dir(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

static void test_new_and_written(void)
{
    const char *f = in_dir(0, "f");
    struct times d0 = times_of(dir, 1);
    tick();
    int fd = open(f, O_CREAT | O_RDWR, 0644);
    struct times t0 = times_of(f, 1), d1 = times_of(dir, 1);
    check(fd >= 0 && same(t0.a, t0.m) && same(t0.m, t0.c), "a new file has atime == mtime == ctime", "fd %d", fd);
    check(after(d1.m, d0.m) && after(d1.c, d0.c) && same(d1.a, d0.a), "a new name changes its directory's mtime and ctime, not atime",
          "dir m %ld.%09ld -> %ld.%09ld", (long)d0.m.tv_sec, d0.m.tv_nsec, (long)d1.m.tv_sec, d1.m.tv_nsec);
    tick();
    check(write(fd, "abc", 3) == 3, "write 3 bytes", "errno %d", errno);
    struct times t1 = times_of(f, 1);
    check(after(t1.m, t0.m) && same(t1.m, t1.c) && same(t1.a, t0.a), "write changes mtime and ctime, not atime",
          "m %ld.%09ld c %ld.%09ld", (long)t1.m.tv_sec, t1.m.tv_nsec, (long)t1.c.tv_sec, t1.c.tv_nsec);
    tick();
    check(write(fd, "", 0) == 0 && same(times_of(f, 1).m, t1.m), "an empty write changes nothing", "errno %d", errno);
    char buf[8];
    check(pread(fd, buf, sizeof buf, 0) == 3, "read it back", "errno %d", errno);
    struct times t2 = times_of(f, 1);
    check(after(t2.a, t1.m) && same(t2.m, t1.m) && same(t2.c, t1.c), "a read after a write changes atime (relatime)",
          "a %ld.%09ld", (long)t2.a.tv_sec, t2.a.tv_nsec);
    tick();
    check(pread(fd, buf, sizeof buf, 0) == 3 && same(times_of(f, 1).a, t2.a), "a second read keeps atime (newer than mtime and ctime)",
          "errno %d", errno);
    tick();
    check(ftruncate(fd, 3) == 0, "ftruncate to the same size", "errno %d", errno);
    struct times t3 = times_of(f, 1);
    check(after(t3.m, t2.m) && same(t3.m, t3.c), "ftruncate changes mtime and ctime even at the same size", "errno %d", errno);
    close(fd);

    /* Nanoseconds: a few new files cannot all fall on a whole second. */
    int fractional = 0;
    for (int i = 0; i < 4 && !fractional; i++) {
        const char *g = in_dir(1, "ns");
        int gfd = open(g, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (gfd >= 0) {
            fractional = times_of(g, 1).m.tv_nsec != 0;
            close(gfd);
        }
        unlink(g);
        tick();
    }
    check(fractional, "times carry nanoseconds", "every mtime was a whole second");
}

static void test_inode_changes(void)
{
    const char *f = in_dir(0, "f"), *g = in_dir(1, "g"), *h = in_dir(2, "h");
    struct times t0 = times_of(f, 1);
    tick();
    check(chmod(f, 0600) == 0, "chmod", "errno %d", errno);
    struct times t1 = times_of(f, 1);
    check(after(t1.c, t0.c) && same(t1.m, t0.m) && same(t1.a, t0.a), "chmod changes only ctime", "c %ld.%09ld", (long)t1.c.tv_sec, t1.c.tv_nsec);
    tick();
    check(chown(f, getuid(), getgid()) == 0 && after(times_of(f, 1).c, t1.c), "chown to the same owner changes ctime", "errno %d", errno);
    struct times t2 = times_of(f, 1), d0 = times_of(dir, 1);
    tick();
    check(link(f, g) == 0, "link", "errno %d", errno);
    struct times t3 = times_of(f, 1), d1 = times_of(dir, 1);
    check(after(t3.c, t2.c) && same(t3.m, t2.m), "link changes the file's ctime only", "errno %d", errno);
    check(after(d1.m, d0.m) && after(d1.c, d0.c), "link changes the directory's mtime and ctime", "errno %d", errno);
    tick();
    check(rename(g, h) == 0, "rename", "errno %d", errno);
    struct times t4 = times_of(f, 1), d2 = times_of(dir, 1);
    check(after(t4.c, t3.c) && same(t4.m, t3.m), "rename changes the moved inode's ctime", "errno %d", errno);
    check(after(d2.m, d1.m), "rename changes the directory's mtime", "errno %d", errno);
    tick();
    check(unlink(h) == 0, "unlink the second name", "errno %d", errno);
    struct times t5 = times_of(f, 1), d3 = times_of(dir, 1);
    check(after(t5.c, t4.c) && same(t5.m, t4.m), "unlink changes the remaining name's ctime", "errno %d", errno);
    check(after(d3.m, d2.m) && after(d3.c, d2.c), "unlink changes the directory's mtime and ctime", "errno %d", errno);

    tick();
    DIR *d = opendir(dir);
    int entries = 0;
    while (d && readdir(d))
        entries++;
    if (d)
        closedir(d);
    struct times d4 = times_of(dir, 1);
    check(entries >= 3 && after(d4.a, d3.a), "reading a directory changes its atime", "%d entries", entries);
}

static void test_utimensat(void)
{
    const char *f = in_dir(0, "f"), *l = in_dir(1, "l");
    struct times t0 = times_of(f, 1);
    tick();
    struct timespec given[2] = {{1000, 123456789}, {2000, 987654321}};
    check(utimensat(AT_FDCWD, f, given, 0) == 0, "utimensat with given times", "errno %d", errno);
    struct times t1 = times_of(f, 1);
    check(same(t1.a, given[0]) && same(t1.m, given[1]), "stat reports the given times to the nanosecond",
          "a %ld.%09ld m %ld.%09ld", (long)t1.a.tv_sec, t1.a.tv_nsec, (long)t1.m.tv_sec, t1.m.tv_nsec);
    check(after(t1.c, t0.c), "utimensat changes ctime to now", "c %ld.%09ld", (long)t1.c.tv_sec, t1.c.tv_nsec);

    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    tick();
    struct timespec omit_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    check(utimensat(AT_FDCWD, f, omit_now, 0) == 0, "utimensat UTIME_OMIT, UTIME_NOW", "errno %d", errno);
    struct times t2 = times_of(f, 1);
    check(same(t2.a, given[0]) && after(t2.m, before) && same(t2.m, t2.c), "UTIME_OMIT keeps atime, UTIME_NOW sets mtime (and ctime) to now",
          "a %ld.%09ld m %ld.%09ld", (long)t2.a.tv_sec, t2.a.tv_nsec, (long)t2.m.tv_sec, t2.m.tv_nsec);

    struct timespec past[2] = {{-1, 5}, {-100, 999999999}};
    int fd = open(f, O_RDONLY);
    check(futimens(fd, past) == 0, "futimens with times before the epoch", "errno %d", errno);
    struct times t3 = times_of(f, 1);
    check(same(t3.a, past[0]) && same(t3.m, past[1]), "times before the epoch come back", "a %ld.%09ld", (long)t3.a.tv_sec, t3.a.tv_nsec);
    struct statx sx;
    long r = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx);
    check(r == 0 && sx.stx_atime.tv_sec == -1 && sx.stx_atime.tv_nsec == 5 && sx.stx_mtime.tv_nsec == 999999999 &&
              sx.stx_ctime.tv_sec == t3.c.tv_sec && sx.stx_ctime.tv_nsec == (uint32_t)t3.c.tv_nsec,
          "statx reports the same times", "r %ld errno %d", r, errno);
    struct timespec omit_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    tick();
    check(futimens(fd, omit_omit) == 0 && same(times_of(f, 1).a, past[0]) && same(times_of(f, 1).m, past[1]) && same(times_of(f, 1).c, t3.c),
          "futimens with both UTIME_OMIT changes no time, ctime included", "errno %d", errno);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    expect_errno("tv_nsec of 1e9 is EINVAL", futimens(fd, bad), EINVAL);
    expect_errno("futimens with a flag is EINVAL", syscall(SYS_utimensat, fd, NULL, NULL, AT_SYMLINK_NOFOLLOW), EINVAL);
    expect_errno("utimensat with an unknown flag is EINVAL", utimensat(AT_FDCWD, f, NULL, 0x4), EINVAL);
    expect_errno("utimensat(AT_FDCWD, NULL) is EFAULT", syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0), EFAULT);
    check(utimensat(fd, "", given, AT_EMPTY_PATH) == 0 && same(times_of(f, 1).m, given[1]), "AT_EMPTY_PATH names the descriptor's file",
          "errno %d", errno);
    close(fd);

    check(symlink("f", l) == 0, "symlink", "errno %d", errno);
    struct timespec link_times[2] = {{3000, 1}, {4000, 2}};
    check(utimensat(AT_FDCWD, l, link_times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat AT_SYMLINK_NOFOLLOW", "errno %d", errno);
    struct times tl = times_of(l, 0), tf = times_of(f, 1);
    check(same(tl.m, link_times[1]) && same(tf.m, given[1]), "AT_SYMLINK_NOFOLLOW sets the link's times, not the target's",
          "link m %ld target m %ld", (long)tl.m.tv_sec, (long)tf.m.tv_sec);
    tick();
    char target[16];
    check(readlink(l, target, sizeof target) == 1, "readlink", "errno %d", errno);
    check(after(times_of(l, 0).a, link_times[0]), "readlink changes the link's atime", "a %ld", (long)times_of(l, 0).a.tv_sec);
    unlink(l);

    struct timeval tv[2] = {{5000, 250000}, {6000, 999999}};
    check(utimes(f, tv) == 0, "utimes", "errno %d", errno);
    struct times t4 = times_of(f, 1);
    check(t4.a.tv_sec == 5000 && t4.a.tv_nsec == 250000000 && t4.m.tv_sec == 6000 && t4.m.tv_nsec == 999999000,
          "utimes sets microseconds", "a %ld.%09ld", (long)t4.a.tv_sec, t4.a.tv_nsec);
    struct timeval bad_tv[2] = {{0, 1000000}, {0, 0}};
    expect_errno("utimes with tv_usec 1e6 is EINVAL", utimes(f, bad_tv), EINVAL);
    struct utimbuf ub = {7000, 8000};
    check(utime(f, &ub) == 0, "utime", "errno %d", errno);
    struct times t5 = times_of(f, 1);
    check(t5.a.tv_sec == 7000 && t5.a.tv_nsec == 0 && t5.m.tv_sec == 8000 && t5.m.tv_nsec == 0, "utime sets whole seconds", "m %ld",
          (long)t5.m.tv_sec);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    check(syscall(SYS_futimesat, dfd, "f", tv) == 0 && times_of(f, 1).m.tv_sec == 6000, "futimesat from a directory descriptor",
          "errno %d", errno);
    close(dfd);
    clock_gettime(CLOCK_REALTIME, &before);
    tick();
    check(utimes(f, NULL) == 0 && after(times_of(f, 1).a, before) && after(times_of(f, 1).m, before), "utimes(NULL) sets both to now",
          "errno %d", errno);
    expect_errno("utimensat of a missing file is ENOENT", utimensat(AT_FDCWD, in_dir(2, "missing"), NULL, 0), ENOENT);
}

int main(void)
{
    /* /dev/shm: a tmpfs mounted with relatime on Linux (the initramfs root
     * of a Linux guest is strictatime: a kernel mount). */
    snprintf(dir, sizeof dir, "/dev/shm/test-file-times.%d", (int)getpid());
    if (mkdir(dir, 0755) != 0) {
        not_ok("mkdir", "errno %d", errno);
        return tap_done();
    }
    tap_family("times");
    test_new_and_written();
    test_inode_changes();
    test_utimensat();
    unlink(in_dir(0, "f"));
    rmdir(dir);
    return tap_done();
}
