/* test-memfd: memfd_create as Linux has it: an anonymous regular file
 * (mode 0777, no link) open for reading and writing, MFD_CLOEXEC, shown as
 * "/memfd:NAME (deleted)" in /proc/self/fd and /proc/self/maps, written,
 * truncated and mapped MAP_SHARED (a fork child's writes through the
 * mapping reach the parent and read(2)); file seals: F_SEAL_SEAL without
 * MFD_ALLOW_SEALING, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE (EBUSY while
 * mapped writable, then no write and no writable shared mapping), and the
 * errors (EINVAL, EPERM). Runs on Linux as it does in Isola. */
#include "child.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#define MFD_ALLOW_SEALING 2U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x1
#define F_SEAL_SHRINK 0x2
#define F_SEAL_GROW 0x4
#define F_SEAL_WRITE 0x8
#endif

static int memfd(const char *name, unsigned flags)
{
    return (int)syscall(SYS_memfd_create, name, flags);
}

/* The target of /proc/self/fd/FD. */
static const char *fd_link(int fd)
{
    static char target[256];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    return target;
}

/* Whether /proc/self/maps has a line naming `path`. */
static int maps_name(const char *path)
{
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        return 0;
    size_t total = 0;
    ssize_t n;
    while (total < sizeof buf - 1 && (n = read(fd, buf + total, sizeof buf - 1 - total)) > 0)
        total += (size_t)n;
    close(fd);
    buf[total] = '\0';
    return strstr(buf, path) != NULL;
}

static void test_file(void)
{
    int fd = memfd("isola-test", MFD_CLOEXEC);
    check(fd >= 0, "memfd_create(MFD_CLOEXEC)", "%s", errname(errno));
    if (fd < 0)
        return;
    check(fcntl(fd, F_GETFD) == FD_CLOEXEC, "MFD_CLOEXEC sets FD_CLOEXEC", "F_GETFD %d", fcntl(fd, F_GETFD));
    check((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "open for reading and writing", "F_GETFL %#x", fcntl(fd, F_GETFL));
    struct stat st;
    check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0777 && st.st_nlink == 0 && st.st_size == 0,
          "fstat: a regular file, mode 0777, no link, empty", "mode %o nlink %lu size %ld", st.st_mode, (unsigned long)st.st_nlink,
          (long)st.st_size);
    const char *link = fd_link(fd);
    check(strcmp(link, "/memfd:isola-test (deleted)") == 0, "/proc/self/fd names it /memfd:NAME (deleted)", "got '%s'", link);
    check(write(fd, "memfd_create", 12) == 12 && lseek(fd, 0, SEEK_CUR) == 12, "write 12 bytes, offset 12", "%s", errname(errno));
    check(ftruncate(fd, 2 * 4096) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192, "ftruncate to two pages", "size %ld",
          (long)st.st_size);
    char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(map != MAP_FAILED && memcmp(map, "memfd_create", 12) == 0, "mmap MAP_SHARED sees what was written", "%s",
          map == MAP_FAILED ? errname(errno) : "other bytes");
    if (map == MAP_FAILED) {
        close(fd);
        return;
    }
    check(maps_name("/memfd:isola-test (deleted)"), "/proc/self/maps names the mapping /memfd:NAME (deleted)", "no such line");
    pid_t pid = fork();
    if (pid == 0) {
        memcpy(map + 5000, "from the child", 14);
        _exit(0);
    }
    int status;
    wait_for(pid, &status);
    char buf[16] = "";
    check(memcmp(map + 5000, "from the child", 14) == 0, "a fork child's write through the mapping reaches the parent",
          "%s", describe_status(status));
    check(pread(fd, buf, 14, 5000) == 14 && memcmp(buf, "from the child", 14) == 0, "and read(2) sees it", "got '%.14s'", buf);
    munmap(map, 8192);
    close(fd);

    int plain = memfd("", 0);
    check(plain >= 0 && fcntl(plain, F_GETFD) == 0 && strcmp(fd_link(plain), "/memfd: (deleted)") == 0,
          "an empty name, no MFD_CLOEXEC", "fd %d F_GETFD %d link '%s'", plain, fcntl(plain, F_GETFD), fd_link(plain));
    close(plain);
    char long_name[251];
    memset(long_name, 'n', 250);
    long_name[250] = '\0';
    expect_errno("a 250-byte name is EINVAL", memfd(long_name, 0), EINVAL);
    long_name[249] = '\0';
    int longest = memfd(long_name, 0);
    check(longest >= 0, "a 249-byte name is the longest", "%s", errname(errno));
    close(longest);
    expect_errno("an unknown flag is EINVAL", memfd("x", 0x100), EINVAL);
    expect_errno("a bad name pointer is EFAULT", memfd((const char *)8, 0), EFAULT);
}

static void test_seals(void)
{
    int fd = memfd("sealed", MFD_CLOEXEC);
    check(fcntl(fd, F_GET_SEALS) == F_SEAL_SEAL, "without MFD_ALLOW_SEALING: F_SEAL_SEAL", "got %d", fcntl(fd, F_GET_SEALS));
    expect_errno("and F_ADD_SEALS is EPERM", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    close(fd);

    fd = memfd("sealing", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    check(fd >= 0 && fcntl(fd, F_GET_SEALS) == 0, "MFD_ALLOW_SEALING: no seals", "got %d", fcntl(fd, F_GET_SEALS));
    expect_errno("an unknown seal is EINVAL", fcntl(fd, F_ADD_SEALS, 0x40), EINVAL);
    check(ftruncate(fd, 8192) == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "F_SEAL_SHRINK", "%s", errname(errno));
    expect_errno("F_SEAL_SHRINK: ftruncate smaller is EPERM", ftruncate(fd, 4096), EPERM);
    check(ftruncate(fd, 12288) == 0, "F_SEAL_SHRINK: ftruncate larger works", "%s", errname(errno));
    check(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0, "F_SEAL_GROW", "%s", errname(errno));
    expect_errno("F_SEAL_GROW: ftruncate larger is EPERM", ftruncate(fd, 16384), EPERM);
    expect_errno("F_SEAL_GROW: a write at the end is EPERM", pwrite(fd, "abcd", 4, 12288), EPERM);
    long short_write = pwrite(fd, "abcd", 4, 12286);
    check(short_write == 2, "F_SEAL_GROW: a write across the end stops there (a short write, as Linux's page-by-page write)", "got %ld",
          short_write);
    check(pwrite(fd, "ab", 2, 12286) == 2 && ftruncate(fd, 12288) == 0, "F_SEAL_GROW: writes within and a same-size ftruncate work",
          "%s", errname(errno));
    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(map != MAP_FAILED, "a writable shared mapping", "%s", errname(errno));
    expect_errno("F_SEAL_WRITE while it exists is EBUSY", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
    if (map != MAP_FAILED) {
        memcpy(map, "mapped", 6);
        munmap(map, 4096);
    }
    check(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0, "F_SEAL_WRITE once unmapped", "%s", errname(errno));
    expect_errno("F_SEAL_WRITE: write is EPERM", pwrite(fd, "x", 1, 0), EPERM);
    expect_errno("F_SEAL_WRITE: a writable shared mapping is EPERM", (long)(intptr_t)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
                 EPERM);
    char *private_map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    check(private_map != MAP_FAILED && memcmp(private_map, "mapped", 6) == 0, "F_SEAL_WRITE: a private mapping reads what was mapped before",
          "%s", private_map == MAP_FAILED ? errname(errno) : "other bytes");
    if (private_map != MAP_FAILED)
        munmap(private_map, 4096);
    char buf[8] = "";
    check(pread(fd, buf, 6, 0) == 6 && memcmp(buf, "mapped", 6) == 0, "F_SEAL_WRITE: reads work", "got '%.6s'", buf);
    check(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0, "F_SEAL_SEAL", "%s", errname(errno));
    expect_errno("then any F_ADD_SEALS is EPERM", fcntl(fd, F_ADD_SEALS, 0), EPERM);
    int all = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    check(fcntl(fd, F_GET_SEALS) == all, "F_GET_SEALS reports the four", "got %#x", fcntl(fd, F_GET_SEALS));
    close(fd);

    int p[2];
    if (pipe(p) == 0) {
        expect_errno("F_ADD_SEALS on a pipe's read end is EPERM (not open for writing)", fcntl(p[0], F_ADD_SEALS, F_SEAL_SEAL), EPERM);
        expect_errno("F_ADD_SEALS on a pipe's write end is EINVAL", fcntl(p[1], F_ADD_SEALS, F_SEAL_SEAL), EINVAL);
        expect_errno("F_GET_SEALS on a pipe is EINVAL", fcntl(p[0], F_GET_SEALS), EINVAL);
        close(p[0]);
        close(p[1]);
    }
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/test-memfd.%d", (int)getpid());
    int file = open(shm, O_CREAT | O_RDWR, 0600);
    check(file >= 0 && fcntl(file, F_GET_SEALS) == F_SEAL_SEAL, "a tmpfs file answers F_GET_SEALS with F_SEAL_SEAL", "got %d (%s)",
          fcntl(file, F_GET_SEALS), errname(errno));
    close(file);
    unlink(shm);
}

int main(void)
{
    tap_family("memfd");
    test_file();
    test_seals();
    return tap_done();
}
