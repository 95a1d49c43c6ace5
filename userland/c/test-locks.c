/* test-locks: advisory file locks, as Linux has them.
 *
 * flock: shared and exclusive locks owned by the open file description
 * (dup and fork share them, a second open does not), LOCK_NB and
 * EWOULDBLOCK, conversion, release at the last close, a blocked LOCK_EX
 * woken by the holder's unlock, EINTR from a signal, EINVAL.
 * fcntl record locks: F_GETLK reports (type, SEEK_SET start, length, pid),
 * byte ranges split on unlock and merged when touching, SEEK_CUR/SEEK_END,
 * l_len 0 (to the end) and negative, EINVAL and EBADF, EAGAIN on conflict,
 * release when the owner closes ANY descriptor of the file and at exit,
 * not inherited by fork, F_SETLKW woken by an unlock and interrupted by a
 * signal, EDEADLK for the two-process cycle. OFD locks: l_pid must be 0,
 * owned by the description (conflict within one process, shared with a
 * fork child, kept when another descriptor closes), l_pid -1 in GETLK.
 * The other process of each check is a fork child; it reports through a
 * pipe. alarm(60) turns a hang into a failure. */
#define _GNU_SOURCE
#include "child.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/time.h>

static char path[64];

static int open_rw(void)
{
    return open(path, O_RDWR);
}

/* What a fork child's fcntl(cmd) on fd saw: the call's errno (0: it
 * worked) and the struct flock after it. */
struct seen {
    int err;
    struct flock fl;
};

static struct seen in_child(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
    struct seen s = {.err = -1};
    int p[2];
    if (pipe(p) != 0)
        return s;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct seen c = {0};
        c.fl.l_type = type;
        c.fl.l_whence = whence;
        c.fl.l_start = start;
        c.fl.l_len = len;
        c.err = fcntl(fd, cmd, &c.fl) == 0 ? 0 : errno;
        if (write(p[1], &c, sizeof c) != (ssize_t)sizeof c)
            _exit(2);
        _exit(0);
    }
    close(p[1]);
    if (pid > 0 && read(p[0], &s, sizeof s) != (ssize_t)sizeof s)
        s.err = -1;
    close(p[0]);
    int st;
    if (pid > 0)
        wait_for(pid, &st);
    return s;
}

static int setlk(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
}

/* A child's F_GETLK over [start, start+len) sees exactly this lock. */
static void expect_child_sees(const char *name, int fd, off_t start, off_t len, short type, off_t at, off_t n, pid_t pid)
{
    struct seen s = in_child(fd, F_GETLK, F_WRLCK, SEEK_SET, start, len);
    if (s.err != 0)
        not_ok(name, "F_GETLK failed: %s", errname(s.err));
    else if (s.fl.l_type != type)
        not_ok(name, "l_type %d, expected %d", s.fl.l_type, type);
    else if (type == F_UNLCK)
        ok(name);
    else
        check(s.fl.l_whence == SEEK_SET && s.fl.l_start == at && s.fl.l_len == n && s.fl.l_pid == pid, name,
              "got whence %d start %lld len %lld pid %d, expected start %lld len %lld pid %d", s.fl.l_whence,
              (long long)s.fl.l_start, (long long)s.fl.l_len, s.fl.l_pid, (long long)at, (long long)n, pid);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A one-shot timer in ms whose SIGALRM interrupts (no SA_RESTART). */
static void interrupt_in(long ms)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {.it_value = {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

/* A child that holds a lock of its own until told (a byte on *release),
 * after saying it has it (a byte on *ready). kind: 'f' flock LOCK_EX,
 * 'r' F_SETLK write on the whole file. */
static pid_t holder(char kind, int *ready, int *release)
{
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(a[0]);
        close(b[1]);
        int fd = open_rw();
        int r = kind == 'f' ? flock(fd, LOCK_EX) : setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
        char c = r == 0 ? 'y' : 'n';
        if (write(a[1], &c, 1) != 1)
            _exit(2);
        if (read(b[0], &c, 1) != 1)
            _exit(3);
        _exit(0);
    }
    close(a[1]);
    close(b[0]);
    char c = 0;
    if (read(a[0], &c, 1) != 1 || c != 'y')
        pid = -1;
    *ready = a[0];
    *release = b[1];
    return pid;
}

static void stop_holder(pid_t pid, int ready, int release)
{
    /* interrupt_in took over SIGALRM: the hang guard again. */
    signal(SIGALRM, SIG_DFL);
    alarm(60);
    if (write(release, "x", 1) != 1) {
    }
    close(release);
    close(ready);
    int st;
    if (pid > 0)
        wait_for(pid, &st);
}

/* ---- flock ----------------------------------------------------------- */

static void flock_tests(void)
{
    int a = open_rw(), b = open_rw();
    check(flock(a, LOCK_EX) == 0, "flock LOCK_EX", "%s", errname(errno));
    expect_errno("flock LOCK_EX|LOCK_NB on a second open: EWOULDBLOCK", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    expect_errno("flock LOCK_SH|LOCK_NB under an exclusive lock: EWOULDBLOCK", flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    int d = dup(a);
    check(flock(d, LOCK_EX | LOCK_NB) == 0, "flock on a dup shares the description's lock", "%s", errname(errno));
    close(a);
    expect_errno("flock: closing one of two descriptors keeps the lock", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    close(d);
    check(flock(b, LOCK_EX | LOCK_NB) == 0, "flock: the last close releases the lock", "%s", errname(errno));
    check(flock(b, LOCK_UN) == 0, "flock LOCK_UN", "%s", errname(errno));

    a = open_rw();
    int c = open_rw();
    check(flock(a, LOCK_SH) == 0 && flock(b, LOCK_SH | LOCK_NB) == 0, "flock: two shared locks", "%s", errname(errno));
    expect_errno("flock LOCK_EX|LOCK_NB under shared locks: EWOULDBLOCK", flock(c, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* A failed conversion loses the shared lock (Linux drops it first). */
    expect_errno("flock: converting to LOCK_EX under another shared lock", flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    check(flock(b, LOCK_UN) == 0 && flock(c, LOCK_EX | LOCK_NB) == 0, "flock: a failed conversion dropped the old lock",
          "%s", errname(errno));
    flock(c, LOCK_UN);
    expect_errno("flock with no operation: EINVAL", flock(a, LOCK_NB), EINVAL);
    expect_errno("flock LOCK_SH|LOCK_EX: EINVAL", flock(a, LOCK_SH | LOCK_EX), EINVAL);
    expect_errno("flock on a closed descriptor: EBADF", flock(99, LOCK_SH), EBADF);

    /* fork shares the description, so the child's lock is the parent's. */
    check(flock(a, LOCK_EX) == 0, "flock before fork", "%s", errname(errno));
    pid_t pid = fork();
    if (pid == 0)
        _exit(flock(a, LOCK_EX | LOCK_NB) == 0 && flock(b, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 0 : 1);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "flock: a fork child holds the inherited description's lock", "%s",
          describe_status(st));
    flock(a, LOCK_UN);
    close(a);
    close(b);
    close(c);

    /* A blocked LOCK_EX goes on when the holder unlocks. */
    int ready, release;
    pid = holder('f', &ready, &release);
    check(pid > 0, "flock: a child holds LOCK_EX", "holder failed");
    a = open_rw();
    pid_t unlocker = fork();
    if (unlocker == 0) {
        sleep_ms(200);
        if (write(release, "x", 1) != 1)
            _exit(1);
        _exit(0);
    }
    int64_t t0 = now_ns();
    int r = flock(a, LOCK_EX);
    int64_t waited = now_ns() - t0;
    check(r == 0 && waited >= 150000000, "flock LOCK_EX waits for the holder's unlock", "r %d (%s) after %lld ms", r,
          errname(errno), (long long)(waited / 1000000));
    wait_for(unlocker, &st);
    stop_holder(pid, ready, release);
    flock(a, LOCK_UN);

    pid = holder('f', &ready, &release);
    interrupt_in(100);
    alarms = 0;
    r = flock(a, LOCK_EX);
    int e = errno;
    check(r == -1 && e == EINTR && alarms == 1, "flock LOCK_EX interrupted by a signal: EINTR", "r %d %s, %d alarms", r,
          errname(e), (int)alarms);
    stop_holder(pid, ready, release);
    check(flock(a, LOCK_EX | LOCK_NB) == 0, "flock: a holder's exit releases its lock", "%s", errname(errno));
    close(a);
}

/* ---- fcntl record locks -------------------------------------------- */

static void record_tests(void)
{
    pid_t me = getpid();
    int fd = open_rw();
    check(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 100) == 0, "F_SETLK write lock on 0..99", "%s", errname(errno));
    expect_child_sees("F_GETLK in another process reports the lock", fd, 50, 10, F_WRLCK, 0, 100, me);
    struct seen s = in_child(fd, F_SETLK, F_RDLCK, SEEK_SET, 99, 1);
    check(s.err == EAGAIN || s.err == EACCES, "F_SETLK over another process's lock: EAGAIN", "%s", errname(s.err));
    s = in_child(fd, F_SETLK, F_WRLCK, SEEK_SET, 100, 10);
    check(s.err == 0, "F_SETLK next to another process's lock", "%s", errname(s.err));
    struct flock own = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check(fcntl(fd, F_GETLK, &own) == 0 && own.l_type == F_UNLCK, "F_GETLK: the caller's own lock is no conflict",
          "l_type %d", own.l_type);

    /* Unlocking the middle splits the lock in two. */
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 40, 20);
    expect_child_sees("unlocking 40..59 leaves it free", fd, 40, 20, F_UNLCK, 0, 0, 0);
    expect_child_sees("unlocking 40..59 leaves 0..39", fd, 0, 100, F_WRLCK, 0, 40, me);
    expect_child_sees("unlocking 40..59 leaves 60..99", fd, 50, 100, F_WRLCK, 60, 40, me);
    /* Touching locks of one kind merge; a read lock inside a write lock splits it. */
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 40, 20);
    expect_child_sees("relocking 40..59 merges 0..99 again", fd, 0, 1, F_WRLCK, 0, 100, me);
    setlk(fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10);
    s = in_child(fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 100);
    check(s.err == 0 && s.fl.l_type == F_WRLCK && s.fl.l_start == 0 && s.fl.l_len == 10,
          "a read lock inside a write lock: a reader sees the write part 0..9", "type %d start %lld len %lld",
          s.fl.l_type, (long long)s.fl.l_start, (long long)s.fl.l_len);
    s = in_child(fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10);
    check(s.err == 0, "another process's read lock shares the read part 10..19", "%s", errname(s.err));
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    expect_child_sees("l_len 0 unlock frees everything", fd, 0, 0, F_UNLCK, 0, 0, 0);

    /* Whence, l_len 0 and negative lengths. */
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1000, 0);
    expect_child_sees("l_len 0 locks to the end of the file and beyond", fd, 1 << 30, 1, F_WRLCK, 1000, 0, me);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 50, -10);
    expect_child_sees("a negative l_len locks the bytes before l_start", fd, 0, 100, F_WRLCK, 40, 10, me);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    lseek(fd, 20, SEEK_SET);
    setlk(fd, F_SETLK, F_WRLCK, SEEK_CUR, 5, 5);
    expect_child_sees("SEEK_CUR counts from the file offset", fd, 0, 100, F_WRLCK, 25, 5, me);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    setlk(fd, F_SETLK, F_WRLCK, SEEK_END, -10, 10);
    expect_child_sees("SEEK_END counts from the file size (200)", fd, 0, 0, F_WRLCK, 190, 10, me);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

    int e = setlk(fd, F_SETLK, F_WRLCK, 7, 0, 1);
    check(e == EINVAL, "F_SETLK with l_whence 7: EINVAL", "%s", errname(e));
    e = setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, -5, 1);
    check(e == EINVAL, "F_SETLK starting before 0: EINVAL", "%s", errname(e));
    e = setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 3, -5);
    check(e == EINVAL, "F_SETLK with a negative length past 0: EINVAL", "%s", errname(e));
    e = setlk(fd, F_SETLK, 7, SEEK_SET, 0, 1);
    check(e == EINVAL, "F_SETLK with l_type 7: EINVAL", "%s", errname(e));
    e = setlk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1);
    check(e == EINVAL, "F_GETLK with F_UNLCK: EINVAL", "%s", errname(e));
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    e = setlk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    check(e == EBADF, "F_WRLCK on a read-only descriptor: EBADF", "%s", errname(e));
    e = setlk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1);
    check(e == EBADF, "F_RDLCK on a write-only descriptor: EBADF", "%s", errname(e));
    e = setlk(ro, F_SETLK, F_RDLCK, SEEK_SET, 0, 1);
    check(e == 0, "F_RDLCK on a read-only descriptor", "%s", errname(e));
    int po = open(path, O_PATH);
    e = setlk(po, F_GETLK, F_RDLCK, SEEK_SET, 0, 1);
    check(e == EBADF, "F_GETLK on an O_PATH descriptor: EBADF", "%s", errname(e));
    expect_errno("flock on an O_PATH descriptor: EBADF", flock(po, LOCK_SH), EBADF);
    expect_errno("flock LOCK_UN on an O_PATH descriptor: EBADF", flock(po, LOCK_UN), EBADF);
    close(po);

    /* Isola bounds one file's record locks (Linux only by memory). */
    if (in_isola()) {
        int i;
        e = 0;
        for (i = 0; i < 5000 && e == 0; i++)
            e = setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 2 * i, 1);
        check(e == ENOLCK && i > 4000, "thousands of split locks end in ENOLCK, not an exhausted kernel",
              "%s after %d locks", errname(e), i);
        check(setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 2) == 0, "a merge still works at the bound", "%s", errname(errno));
        setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    } else {
        skip("thousands of split locks end in ENOLCK", "Isola's bound; Linux limits by memory");
        skip("a merge still works at the bound", "Isola's bound");
    }

    /* Closing ANY descriptor of the file drops the process's locks. */
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    expect_child_sees("locks held before closing another descriptor", fd, 0, 10, F_WRLCK, 0, 10, me);
    close(wo);
    expect_child_sees("closing another descriptor of the file releases the locks", fd, 0, 0, F_UNLCK, 0, 0, 0);
    close(ro);
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    int other = open_rw();
    dup2(other, 50);
    close(other);
    expect_child_sees("close of a dup'd other descriptor releases them too", fd, 0, 0, F_UNLCK, 0, 0, 0);
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 50);
    expect_child_sees("dup2 over a descriptor of the file releases them", fd, 0, 0, F_UNLCK, 0, 0, 0);
    close(50);
    close(devnull);

    /* A child's locks are its own, and go when it exits. */
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    pid_t pid = fork();
    if (pid == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
        int inherited = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == me;
        int own = setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 10) == 0;
        _exit(inherited && own ? 0 : 1);
    }
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork: the child does not inherit the parent's locks", "%s",
          describe_status(st));
    struct flock after = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
    check(fcntl(fd, F_GETLK, &after) == 0 && after.l_type == F_UNLCK, "a child's locks go when it exits", "l_type %d",
          after.l_type);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

    /* F_SETLKW waits for the unlock, and a signal interrupts it. */
    int ready, release;
    pid = holder('r', &ready, &release);
    check(pid > 0, "a child holds a write lock on the whole file", "holder failed");
    pid_t unlocker = fork();
    if (unlocker == 0) {
        sleep_ms(200);
        _exit(write(release, "x", 1) == 1 ? 0 : 1);
    }
    int64_t t0 = now_ns();
    e = setlk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 5, 1);
    int64_t waited = now_ns() - t0;
    check(e == 0 && waited >= 150000000, "F_SETLKW waits until the holder's lock goes", "%s after %lld ms", errname(e),
          (long long)(waited / 1000000));
    wait_for(unlocker, &st);
    stop_holder(pid, ready, release);
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    pid = holder('r', &ready, &release);
    interrupt_in(100);
    alarms = 0;
    e = setlk(fd, F_SETLKW, F_RDLCK, SEEK_SET, 0, 1);
    check(e == EINTR && alarms == 1, "F_SETLKW interrupted by a signal: EINTR", "%s, %d alarms", errname(e), (int)alarms);
    stop_holder(pid, ready, release);

    /* The two-process cycle: EDEADLK for the one that would close it. */
    setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    int sync[2];
    if (pipe(sync) != 0)
        return;
    pid = fork();
    if (pid == 0) {
        int got1 = setlk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1);
        if (write(sync[1], "x", 1) != 1)
            _exit(3);
        int got0 = setlk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1); /* waits for the parent */
        _exit(got1 == 0 && got0 == 0 ? 0 : 1);
    }
    char c;
    if (read(sync[0], &c, 1) != 1) {
    }
    sleep_ms(200); /* the child is in F_SETLKW by now */
    e = setlk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1);
    check(e == EDEADLK, "F_SETLKW closing a two-process cycle: EDEADLK", "%s", errname(e));
    setlk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiting child gets the lock once it is released", "%s",
          describe_status(st));
    close(sync[0]);
    close(sync[1]);
    close(fd);
}

/* ---- OFD locks ----------------------------------------------------- */

static void ofd_tests(void)
{
    int a = open_rw(), b = open_rw();
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10, .l_pid = getpid()};
    expect_errno("F_OFD_SETLK with l_pid set: EINVAL", fcntl(a, F_OFD_SETLK, &fl), EINVAL);
    expect_errno("F_OFD_GETLK with l_pid set: EINVAL", fcntl(a, F_OFD_GETLK, &fl), EINVAL);
    check(setlk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0, "F_OFD_SETLK", "%s", errname(errno));
    int e = setlk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1);
    check(e == EAGAIN, "OFD locks of two descriptions conflict within one process: EAGAIN", "%s", errname(e));
    struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    check(fcntl(b, F_OFD_GETLK, &q) == 0 && q.l_type == F_WRLCK && q.l_pid == -1 && q.l_len == 10,
          "F_OFD_GETLK reports the lock with l_pid -1", "type %d pid %d len %lld", q.l_type, q.l_pid, (long long)q.l_len);
    struct flock p = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    check(fcntl(b, F_GETLK, &p) == 0 && p.l_type == F_WRLCK && p.l_pid == -1,
          "F_GETLK of the process sees the OFD lock (l_pid -1)", "type %d pid %d", p.l_type, p.l_pid);
    close(b);
    b = open_rw();
    check(setlk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1) == EAGAIN, "closing another descriptor keeps OFD locks", "lock gone");
    pid_t pid = fork();
    if (pid == 0)
        _exit(setlk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 20) == 0 ? 0 : 1);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child shares the description's OFD locks", "%s",
          describe_status(st));
    close(a);
    check(setlk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 20) == 0, "the last close of the description releases them", "%s",
          errname(errno));
    close(b);
}

int main(void)
{
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    snprintf(path, sizeof path, "/tmp/test-locks.%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char zeros[200] = {0};
    if (fd < 0 || write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros) {
        not_ok("create the test file", "%s", errname(errno));
        return tap_done();
    }
    close(fd);
    flock_tests();
    record_tests();
    ofd_tests();
    unlink(path);
    return tap_done();
}
