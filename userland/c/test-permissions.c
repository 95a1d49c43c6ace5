/* test-permissions: file permissions against real identities. Root builds
 * a small tree, then a child drops to uid/gid 33 (www-data) the way a
 * server does (setgroups, setresgid, setresuid) and meets the mode bits:
 * no reading root's 0600 file, no writing 0644 ones, no search in a 0700
 * directory, no creating in root's directories, chmod/chown EPERM, the
 * sticky bit of a /tmp-like directory, a set-group-ID directory's group,
 * execve of a 0700 program EACCES, access() with the real ids and
 * faccessat2(AT_EACCESS) with the effective ones. The same checks pass on
 * Linux run as root.
 *
 * The child prints its own check lines and exits with its failure count;
 * the parent counts it as one check. */
#include "tap.h"
#include "child.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char dir[64];

static void path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static int make_file(const char *name, int mode, uid_t uid, gid_t gid)
{
    char p[128];
    path(p, sizeof p, name);
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, "data\n", 5) == 5 && fchmod(fd, mode) == 0 && fchown(fd, uid, gid) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* The copy of this program that the child tries to execute. */
static int copy_self(const char *name, int mode)
{
    char p[128];
    path(p, sizeof p, name);
    int in = open("/proc/self/exe", O_RDONLY), out = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0700);
    char buf[8192];
    long n, total = 0;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        total += write(out, buf, (size_t)n);
    if (out >= 0) {
        fchmod(out, mode);
        close(out);
    }
    if (in >= 0)
        close(in);
    return total > 0 ? 0 : -1;
}

static int try_exec(const char *name)
{
    char p[128];
    path(p, sizeof p, name);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {p, "--exit-0", NULL};
        execv(p, argv);
        _exit(errno == EACCES ? 126 : 127);
    }
    int st = 0;
    wait_for(pid, &st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int open_errno(const char *name, int flags)
{
    char p[128];
    path(p, sizeof p, name);
    errno = 0;
    int fd = open(p, flags);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

/* What uid 33 meets. */
static void as_www_data(void)
{
    char p[128], q[128];
    check(open_errno("secret", O_RDONLY) == EACCES, "www-data cannot read root's 0600 file", "errno %d",
          open_errno("secret", O_RDONLY));
    check(open_errno("public", O_RDONLY) == 0, "www-data reads a 0644 file", "errno %d", open_errno("public", O_RDONLY));
    check(open_errno("public", O_WRONLY) == EACCES, "www-data cannot write root's 0644 file", "errno %d",
          open_errno("public", O_WRONLY));
    check(open_errno("public", O_RDONLY | O_TRUNC) == EACCES, "O_TRUNC needs write permission", "errno %d",
          open_errno("public", O_RDONLY | O_TRUNC));
    check(open_errno("group-rw", O_RDWR) == 0, "a supplementary group's rw bits apply", "errno %d",
          open_errno("group-rw", O_RDWR));
    check(open_errno("private/inside", O_RDONLY) == EACCES, "no search permission in a 0700 directory", "errno %d",
          open_errno("private/inside", O_RDONLY));
    struct stat st;
    path(p, sizeof p, "private/inside");
    errno = 0;
    check(stat(p, &st) < 0 && errno == EACCES, "stat through a 0700 directory: EACCES", "errno %d", errno);
    path(p, sizeof p, "rootdir/new");
    errno = 0;
    check(open(p, O_CREAT | O_WRONLY, 0644) < 0 && errno == EACCES, "no creating in root's 0755 directory", "errno %d",
          errno);
    path(p, sizeof p, "public");
    errno = 0;
    check(chmod(p, 0666) < 0 && errno == EPERM, "chmod of root's file: EPERM", "errno %d", errno);
    errno = 0;
    check(chown(p, 33, 33) < 0 && errno == EPERM, "chown of root's file: EPERM", "errno %d", errno);
    errno = 0;
    check(unlink(p) < 0 && errno == EACCES, "unlink in root's 0755 directory: EACCES", "errno %d", errno);
    errno = 0;
    check(truncate(p, 0) < 0 && errno == EACCES, "truncate of root's 0644 file: EACCES", "errno %d", errno);
    errno = 0;
    check(access(p, W_OK) < 0 && errno == EACCES && access(p, R_OK) == 0, "access() with uid 33's rights", "errno %d",
          errno);
    path(p, sizeof p, "private");
    errno = 0;
    check(chdir(p) < 0 && errno == EACCES, "chdir into a 0700 directory: EACCES", "errno %d", errno);
    /* utimes: a given time is the owner's to set (EPERM), "now" also for
     * whoever may write the file (EACCES otherwise). */
    struct timespec given[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    path(p, sizeof p, "public");
    errno = 0;
    check(utimensat(AT_FDCWD, p, given, 0) < 0 && errno == EPERM, "utimensat with a given time on root's file: EPERM",
          "errno %d", errno);
    errno = 0;
    check(utimensat(AT_FDCWD, p, NULL, 0) < 0 && errno == EACCES, "utimensat now on root's read-only file: EACCES",
          "errno %d", errno);
    path(p, sizeof p, "group-rw");
    check(utimensat(AT_FDCWD, p, NULL, 0) == 0, "utimensat now on a file it may write", "errno %d", errno);
    errno = 0;
    check(utimensat(AT_FDCWD, p, given, 0) < 0 && errno == EPERM, "yet a given time there: EPERM", "errno %d", errno);

    /* A sticky, world-writable directory: own names only. */
    path(p, sizeof p, "tmp/mine");
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    int owned = fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 33 && st.st_gid == 33;
    check(owned, "a new file belongs to its creator (33:33)", "fd %d uid %d gid %d", fd, (int)st.st_uid,
          (int)st.st_gid);
    if (fd >= 0)
        close(fd);
    path(q, sizeof q, "tmp/roots");
    errno = 0;
    check(unlink(q) < 0 && errno == EPERM, "sticky directory: another user's name cannot go (EPERM)", "errno %d", errno);
    check(unlink(p) == 0, "sticky directory: one's own name can", "errno %d", errno);
    /* A set-group-ID directory of group 4, which uid 33 is in. */
    path(p, sizeof p, "sgid/f");
    fd = open(p, O_CREAT | O_WRONLY, 0644);
    check(fd >= 0 && fstat(fd, &st) == 0 && st.st_gid == 4, "a set-group-ID directory gives its group", "fd %d gid %d",
          fd, (int)st.st_gid);
    if (fd >= 0)
        close(fd);
    check(try_exec("prog-root-only") == 126, "execve of a 0700 program of root: EACCES", "status %d",
          try_exec("prog-root-only"));
    check(try_exec("prog-everyone") == 0, "execve of a 0755 program", "status %d", try_exec("prog-everyone"));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--exit-0") == 0)
        return 0;
    if (getuid() != 0) {
        skip("permissions", "needs root to start (the test drops to uid 33 itself)");
        return tap_done();
    }
    snprintf(dir, sizeof dir, "/tmp/test-permissions.%d", (int)getpid());
    mkdir("/tmp", 01777);
    char p[128];
    int ok = mkdir(dir, 0755) == 0;
    path(p, sizeof p, "private");
    ok &= mkdir(p, 0700) == 0;
    path(p, sizeof p, "rootdir");
    ok &= mkdir(p, 0755) == 0;
    path(p, sizeof p, "tmp");
    ok &= mkdir(p, 01777) == 0 && chmod(p, 01777) == 0;
    path(p, sizeof p, "sgid");
    ok &= mkdir(p, 0775) == 0 && chown(p, 0, 4) == 0 && chmod(p, 02775) == 0;
    ok &= make_file("secret", 0600, 0, 0) == 0 && make_file("public", 0644, 0, 0) == 0;
    ok &= make_file("group-rw", 0660, 0, 4) == 0 && make_file("private/inside", 0644, 0, 0) == 0;
    ok &= make_file("tmp/roots", 0666, 0, 0) == 0;
    ok &= copy_self("prog-root-only", 0700) == 0 && copy_self("prog-everyone", 0755) == 0;
    check(ok, "root builds the tree", "errno %d", errno);

    pid_t child = fork();
    if (child == 0) {
        gid_t groups[] = {4};
        if (setgroups(1, groups) != 0 || setresgid(33, 33, 33) != 0 || setresuid(33, 33, 33) != 0) {
            not_ok("drop to www-data", "errno %d", errno);
            _exit(99);
        }
        as_www_data();
        _exit(tap_failed);
    }
    int st = 0;
    wait_for(child, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "every check as www-data passed", "%s", describe_status(st));

    /* Real root, effective 33: access() answers for the real ids. */
    child = fork();
    if (child == 0) {
        if (setresuid(0, 33, 0) != 0)
            _exit(99);
        path(p, sizeof p, "secret");
        int real_ok = access(p, R_OK) == 0;
        int effective = (int)syscall(SYS_faccessat2, AT_FDCWD, p, R_OK, AT_EACCESS);
        int open_fails = open(p, O_RDONLY) < 0 && errno == EACCES;
        _exit(real_ok && effective < 0 && open_fails ? 0 : 1);
    }
    wait_for(child, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "euid 33, ruid 0: access() uses the real ids, faccessat2(AT_EACCESS) and open the effective ones", "%s",
          describe_status(st));

    /* Root itself may do it all. */
    check(open_errno("secret", O_RDWR) == 0 && open_errno("private/inside", O_RDWR) == 0,
          "root reads and writes whatever the modes", "errno %d", errno);
    check(try_exec("prog-root-only") == 0, "root executes its 0700 program", "status %d", try_exec("prog-root-only"));
    return tap_done();
}
