/* test-sockets: TCP and UDP over loopback (127.0.0.1), AF_UNIX socketpair.
 *
 * socket() flags and errors, bind/listen/getsockname (ephemeral ports,
 * EADDRINUSE), connect (ECONNREFUSED, EISCONN, non-blocking), accept and
 * accept4, getpeername, every send/receive call (write/read, send/recv,
 * sendto/recvfrom, sendmsg/recvmsg, readv/writev, MSG_PEEK, MSG_DONTWAIT),
 * 1 MiB between a child and its parent, shutdown, EPIPE and SIGPIPE,
 * socket options, poll/select/epoll readiness (listener, data, EOF) and
 * wake-ups by another process, sendfile from a file in /tmp, socketpair
 * across fork, UDP datagrams, a listener shared by three forked acceptors,
 * the listen backlog, and AF_INET6 sockets with v4-mapped addresses
 * (dual stack and IPV6_V6ONLY). Results are Linux's exact ones; nothing depends
 * on buffer sizes or timing. alarm(30) turns a hang into a failure. */
#define _GNU_SOURCE
#include "child.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

static char temp_path[64]; /* a file in /tmp for sendfile and epoll */

/* ---- helpers ----------------------------------------------------------- */

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static const char *fmt_addr(const struct sockaddr_in *a)
{
    static char buf[4][40];
    static int next;
    char *b = buf[next++ % 4];
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(b, sizeof buf[0], "family %d %s:%d", a->sin_family, ip, ntohs(a->sin_port));
    return b;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_family == b->sin_family && a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* getsockname/getpeername into *a; 0 only if it returned a full sockaddr_in. */
static int name_of(int fd, struct sockaddr_in *a, int peer)
{
    socklen_t len = sizeof *a;
    memset(a, 0, sizeof *a);
    int r = peer ? getpeername(fd, (struct sockaddr *)a, &len) : getsockname(fd, (struct sockaddr *)a, &len);
    return r == 0 && len == sizeof *a ? 0 : -1;
}

/* A socket bound to 127.0.0.1 on an ephemeral port (listening when
 * backlog >= 0); its address in *addr. -1 on failure. */
static int bound(int type, int backlog, struct sockaddr_in *addr)
{
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = loopback(0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || (backlog >= 0 && listen(s, backlog) != 0) ||
        name_of(s, addr, 0) != 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        errno = e;
        return -1;
    }
    return s;
}

static int listener(int backlog, struct sockaddr_in *addr)
{
    return bound(SOCK_STREAM, backlog, addr);
}

/* A blocking TCP connect to *addr: the socket, or -1 (errno set). */
static int connect_to(const struct sockaddr_in *addr)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    if (connect(s, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* A connected TCP pair over loopback: *c connected, *s accepted. */
static int tcp_pair(int *c, int *s)
{
    struct sockaddr_in a;
    int l = listener(4, &a);
    *c = l < 0 ? -1 : connect_to(&a);
    *s = *c < 0 ? -1 : accept(l, NULL, NULL);
    if (l >= 0)
        close(l);
    if (*s < 0) {
        if (*c >= 0)
            close(*c);
        return -1;
    }
    return 0;
}

static int getint(int fd, int level, int opt)
{
    int v = -12345;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, opt, &v, &len) != 0)
        return -1000 - errno;
    return len == sizeof v ? v : -99999;
}

static int setint(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof v);
}

/* poll one fd; returns revents, or -1 if poll failed or timed out. */
static int poll1(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ms);
    return r == 1 ? p.revents : -1;
}

static int is_nonblock(int fd)
{
    return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static int is_cloexec(int fd)
{
    return fcntl(fd, F_GETFD) == FD_CLOEXEC;
}

/* First thing in every forked child: its own watchdog, not the parent's
 * handler (which would print a summary). */
static void child_start(void)
{
    signal(SIGALRM, SIG_DFL);
    alarm(20);
}

static void on_watchdog(int sig)
{
    (void)sig;
    not_ok("watchdog", "still running after 30 s: a call hung");
    unlink(temp_path);
    tap_done();
    _exit(1);
}

/* Byte i of the test data (bulk transfer, sendfile). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 11));
}

/* ---- socket(), bind, listen, connect ----------------------------------- */

static void test_create(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    check(s >= 0 && !is_nonblock(s) && fcntl(s, F_GETFD) == 0 && (fcntl(s, F_GETFL) & O_ACCMODE) == O_RDWR,
          "socket(AF_INET, SOCK_STREAM): O_RDWR, blocking, no cloexec", "fd %d, fl %#x, fd flags %d (%s)", s,
          fcntl(s, F_GETFL), fcntl(s, F_GETFD), errname(errno));
    int n = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    check(n >= 0 && is_nonblock(n) && is_cloexec(n), "SOCK_NONBLOCK|SOCK_CLOEXEC: O_NONBLOCK, FD_CLOEXEC",
          "fd %d, fl %#x, fd flags %d", n, fcntl(n, F_GETFL), fcntl(n, F_GETFD));
    expect_errno("socket(domain 1000): EAFNOSUPPORT", socket(1000, SOCK_STREAM, 0), EAFNOSUPPORT);
    expect_errno("socket(AF_INET, SOCK_STREAM, IPPROTO_UDP): EPROTONOSUPPORT",
                 socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    int nl = socket(AF_NETLINK, SOCK_RAW, 0);
    int e = errno;
    if (in_isola())
        check(nl == -1 && e != 0, "socket(AF_NETLINK) fails", "returned %d", nl);
    else if (nl >= 0)
        skip("socket(AF_NETLINK) fails", "host Linux has netlink");
    else
        ok("socket(AF_NETLINK) fails");
    if (nl >= 0)
        close(nl);
    int p[2];
    pipe(p);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    expect_errno("getsockname on a pipe: ENOTSOCK", getsockname(p[0], (struct sockaddr *)&a, &len), ENOTSOCK);
    close(p[0]);
    close(p[1]);
    close(s);
    close(n);
}

static void test_bind_listen(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a, any = {.sin_family = AF_INET};
    check(name_of(s, &a, 0) == 0 && same_addr(&a, &any), "getsockname before bind: 0.0.0.0:0", "%s",
          fmt_addr(&a));
    struct sockaddr_in want = loopback(0);
    check(bind(s, (struct sockaddr *)&want, sizeof want) == 0, "bind 127.0.0.1:0", "%s", errname(errno));
    check(name_of(s, &a, 0) == 0 && a.sin_family == AF_INET && a.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
              a.sin_port != 0,
          "getsockname: 127.0.0.1 and an ephemeral port", "%s", fmt_addr(&a));
    expect_errno("bind a bound socket again: EINVAL", bind(s, (struct sockaddr *)&want, sizeof want), EINVAL);
    check(listen(s, 16) == 0, "listen", "%s", errname(errno));
    check(listen(s, 8) == 0, "listen again (new backlog)", "%s", errname(errno));

    int t = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("bind the listener's port: EADDRINUSE", bind(t, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    struct sockaddr_in wild = a;
    wild.sin_addr.s_addr = htonl(INADDR_ANY);
    expect_errno("bind 0.0.0.0 on that port: EADDRINUSE", bind(t, (struct sockaddr *)&wild, sizeof wild), EADDRINUSE);
    expect_errno("bind with a short address: EINVAL", bind(t, (struct sockaddr *)&want, 4), EINVAL);
    struct sockaddr_in foreign = loopback(0);
    inet_pton(AF_INET, "192.0.2.1", &foreign.sin_addr); /* TEST-NET-1, never local */
    expect_errno("bind a non-local address: EADDRNOTAVAIL", bind(t, (struct sockaddr *)&foreign, sizeof foreign),
                 EADDRNOTAVAIL);
    close(t);
    close(s);
}

static void test_connect(void)
{
    /* Bound but not listening: the SYN is answered with a reset. */
    struct sockaddr_in closed;
    int b = bound(SOCK_STREAM, -1, &closed);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("connect to a port nobody listens on: ECONNREFUSED",
                 connect(c, (struct sockaddr *)&closed, sizeof closed), ECONNREFUSED);
    close(c);

    struct sockaddr_in la, peer;
    int l = listener(8, &la);
    c = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("getpeername before connect: ENOTCONN", name_of(c, &peer, 1), ENOTCONN);
    check(connect(c, (struct sockaddr *)&la, sizeof la) == 0, "connect to a listener", "%s", errname(errno));
    expect_errno("connect again: EISCONN", connect(c, (struct sockaddr *)&la, sizeof la), EISCONN);
    close(c);

    /* Non-blocking connect: 0 or EINPROGRESS, then POLLOUT and SO_ERROR 0. */
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(c, (struct sockaddr *)&la, sizeof la);
    int e = errno;
    int rev = poll1(c, POLLOUT, 5000);
    check((r == 0 || e == EINPROGRESS) && rev == POLLOUT && getint(c, SOL_SOCKET, SO_ERROR) == 0 &&
              name_of(c, &peer, 1) == 0 && same_addr(&peer, &la),
          "non-blocking connect: POLLOUT, SO_ERROR 0, connected", "connect %d %s, revents %#x, SO_ERROR %d", r,
          errname(e), rev, getint(c, SOL_SOCKET, SO_ERROR));
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(c, (struct sockaddr *)&closed, sizeof closed);
    e = errno;
    int soerr = 0;
    if (r == -1 && e == EINPROGRESS) {
        rev = poll1(c, POLLOUT, 5000);
        soerr = getint(c, SOL_SOCKET, SO_ERROR);
        check(rev > 0 && (rev & POLLERR) && soerr == ECONNREFUSED,
              "non-blocking connect refused: POLLERR, SO_ERROR ECONNREFUSED", "revents %#x, SO_ERROR %d", rev, soerr);
    } else {
        check(r == -1 && e == ECONNREFUSED, "non-blocking connect refused: POLLERR, SO_ERROR ECONNREFUSED",
              "connect %d %s", r, errname(e));
    }
    close(c);
    close(l);
    close(b);
}

static void test_accept(void)
{
    struct sockaddr_in la, cname, peer, a_name;
    int l = listener(8, &la);
    int c = connect_to(&la);
    socklen_t len = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int a = accept(l, (struct sockaddr *)&peer, &len);
    name_of(c, &cname, 0);
    check(a >= 0 && len == sizeof peer && same_addr(&peer, &cname), "accept: the peer address is the client's",
          "fd %d, len %u, %s vs %s", a, (unsigned)len, fmt_addr(&peer), fmt_addr(&cname));
    check(a >= 0 && !is_nonblock(a) && fcntl(a, F_GETFD) == 0, "accept: blocking, no cloexec", "fl %#x fd %d",
          fcntl(a, F_GETFL), fcntl(a, F_GETFD));
    check(name_of(a, &peer, 1) == 0 && same_addr(&peer, &cname), "getpeername(accepted) = getsockname(client)",
          "%s vs %s", fmt_addr(&peer), fmt_addr(&cname));
    check(name_of(c, &peer, 1) == 0 && same_addr(&peer, &la), "getpeername(client) = the listener's address",
          "%s vs %s", fmt_addr(&peer), fmt_addr(&la));
    check(name_of(a, &a_name, 0) == 0 && same_addr(&a_name, &la), "getsockname(accepted) = the listener's address",
          "%s vs %s", fmt_addr(&a_name), fmt_addr(&la));
    close(a);
    close(c);

    c = connect_to(&la);
    a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    check(a >= 0 && is_nonblock(a) && is_cloexec(a), "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)", "fd %d (%s)", a,
          errname(errno));
    close(a);
    close(c);
    /* Raw: musl 1.2.3's accept4 retries a failed call as a blocking accept. */
    expect_errno("accept4 with an unknown flag: EINVAL", syscall(SYS_accept4, l, NULL, NULL, 1), EINVAL);

    fcntl(l, F_SETFL, O_NONBLOCK);
    expect_errno("accept, non-blocking, nothing pending: EAGAIN", accept(l, NULL, NULL), EAGAIN);
    c = connect_to(&la);
    poll1(l, POLLIN, 5000);
    len = 4; /* too short: truncated, and the full length comes back */
    a = accept(l, (struct sockaddr *)&peer, &len);
    check(a >= 0 && len == sizeof peer, "accept with a short addrlen: the full length is returned", "fd %d, len %u",
          a, (unsigned)len);
    check(a >= 0 && !is_nonblock(a), "accept from a non-blocking listener: blocking socket", "fl %#x",
          fcntl(a, F_GETFL));
    close(a);
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("accept on a socket that is not listening: EINVAL", accept(c, NULL, NULL), EINVAL);
    close(c);
    close(l);
}

/* ---- moving data ------------------------------------------------------- */

static void test_data(void)
{
    int c, s;
    if (tcp_pair(&c, &s) != 0) {
        not_ok("TCP data", "no connected pair: %s", errname(errno));
        return;
    }
    char buf[64] = {0};
    ssize_t n = write(c, "hello", 5);
    size_t got = read_full(s, buf, 5);
    check(n == 5 && got == 5 && memcmp(buf, "hello", 5) == 0, "write/read", "wrote %zd, read %zu", n, got);
    n = send(s, "world", 5, 0);
    poll1(c, POLLIN, 5000);
    ssize_t m = recv(c, buf, sizeof buf, 0);
    check(n == 5 && m == 5 && memcmp(buf, "world", 5) == 0, "send/recv", "sent %zd, received %zd", n, m);
    n = sendto(c, "abc", 3, 0, NULL, 0);
    poll1(s, POLLIN, 5000);
    m = recvfrom(s, buf, sizeof buf, 0, NULL, NULL);
    check(n == 3 && m == 3 && memcmp(buf, "abc", 3) == 0, "sendto/recvfrom with no address", "sent %zd, got %zd", n,
          m);
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    send(c, "xyz", 3, 0);
    poll1(s, POLLIN, 5000);
    m = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    check(m == 3 && flen == 0, "recvfrom on TCP: address length 0", "got %zd, addrlen %u", m, (unsigned)flen);

    char a1[3], a2[16];
    struct iovec out[2] = {{"abc", 3}, {"defg", 4}}, in[2] = {{a1, sizeof a1}, {a2, sizeof a2}};
    struct msghdr mo = {.msg_iov = out, .msg_iovlen = 2}, mi = {.msg_iov = in, .msg_iovlen = 2};
    n = sendmsg(c, &mo, 0);
    poll1(s, POLLIN, 5000);
    m = recvmsg(s, &mi, 0);
    check(n == 7 && m == 7 && memcmp(a1, "abc", 3) == 0 && memcmp(a2, "defg", 4) == 0 && mi.msg_flags == 0,
          "sendmsg/recvmsg with 2 iovecs", "sent %zd, received %zd, flags %#x", n, m, mi.msg_flags);
    struct iovec wv[2] = {{"12", 2}, {"345", 3}};
    n = writev(s, wv, 2);
    got = read_full(c, buf, 5);
    check(n == 5 && got == 5 && memcmp(buf, "12345", 5) == 0, "writev/read", "wrote %zd, read %zu", n, got);

    send(c, "peek", 4, 0);
    poll1(s, POLLIN, 5000);
    m = recv(s, buf, sizeof buf, MSG_PEEK);
    char again[16] = {0};
    ssize_t m2 = recv(s, again, sizeof again, 0);
    check(m == 4 && memcmp(buf, "peek", 4) == 0 && m2 == 4 && memcmp(again, "peek", 4) == 0,
          "MSG_PEEK leaves the data for the next recv", "peek %zd, then %zd", m, m2);
    expect_errno("recv(MSG_DONTWAIT) on an empty socket: EAGAIN", recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    check(!is_nonblock(s), "MSG_DONTWAIT leaves the socket blocking", "fl %#x", fcntl(s, F_GETFL));
    fcntl(s, F_SETFL, O_NONBLOCK);
    expect_errno("read of an empty O_NONBLOCK socket: EAGAIN", read(s, buf, sizeof buf), EAGAIN);
    close(c);
    close(s);
}

#define BULK (1 << 20)

/* A 64-bit FNV-1a over the bytes. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void test_bulk(void)
{
    struct sockaddr_in la;
    int l = listener(4, &la);
    pid_t pid = fork();
    if (pid == 0) {
        child_start();
        int c = connect_to(&la);
        if (c < 0)
            _exit(2);
        static unsigned char chunk[7919]; /* odd sizes: never aligned to anything */
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t off = 0; off < BULK;) {
            size_t n = BULK - off < sizeof chunk ? BULK - off : sizeof chunk;
            for (size_t i = 0; i < n; i++)
                chunk[i] = pattern(off + i);
            if (write_all(c, chunk, n) != 0)
                _exit(3);
            h = fnv(h, chunk, n);
            off += n;
        }
        shutdown(c, SHUT_WR);
        uint64_t theirs = 0;
        if (read_full(c, &theirs, sizeof theirs) != sizeof theirs)
            _exit(4);
        _exit(theirs == h ? 0 : 5);
    }
    int a = accept(l, NULL, NULL);
    static unsigned char buf[5000];
    size_t total = 0, bad = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    ssize_t n;
    while ((n = read(a, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            bad += buf[i] != pattern(total + (size_t)i);
        h = fnv(h, buf, (size_t)n);
        total += (size_t)n;
    }
    check(total == BULK && bad == 0 && n == 0, "1 MiB from a child: every byte, in order, then EOF",
          "%zu bytes, %zu wrong, last read %zd", total, bad, n);
    write_all(a, &h, sizeof h);
    close(a);
    int st = -1;
    wait_for(pid, &st);
    check(st == 0, "the child confirms the checksum (exit 0)", "%s", describe_status(st));
    close(l);
}

static void test_shutdown(void)
{
    int c, s;
    if (tcp_pair(&c, &s) != 0) {
        not_ok("shutdown", "no connected pair: %s", errname(errno));
        return;
    }
    char buf[16] = {0};
    check(shutdown(c, SHUT_WR) == 0, "shutdown(SHUT_WR)", "%s", errname(errno));
    ssize_t n = read(s, buf, sizeof buf);
    check(n == 0, "the peer reads EOF", "read %zd", n);
    ssize_t w = write(s, "back", 4);
    size_t got = read_full(c, buf, 4);
    check(w == 4 && got == 4 && memcmp(buf, "back", 4) == 0, "the other direction still works",
          "wrote %zd, read %zu", w, got);
    expect_errno("write after SHUT_WR: EPIPE", write(c, "x", 1), EPIPE);
    expect_errno("shutdown with how 7: EINVAL", shutdown(s, 7), EINVAL);
    close(c);
    close(s);
    c = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("shutdown of an unconnected socket: ENOTCONN", shutdown(c, SHUT_RDWR), ENOTCONN);
    close(c);
}

/* Write to c (whose peer has closed) until it fails: the errno, or 0. */
static int write_until_error(int c, int flags)
{
    for (int i = 0; i < 200; i++) {
        if (send(c, "data", 4, flags) < 0)
            return errno;
        sleep_ms(5); /* let the peer's reset come back */
    }
    return 0;
}

static int sigpipe_child(void *arg)
{
    child_start();
    signal(SIGPIPE, SIG_DFL);
    int c, s;
    if (tcp_pair(&c, &s) != 0)
        return 2;
    close(s);
    int e = write_until_error(c, arg ? MSG_NOSIGNAL : 0);
    return e == EPIPE ? 0 : 3;
}

static void test_epipe(void)
{
    int c, s;
    if (tcp_pair(&c, &s) != 0) {
        not_ok("EPIPE", "no connected pair: %s", errname(errno));
        return;
    }
    close(s);
    char buf[4];
    int rev = poll1(c, POLLIN, 5000);
    ssize_t n = read(c, buf, sizeof buf);
    check(rev > 0 && n == 0, "read after the peer closed: EOF", "revents %#x, read %zd", rev, n);
    int e = write_until_error(c, 0);
    check(e == EPIPE, "writes after the peer closed end in EPIPE (SIGPIPE ignored)", "got %s", errname(e));
    close(c);
    int st = run_child(sigpipe_child, NULL);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "the same with SIGPIPE default: the writer dies of it", "%s",
          describe_status(st));
    st = run_child(sigpipe_child, "nosignal");
    check(st == 0, "send(MSG_NOSIGNAL): EPIPE and no SIGPIPE", "%s", describe_status(st));
}

/* ---- socket options ---------------------------------------------------- */

static void test_sockopts(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    static const struct {
        int level, opt;
        const char *name;
    } flags[] = {
        {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"},
        {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"},
        {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"},
        {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"},
        {IPPROTO_TCP, TCP_CORK, "TCP_CORK"},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s: 0, set 1, reads 1", flags[i].name);
        int before = getint(s, flags[i].level, flags[i].opt);
        int r = setint(s, flags[i].level, flags[i].opt, 1);
        int after = getint(s, flags[i].level, flags[i].opt);
        check(before == 0 && r == 0 && after == 1, name, "before %d, set %d, after %d", before, r, after);
    }
    int c, a;
    if (tcp_pair(&c, &a) == 0) {
        /* nginx's tcp_nopush: cork, headers and body, uncork. */
        char got[16] = {0};
        int ok = setint(c, IPPROTO_TCP, TCP_CORK, 1) == 0 && write(c, "head", 4) == 4 && write(c, "body", 4) == 4 &&
                 setint(c, IPPROTO_TCP, TCP_CORK, 0) == 0 && read_full(a, got, 8) == 8;
        check(ok && memcmp(got, "headbody", 8) == 0, "corked writes arrive once uncorked", "got '%s' (%s)", got,
              errname(errno));
        close(c);
        close(a);
    } else {
        not_ok("corked writes arrive once uncorked", "no connected pair: %s", errname(errno));
    }
    setint(s, SOL_SOCKET, SO_KEEPALIVE, 0);
    int r = setint(s, SOL_SOCKET, SO_KEEPALIVE, 5);
    check(r == 0 && getint(s, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE set to 5 reads 1", "set %d, got %d", r,
          getint(s, SOL_SOCKET, SO_KEEPALIVE));
    int v = 0;
    socklen_t len = 8; /* longer than an int: shortened to 4 */
    long big = -1;
    r = getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &big, &len);
    check(r == 0 && len == sizeof v, "getsockopt shortens optlen to sizeof(int)", "r %d, len %u", r, (unsigned)len);
    int rcv = getint(s, SOL_SOCKET, SO_RCVBUF), snd = getint(s, SOL_SOCKET, SO_SNDBUF);
    check(rcv > 0 && snd > 0, "SO_RCVBUF, SO_SNDBUF: positive", "%d, %d", rcv, snd);
    r = setint(s, SOL_SOCKET, SO_RCVBUF, 65536) | setint(s, SOL_SOCKET, SO_SNDBUF, 65536);
    rcv = getint(s, SOL_SOCKET, SO_RCVBUF);
    snd = getint(s, SOL_SOCKET, SO_SNDBUF);
    check(r == 0 && rcv > 0 && snd > 0, "set SO_RCVBUF, SO_SNDBUF 65536: still positive", "r %d: %d, %d", r, rcv, snd);

    struct linger lg = {-1, -1};
    len = sizeof lg;
    r = getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &len);
    check(r == 0 && len == sizeof lg && lg.l_onoff == 0, "SO_LINGER: off by default", "r %d, len %u, onoff %d", r,
          (unsigned)len, lg.l_onoff);
    struct linger set = {1, 7};
    r = setsockopt(s, SOL_SOCKET, SO_LINGER, &set, sizeof set);
    memset(&lg, 0, sizeof lg);
    len = sizeof lg;
    getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &len);
    check(r == 0 && lg.l_onoff == 1 && lg.l_linger == 7, "SO_LINGER {1, 7} round trip", "r %d, got {%d, %d}", r,
          lg.l_onoff, lg.l_linger);
    check(getint(s, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR: 0", "%d", getint(s, SOL_SOCKET, SO_ERROR));
    check(getint(s, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE: SOCK_STREAM", "%d", getint(s, SOL_SOCKET, SO_TYPE));
    check(getint(s, SOL_SOCKET, SO_ACCEPTCONN) == 0, "SO_ACCEPTCONN: 0 before listen", "%d",
          getint(s, SOL_SOCKET, SO_ACCEPTCONN));
    struct sockaddr_in la;
    int l = listener(1, &la);
    check(getint(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "SO_ACCEPTCONN: 1 on a listener", "%d",
          getint(l, SOL_SOCKET, SO_ACCEPTCONN));
    close(l);

    len = sizeof v;
    expect_errno("getsockopt(SOL_SOCKET, 12345): ENOPROTOOPT", getsockopt(s, SOL_SOCKET, 12345, &v, &len), ENOPROTOOPT);
    expect_errno("setsockopt(SOL_SOCKET, 12345): ENOPROTOOPT", setint(s, SOL_SOCKET, 12345, 1), ENOPROTOOPT);
    len = sizeof v;
    expect_errno("getsockopt(IPPROTO_TCP, 12345): ENOPROTOOPT", getsockopt(s, IPPROTO_TCP, 12345, &v, &len),
                 ENOPROTOOPT);
    short tiny = 1;
    expect_errno("setsockopt with a 2-byte value: EINVAL", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &tiny, sizeof tiny),
                 EINVAL);
    int p[2];
    pipe(p);
    len = sizeof v;
    expect_errno("getsockopt on a pipe: ENOTSOCK", getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &len), ENOTSOCK);
    close(p[0]);
    close(p[1]);
    close(s);
}

/* ---- readiness: poll, select, epoll ------------------------------------ */

/* A child that writes `what` to fd after 30 ms (a blocked waiter's wake-up). */
static pid_t write_later(int fd, const char *what)
{
    pid_t pid = fork();
    if (pid == 0) {
        child_start();
        sleep_ms(30);
        _exit(write_all(fd, what, strlen(what)) == 0 ? 0 : 1);
    }
    return pid;
}

static void test_poll(void)
{
    struct sockaddr_in la;
    int l = listener(4, &la);
    int rev = poll1(l, POLLIN, 0);
    check(rev == -1, "poll: idle listener not readable", "revents %#x", rev);
    int c = connect_to(&la);
    rev = poll1(l, POLLIN, 5000);
    check(rev > 0 && (rev & POLLIN), "poll: POLLIN on a listener with a pending connection", "revents %#x", rev);
    int s = accept(l, NULL, NULL);
    rev = poll1(c, POLLOUT, 0);
    check(rev > 0 && (rev & POLLOUT), "poll: connected socket POLLOUT", "revents %#x", rev);
    rev = poll1(s, POLLIN, 0);
    check(rev == -1, "poll: no data, not readable", "revents %#x", rev);
    write(c, "x", 1);
    rev = poll1(s, POLLIN, 5000);
    char buf[8];
    check(rev > 0 && (rev & POLLIN) && read(s, buf, sizeof buf) == 1, "poll: POLLIN after the peer writes",
          "revents %#x", rev);
    pid_t pid = write_later(c, "late");
    int64_t t0 = now_ns();
    rev = poll1(s, POLLIN, 5000);
    int64_t ms = (now_ns() - t0) / 1000000;
    check(rev > 0 && (rev & POLLIN) && ms < 4000, "poll blocks until another process writes",
          "revents %#x after %lld ms", rev, (long long)ms);
    read_full(s, buf, 4);
    int st;
    wait_for(pid, &st);
    close(c);
    rev = poll1(s, POLLIN, 5000);
    ssize_t n = read(s, buf, sizeof buf);
    check(rev > 0 && (rev & POLLIN) && n == 0, "poll: POLLIN after the peer closed, read 0", "revents %#x, read %zd",
          rev, n);
    close(s);
    close(l);
    rev = poll1(s, POLLIN, 0);
    check(rev == POLLNVAL, "poll on a closed fd: POLLNVAL", "revents %#x", rev);
}

/* select on one fd for reading (w = 0) or writing (w = 1): 1, 0, or -1. */
static int select1(int fd, int w, int ms)
{
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    int r = select(fd + 1, w ? NULL : &set, w ? &set : NULL, NULL, &tv);
    return r == 1 && FD_ISSET(fd, &set) ? 1 : r;
}

static void test_select(void)
{
    struct sockaddr_in la;
    int l = listener(4, &la);
    check(select1(l, 0, 0) == 0, "select: idle listener not readable", "r %d", select1(l, 0, 0));
    int c = connect_to(&la);
    int r = select1(l, 0, 5000);
    check(r == 1, "select: listener readable with a pending connection", "r %d", r);
    int s = accept(l, NULL, NULL);
    r = select1(c, 1, 0);
    check(r == 1, "select: connected socket writable", "r %d", r);
    r = select1(s, 0, 0);
    check(r == 0, "select: no data, not readable", "r %d", r);
    pid_t pid = write_later(c, "z");
    r = select1(s, 0, 5000);
    char buf[8];
    check(r == 1 && read(s, buf, sizeof buf) == 1, "select blocks until another process writes", "r %d", r);
    int st;
    wait_for(pid, &st);
    close(c);
    r = select1(s, 0, 5000);
    ssize_t n = read(s, buf, sizeof buf);
    check(r == 1 && n == 0, "select: readable after the peer closed, read 0", "r %d, read %zd", r, n);
    close(s);
    close(l);
}

static void test_epoll(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    check(ep >= 0 && is_cloexec(ep), "epoll_create1(EPOLL_CLOEXEC)", "fd %d (%s)", ep, errname(errno));
    expect_errno("epoll_create1 with an unknown flag: EINVAL", epoll_create1(1), EINVAL);
    struct sockaddr_in la;
    int l = listener(4, &la);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL}, out[8];
    check(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll_ctl ADD a listener", "%s", errname(errno));
    expect_errno("epoll_ctl ADD twice: EEXIST", epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), EEXIST);
    int other = socket(AF_INET, SOCK_STREAM, 0);
    expect_errno("epoll_ctl DEL of an fd not in the set: ENOENT", epoll_ctl(ep, EPOLL_CTL_DEL, other, &ev), ENOENT);
    expect_errno("epoll_ctl MOD of an fd not in the set: ENOENT", epoll_ctl(ep, EPOLL_CTL_MOD, other, &ev), ENOENT);
    close(other);
    expect_errno("epoll_ctl ADD the epoll fd itself: EINVAL", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    int f = open(temp_path, O_RDONLY);
    expect_errno("epoll_ctl ADD a regular file: EPERM", epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM);
    close(f);
    int n = epoll_wait(ep, out, 8, 0);
    check(n == 0, "epoll_wait, timeout 0, nothing ready: 0", "returned %d", n);
    expect_errno("epoll_wait with maxevents 0: EINVAL", epoll_wait(ep, out, 0, 0), EINVAL);

    int c = connect_to(&la);
    n = epoll_wait(ep, out, 8, 5000);
    check(n == 1 && (out[0].events & EPOLLIN) && out[0].data.u64 == 0x1122334455667788ULL,
          "epoll_wait: the listener, with its data.u64, when a client connects", "n %d, events %#x, u64 %#llx", n,
          n > 0 ? out[0].events : 0, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
    sigset_t none;
    sigemptyset(&none);
    n = epoll_pwait(ep, out, 8, 5000, &none);
    check(n == 1 && out[0].data.u64 == 0x1122334455667788ULL, "epoll_pwait: still ready (level-triggered)", "n %d",
          n);
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 42;
    int r = epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev);
    n = epoll_wait(ep, out, 8, 5000);
    check(r == 0 && n == 1 && out[0].data.u64 == 42, "epoll_ctl MOD (EPOLLET, new data) takes effect",
          "r %d, n %d, u64 %llu", r, n, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
    int s = accept(l, NULL, NULL);
    check(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL) == 0, "epoll_ctl DEL", "%s", errname(errno));
    expect_errno("epoll_ctl DEL again: ENOENT", epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL), ENOENT);

    ev.events = EPOLLIN;
    ev.data.u64 = 7;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    n = epoll_wait(ep, out, 8, 0);
    check(n == 0, "epoll_wait: connected socket without data: 0", "n %d", n);
    pid_t pid = write_later(c, "e");
    n = epoll_wait(ep, out, 8, 5000);
    check(n == 1 && (out[0].events & EPOLLIN) && out[0].data.u64 == 7, "epoll_wait blocks until another process writes",
          "n %d, u64 %llu", n, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
    char buf[8];
    read(s, buf, sizeof buf);
    int st;
    wait_for(pid, &st);
    ev.events = EPOLLOUT;
    ev.data.u64 = 8;
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    n = epoll_wait(ep, out, 8, 5000);
    check(n == 1 && (out[0].events & EPOLLOUT) && out[0].data.u64 == 8, "epoll_wait: EPOLLOUT on a connected socket",
          "n %d, u64 %llu", n, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
    epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
    close(c);
    n = epoll_wait(ep, out, 8, 5000);
    check(n == 1 && (out[0].events & EPOLLIN) && out[0].data.u64 == 7 && read(s, buf, sizeof buf) == 0,
          "epoll_wait: EPOLLIN after the peer closed, read 0", "n %d", n);
    close(s);
    close(l);
    close(ep);
}

/* ---- sendfile, socketpair, UDP ----------------------------------------- */

#define FILE_SIZE 200000
#define FIRST_PART 120000

/* Child: send the file in two parts, the first with an offset pointer (the
 * file position must not move), the second from the file position (which
 * must advance). */
static int sendfile_child(void *arg)
{
    child_start();
    int c = *(int *)arg;
    int f = open(temp_path, O_RDONLY);
    if (f < 0)
        return 2;
    off_t off = 0;
    while (off < FIRST_PART)
        if (sendfile(c, f, &off, (size_t)(FIRST_PART - off)) <= 0)
            return 2;
    if (lseek(f, 0, SEEK_CUR) != 0)
        return 3;
    lseek(f, FIRST_PART, SEEK_SET);
    for (off_t left = FILE_SIZE - FIRST_PART; left > 0;) {
        ssize_t n = sendfile(c, f, NULL, (size_t)left + 1000); /* more than is left */
        if (n <= 0)
            return 2;
        left -= n;
    }
    if (lseek(f, 0, SEEK_CUR) != FILE_SIZE)
        return 4;
    return sendfile(c, f, NULL, 100) == 0 ? 0 : 5; /* at EOF: 0 */
}

/* ---- edge-triggered epoll ---------------------------------------------- */

static int epoll_count(int ep, int ms, uint32_t *events)
{
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, ms);
    if (n > 0 && events)
        *events = ev[0].events;
    return n;
}

static void test_epoll_edge(void)
{
    int ep = epoll_create1(0), p[2];
    pipe(p);
    struct epoll_event want = {.events = EPOLLIN | EPOLLET, .data.u32 = 1};
    check(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &want) == 0 && epoll_count(ep, 0, NULL) == 0,
          "EPOLLET on an empty pipe: nothing", "%s", errname(errno));
    write(p[1], "a", 1);
    int first = epoll_count(ep, 1000, NULL), again = epoll_count(ep, 0, NULL);
    check(first == 1 && again == 0, "EPOLLET: new data reported once, not again while unread", "%d, then %d", first,
          again);
    write(p[1], "b", 1);
    check(epoll_count(ep, 1000, NULL) == 1, "EPOLLET: more data, reported again though the pipe was never drained",
          "not reported");
    char buf[8];
    read(p[0], buf, sizeof buf);
    check(epoll_count(ep, 0, NULL) == 0, "EPOLLET: drained, nothing", "reported");
    want.events = EPOLLIN | EPOLLET;
    write(p[1], "c", 1);
    epoll_count(ep, 0, NULL);
    check(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &want) == 0 && epoll_count(ep, 0, NULL) == 1,
          "EPOLL_CTL_MOD re-arms an edge-triggered entry: what holds is reported", "%s", errname(errno));
    /* EPOLLEXCLUSIVE (nginx's listeners): only with EPOLL_CTL_ADD and a
     * few events, never on another epoll instance. */
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
    struct epoll_event excl = {.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT};
    expect_errno("EPOLLEXCLUSIVE with EPOLLONESHOT: EINVAL", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &excl), EINVAL);
    excl.events = EPOLLIN | EPOLLEXCLUSIVE;
    check(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &excl) == 0, "EPOLL_CTL_ADD with EPOLLEXCLUSIVE", "%s", errname(errno));
    expect_errno("EPOLL_CTL_MOD of an exclusive entry: EINVAL", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &want), EINVAL);
    int inner = epoll_create1(0);
    expect_errno("EPOLLEXCLUSIVE on an epoll fd: EINVAL", epoll_ctl(ep, EPOLL_CTL_ADD, inner, &excl), EINVAL);
    close(inner);
    close(p[0]);
    close(p[1]);

    /* nginx's connections: EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET. */
    int c, a;
    if (tcp_pair(&c, &a) != 0) {
        not_ok("EPOLLET on a connection", "no connected pair: %s", errname(errno));
        close(ep);
        return;
    }
    sleep_ms(100);
    struct epoll_event conn = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u32 = 2};
    uint32_t got = 0;
    int added = epoll_ctl(ep, EPOLL_CTL_ADD, a, &conn);
    int n1 = epoll_count(ep, 0, &got);
    check(added == 0 && n1 == 1 && got == EPOLLOUT, "EPOLLET on an idle connection: EPOLLOUT once", "%d, events %#x",
          n1, got);
    sleep_ms(50);
    int n2 = epoll_count(ep, 0, NULL);
    check(n2 == 0, "an idle connection is not reported again (no busy loop)", "%d", n2);
    write(c, "x", 1);
    got = 0;
    check(epoll_count(ep, 2000, &got) == 1 && (got & EPOLLIN), "data on it: EPOLLIN", "events %#x", got);
    close(c);
    close(a);
    close(ep);
}

/* ---- a reset connection: ECONNRESET once ------------------------------- */

static void test_reset(void)
{
    int c, a;
    if (tcp_pair(&c, &a) != 0) {
        not_ok("ECONNRESET", "no connected pair: %s", errname(errno));
        return;
    }
    /* SO_LINGER {1, 0}: close sends a reset, as a client that aborts. */
    struct linger abort_now = {1, 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
    close(c);
    int ev = poll1(a, POLLIN, 5000);
    check(ev > 0 && (ev & POLLERR) && (ev & POLLHUP), "poll after the peer's reset: POLLERR and POLLHUP", "revents %#x",
          ev);
    char buf[8];
    ssize_t r = recv(a, buf, sizeof buf, 0);
    int e = errno;
    check(r == -1 && e == ECONNRESET, "recv after the peer's reset: ECONNRESET", "%zd (%s)", r, errname(e));
    check(recv(a, buf, sizeof buf, 0) == 0, "then end of file", "%s", errname(errno));
    expect_errno("then send: EPIPE", send(a, "x", 1, MSG_NOSIGNAL), EPIPE);
    close(a);

    /* The same reset, seen by SO_ERROR first. */
    if (tcp_pair(&c, &a) != 0) {
        not_ok("SO_ERROR after a reset", "no connected pair: %s", errname(errno));
        return;
    }
    setsockopt(c, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
    close(c);
    poll1(a, POLLIN, 5000);
    int so_error = getint(a, SOL_SOCKET, SO_ERROR);
    check(so_error == ECONNRESET && getint(a, SOL_SOCKET, SO_ERROR) == 0 && recv(a, buf, sizeof buf, 0) == 0,
          "SO_ERROR reports ECONNRESET once, recv then gives end of file", "SO_ERROR %d", so_error);
    close(a);
}

static void test_sendfile(void)
{
    int c, s;
    if (tcp_pair(&c, &s) != 0) {
        not_ok("sendfile", "no connected pair: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(s);
        _exit(sendfile_child(&c));
    }
    close(c);
    static unsigned char buf[FILE_SIZE + 1];
    size_t got = read_full(s, buf, sizeof buf);
    size_t bad = 0;
    for (size_t i = 0; i < got && i < FILE_SIZE; i++)
        bad += buf[i] != pattern(i);
    int st = -1;
    wait_for(pid, &st);
    check(got == FILE_SIZE && bad == 0, "sendfile: the peer receives the file's exact bytes", "%zu bytes, %zu wrong",
          got, bad);
    static const char *const why[] = {"", "", " (sendfile failed)", " (an offset pointer moved the position)",
                                      " (NULL offset: the position did not advance)", " (at EOF: not 0)"};
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    check(st == 0, "sendfile: file position with and without an offset pointer", "%s%s", describe_status(st),
          code < 6 ? why[code] : "");
    close(s);
}

static void test_socketpair(void)
{
    int sv[2];
    int r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    check(r == 0, "socketpair(AF_UNIX, SOCK_STREAM)", "%s", errname(errno));
    if (r != 0)
        return;
    char buf[16] = {0};
    write(sv[0], "ping", 4);
    size_t got = read_full(sv[1], buf, 4);
    write(sv[1], "pong", 4);
    got += read_full(sv[0], buf + 4, 4);
    check(got == 8 && memcmp(buf, "pingpong", 8) == 0, "socketpair: both directions", "got %zu '%.8s'", got, buf);
    check(getint(sv[0], SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "socketpair: SO_TYPE SOCK_STREAM", "%d",
          getint(sv[0], SOL_SOCKET, SO_TYPE));
    pid_t pid = fork();
    if (pid == 0) {
        child_start();
        close(sv[0]);
        char in[4];
        if (read_full(sv[1], in, 4) != 4)
            _exit(2);
        for (int i = 0; i < 4; i++)
            in[i] = (char)(in[i] - 'a' + 'A');
        _exit(write_all(sv[1], in, 4) == 0 ? 0 : 3);
    }
    close(sv[1]);
    write(sv[0], "abcd", 4);
    got = read_full(sv[0], buf, 4);
    check(got == 4 && memcmp(buf, "ABCD", 4) == 0, "socketpair across fork: the child answers", "got %zu", got);
    ssize_t n = read(sv[0], buf, sizeof buf);
    check(n == 0, "socketpair: EOF once the child has exited", "read %zd", n);
    int st;
    wait_for(pid, &st);
    close(sv[0]);

    r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    check(r == 0 && is_nonblock(sv[0]) && is_nonblock(sv[1]) && is_cloexec(sv[0]) && is_cloexec(sv[1]),
          "socketpair with SOCK_NONBLOCK|SOCK_CLOEXEC", "r %d", r);
    if (r == 0) {
        expect_errno("socketpair: empty non-blocking read: EAGAIN", read(sv[0], buf, 1), EAGAIN);
        close(sv[0]);
        close(sv[1]);
    }
    r = socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    if (r == 0) {
        write(sv[0], "a", 1);
        write(sv[0], "bc", 2);
        ssize_t m1 = read(sv[1], buf, sizeof buf), m2 = read(sv[1], buf, sizeof buf);
        check(m1 == 1 && m2 == 2, "socketpair(SOCK_DGRAM) keeps message boundaries", "read %zd, %zd", m1, m2);
        close(sv[0]);
        close(sv[1]);
    } else {
        not_ok("socketpair(SOCK_DGRAM) keeps message boundaries", "socketpair: %s", errname(errno));
    }
    expect_errno("socketpair(AF_INET): EOPNOTSUPP", socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
}

static void test_udp(void)
{
    struct sockaddr_in a1, a2, from;
    int u1 = bound(SOCK_DGRAM, -1, &a1), u2 = bound(SOCK_DGRAM, -1, &a2);
    check(u1 >= 0 && u2 >= 0 && a1.sin_port != 0 && a2.sin_port != 0 && a1.sin_port != a2.sin_port,
          "two UDP sockets on 127.0.0.1, ephemeral ports", "%s, %s", fmt_addr(&a1), fmt_addr(&a2));
    if (u1 < 0 || u2 < 0)
        return;
    check(getint(u1, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "UDP: SO_TYPE SOCK_DGRAM", "%d",
          getint(u1, SOL_SOCKET, SO_TYPE));
    ssize_t n1 = sendto(u1, "one", 3, 0, (struct sockaddr *)&a2, sizeof a2);
    ssize_t n2 = sendto(u1, "second message", 14, 0, (struct sockaddr *)&a2, sizeof a2);
    char buf[64];
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t m1 = recvfrom(u2, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    check(n1 == 3 && n2 == 14 && m1 == 3 && memcmp(buf, "one", 3) == 0, "UDP: sendto/recvfrom, one datagram per call",
          "sent %zd %zd, first recvfrom %zd", n1, n2, m1);
    check(flen == sizeof from && same_addr(&from, &a1), "UDP: recvfrom reports the sender's address", "len %u, %s",
          (unsigned)flen, fmt_addr(&from));
    ssize_t m2 = recvfrom(u2, buf, sizeof buf, 0, NULL, NULL);
    check(m2 == 14 && memcmp(buf, "second message", 14) == 0, "UDP: the second datagram whole", "got %zd", m2);
    sendto(u1, "abcdef", 6, 0, (struct sockaddr *)&a2, sizeof a2);
    ssize_t m = recv(u2, buf, 3, 0);
    int r = (int)recv(u2, buf + 3, sizeof buf - 3, MSG_DONTWAIT);
    int e = errno;
    check(m == 3 && memcmp(buf, "abc", 3) == 0 && r == -1 && e == EAGAIN,
          "UDP: a short read truncates, the rest is dropped", "got %zd, then %d (%s)", m, r, errname(e));
    ssize_t z = sendto(u1, "", 0, 0, (struct sockaddr *)&a2, sizeof a2);
    m = recv(u2, buf, sizeof buf, 0);
    check(z == 0 && m == 0, "UDP: an empty datagram is sent and received", "sent %zd, got %zd", z, m);
    expect_errno("UDP: send without an address: EDESTADDRREQ", send(u2, "x", 1, 0), EDESTADDRREQ);
    expect_errno("UDP: listen: EOPNOTSUPP", listen(u1, 1), EOPNOTSUPP);

    r = connect(u1, (struct sockaddr *)&a2, sizeof a2);
    check(r == 0 && name_of(u1, &from, 1) == 0 && same_addr(&from, &a2), "UDP: connect, getpeername", "r %d, %s", r,
          fmt_addr(&from));
    n1 = send(u1, "conn", 4, 0);
    flen = sizeof from;
    m = recvfrom(u2, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    check(n1 == 4 && m == 4 && memcmp(buf, "conn", 4) == 0 && same_addr(&from, &a1), "UDP: send on a connected socket",
          "sent %zd, got %zd from %s", n1, m, fmt_addr(&from));
    connect(u2, (struct sockaddr *)&a1, sizeof a1);
    n1 = send(u2, "back", 4, 0);
    m = recv(u1, buf, sizeof buf, 0);
    check(n1 == 4 && m == 4 && memcmp(buf, "back", 4) == 0, "UDP: recv on a connected socket", "sent %zd, got %zd",
          n1, m);
    close(u1);
    close(u2);
}

/* ---- several processes, backlog ---------------------------------------- */

static void test_shared_listener(void)
{
    struct sockaddr_in la;
    int l = listener(16, &la);
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            child_start();
            int a = accept(l, NULL, NULL);
            if (a < 0)
                _exit(2);
            pid_t me = getpid();
            _exit(write_all(a, &me, sizeof me) == 0 ? 0 : 3);
        }
    }
    sleep_ms(50); /* let them block in accept (not needed for correctness) */
    pid_t seen[3] = {0, 0, 0};
    int conns = 0;
    for (int k = 0; k < 3; k++) {
        int c = connect_to(&la);
        if (c >= 0 && read_full(c, &seen[k], sizeof seen[k]) == sizeof seen[k])
            conns++;
        if (c >= 0)
            close(c);
    }
    int distinct = seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2], ours = 0;
    for (int k = 0; k < 3; k++)
        ours += seen[k] == kids[0] || seen[k] == kids[1] || seen[k] == kids[2];
    check(conns == 3 && distinct && ours == 3, "3 children accept on one listener: 3 distinct pids",
          "%d answers, pids %d %d %d (children %d %d %d)", conns, seen[0], seen[1], seen[2], kids[0], kids[1],
          kids[2]);
    close(l);
    int good = 0;
    const char *why = "";
    for (int k = 0; k < 3; k++) {
        int st = -1;
        if (conns < 3)
            kill(kids[k], SIGKILL); /* one may still be blocked in accept */
        wait_for(kids[k], &st);
        good += st == 0;
        if (st != 0)
            why = describe_status(st);
    }
    check(good == 3, "each acceptor exits 0", "%d of 3, %s", good, why);
}

static void test_backlog(void)
{
    struct sockaddr_in la;
    int l = listener(2, &la);
    int c1 = connect_to(&la), e1 = errno;
    int c2 = connect_to(&la), e2 = errno;
    check(c1 >= 0 && c2 >= 0, "backlog 2, no accept: 2 connects succeed", "%s, %s", c1 < 0 ? errname(e1) : "ok",
          c2 < 0 ? errname(e2) : "ok");
    write(c1, "early", 5);
    int a1 = accept(l, NULL, NULL), a2 = accept(l, NULL, NULL);
    char buf[8] = {0};
    size_t got = a1 >= 0 ? read_full(a1, buf, 5) : 0;
    check(a1 >= 0 && a2 >= 0 && got == 5 && memcmp(buf, "early", 5) == 0,
          "both accepted later; data sent before accept arrives", "fds %d %d, read %zu", a1, a2, got);
    close(a1);
    close(a2);
    close(c1);
    close(c2);
    close(l);
}

/* ---- AF_INET6 with v4-mapped addresses --------------------------------- */

static struct sockaddr_in6 in6(const char *text, uint16_t port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, text, &a.sin6_addr);
    return a;
}

static const char *fmt_addr6(const struct sockaddr_in6 *a, socklen_t len)
{
    static char buf[2][80];
    static int next;
    char *b = buf[next++ % 2];
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(b, sizeof buf[0], "family %d [%s]:%d len %d", a->sin6_family, ip, ntohs(a->sin6_port), (int)len);
    return b;
}

static int is_addr6(const struct sockaddr_in6 *a, socklen_t len, const char *text, uint16_t port)
{
    struct sockaddr_in6 want = in6(text, port);
    return len == sizeof want && a->sin6_family == AF_INET6 && a->sin6_port == want.sin6_port &&
           memcmp(&a->sin6_addr, &want.sin6_addr, sizeof want.sin6_addr) == 0;
}

static void test_ipv6(void)
{
    int d = socket(AF_INET6, SOCK_STREAM, 0);
    check(d >= 0 && getint(d, SOL_SOCKET, SO_DOMAIN) == AF_INET6 && getint(d, IPPROTO_IPV6, IPV6_V6ONLY) == 0,
          "socket(AF_INET6, SOCK_STREAM): SO_DOMAIN AF_INET6, IPV6_V6ONLY 0", "fd %d, domain %d, v6only %d", d,
          getint(d, SOL_SOCKET, SO_DOMAIN), getint(d, IPPROTO_IPV6, IPV6_V6ONLY));
    struct sockaddr_in6 any = in6("::", 0), name;
    socklen_t len = sizeof name;
    check(bind(d, (struct sockaddr *)&any, sizeof any) == 0 && listen(d, 4) == 0 &&
              getsockname(d, (struct sockaddr *)&name, &len) == 0 && name.sin6_port != 0 &&
              is_addr6(&name, len, "::", ntohs(name.sin6_port)),
          "bind [::]:0, listen: getsockname [::] and a port", "%s (%s)", fmt_addr6(&name, len), errname(errno));
    uint16_t port = ntohs(name.sin6_port);

    /* Dual stack: an IPv4 client reaches it, seen as ::ffff:127.0.0.1. */
    struct sockaddr_in v4 = loopback(port);
    int c = connect_to(&v4);
    struct sockaddr_in6 peer;
    len = sizeof peer;
    int s = c < 0 ? -1 : accept(d, (struct sockaddr *)&peer, &len);
    check(s >= 0 && is_addr6(&peer, len, "::ffff:127.0.0.1", ntohs(peer.sin6_port)),
          "an IPv4 client reaches [::]: accept reports ::ffff:127.0.0.1", "c %d s %d %s (%s)", c, s,
          fmt_addr6(&peer, len), errname(errno));
    len = sizeof name;
    check(s >= 0 && getsockname(s, (struct sockaddr *)&name, &len) == 0 &&
              is_addr6(&name, len, "::ffff:127.0.0.1", port),
          "the accepted socket's name: [::ffff:127.0.0.1]:port", "%s", fmt_addr6(&name, len));
    char buf[8] = {0};
    check(s >= 0 && write(c, "six", 3) == 3 && read(s, buf, sizeof buf) == 3 && memcmp(buf, "six", 3) == 0,
          "data from the IPv4 client over the IPv6 socket", "read '%s' (%s)", buf, errname(errno));
    if (c >= 0)
        close(c);
    if (s >= 0)
        close(s);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in wild = {.sin_family = AF_INET, .sin_port = htons(port)};
    expect_errno("0.0.0.0 on the dual-stack [::] port: EADDRINUSE", bind(t, (struct sockaddr *)&wild, sizeof wild),
                 EADDRINUSE);
    close(t);
    expect_errno("IPV6_V6ONLY after bind: EINVAL", setint(d, IPPROTO_IPV6, IPV6_V6ONLY, 1), EINVAL);
    close(d);

    /* nginx's pair: 0.0.0.0:P and [::]:P with IPV6_V6ONLY side by side. */
    struct sockaddr_in l4addr;
    int l4 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in w4 = {.sin_family = AF_INET};
    check(l4 >= 0 && bind(l4, (struct sockaddr *)&w4, sizeof w4) == 0 && listen(l4, 4) == 0 &&
              name_of(l4, &l4addr, 0) == 0,
          "an IPv4 listener on 0.0.0.0", "%s", errname(errno));
    int o = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 same = in6("::", ntohs(l4addr.sin_port));
    check(setint(o, IPPROTO_IPV6, IPV6_V6ONLY, 1) == 0 && getint(o, IPPROTO_IPV6, IPV6_V6ONLY) == 1 &&
              bind(o, (struct sockaddr *)&same, sizeof same) == 0 && listen(o, 4) == 0,
          "IPV6_V6ONLY [::] on the IPv4 listener's port", "%s", errname(errno));
    int o2 = socket(AF_INET6, SOCK_STREAM, 0);
    setint(o2, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    expect_errno("a second IPV6_V6ONLY [::] on it: EADDRINUSE", bind(o2, (struct sockaddr *)&same, sizeof same),
                 EADDRINUSE);
    close(o2);
    struct sockaddr_in to = loopback(ntohs(l4addr.sin_port));
    c = connect_to(&to);
    check(c >= 0 && poll1(l4, POLLIN, 5000) == POLLIN && poll1(o, POLLIN, 0) == -1,
          "an IPv4 client goes to the IPv4 listener, not the IPV6_V6ONLY one", "c %d, l4 %#x, v6 %#x", c,
          poll1(l4, POLLIN, 0), poll1(o, POLLIN, 0));
    s = accept(l4, NULL, NULL);
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);

    /* An IPv6 client names IPv4 listeners by their mapped address. */
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 mapped = in6("::ffff:127.0.0.1", ntohs(l4addr.sin_port));
    check(connect(c6, (struct sockaddr *)&mapped, sizeof mapped) == 0, "connect an IPv6 socket to ::ffff:127.0.0.1",
          "%s", errname(errno));
    len = sizeof peer;
    check(getpeername(c6, (struct sockaddr *)&peer, &len) == 0 &&
              is_addr6(&peer, len, "::ffff:127.0.0.1", ntohs(l4addr.sin_port)),
          "getpeername: the mapped address", "%s", fmt_addr6(&peer, len));
    struct sockaddr_in from;
    len = sizeof from;
    s = accept(l4, (struct sockaddr *)&from, &len);
    check(s >= 0 && len == sizeof from && from.sin_family == AF_INET && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
          "the IPv4 listener sees an IPv4 peer", "%s", fmt_addr(&from));
    if (s >= 0)
        close(s);
    close(c6);

    int v6o = socket(AF_INET6, SOCK_STREAM, 0);
    setint(v6o, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    struct sockaddr_in6 m0 = in6("::ffff:127.0.0.1", 0);
    expect_errno("IPV6_V6ONLY bind to a v4-mapped address: EINVAL", bind(v6o, (struct sockaddr *)&m0, sizeof m0),
                 EINVAL);
    expect_errno("IPV6_V6ONLY connect to a v4-mapped address: ENETUNREACH",
                 connect(v6o, (struct sockaddr *)&mapped, sizeof mapped), ENETUNREACH);
    close(v6o);
    expect_errno("IPV6_V6ONLY on an AF_INET socket: ENOPROTOOPT", setint(l4, IPPROTO_IPV6, IPV6_V6ONLY, 1),
                 ENOPROTOOPT);
    struct sockaddr_in6 short6 = in6("::", 0);
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    expect_errno("bind an AF_INET6 socket with 20 bytes: EINVAL", bind(u, (struct sockaddr *)&short6, 20), EINVAL);
    struct sockaddr_in wrong = loopback(0);
    expect_errno("bind an AF_INET6 socket to a sockaddr_in (16 bytes): EINVAL",
                 bind(u, (struct sockaddr *)&wrong, sizeof wrong), EINVAL);
    struct sockaddr_in6 wrong6 = in6("::", 0);
    wrong6.sin6_family = AF_INET;
    expect_errno("bind an AF_INET6 socket to family AF_INET (28 bytes): EAFNOSUPPORT",
                 bind(u, (struct sockaddr *)&wrong6, sizeof wrong6), EAFNOSUPPORT);
    close(u);
    int lo6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 one = in6("::1", 0);
    int r = bind(lo6, (struct sockaddr *)&one, sizeof one);
    if (in_isola())
        expect_errno("bind ::1: EADDRNOTAVAIL (no IPv6 address here)", r, EADDRNOTAVAIL);
    else
        skip("bind ::1: EADDRNOTAVAIL (no IPv6 address here)", "the host has IPv6");
    close(lo6);
    close(o);
    close(l4);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_watchdog);
    alarm(30);
    snprintf(temp_path, sizeof temp_path, "/tmp/test-sockets.%d", (int)getpid());
    int f = open(temp_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    static unsigned char data[FILE_SIZE];
    for (size_t i = 0; i < FILE_SIZE; i++)
        data[i] = pattern(i);
    if (f < 0 || write_all(f, data, FILE_SIZE) != 0) {
        not_ok("temp file", "cannot write %s: %s", temp_path, errname(errno));
        return tap_done();
    }
    close(f);

    test_create();
    test_bind_listen();
    test_connect();
    test_accept();
    test_data();
    test_bulk();
    test_shutdown();
    test_epipe();
    test_sockopts();
    test_poll();
    test_select();
    test_epoll();
    test_epoll_edge();
    test_reset();
    test_sendfile();
    test_socketpair();
    test_udp();
    test_shared_listener();
    test_backlog();
    test_ipv6();
    unlink(temp_path);
    return tap_done();
}
