/* test-pipe: pipes and descriptors.
 *
 * pipe, pipe2 (O_CLOEXEC, O_NONBLOCK), dup, dup2, dup3, EOF only when every
 * writer has closed, SIGPIPE (default: the writer dies) and EPIPE (SIGPIPE
 * ignored) when every reader has closed, PIPE_BUF atomicity with two
 * writers, non-blocking read and write (EAGAIN), a blocking read woken by
 * another process, poll and select on pipes, F_GETPIPE_SZ/F_SETPIPE_SZ
 * (lighttpd sizes its splice pipes). */
#include "child.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/select.h>

static void test_pipe_basics(void)
{
    int p[2] = {-1, -1};
    int r = pipe(p);
    check(r == 0 && p[0] >= 0 && p[1] >= 0 && p[0] != p[1], "pipe gives two fds", "pipe: %s", errname(errno));
    if (r != 0)
        return;
    check(write(p[1], "hello", 5) == 5, "write to a pipe", "%s", errname(errno));
    char buf[16] = {0};
    ssize_t n = read(p[0], buf, sizeof buf);
    check(n == 5 && memcmp(buf, "hello", 5) == 0, "read what was written", "read %zd '%.*s'", n, (int)(n > 0 ? n : 0),
          buf);
    expect_errno("read from the write end: EBADF", read(p[1], buf, 1), EBADF);
    expect_errno("write to the read end: EBADF", write(p[0], "x", 1), EBADF);
    expect_errno("lseek on a pipe: ESPIPE", lseek(p[0], 0, SEEK_SET), ESPIPE);
    check(fcntl(p[0], F_GETFD) == 0 && (fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY &&
              (fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY,
          "pipe: no close-on-exec, read end O_RDONLY, write end O_WRONLY", "flags %#x %#x", fcntl(p[0], F_GETFL),
          fcntl(p[1], F_GETFL));
    close(p[0]);
    close(p[1]);

    r = pipe2(p, O_CLOEXEC);
    check(r == 0 && fcntl(p[0], F_GETFD) == FD_CLOEXEC && fcntl(p[1], F_GETFD) == FD_CLOEXEC,
          "pipe2(O_CLOEXEC) sets FD_CLOEXEC on both ends", "r %d, fd flags %d %d", r, fcntl(p[0], F_GETFD),
          fcntl(p[1], F_GETFD));
    if (r == 0) {
        close(p[0]);
        close(p[1]);
    }
    r = pipe2(p, O_NONBLOCK);
    check(r == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK),
          "pipe2(O_NONBLOCK) sets O_NONBLOCK on both ends", "r %d", r);
    if (r == 0) {
        expect_errno("non-blocking read of an empty pipe: EAGAIN", read(p[0], buf, 1), EAGAIN);
        /* Fill it: writes stop with EAGAIN, after at least PIPE_BUF bytes. */
        static char chunk[1024];
        memset(chunk, 'f', sizeof chunk);
        long total = 0;
        ssize_t w;
        int rounds = 0;
        while ((w = write(p[1], chunk, sizeof chunk)) > 0 && rounds++ < 4096)
            total += w;
        int e = errno;
        check(w < 0 && e == EAGAIN && total >= PIPE_BUF, "non-blocking write to a full pipe: EAGAIN",
              "after %ld bytes: %zd, %s", total, w, errname(e));
        tap_line("# pipe capacity: %ld bytes", total);
        long drained = 0;
        while ((n = read(p[0], chunk, sizeof chunk)) > 0)
            drained += n;
        check(drained == total && errno == EAGAIN, "drain the full pipe, then EAGAIN", "drained %ld of %ld", drained,
              total);
        close(p[0]);
        close(p[1]);
    }
    expect_errno("pipe2 with an unknown flag: EINVAL", pipe2(p, 0x40000000), EINVAL);
}

static void test_dup(void)
{
    int p[2];
    if (pipe(p) != 0) {
        not_ok("dup", "pipe: %s", errname(errno));
        return;
    }
    int d = dup(p[1]);
    check(d > p[1] || (d >= 0 && d != p[0] && d != p[1]), "dup gives a new fd", "dup %d (%s)", d, errname(errno));
    /* The lowest free fd. */
    close(p[0]);
    int low = dup(p[1]);
    check(low == p[0], "dup takes the lowest free fd", "got %d, expected %d", low, p[0]);
    close(low);
    if (pipe(p) != 0)
        return; /* p[1] above is leaked on purpose: the next pipe gets new numbers */
    int d2 = dup(p[1]);
    write(d2, "d", 1);
    char c = 0;
    check(read(p[0], &c, 1) == 1 && c == 'd', "a dup'ed write end writes to the same pipe", "c %d", c);
    check(fcntl(d2, F_GETFD) == 0, "dup clears close-on-exec", "fd flags %d", fcntl(d2, F_GETFD));

    int target = 50;
    int r = dup2(p[1], target);
    check(r == target && write(target, "e", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'e', "dup2 to a free fd",
          "dup2 %d (%s)", r, errname(errno));
    /* dup2 onto an open fd closes it first. */
    int q[2];
    pipe(q);
    r = dup2(p[1], q[1]);
    check(r == q[1] && write(q[1], "g", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'g',
          "dup2 onto an open fd replaces it", "dup2 %d (%s)", r, errname(errno));
    /* q's old write end is gone: q[0] sees EOF. */
    check(read(q[0], &c, 1) == 0, "the replaced fd was closed (its pipe sees EOF)", "read did not return 0");
    check(dup2(p[1], p[1]) == p[1], "dup2(fd, fd) returns fd", "%s", errname(errno));
    expect_errno("dup2 of a closed fd: EBADF", dup2(200, 201), EBADF);
    expect_errno("dup2 to a negative fd: EBADF", dup2(p[1], -1), EBADF);
    r = dup3(p[1], 60, O_CLOEXEC);
    check(r == 60 && fcntl(60, F_GETFD) == FD_CLOEXEC, "dup3(O_CLOEXEC) sets FD_CLOEXEC", "dup3 %d, flags %d", r,
          fcntl(60, F_GETFD));
    expect_errno("dup3(fd, fd): EINVAL", dup3(p[1], p[1], 0), EINVAL);
    expect_errno("dup3 with a flag other than O_CLOEXEC: EINVAL", syscall(SYS_dup3, p[1], 61, O_NONBLOCK), EINVAL);
    r = fcntl(p[1], F_DUPFD_CLOEXEC, 70);
    check(r >= 70 && fcntl(r, F_GETFD) == FD_CLOEXEC, "fcntl(F_DUPFD_CLOEXEC, 70)", "got %d", r);
    for (int fd = 3; fd < 100; fd++)
        close(fd);
}

static void test_eof(void)
{
    int p[2];
    pipe(p);
    int extra = dup(p[1]);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        close(extra);
        write_all(p[1], "bye", 3);
        _exit(0);
    }
    close(p[1]);
    int st;
    wait_for(pid, &st);
    char buf[8];
    ssize_t n = read(p[0], buf, sizeof buf);
    check(n == 3, "read the child's data", "read %zd", n);
    /* A writer (extra) is still open: no EOF yet. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    n = read(p[0], buf, sizeof buf);
    expect_errno("empty pipe with a writer left: EAGAIN, not EOF", n, EAGAIN);
    close(extra);
    n = read(p[0], buf, sizeof buf);
    check(n == 0, "EOF once every writer has closed", "read %zd (%s)", n, n < 0 ? errname(errno) : "");
    close(p[0]);

    /* A blocking read woken by the writer's exit in another process. */
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        sleep_ms(30);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], buf, sizeof buf);
    check(n == 0, "a blocked read returns EOF when the last writer exits", "read %zd", n);
    close(p[0]);
    wait_for(pid, &st);

    /* A blocking read woken by data. */
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        sleep_ms(30);
        write_all(p[1], "late", 4);
        sleep_ms(10);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], buf, sizeof buf);
    check(n == 4 && memcmp(buf, "late", 4) == 0, "a blocked read wakes up with another process's data", "read %zd",
          n);
    close(p[0]);
    wait_for(pid, &st);
}

static void test_sigpipe(void)
{
    int p[2];
    pipe(p);
    close(p[0]);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        write(p[1], "x", 1);
        _exit(1);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "write with no reader: the writer dies of SIGPIPE", "%s",
          describe_status(st));
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    ssize_t w = write(p[1], "x", 1);
    expect_errno("write with no reader and SIGPIPE ignored: EPIPE", w, EPIPE);
    signal(SIGPIPE, old);
    close(p[1]);

    /* The reader closing while the writer is blocked on a full pipe. */
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        static char big[4096];
        for (;;) {
            if (write(p[1], big, sizeof big) < 0)
                _exit(errno == EPIPE ? 0 : 2);
        }
    }
    close(p[1]);
    sleep_ms(30);
    close(p[0]);
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a writer blocked on a full pipe gets EPIPE when the reader closes",
          "%s", describe_status(st));
}

#define MSGS 64

static void test_atomicity(void)
{
    int p[2];
    pipe(p);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(p[0]);
            static char msg[PIPE_BUF];
            memset(msg, k ? 'B' : 'A', sizeof msg);
            for (int i = 0; i < MSGS; i++)
                if (write(p[1], msg, sizeof msg) != (ssize_t)sizeof msg)
                    _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    static char all[2 * MSGS * PIPE_BUF];
    size_t got = read_full(p[0], all, sizeof all);
    char extra;
    ssize_t more = read(p[0], &extra, 1);
    close(p[0]);
    int mixed = 0, as = 0, bs = 0;
    for (size_t off = 0; off + PIPE_BUF <= got; off += PIPE_BUF) {
        char first = all[off];
        for (size_t i = 1; i < PIPE_BUF; i++)
            if (all[off + i] != first) {
                mixed++;
                break;
            }
        as += first == 'A';
        bs += first == 'B';
    }
    int st0, st1;
    wait_for(kids[0], &st0);
    wait_for(kids[1], &st1);
    check(got == sizeof all && more == 0 && st0 == 0 && st1 == 0, "two writers, 64 writes of PIPE_BUF each, all read",
          "got %zu of %zu, then %zd; %s, %s", got, sizeof all, more, describe_status(st0), describe_status(st1));
    check(mixed == 0 && as == MSGS && bs == MSGS, "writes of PIPE_BUF bytes are atomic (never interleaved)",
          "%d mixed blocks, %d A, %d B", mixed, as, bs);
}

static void test_poll_select(void)
{
    int p[2];
    pipe(p);
    struct pollfd fds[2] = {{.fd = p[0], .events = POLLIN}, {.fd = p[1], .events = POLLOUT}};
    int r = poll(fds, 2, 0);
    check(r == 1 && fds[0].revents == 0 && fds[1].revents == POLLOUT,
          "poll: empty pipe not readable, write end writable", "r %d, revents %#x %#x", r, fds[0].revents,
          fds[1].revents);
    write(p[1], "x", 1);
    r = poll(fds, 1, 0);
    check(r == 1 && fds[0].revents == POLLIN, "poll: POLLIN after a write", "r %d, revents %#x", r, fds[0].revents);
    char c;
    read(p[0], &c, 1);

    /* Blocking poll woken by another process. */
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(30);
        write(p[1], "y", 1);
        _exit(0);
    }
    fds[0].revents = 0;
    int64_t t0 = now_ns();
    r = poll(fds, 1, 5000);
    int64_t waited = now_ns() - t0;
    check(r == 1 && (fds[0].revents & POLLIN) && waited < 4000000000LL, "poll blocks until another process writes",
          "r %d, revents %#x after %lld ms", r, fds[0].revents, (long long)(waited / 1000000));
    read(p[0], &c, 1);
    int st;
    wait_for(pid, &st);

    r = poll(fds, 1, 20);
    check(r == 0, "poll times out on an empty pipe", "r %d", r);

    /* select */
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    r = select(p[1] + 1, &rd, &wr, NULL, &tv);
    check(r == 1 && !FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr), "select: empty pipe not readable, write end writable",
          "r %d", r);
    pid = fork();
    if (pid == 0) {
        sleep_ms(30);
        write(p[1], "z", 1);
        _exit(0);
    }
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    check(r == 1 && FD_ISSET(p[0], &rd), "select blocks until another process writes", "r %d (%s)", r,
          r < 0 ? errname(errno) : "");
    read(p[0], &c, 1);
    wait_for(pid, &st);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    check(r == 0, "select times out on an empty pipe", "r %d", r);

    /* Hang-up and error. */
    close(p[1]);
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    r = poll(fds, 1, 0);
    check(r == 1 && (fds[0].revents & POLLHUP), "poll: POLLHUP on the read end once the writers are gone",
          "r %d, revents %#x", r, fds[0].revents);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    check(r == 1 && FD_ISSET(p[0], &rd), "select: the read end is readable at EOF", "r %d", r);
    close(p[0]);
    pipe(p);
    close(p[0]);
    struct pollfd w = {.fd = p[1], .events = POLLOUT};
    r = poll(&w, 1, 0);
    check(r == 1 && (w.revents & POLLERR), "poll: POLLERR on the write end once the readers are gone",
          "r %d, revents %#x", r, w.revents);
    close(p[1]);
}

/* F_SETPIPE_SZ rounds up to a page and a power of two, the pipe then holds
 * exactly that much; the bytes waiting must fit; above pipe-max-size (1 MiB)
 * only with privilege; EBADF on a non-pipe. */
static void test_pipe_size(void)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK) != 0) {
        not_ok("pipe2 for F_SETPIPE_SZ", "%s", errname(errno));
        return;
    }
    check(fcntl(p[0], F_GETPIPE_SZ) == 65536 && fcntl(p[1], F_GETPIPE_SZ) == 65536, "F_GETPIPE_SZ: 64 KiB on both ends",
          "%d %d", fcntl(p[0], F_GETPIPE_SZ), fcntl(p[1], F_GETPIPE_SZ));
    int r = fcntl(p[1], F_SETPIPE_SZ, 0x40000);
    check(r == 0x40000 && fcntl(p[0], F_GETPIPE_SZ) == 0x40000, "F_SETPIPE_SZ 256 KiB (as lighttpd)", "%d, %s", r,
          errname(errno));
    r = fcntl(p[0], F_SETPIPE_SZ, 4097);
    check(r == 8192, "F_SETPIPE_SZ rounds up to a power of two", "%d", r);
    r = fcntl(p[0], F_SETPIPE_SZ, 0);
    check(r == 4096, "F_SETPIPE_SZ below a page gives a page", "%d", r);
    static char chunk[1024];
    memset(chunk, 's', sizeof chunk);
    long total = 0;
    ssize_t w;
    while ((w = write(p[1], chunk, sizeof chunk)) > 0)
        total += w;
    check(total == 4096 && errno == EAGAIN, "a one-page pipe holds 4096 bytes", "%ld, %s", total, errname(errno));
    r = fcntl(p[1], F_SETPIPE_SZ, 16384);
    check(r == 16384, "grow a full pipe", "%d", r);
    check(write(p[1], chunk, sizeof chunk) == sizeof chunk, "a grown pipe takes more", "%s", errname(errno));
    expect_errno("shrinking below the bytes waiting: EBUSY", fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
    char buf[8192];
    ssize_t n = read(p[0], buf, sizeof buf);
    check(n == 5120 && buf[0] == 's' && buf[5119] == 's', "the bytes survive the resizes", "%zd", n);
    expect_errno("F_SETPIPE_SZ above 2 GiB: EINVAL", fcntl(p[1], F_SETPIPE_SZ, 0x80000001u), EINVAL);
    pid_t child = fork();
    if (child == 0) {
        /* Not root: at most /proc/sys/fs/pipe-max-size. */
        if (setuid(1000) != 0)
            _exit(10);
        if (fcntl(p[1], F_SETPIPE_SZ, 2 << 20) != -1 || errno != EPERM)
            _exit(11);
        _exit(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) == 1 << 20 ? 0 : 12);
    }
    int st = 0;
    waitpid(child, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged: EPERM above 1 MiB, 1 MiB allowed", "%s",
          describe_status(st));
    int fd = open("/dev/null", O_RDONLY);
    expect_errno("F_GETPIPE_SZ on a non-pipe: EBADF", fcntl(fd, F_GETPIPE_SZ), EBADF);
    expect_errno("F_SETPIPE_SZ on a non-pipe: EBADF", fcntl(fd, F_SETPIPE_SZ, 4096), EBADF);
    close(fd);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);
    test_pipe_basics();
    test_dup();
    test_eof();
    test_sigpipe();
    test_atomicity();
    test_poll_select();
    test_pipe_size();
    return tap_done();
}
