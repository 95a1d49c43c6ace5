/* test-unix-sockets: AF_UNIX sockets on paths and abstract names.
 *
 * socket() types and flags; bind on a path (an S_IFSOCK file, EADDRINUSE,
 * ENXIO for open, unlink removes the name), on an abstract name (exactly
 * the given length, not in the file system) and autobind; getsockname and
 * getpeername with Linux's lengths; connect errors (ENOENT, ECONNREFUSED,
 * EPROTOTYPE, EISCONN); listen/accept/accept4, the backlog (backlog + 1
 * pending, EAGAIN when non-blocking, a blocked connect going on after an
 * accept); SO_PEERCRED and SO_ACCEPTCONN; poll and epoll on listeners and
 * connections; shutdown and EOF; datagrams with sendto/recvfrom addresses,
 * connected datagram sockets (EPERM for others), truncation and MSG_PEEK;
 * SOCK_SEQPACKET boundaries; blocking accept/recv woken by another process
 * and interrupted by a signal (EINTR); signal-driven I/O (FIOASYNC,
 * O_ASYNC, F_SETOWN(_EX), F_SETSIG). alarm(60) turns a hang into a
 * failure. Everything is checked against Linux on the host first. */
#define _GNU_SOURCE
#include "child.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

static char dir[64];

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

/* An abstract name: NUL then the text (no trailing NUL). */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "isola-test-%d-%s", (int)getpid(), name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int bound(int type, struct sockaddr_un *a, socklen_t len)
{
    int s = socket(AF_UNIX, type, 0);
    if (s < 0 || bind(s, (struct sockaddr *)a, len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

static int listening(int type, struct sockaddr_un *a, socklen_t len, int backlog)
{
    int s = bound(type, a, len);
    if (s >= 0 && listen(s, backlog) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int connected(int type, struct sockaddr_un *a, socklen_t len)
{
    int s = socket(AF_UNIX, type, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)a, len) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static short revents(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void interrupt_in(long ms)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarms = 0;
    struct itimerval t = {.it_value = {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

static void rearm_guard(void)
{
    signal(SIGALRM, SIG_DFL);
    alarm(60);
}

/* ---- creation and names -------------------------------------------- */

static void names(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    check(s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && (fcntl(s, F_GETFD) & FD_CLOEXEC),
          "socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC)", "%s", errname(errno));
    close(s);
    expect_errno("socket(AF_UNIX, SOCK_STREAM, 6): EPROTONOSUPPORT", socket(AF_UNIX, SOCK_STREAM, 6), EPROTONOSUPPORT);
    s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    int type = 0;
    socklen_t tl = sizeof type;
    check(s >= 0 && getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_SEQPACKET,
          "socket(AF_UNIX, SOCK_SEQPACKET) and SO_TYPE", "type %d %s", type, errname(errno));
    close(s);

    struct sockaddr_un a, got;
    socklen_t len = path_addr(&a, "named");
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un before;
    socklen_t bl = sizeof before;
    check(getsockname(s, (struct sockaddr *)&before, &bl) == 0 && bl == sizeof(sa_family_t) && before.sun_family == AF_UNIX,
          "getsockname of an unbound socket: the family alone (length 2)", "len %u", bl);
    mode_t old = umask(022);
    check(bind(s, (struct sockaddr *)&a, len) == 0, "bind on a path", "%s", errname(errno));
    umask(old);
    struct stat st;
    check(stat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0755,
          "the path is a socket file, mode 0777 less the umask", "mode %o", st.st_mode);
    socklen_t gl = sizeof got;
    check(getsockname(s, (struct sockaddr *)&got, &gl) == 0 && gl == len && strcmp(got.sun_path, a.sun_path) == 0,
          "getsockname: the path, length 2 + strlen + 1", "len %u (want %u) '%s'", gl, len, got.sun_path);
    DIR *d = opendir(dir);
    struct dirent *de;
    int dtype = -1;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, "named") == 0)
            dtype = de->d_type;
    if (d)
        closedir(d);
    check(dtype == DT_SOCK, "readdir lists the socket file as DT_SOCK (ls)", "d_type %d", dtype);
    check(lstat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_size == 0, "lstat: a socket of size 0", "mode %o",
          st.st_mode);
    struct sockaddr_un b;
    socklen_t blen = path_addr(&b, "other");
    expect_errno("bind a bound socket again: EINVAL", bind(s, (struct sockaddr *)&b, blen), EINVAL);
    int t = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_errno("bind on a path in use: EADDRINUSE", bind(t, (struct sockaddr *)&a, len), EADDRINUSE);
    struct sockaddr_un f;
    socklen_t flen = path_addr(&f, "file");
    close(open(f.sun_path, O_CREAT | O_WRONLY, 0600));
    expect_errno("bind on an existing regular file: EADDRINUSE", bind(t, (struct sockaddr *)&f, flen), EADDRINUSE);
    struct sockaddr_un m;
    socklen_t mlen = path_addr(&m, "missing/dir");
    expect_errno("bind in a missing directory: ENOENT", bind(t, (struct sockaddr *)&m, mlen), ENOENT);
    a.sun_family = AF_INET;
    expect_errno("bind with another family: EINVAL", bind(t, (struct sockaddr *)&a, len), EINVAL);
    a.sun_family = AF_UNIX;
    expect_errno("open() of a socket file: ENXIO", open(a.sun_path, O_RDWR), ENXIO);
    expect_errno("listen on an unbound stream socket: EINVAL", listen(t, 5), EINVAL);
    expect_errno("read on an unconnected stream socket: EINVAL", read(t, &type, 1), EINVAL);
    expect_errno("write on an unconnected stream socket: ENOTCONN", write(t, "x", 1), ENOTCONN);

    /* Connect errors. */
    expect_errno("connect to a missing path: ENOENT", connected(SOCK_STREAM, &m, mlen), ENOENT);
    expect_errno("connect to a regular file: ECONNREFUSED", connected(SOCK_STREAM, &f, flen), ECONNREFUSED);
    expect_errno("connect to a bound socket that does not listen: ECONNREFUSED", connected(SOCK_STREAM, &a, len),
                 ECONNREFUSED);
    expect_errno("connect to a stream socket as SOCK_DGRAM: EPROTOTYPE", connected(SOCK_DGRAM, &a, len), EPROTOTYPE);
    struct sockaddr_un n;
    socklen_t nlen = abstract_addr(&n, "nobody");
    expect_errno("connect to an unbound abstract name: ECONNREFUSED", connected(SOCK_STREAM, &n, nlen), ECONNREFUSED);
    close(t);

    /* Connecting needs write permission on the socket file. */
    if (getuid() != 0) {
        skip("connect without write permission on the socket file: EACCES", "needs root to drop to another user");
    } else {
        listen(s, 5);
        chmod(dir, 0755);
        chmod(a.sun_path, 0755);
        pid_t pid = fork();
        if (pid == 0) {
            gid_t g[1] = {33};
            if (setgroups(1, g) != 0 || setresgid(33, 33, 33) != 0 || setresuid(33, 33, 33) != 0)
                _exit(3);
            int c = connected(SOCK_STREAM, &a, len);
            if (c >= 0 || errno != EACCES)
                _exit(1);
            _exit(0);
        }
        int st;
        wait_for(pid, &st);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "connect without write permission on the socket file: EACCES", "%s",
              describe_status(st));
        chmod(a.sun_path, 0777);
        pid = fork();
        if (pid == 0) {
            if (setresgid(33, 33, 33) != 0 || setresuid(33, 33, 33) != 0)
                _exit(3);
            int c = connected(SOCK_STREAM, &a, len);
            _exit(c >= 0 ? 0 : 1);
        }
        wait_for(pid, &st);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "connect with write permission (mode 0777) as another user", "%s",
              describe_status(st));
        chmod(dir, 0700);
        int acc = accept4(s, NULL, NULL, SOCK_NONBLOCK);
        if (acc >= 0)
            close(acc);
    }

    /* unlink removes the name; a closed socket's file stays, refusing. */
    check(unlink(a.sun_path) == 0 && stat(a.sun_path, &st) == -1 && errno == ENOENT, "unlink removes the socket's name",
          "%s", errname(errno));
    close(s);
    s = listening(SOCK_STREAM, &a, len, 5);
    check(s >= 0, "bind the unlinked path again", "%s", errname(errno));
    close(s);
    check(stat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode), "the file outlives the socket", "%s", errname(errno));
    expect_errno("connect to a closed socket's file: ECONNREFUSED", connected(SOCK_STREAM, &a, len), ECONNREFUSED);
    unlink(a.sun_path);
    unlink(f.sun_path);

    /* Abstract names: the exact length, no file, freed at close. */
    len = abstract_addr(&a, "abs");
    s = bound(SOCK_STREAM, &a, len);
    gl = sizeof got;
    memset(&got, 0x55, sizeof got);
    check(s >= 0 && getsockname(s, (struct sockaddr *)&got, &gl) == 0 && gl == len && got.sun_path[0] == 0 &&
              memcmp(got.sun_path, a.sun_path, len - offsetof(struct sockaddr_un, sun_path)) == 0,
          "abstract name: getsockname gives it back with the bound length", "len %u want %u", gl, len);
    expect_errno("abstract name in use: EADDRINUSE", bound(SOCK_STREAM, &a, len), EADDRINUSE);
    t = bound(SOCK_STREAM, &a, len - 1);
    check(t >= 0, "a shorter abstract name is another name", "%s", errname(errno));
    close(t);
    close(s);
    s = bound(SOCK_STREAM, &a, len);
    check(s >= 0, "closing frees an abstract name", "%s", errname(errno));
    close(s);

    /* Autobind: an empty address gets NUL and five hex digits. */
    s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un e = {.sun_family = AF_UNIX};
    int r = bind(s, (struct sockaddr *)&e, sizeof(sa_family_t));
    gl = sizeof got;
    int hex = 1;
    getsockname(s, (struct sockaddr *)&got, &gl);
    for (int i = 1; i <= 5; i++)
        hex &= (got.sun_path[i] >= '0' && got.sun_path[i] <= '9') || (got.sun_path[i] >= 'a' && got.sun_path[i] <= 'f');
    check(r == 0 && gl == offsetof(struct sockaddr_un, sun_path) + 6 && got.sun_path[0] == 0 && hex,
          "autobind: an abstract name of five hex digits (length 8)", "r %d len %u", r, gl);
    close(s);
}

/* ---- streams --------------------------------------------------------- */

static int peer_pid(int fd)
{
    struct ucred c = {0};
    socklen_t l = sizeof c;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &l) == 0 && l == sizeof c ? c.pid : -1;
}

static void streams(void)
{
    struct sockaddr_un a, got;
    socklen_t len = path_addr(&a, "stream");
    int l = listening(SOCK_STREAM, &a, len, 5);
    check(l >= 0, "bind and listen on a path", "%s", errname(errno));
    int v = 0;
    socklen_t vl = sizeof v;
    check(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 && v == 1, "SO_ACCEPTCONN on a listener", "%d", v);
    v = -1;
    check(getsockopt(l, SOL_SOCKET, SO_PROTOCOL, &v, &vl) == 0 && v == 0, "SO_PROTOCOL on a listener is 0 (Python's socket(fileno=) asks)",
          "%d %s", v, errname(errno));
    int pair[2], pv = -1;
    socklen_t pl = sizeof pv;
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0 && getsockopt(pair[0], SOL_SOCKET, SO_PROTOCOL, &pv, &pl) == 0 && pv == 0,
          "SO_PROTOCOL on a connected pair is 0", "%d %s", pv, errname(errno));
    close(pair[0]);
    close(pair[1]);
    check((revents(l, POLLIN | POLLOUT) & (POLLIN | POLLOUT)) == 0, "a listener with no connection polls as nothing",
          "revents %#x", revents(l, POLLIN | POLLOUT));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    fcntl(l, F_SETFL, O_NONBLOCK);
    expect_errno("non-blocking accept with nobody waiting: EAGAIN", accept(l, NULL, NULL), EAGAIN);
    fcntl(l, F_SETFL, 0);

    /* A child connects; each side's SO_PEERCRED names the other process. */
    int sync[2];
    if (pipe(sync) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        int c = connected(SOCK_STREAM, &a, len);
        struct sockaddr_un p;
        socklen_t pl = sizeof p;
        int good = c >= 0 && getpeername(c, (struct sockaddr *)&p, &pl) == 0 && pl == len &&
                   strcmp(p.sun_path, a.sun_path) == 0 && peer_pid(c) == getppid();
        char buf[8];
        good = good && write(c, "ping", 4) == 4 && read(c, buf, sizeof buf) == 4 && memcmp(buf, "pong", 4) == 0;
        _exit(good ? 0 : 1);
    }
    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, 10000);
    check(n == 1 && out.data.u32 == 7 && (out.events & EPOLLIN), "epoll: a waiting connection makes the listener readable",
          "n %d events %#x", n, n == 1 ? out.events : 0);
    check(revents(l, POLLIN) & POLLIN, "poll: POLLIN on the listener", "revents %#x", revents(l, POLLIN));
    memset(&got, 0x55, sizeof got);
    socklen_t gl = sizeof got;
    int s = accept4(l, (struct sockaddr *)&got, &gl, SOCK_CLOEXEC);
    check(s >= 0 && gl == sizeof(sa_family_t) && got.sun_family == AF_UNIX && (fcntl(s, F_GETFD) & FD_CLOEXEC),
          "accept4: an unnamed client's address is the family alone", "fd %d len %u", s, gl);
    gl = sizeof got;
    check(getsockname(s, (struct sockaddr *)&got, &gl) == 0 && gl == len && strcmp(got.sun_path, a.sun_path) == 0,
          "getsockname of an accepted socket: the listener's path", "len %u", gl);
    gl = sizeof got;
    check(getpeername(s, (struct sockaddr *)&got, &gl) == 0 && gl == sizeof(sa_family_t),
          "getpeername of an accepted socket from an unnamed client: length 2", "len %u", gl);
    check(peer_pid(s) == pid, "SO_PEERCRED of an accepted socket: the client's pid", "pid %d want %d", peer_pid(s), pid);
    char buf[16];
    check(read(s, buf, sizeof buf) == 4 && memcmp(buf, "ping", 4) == 0 && write(s, "pong", 4) == 4,
          "stream data both ways", "%s", errname(errno));
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the client saw the listener's path, pid and the reply", "%s",
          describe_status(st));
    check(read(s, buf, sizeof buf) == 0, "EOF after the client's close", "%s", errname(errno));
    close(s);

    /* Both ends in one process: shutdown, EOF, EPIPE, readiness. */
    int c = connected(SOCK_STREAM, &a, len);
    s = accept(l, NULL, NULL);
    expect_errno("connect on a connected socket: EISCONN", connect(c, (struct sockaddr *)&a, len), EISCONN);
    check(revents(c, POLLOUT) & POLLOUT, "a connected socket polls writable", "revents %#x", revents(c, POLLOUT));
    check(!(revents(s, POLLIN) & POLLIN), "no data: not readable", "revents %#x", revents(s, POLLIN));
    struct iovec iov[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cd", .iov_len = 2}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    check(sendmsg(c, &mh, 0) == 4 && (revents(s, POLLIN) & POLLIN) && recv(s, buf, sizeof buf, 0) == 4 &&
              memcmp(buf, "abcd", 4) == 0,
          "sendmsg over a path socket, POLLIN for the reader", "%s", errname(errno));
    write(s, "srv", 3);
    memset(&got, 0, sizeof got);
    gl = sizeof got;
    ssize_t k = recvfrom(c, buf, 1, MSG_PEEK, (struct sockaddr *)&got, &gl);
    check(k == 1 && buf[0] == 's' && gl == len && strcmp(got.sun_path, a.sun_path) == 0,
          "MSG_PEEK on a stream, recvfrom names the sending (accepted) socket: the listener's path", "k %zd len %u", k, gl);
    check(recv(c, buf, sizeof buf, 0) == 3 && memcmp(buf, "srv", 3) == 0, "the peeked bytes are read again", "%s",
          errname(errno));
    write(c, "cli", 3);
    gl = sizeof got;
    k = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
    check(k == 3 && gl == 0, "recvfrom from an unnamed stream peer: address length 0", "k %zd len %u", k, gl);
    shutdown(c, SHUT_WR);
    check(read(s, buf, sizeof buf) == 0, "shutdown(SHUT_WR): the peer reads EOF", "%s", errname(errno));
    check(write(s, "x", 1) == 1 && read(c, buf, 1) == 1, "the other direction still works", "%s", errname(errno));
    close(s);
    expect_errno("write to a closed peer: EPIPE", write(c, "x", 1), EPIPE);
    close(c);

    /* unlink does not hurt the listener's connections, but new ones miss. */
    c = connected(SOCK_STREAM, &a, len);
    s = accept(l, NULL, NULL);
    unlink(a.sun_path);
    expect_errno("connect after unlink: ENOENT", connected(SOCK_STREAM, &a, len), ENOENT);
    check(write(c, "y", 1) == 1 && read(s, buf, 1) == 1 && buf[0] == 'y', "an existing connection survives unlink", "%s",
          errname(errno));
    close(c);
    close(s);

    /* A blocked accept is woken by a connect, and interrupted by a signal. */
    close(l);
    len = abstract_addr(&a, "accept");
    l = listening(SOCK_STREAM, &a, len, 5);
    pid = fork();
    if (pid == 0) {
        sleep_ms(200);
        int k = connected(SOCK_STREAM, &a, len);
        _exit(k >= 0 && write(k, "z", 1) == 1 ? 0 : 1);
    }
    int64_t t0 = now_ns();
    s = accept(l, NULL, NULL);
    int64_t waited = now_ns() - t0;
    check(s >= 0 && waited >= 150000000 && read(s, buf, 1) == 1 && buf[0] == 'z',
          "a blocked accept is woken by another process's connect", "fd %d after %lld ms", s, (long long)(waited / 1000000));
    wait_for(pid, &st);
    close(s);
    interrupt_in(100);
    int r = accept(l, NULL, NULL);
    int e = errno;
    check(r == -1 && e == EINTR && alarms == 1, "a blocked accept interrupted by a signal: EINTR", "r %d %s", r, errname(e));
    rearm_guard();
    close(l);
    close(ep);

    /* The backlog: backlog + 1 pending; then EAGAIN, or a wait for accept. */
    len = abstract_addr(&a, "backlog");
    l = listening(SOCK_STREAM, &a, len, 1);
    int held[3];
    int made = 0;
    for (int i = 0; i < 3; i++) {
        held[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(held[i], (struct sockaddr *)&a, len) == 0)
            made++;
        else
            e = errno;
    }
    check(made == 2 && e == EAGAIN, "listen(fd, 1): two connections wait, a non-blocking third gets EAGAIN",
          "%d connected, last %s", made, errname(e));
    pid = fork();
    if (pid == 0) {
        int64_t t = now_ns();
        int k = connected(SOCK_STREAM, &a, len);
        _exit(k >= 0 && now_ns() - t >= 150000000 ? 0 : 1);
    }
    sleep_ms(300);
    int acc = accept(l, NULL, NULL);
    wait_for(pid, &st);
    check(acc >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a blocking connect to a full backlog waits for accept", "%s",
          describe_status(st));
    for (int i = 0; i < 3; i++)
        close(held[i]);
    close(acc);
    close(l);

    /* socketpair: SO_PEERCRED is the creator's. */
    int sp[2];
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0 && peer_pid(sp[0]) == getpid(),
          "socketpair: SO_PEERCRED is the creator's pid", "%d", peer_pid(sp[0]));
    close(sp[0]);
    close(sp[1]);
}

/* ---- datagrams ------------------------------------------------------- */

static void datagrams(void)
{
    struct sockaddr_un a, b, got;
    socklen_t alen = path_addr(&a, "dgram-a"), blen = path_addr(&b, "dgram-b");
    int x = bound(SOCK_DGRAM, &a, alen), y = bound(SOCK_DGRAM, &b, blen);
    check(x >= 0 && y >= 0, "two bound datagram sockets", "%s", errname(errno));
    char buf[64];
    check(!(revents(y, POLLIN) & POLLIN) && (revents(y, POLLOUT) & POLLOUT), "an empty datagram socket: writable only",
          "revents %#x", revents(y, POLLIN | POLLOUT));
    check(sendto(x, "one", 3, 0, (struct sockaddr *)&b, blen) == 3 && sendto(x, "second", 6, 0, (struct sockaddr *)&b, blen) == 6,
          "sendto a path", "%s", errname(errno));
    check(revents(y, POLLIN) & POLLIN, "a queued datagram: POLLIN", "revents %#x", revents(y, POLLIN));
    socklen_t gl = sizeof got;
    ssize_t n = recvfrom(y, buf, sizeof buf, MSG_PEEK, (struct sockaddr *)&got, &gl);
    check(n == 3 && gl == alen && strcmp(got.sun_path, a.sun_path) == 0, "MSG_PEEK: the first datagram and its sender",
          "n %zd len %u", n, gl);
    gl = sizeof got;
    n = recvfrom(y, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
    check(n == 3 && memcmp(buf, "one", 3) == 0 && gl == alen, "recvfrom: one whole datagram, the sender's path", "n %zd",
          n);
    n = recv(y, buf, 2, 0);
    check(n == 2 && memcmp(buf, "se", 2) == 0, "a short buffer truncates the datagram", "n %zd", n);
    expect_errno("the rest of a truncated datagram is gone: EAGAIN", recv(y, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);

    sendto(x, "msg", 3, 0, (struct sockaddr *)&b, blen);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_name = &got, .msg_namelen = sizeof got, .msg_iov = &iov, .msg_iovlen = 1};
    memset(&got, 0, sizeof got);
    n = recvmsg(y, &mh, 0);
    check(n == 3 && mh.msg_namelen == alen && strcmp(got.sun_path, a.sun_path) == 0, "recvmsg: the datagram and its sender's path",
          "n %zd namelen %u", n, mh.msg_namelen);
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(u, "anon", 4, 0, (struct sockaddr *)&b, blen);
    gl = sizeof got;
    n = recvfrom(y, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl);
    check(n == 4 && gl == 0, "a datagram from an unbound sender: address length 0", "n %zd len %u", n, gl);
    expect_errno("send on an unconnected datagram socket: ENOTCONN", send(u, "x", 1, 0), ENOTCONN);
    struct sockaddr_un m;
    socklen_t mlen = path_addr(&m, "dgram-missing");
    expect_errno("sendto a missing path: ENOENT", sendto(u, "x", 1, 0, (struct sockaddr *)&m, mlen), ENOENT);
    socklen_t nlen = abstract_addr(&m, "dgram-nobody");
    expect_errno("sendto an unbound abstract name: ECONNREFUSED", sendto(u, "x", 1, 0, (struct sockaddr *)&m, nlen),
                 ECONNREFUSED);
    expect_errno("getpeername of an unconnected datagram socket: ENOTCONN",
                 getpeername(u, (struct sockaddr *)&got, &gl), ENOTCONN);

    /* Connected datagram sockets. */
    check(connect(x, (struct sockaddr *)&b, blen) == 0 && send(x, "hi", 2, 0) == 2 && recv(y, buf, sizeof buf, 0) == 2,
          "connect a datagram socket, then send without an address", "%s", errname(errno));
    gl = sizeof got;
    check(getpeername(x, (struct sockaddr *)&got, &gl) == 0 && gl == blen && strcmp(got.sun_path, b.sun_path) == 0,
          "getpeername of a connected datagram socket", "len %u", gl);
    check(connect(y, (struct sockaddr *)&a, alen) == 0, "connect the other one back", "%s", errname(errno));
    expect_errno("sendto a socket connected to someone else: EPERM", sendto(u, "x", 1, 0, (struct sockaddr *)&b, blen), EPERM);
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    check(connect(y, &unspec, sizeof unspec) == 0 && sendto(u, "x", 1, 0, (struct sockaddr *)&b, blen) == 1 &&
              recv(y, buf, sizeof buf, 0) == 1,
          "connect to AF_UNSPEC dissolves the association", "%s", errname(errno));

    /* A full queue: EAGAIN when non-blocking. */
    int sent = 0, e = 0;
    for (int i = 0; i < 2000; i++) {
        if (send(x, "q", 1, MSG_DONTWAIT) == 1) {
            sent++;
        } else {
            e = errno;
            break;
        }
    }
    check(sent > 0 && e == EAGAIN, "a full receive queue: EAGAIN for a non-blocking sender", "%d sent, %s", sent, errname(e));
    while (recv(y, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }

    /* A blocked recv is woken by another process's datagram, and interrupted by a signal. */
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(200);
        _exit(sendto(u, "late", 4, 0, (struct sockaddr *)&b, blen) == 4 ? 0 : 1);
    }
    int64_t t0 = now_ns();
    n = recv(y, buf, sizeof buf, 0);
    int64_t waited = now_ns() - t0;
    int st;
    wait_for(pid, &st);
    check(n == 4 && waited >= 150000000, "a blocked recv is woken by another process's datagram", "n %zd after %lld ms", n,
          (long long)(waited / 1000000));
    interrupt_in(100);
    n = recv(y, buf, sizeof buf, 0);
    e = errno;
    check(n == -1 && e == EINTR && alarms == 1, "a blocked recv interrupted by a signal: EINTR", "n %zd %s", n, errname(e));
    rearm_guard();
    struct sockaddr_un self;
    socklen_t slen = abstract_addr(&self, "self");
    int me = bound(SOCK_DGRAM, &self, slen);
    check(me >= 0 && connect(me, (struct sockaddr *)&self, slen) == 0 && (revents(me, POLLOUT) & POLLOUT) &&
              send(me, "loop", 4, 0) == 4 && (revents(me, POLLIN) & POLLIN) && recv(me, buf, sizeof buf, 0) == 4,
          "a datagram socket connected to itself", "%s", errname(errno));
    close(me);
    shutdown(y, SHUT_RD);
    check(recv(y, buf, sizeof buf, 0) == 0, "shutdown(SHUT_RD): recv gives 0", "%s", errname(errno));
    close(x);
    close(y);
    close(u);
    unlink(a.sun_path);
    unlink(b.sun_path);
}

/* ---- seqpacket ------------------------------------------------------- */

static void seqpackets(void)
{
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, "seq");
    int l = listening(SOCK_SEQPACKET, &a, len, 5);
    int c = connected(SOCK_SEQPACKET, &a, len);
    int s = accept(l, NULL, NULL);
    check(l >= 0 && c >= 0 && s >= 0, "SOCK_SEQPACKET listen, connect, accept", "%s", errname(errno));
    /* Abstract names are looked up with the type: another type finds nothing. */
    expect_errno("connect to an abstract seqpacket name as SOCK_STREAM: ECONNREFUSED", connected(SOCK_STREAM, &a, len),
                 ECONNREFUSED);
    char buf[16];
    check(send(c, "abc", 3, 0) == 3 && send(c, "defg", 4, 0) == 4, "two messages", "%s", errname(errno));
    ssize_t n1 = recv(s, buf, sizeof buf, 0), n2 = recv(s, buf, sizeof buf, 0);
    check(n1 == 3 && n2 == 4 && memcmp(buf, "defg", 4) == 0, "SOCK_SEQPACKET keeps message boundaries", "%zd %zd", n1, n2);
    send(c, "hello", 5, 0);
    send(c, "x", 1, 0);
    ssize_t pk = recv(s, buf, sizeof buf, MSG_PEEK);
    check(pk == 5 && memcmp(buf, "hello", 5) == 0, "MSG_PEEK on seqpacket: one whole message", "%zd", pk);
    ssize_t t = recv(s, buf, 2, 0), next = recv(s, buf, sizeof buf, 0);
    check(t == 2 && next == 1 && buf[0] == 'x', "a short read drops the rest of the message", "%zd %zd", t, next);
    int type = 0;
    socklen_t tl = sizeof type;
    check(getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_SEQPACKET, "SO_TYPE of an accepted seqpacket socket",
          "%d", type);
    close(c);
    check(recv(s, buf, sizeof buf, 0) == 0, "EOF after the peer's close", "%s", errname(errno));
    close(s);
    int u = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    expect_errno("send on an unconnected seqpacket socket: ENOTCONN", send(u, "x", 1, 0), ENOTCONN);
    close(u);
    close(l);
    int sp[2];
    check(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0 && send(sp[0], "ab", 2, 0) == 2 && send(sp[0], "c", 1, 0) == 1 &&
              recv(sp[1], buf, sizeof buf, 0) == 2,
          "socketpair(SOCK_SEQPACKET) keeps boundaries", "%s", errname(errno));
    close(sp[0]);
    close(sp[1]);
}

/* ---- signal-driven I/O: O_ASYNC, F_SETOWN, F_SETSIG -------------------- */

static volatile sig_atomic_t sigio_count, sigusr_count, sigusr_code, sigusr_fd;

static void on_sigio(int sig)
{
    (void)sig;
    sigio_count++;
}

static void on_sigusr(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    sigusr_count++;
    sigusr_code = info->si_code;
    sigusr_fd = info->si_fd;
}

/* Waits up to 5 s for *counter to pass `above`. */
static int wait_count(volatile sig_atomic_t *counter, int above)
{
    for (int i = 0; i < 500 && *counter <= above; i++)
        sleep_ms(10);
    return *counter > above;
}

static void sigio(void)
{
    signal(SIGIO, on_sigio);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        not_ok("socketpair for SIGIO", "%s", errname(errno));
        return;
    }
    int on = 1;
    /* nginx's master: FIONBIO, FIOASYNC, F_SETOWN on its channel end. */
    check(ioctl(sp[0], FIONBIO, &on) == 0 && ioctl(sp[0], FIOASYNC, &on) == 0 &&
              fcntl(sp[0], F_SETOWN, getpid()) == 0,
          "FIOASYNC and F_SETOWN on a socketpair end", "%s", errname(errno));
    check(fcntl(sp[0], F_GETOWN) == getpid() && (fcntl(sp[0], F_GETFL) & O_ASYNC),
          "F_GETOWN is the owner, F_GETFL shows O_ASYNC", "owner %d, flags %#x", fcntl(sp[0], F_GETOWN),
          fcntl(sp[0], F_GETFL));
    int before = sigio_count;
    sleep_ms(50);
    check(before == sigio_count, "no SIGIO while nothing happens", "%d SIGIOs", (int)(sigio_count - before));
    pid_t child = fork();
    if (child == 0) {
        write(sp[1], "m", 1);
        _exit(0);
    }
    int status;
    wait_for(child, &status);
    check(wait_count(&sigio_count, before), "another process's write sends SIGIO to the owner", "%d SIGIOs",
          (int)sigio_count);
    char buf[8];
    read(sp[0], buf, sizeof buf);
    before = sigio_count;
    write(sp[1], "n", 1);
    check(wait_count(&sigio_count, before), "a second message after draining: SIGIO again", "%d SIGIOs",
          (int)(sigio_count - before));
    read(sp[0], buf, sizeof buf);

    /* F_SETSIG: the chosen signal with siginfo (POLL_IN, si_fd). */
    struct sigaction sa = {.sa_sigaction = on_sigusr, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    check(fcntl(sp[0], F_SETSIG, SIGUSR1) == 0 && fcntl(sp[0], F_GETSIG) == SIGUSR1, "F_SETSIG SIGUSR1",
          "%s, F_GETSIG %d", errname(errno), fcntl(sp[0], F_GETSIG));
    int usr = sigusr_count;
    write(sp[1], "o", 1);
    check(wait_count(&sigusr_count, usr) && sigusr_code == POLL_IN && sigusr_fd == sp[0],
          "data sends SIGUSR1 with si_code POLL_IN and si_fd", "count %d, code %d, fd %d (want %d)",
          (int)(sigusr_count - usr), (int)sigusr_code, (int)sigusr_fd, sp[0]);
    read(sp[0], buf, sizeof buf);
    fcntl(sp[0], F_SETSIG, 0);

    /* F_SETFL without O_ASYNC disarms it. */
    fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) & ~O_ASYNC);
    before = sigio_count;
    write(sp[1], "p", 1);
    sleep_ms(100);
    check(sigio_count == before && !(fcntl(sp[0], F_GETFL) & O_ASYNC), "O_ASYNC cleared: no SIGIO", "%d SIGIOs",
          (int)(sigio_count - before));
    read(sp[0], buf, sizeof buf);

    struct f_owner_ex ex = {.type = F_OWNER_PGRP, .pid = getpgrp()}, got = {0};
    check(fcntl(sp[1], F_SETOWN_EX, &ex) == 0 && fcntl(sp[1], F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_PGRP &&
              got.pid == getpgrp() && fcntl(sp[1], F_GETOWN) == -getpgrp(),
          "F_SETOWN_EX to the process group; F_GETOWN is its negative id", "type %d pid %d, getown %d", got.type,
          got.pid, fcntl(sp[1], F_GETOWN));
    expect_errno("F_SETOWN to a pid nobody has: ESRCH", fcntl(sp[1], F_SETOWN, 4000000), ESRCH);
    expect_errno("F_SETSIG past the last signal: EINVAL", fcntl(sp[1], F_SETSIG, 200), EINVAL);

    /* A pipe armed with F_SETFL O_ASYNC. */
    int p[2];
    pipe(p);
    fcntl(p[0], F_SETOWN, getpid());
    fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
    before = sigio_count;
    write(p[1], "q", 1);
    check(wait_count(&sigio_count, before), "a pipe with O_ASYNC: SIGIO on data", "%d SIGIOs",
          (int)(sigio_count - before));
    close(p[0]);
    close(p[1]);
    close(sp[0]);
    close(sp[1]);
    signal(SIGIO, SIG_DFL);
}

int main(void)
{
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/test-unix.%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) {
        not_ok("make the test directory", "%s", errname(errno));
        return tap_done();
    }
    names();
    streams();
    datagrams();
    seqpackets();
    sigio();
    rmdir(dir);
    return tap_done();
}
