/* test-scm: ancillary data over AF_UNIX sockets (SCM_RIGHTS,
 * SCM_CREDENTIALS), as nginx's and Apache's masters and workers use it.
 *
 * SCM_RIGHTS passes open file descriptions: the receiver's new descriptors
 * share the offset with the sender's (as dup does across processes);
 * several descriptors in one message and several messages; MSG_CMSG_CLOEXEC;
 * MSG_CTRUNC with a control buffer too small (the descriptors that did not
 * fit are closed); descriptors arrive with the bytes they were sent with
 * on a stream (a read stops before them and after them), with their
 * message on SOCK_DGRAM and SOCK_SEQPACKET (socketpair and named datagram
 * sockets); MSG_PEEK leaves them; a descriptor closed by its sender while
 * in flight stays valid. SCM_CREDENTIALS with SO_PASSCRED: the sender's
 * pid and ids, given or not; another pid is EPERM unless privileged.
 * A master and forked workers pass descriptors over socketpair channels.
 * Bad input: a bad descriptor (EBADF), more than SCM_MAX_FD (EINVAL),
 * malformed lengths (EINVAL), a bad control pointer (EFAULT). alarm(60)
 * turns a hang into a failure. Everything is checked on the host first. */
#define _GNU_SOURCE
#include "child.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_FDS 256

/* Sends `n` bytes of `data` with `nfds` descriptors in one SCM_RIGHTS. */
static ssize_t send_fds(int sock, const void *data, size_t n, const int *fds, int nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {(void *)data, n};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    /* musl's sendmsg copies control data through a 1 KiB buffer (ENOMEM
     * beyond): the system call itself takes SCM_MAX_FD descriptors. */
    return syscall(SYS_sendmsg, sock, &msg, 0);
}

struct received {
    ssize_t n;
    int nfds;
    int fds[MAX_FDS];
    int has_cred;
    struct ucred cred;
    int flags;
    size_t controllen;
};

/* Receives into `buf` with `room` bytes of control buffer. */
static struct received recv_fds(int sock, void *buf, size_t n, size_t room, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct received r = {0};
    struct iovec iov = {buf, n};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = room ? u.buf : NULL, .msg_controllen = room};
    r.n = recvmsg(sock, &msg, flags);
    if (r.n < 0)
        return r;
    r.flags = msg.msg_flags;
    r.controllen = msg.msg_controllen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(r.fds + r.nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
            r.nfds += k;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            r.has_cred = 1;
            memcpy(&r.cred, CMSG_DATA(c), sizeof r.cred);
        }
    }
    return r;
}

static int temp_file(const char *content)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test-scm.%d.XXXXXX", (int)getpid());
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void rights(void)
{
    tap_family("scm-rights");
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        not_ok("socketpair", "%s", errname(errno));
        return;
    }
    int f = temp_file("hello world");
    char buf[64];
    struct received r;

    /* One descriptor: the same open file (a shared offset). */
    check(send_fds(sp[0], "x", 1, &f, 1) == 1, "sendmsg SCM_RIGHTS with one byte", "%s", errname(errno));
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 1 && r.nfds == 1 && r.fds[0] != f && r.flags == 0, "recvmsg gets a new descriptor", "n=%zd nfds=%d flags=%#x %s", r.n, r.nfds, r.flags, errname(errno));
    if (r.nfds == 1) {
        char got[6] = {0};
        check(read(r.fds[0], got, 5) == 5 && memcmp(got, "hello", 5) == 0 && lseek(f, 0, SEEK_CUR) == 5,
              "the received descriptor shares the open file's offset", "%s off=%ld", got, (long)lseek(f, 0, SEEK_CUR));
        check(fcntl(r.fds[0], F_GETFD) == 0, "without MSG_CMSG_CLOEXEC the descriptor is not close-on-exec", "%d", fcntl(r.fds[0], F_GETFD));
        close(r.fds[0]);
    }
    check(r.controllen == CMSG_SPACE(sizeof(int)), "msg_controllen is CMSG_SPACE(4)", "%zu", r.controllen);

    /* MSG_CMSG_CLOEXEC. */
    send_fds(sp[0], "y", 1, &f, 1);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC);
    check(r.nfds == 1 && fcntl(r.fds[0], F_GETFD) == FD_CLOEXEC, "MSG_CMSG_CLOEXEC makes it close-on-exec", "nfds=%d", r.nfds);
    if (r.nfds == 1)
        close(r.fds[0]);

    /* Several descriptors in one message; several messages in one control buffer. */
    int three[3] = {f, sp[0], 1};
    send_fds(sp[0], "z", 1, three, 3);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(3 * sizeof(int)), 0);
    struct stat a, b;
    check(r.nfds == 3 && fstat(r.fds[0], &a) == 0 && fstat(f, &b) == 0 && a.st_ino == b.st_ino && S_ISSOCK((fstat(r.fds[1], &a), a.st_mode)),
          "three descriptors in one SCM_RIGHTS arrive in order", "nfds=%d", r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    {
        union {
            char buf[2 * CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        memset(&u, 0, sizeof u);
        struct iovec iov = {"w", 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &f, sizeof f);
        c = CMSG_NXTHDR(&msg, c);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &sp[0], sizeof f);
        check(syscall(SYS_sendmsg, sp[0], &msg, 0) == 1, "sendmsg with two SCM_RIGHTS messages", "%s", errname(errno));
        r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(2 * sizeof(int)), 0);
        check(r.nfds == 2, "both messages' descriptors arrive (in one list)", "nfds=%d", r.nfds);
        for (int i = 0; i < r.nfds; i++)
            close(r.fds[i]);
    }

    /* MSG_CTRUNC: room for one of three; the others are closed. */
    int before = open_fds();
    send_fds(sp[0], "t", 1, three, 3);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_LEN(sizeof(int)), 0);
    check(r.n == 1 && r.nfds == 1 && (r.flags & MSG_CTRUNC), "a small control buffer: one descriptor and MSG_CTRUNC", "nfds=%d flags=%#x", r.nfds, r.flags);
    check(open_fds() == before + r.nfds, "the descriptors that did not fit are not installed", "%d vs %d", open_fds(), before);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    send_fds(sp[0], "u", 1, &f, 1);
    r = recv_fds(sp[1], buf, sizeof buf, 0, 0);
    check(r.n == 1 && r.nfds == 0 && (r.flags & MSG_CTRUNC) && r.controllen == 0, "no control buffer at all: MSG_CTRUNC", "flags=%#x", r.flags);
    send_fds(sp[0], "v", 1, &f, 1);
    check(read(sp[1], buf, 1) == 1 && buf[0] == 'v', "read(2) takes the bytes and drops the descriptors", "%s", errname(errno));
    check(open_fds() == before, "nothing leaked into the receiver", "%d vs %d", open_fds(), before);

    /* Streams: descriptors stay with their bytes. */
    check(write(sp[0], "abc", 3) == 3 && send_fds(sp[0], "DEF", 3, &f, 1) == 3 && write(sp[0], "ghi", 3) == 3, "write, sendmsg with a descriptor, write", "%s", errname(errno));
    r = recv_fds(sp[1], buf, 4, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 4 && memcmp(buf, "abcD", 4) == 0 && r.nfds == 1, "a stream read reaching the descriptor's bytes gets it", "n=%zd nfds=%d", r.n, r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 5 && memcmp(buf, "EFghi", 5) == 0 && r.nfds == 0, "the rest of its bytes come without (merged with the next)", "n=%zd nfds=%d", r.n, r.nfds);
    check(write(sp[0], "jk", 2) == 2 && send_fds(sp[0], "LM", 2, &f, 1) == 2, "write, sendmsg with a descriptor", "%s", errname(errno));
    r = recv_fds(sp[1], buf, 1, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 1 && r.nfds == 0, "a read short of the descriptor's bytes does not get it", "n=%zd nfds=%d", r.n, r.nfds);
    check(write(sp[0], "no", 2) == 2, "and a write after it", "%s", errname(errno));
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 3 && memcmp(buf, "kLM", 3) == 0 && r.nfds == 1, "the next read gets the descriptor and stops after its bytes", "n=%zd nfds=%d", r.n, r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 2 && memcmp(buf, "no", 2) == 0 && r.nfds == 0, "then the bytes after them", "n=%zd nfds=%d", r.n, r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    send_fds(sp[0], "PQ", 2, &f, 1);
    r = recv_fds(sp[1], buf, 1, CMSG_SPACE(sizeof(int)), 0);
    struct received r2 = recv_fds(sp[1], buf + 1, 1, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 1 && r.nfds == 1 && r2.n == 1 && r2.nfds == 0 && buf[1] == 'Q', "a partial read takes the descriptor with the first byte", "%d %d", r.nfds, r2.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);

    /* MSG_PEEK leaves them (and gives copies). */
    send_fds(sp[0], "k", 1, &f, 1);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), MSG_PEEK);
    r2 = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    check(r.n == 1 && r.nfds == 1 && r2.n == 1 && r2.nfds == 1 && r.fds[0] != r2.fds[0], "MSG_PEEK gives the descriptor and leaves it", "%d %d", r.nfds, r2.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    for (int i = 0; i < r2.nfds; i++)
        close(r2.fds[i]);

    /* Closed by the sender while in flight. */
    int g = temp_file("in flight");
    send_fds(sp[0], "g", 1, &g, 1);
    close(g);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    memset(buf, 0, sizeof buf);
    check(r.nfds == 1 && read(r.fds[0], buf, 9) == 9 && strcmp(buf, "in flight") == 0, "a descriptor closed by its sender in flight stays valid", "nfds=%d %s", r.nfds, buf);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);

    /* The limit: SCM_MAX_FD (253). */
    int many[254];
    for (int i = 0; i < 254; i++)
        many[i] = f;
    check(send_fds(sp[0], "m", 1, many, 253) == 1, "253 descriptors (SCM_MAX_FD) pass", "%s", errname(errno));
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int) * 253), 0);
    check(r.nfds == 253, "253 descriptors arrive", "%d", r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    errno = 0;
    check(send_fds(sp[0], "m", 1, many, 254) < 0 && errno == EINVAL, "254 descriptors: EINVAL", "%s", errname(errno));

    /* Bad input. */
    int bad[2] = {f, 999};
    errno = 0;
    check(send_fds(sp[0], "b", 1, bad, 2) < 0 && errno == EBADF, "a bad descriptor: EBADF, nothing sent", "%s", errname(errno));
    {
        union {
            char buf[CMSG_SPACE(sizeof(int)) + 16];
            struct cmsghdr align;
        } u;
        memset(&u, 0, sizeof u);
        struct iovec iov = {"b", 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = CMSG_SPACE(sizeof(int))};
        struct cmsghdr *c = (struct cmsghdr *)u.buf;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_SPACE(sizeof(int)) + 8;
        errno = 0;
        check(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EINVAL, "cmsg_len past msg_controllen: EINVAL", "%s", errname(errno));
        c->cmsg_len = 4;
        errno = 0;
        check(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EINVAL, "cmsg_len below the header: EINVAL", "%s", errname(errno));
        c->cmsg_len = CMSG_LEN(sizeof(int));
        c->cmsg_type = 77;
        errno = 0;
        check(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EINVAL, "an unknown SOL_SOCKET type: EINVAL", "%s", errname(errno));
        c->cmsg_type = SCM_RIGHTS;
        msg.msg_control = (void *)8;
        errno = 0;
        check(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EFAULT, "a bad control pointer: EFAULT", "%s", errname(errno));
    }
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), MSG_DONTWAIT);
    check(r.n < 0 && errno == EAGAIN, "nothing was sent by the failed calls", "n=%zd", r.n);
    close(f);
    close(sp[0]);
    close(sp[1]);
}

static void messages(void)
{
    tap_family("scm-messages");
    char buf[64];
    int f = temp_file("datagram");
    int types[2] = {SOCK_DGRAM, SOCK_SEQPACKET};
    for (int t = 0; t < 2; t++) {
        const char *name = types[t] == SOCK_DGRAM ? "SOCK_DGRAM" : "SOCK_SEQPACKET";
        char label[128];
        int sp[2];
        if (socketpair(AF_UNIX, types[t], 0, sp) != 0) {
            not_ok(name, "%s", errname(errno));
            continue;
        }
        send_fds(sp[0], "one", 3, NULL, 0);
        send_fds(sp[0], "two", 3, &f, 1);
        send_fds(sp[0], "", 0, &f, 1);
        struct received r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
        snprintf(label, sizeof label, "%s socketpair: a message without descriptors", name);
        check(r.n == 3 && r.nfds == 0, label, "n=%zd nfds=%d", r.n, r.nfds);
        r = recv_fds(sp[1], buf, 1, CMSG_SPACE(sizeof(int)), 0);
        snprintf(label, sizeof label, "%s socketpair: the descriptor comes with its (truncated) message", name);
        check(r.n == 1 && r.nfds == 1, label, "n=%zd nfds=%d", r.n, r.nfds);
        for (int i = 0; i < r.nfds; i++)
            close(r.fds[i]);
        r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
        snprintf(label, sizeof label, "%s socketpair: an empty message carries a descriptor", name);
        check(r.n == 0 && r.nfds == 1, label, "n=%zd nfds=%d", r.n, r.nfds);
        for (int i = 0; i < r.nfds; i++)
            close(r.fds[i]);
        close(sp[0]);
        close(sp[1]);
    }
    /* Named datagram sockets. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "test-scm-%d", (int)getpid());
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
    int rx = socket(AF_UNIX, SOCK_DGRAM, 0), tx = socket(AF_UNIX, SOCK_DGRAM, 0);
    check(bind(rx, (struct sockaddr *)&addr, len) == 0 && connect(tx, (struct sockaddr *)&addr, len) == 0, "a named datagram socket", "%s", errname(errno));
    send_fds(tx, "dg", 2, &f, 1);
    struct received r = recv_fds(rx, buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
    memset(buf, 0, sizeof buf);
    check(r.n == 2 && r.nfds == 1 && pread(r.fds[0], buf, 8, 0) == 8 && strcmp(buf, "datagram") == 0, "a descriptor over an unconnected datagram socket", "n=%zd nfds=%d", r.n, r.nfds);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    close(rx);
    close(tx);
    close(f);
}

static void credentials(void)
{
    tap_family("scm-credentials");
    int sp[2];
    char buf[16];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) {
        not_ok("socketpair", "%s", errname(errno));
        return;
    }
    int on = 1, got = 0;
    socklen_t len = sizeof got;
    check(setsockopt(sp[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0 && getsockopt(sp[1], SOL_SOCKET, SO_PASSCRED, &got, &len) == 0 && got == 1,
          "SO_PASSCRED is set and read back", "%s got=%d", errname(errno), got);
    write(sp[0], "a", 1);
    struct received r = recv_fds(sp[1], buf, sizeof buf, 64, 0);
    check(r.n == 1 && r.has_cred && r.cred.pid == getpid() && r.cred.uid == getuid() && r.cred.gid == getgid(),
          "SO_PASSCRED: a plain write's sender credentials", "has=%d pid=%d uid=%u", r.has_cred, r.cred.pid, r.cred.uid);

    /* A child's message carries the child's pid. */
    pid_t child = fork();
    if (child == 0) {
        send(sp[0], "c", 1, 0);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    r = recv_fds(sp[1], buf, sizeof buf, 64, 0);
    check(r.n == 1 && r.has_cred && r.cred.pid == child, "a forked sender's pid", "pid=%d child=%d", r.cred.pid, (int)child);

    /* Explicit SCM_CREDENTIALS: one's own, then another pid (EPERM unless root). */
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {"e", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred own = {getpid(), getuid(), getgid()};
    memcpy(CMSG_DATA(c), &own, sizeof own);
    check(syscall(SYS_sendmsg, sp[0], &msg, 0) == 1, "SCM_CREDENTIALS with one's own ids", "%s", errname(errno));
    r = recv_fds(sp[1], buf, sizeof buf, 64, 0);
    check(r.has_cred && r.cred.pid == getpid(), "they arrive", "pid=%d", r.cred.pid);
    struct ucred other = {1, getuid(), getgid()};
    memcpy(CMSG_DATA(c), &other, sizeof other);
    errno = 0;
    long sent = syscall(SYS_sendmsg, sp[0], &msg, 0);
    if (geteuid() == 0) {
        check(sent == 1, "root may claim another pid", "%s", errname(errno));
        r = recv_fds(sp[1], buf, sizeof buf, 64, 0);
        check(r.has_cred && r.cred.pid == 1, "the claimed pid arrives", "pid=%d", r.cred.pid);
        /* Without privilege: a child drops to nobody. */
        child = fork();
        if (child == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            struct ucred mine = {getpid(), 0, 0};
            memcpy(CMSG_DATA(c), &mine, sizeof mine);
            _exit(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EPERM ? 0 : 1);
        }
        waitpid(child, &status, 0);
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an unprivileged sender claiming uid 0: EPERM", "%s", describe_status(status));
    } else {
        check(sent < 0 && errno == EPERM, "another pid: EPERM", "%s", errname(errno));
    }
    c->cmsg_len = CMSG_LEN(8);
    errno = 0;
    check(syscall(SYS_sendmsg, sp[0], &msg, 0) < 0 && errno == EINVAL, "SCM_CREDENTIALS of the wrong length: EINVAL", "%s", errname(errno));

    /* Credentials and descriptors together; small buffer truncates. */
    r = recv_fds(sp[1], buf, sizeof buf, 8, MSG_DONTWAIT);
    check(r.n < 0 && errno == EAGAIN, "nothing more was queued", "n=%zd", r.n);
    write(sp[0], "z", 1);
    r = recv_fds(sp[1], buf, sizeof buf, 20, 0);
    check(r.n == 1 && (r.flags & MSG_CTRUNC) && r.controllen == 20, "credentials cut short: MSG_CTRUNC", "flags=%#x len=%zu", r.flags, r.controllen);
    int f = temp_file("both");
    send_fds(sp[0], "w", 1, &f, 1);
    r = recv_fds(sp[1], buf, sizeof buf, CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)), 0);
    check(r.has_cred && r.nfds == 1 && r.flags == 0, "credentials then descriptors", "has=%d nfds=%d flags=%#x", r.has_cred, r.nfds, r.flags);
    for (int i = 0; i < r.nfds; i++)
        close(r.fds[i]);
    close(f);
    close(sp[0]);
    close(sp[1]);
}

/* nginx-style: a master passes a listening-ish file to workers over
 * per-worker socketpair channels; each worker reads through it and
 * answers with a descriptor of its own. */
static void channels(void)
{
    tap_family("scm-channels");
    enum { WORKERS = 3 };
    int chan[WORKERS][2];
    pid_t pids[WORKERS];
    int f = temp_file("0123456789");
    for (int w = 0; w < WORKERS; w++) {
        int type = w == 1 ? SOCK_DGRAM : SOCK_STREAM;
        if (socketpair(AF_UNIX, type, 0, chan[w]) != 0) {
            not_ok("socketpair", "%s", errname(errno));
            return;
        }
        pids[w] = fork();
        if (pids[w] == 0) {
            close(chan[w][0]);
            char buf[8];
            struct received r = recv_fds(chan[w][1], buf, sizeof buf, CMSG_SPACE(sizeof(int)), 0);
            if (r.nfds != 1)
                _exit(10);
            char c;
            if (read(r.fds[0], &c, 1) != 1)
                _exit(11);
            int p[2];
            if (pipe(p) != 0 || write(p[1], "W", 1) != 1)
                _exit(12);
            if (send_fds(chan[w][1], &c, 1, &p[0], 1) != 1)
                _exit(13);
            _exit(0);
        }
        close(chan[w][1]);
    }
    for (int w = 0; w < WORKERS; w++)
        send_fds(chan[w][0], "go", 2, &f, 1);
    int good = 0;
    char seen[WORKERS + 1] = {0};
    for (int w = 0; w < WORKERS; w++) {
        char c = 0, pc = 0;
        struct received r = recv_fds(chan[w][0], &c, 1, CMSG_SPACE(sizeof(int)), 0);
        if (r.n == 1 && r.nfds == 1 && read(r.fds[0], &pc, 1) == 1 && pc == 'W')
            good++;
        seen[w] = c;
        for (int i = 0; i < r.nfds; i++)
            close(r.fds[i]);
        int status;
        waitpid(pids[w], &status, 0);
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a worker received the master's file and answered", "%s", describe_status(status));
        close(chan[w][0]);
    }
    check(good == WORKERS, "the master received each worker's pipe", "%d", good);
    /* The workers' reads moved the one shared offset. */
    check(lseek(f, 0, SEEK_CUR) == WORKERS && strchr(seen, '0') && strchr(seen, '1') && strchr(seen, '2'),
          "the workers shared the master's open file (one offset)", "off=%ld seen=%s", (long)lseek(f, 0, SEEK_CUR), seen);
    close(f);
}

int main(void)
{
    alarm(60);
    signal(SIGPIPE, SIG_IGN);
    rights();
    messages();
    credentials();
    channels();
    return tap_done();
}
