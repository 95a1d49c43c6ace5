/* test-proc: the /proc files programs read.
 *
 * /proc/self/exe (readlink gives the program's absolute path, and it can be
 * opened), /proc/self/fd (lists 0 1 2 and nothing that is not open),
 * /proc/self/stat and /proc/PID/stat of a child ("PID (name) S ..."), and
 * /proc/meminfo (MemTotal:), and /proc/self/cmdline read from the
 * process's memory: a title written over argv (nginx's setproctitle) is
 * what it shows. */
#include "child.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static void test_exe(const char *argv0)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) {
        not_ok("readlink /proc/self/exe", "%s", errname(errno));
        return;
    }
    buf[n] = '\0';
    const char *base = strrchr(buf, '/');
    check(buf[0] == '/' && base && strcmp(base + 1, "test-proc") == 0,
          "readlink /proc/self/exe: an absolute path ending in /test-proc", "'%s'", buf);
    struct stat a, b;
    int same = stat(buf, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    check(same, "/proc/self/exe is the program's file", "stat of '%s' and /proc/self/exe differ (%s)", buf,
          errname(errno));
    if (argv0[0] == '/') {
        char real[4096];
        check(realpath(argv0, real) && strcmp(real, buf) == 0, "/proc/self/exe matches argv[0]", "argv[0] '%s', exe '%s'",
              argv0, buf);
    }
    int fd = open("/proc/self/exe", O_RDONLY);
    char magic[4] = {0};
    check(fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "\x7f" "ELF", 4) == 0,
          "open and read /proc/self/exe: an ELF", "fd %d (%s)", fd, errname(errno));
    if (fd >= 0)
        close(fd);
}

static void test_fd_dir(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        not_ok("opendir /proc/self/fd", "%s", errname(errno));
        return;
    }
    int dfd = dirfd(d);
    int seen[3] = {0, 0, 0}, stray = 0;
    char strays[128] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd >= 0 && fd < 3)
            seen[fd] = 1;
        else if (fd != dfd && fcntl(fd, F_GETFD) < 0) {
            stray++;
            size_t len = strlen(strays);
            snprintf(strays + len, sizeof strays - len, " %.10s", e->d_name);
        }
    }
    closedir(d);
    check(seen[0] && seen[1] && seen[2], "/proc/self/fd lists 0 1 2", "0:%d 1:%d 2:%d", seen[0], seen[1], seen[2]);
    check(stray == 0, "/proc/self/fd lists only open fds", "not open:%s", strays);
    int p[2];
    pipe(p);
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n >= 0)
        target[n] = '\0';
    check(n > 0 && strncmp(target, "pipe:[", 6) == 0, "readlink /proc/self/fd/N of a pipe: pipe:[...]", "'%s' (%s)",
          n > 0 ? target : "", n < 0 ? errname(errno) : "");
    close(p[0]);
    close(p[1]);
}

/* "PID (name) S ppid ...": the pid, name and state; *ppid from field 4. */
static int parse_stat(const char *text, int *pid, char *name, size_t cap, char *state, int *ppid)
{
    const char *open = strchr(text, '(');
    const char *close = strrchr(text, ')');
    if (!open || !close || close < open || (size_t)(close - open - 1) >= cap)
        return -1;
    *pid = atoi(text);
    memcpy(name, open + 1, (size_t)(close - open - 1));
    name[close - open - 1] = '\0';
    if (sscanf(close + 1, " %c %d", state, ppid) != 2)
        return -1;
    return 0;
}

static int read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    return (int)got;
}

static void test_stat(void)
{
    char buf[1024], name[64], state = 0;
    int pid = 0, ppid = -1;
    int n = read_file("/proc/self/stat", buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "%d (test-proc) ", (int)getpid());
    check(n > 0 && strncmp(buf, want, strlen(want)) == 0, "/proc/self/stat starts with \"PID (test-proc) \"",
          "'%.60s' (%s)", n > 0 ? buf : "", n < 0 ? errname(errno) : "");
    int r = n > 0 ? parse_stat(buf, &pid, name, sizeof name, &state, &ppid) : -1;
    check(r == 0 && state == 'R' && ppid == getppid(), "/proc/self/stat: state R and the ppid",
          "state '%c', ppid %d (getppid %d)", state, ppid, (int)getppid());

    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(p[1]);
        read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    sleep_ms(30);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    n = read_file(path, buf, sizeof buf);
    r = n > 0 ? parse_stat(buf, &pid, name, sizeof name, &state, &ppid) : -1;
    check(r == 0 && pid == child && strcmp(name, "test-proc") == 0 && ppid == getpid(),
          "/proc/PID/stat of a child: its pid, name and parent", "'%.60s' (%s)", n > 0 ? buf : "",
          n < 0 ? errname(errno) : "");
    check(r == 0 && state == 'S', "/proc/PID/stat: a child blocked in read is S", "state '%c'", state);
    close(p[1]);
    int st;
    wait_for(child, &st);
    n = read_file(path, buf, sizeof buf);
    expect_errno("/proc/PID/stat of a reaped child: ENOENT", n < 0 ? -1 : n, ENOENT);
}

static void test_meminfo(void)
{
    char buf[4096];
    int n = read_file("/proc/meminfo", buf, sizeof buf);
    char *line = n > 0 ? strstr(buf, "MemTotal:") : NULL;
    long kb = 0;
    if (line)
        sscanf(line + 9, " %ld", &kb);
    check(line == buf && kb > 0, "/proc/meminfo starts with MemTotal: N kB", "'%.40s' (%s)", n > 0 ? buf : "",
          n < 0 ? errname(errno) : "");
    check(n > 0 && strstr(buf, "MemFree:") != NULL, "/proc/meminfo has MemFree:", "missing");
    /* Slab: the kernel heap, so that MemFree + Slab shows a leaked frame. */
    long free_kb = -1, slab_kb = -1;
    char *f = n > 0 ? strstr(buf, "MemFree:") : NULL, *s = n > 0 ? strstr(buf, "Slab:") : NULL;
    if (f)
        sscanf(f + 8, " %ld", &free_kb);
    if (s)
        sscanf(s + 5, " %ld", &slab_kb);
    check(slab_kb > 0 && free_kb > 0 && free_kb + slab_kb <= kb, "/proc/meminfo has Slab: within MemTotal",
          "MemTotal %ld, MemFree %ld, Slab %ld kB", kb, free_kb, slab_kb);
}

static size_t read_cmdline(char *buf, size_t size)
{
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size);
    if (fd >= 0)
        close(fd);
    return n < 0 ? 0 : (size_t)n;
}

static void test_cmdline(int argc, char **argv)
{
    char buf[512];
    size_t n = read_cmdline(buf, sizeof buf);
    size_t want = 0;
    for (int i = 0; i < argc; i++)
        want += strlen(argv[i]) + 1;
    check(n == want && memcmp(buf, argv[0], strlen(argv[0]) + 1) == 0, "/proc/self/cmdline: argv, NUL-separated",
          "%zu bytes, want %zu", n, want);
    /* nginx's way: the title over argv[0], the rest of the area NULs. */
    size_t area = want;
    const char *title = "renamed";
    if (strlen(title) + 1 > area) {
        skip("a title written over argv", "argv too short");
        return;
    }
    memset(argv[0], 0, area);
    memcpy(argv[0], title, strlen(title));
    n = read_cmdline(buf, sizeof buf);
    check(n == area && strcmp(buf, title) == 0, "a title written over argv is what /proc/self/cmdline shows",
          "%zu bytes: '%.*s'", n, (int)(n < 64 ? n : 64), buf);
}

int main(int argc, char **argv)
{
    test_exe(argv[0]);
    test_fd_dir();
    test_stat();
    test_meminfo();
    test_cmdline(argc, argv);
    return tap_done();
}
