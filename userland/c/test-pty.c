/* test-pty: pseudo-terminals as Linux's devpts has them: posix_openpt,
 * grantpt, unlockpt (TIOCSPTLCK: the slave is EIO until then), ptsname
 * (TIOCGPTN), TIOCGPTPEER and openpty; /dev/pts/N's node, isatty,
 * ttyname and /proc/self/fd; the slave's default termios; canonical lines
 * with echo and CR/NL translation, VEOF, raw mode; data both ways, poll,
 * FIONREAD, a blocked read woken by the other side; window size; a
 * controlling terminal (setsid, open without O_NOCTTY, tcgetpgrp) and ^C
 * as SIGINT to its foreground group; the close of either side (EIO, end
 * of file, the node gone). Runs on Linux as it does in Isola. */
#include "child.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif

static int master_fd = -1, slave_fd = -1;
static char slave_name[64];

/* A read with a deadline (poll first): bytes read, -1 on error or time out. */
static long read_within(int fd, void *buf, size_t len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    return read(fd, buf, len);
}

/* Everything the master can read within a short time, as a string. */
static const char *drain(int fd)
{
    static char buf[512];
    size_t total = 0;
    long n;
    while (total < sizeof buf - 1 && (n = read_within(fd, buf + total, sizeof buf - 1 - total, 200)) > 0)
        total += (size_t)n;
    buf[total] = '\0';
    return buf;
}

static void test_open(void)
{
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    check(master_fd >= 0, "posix_openpt", "%s", errname(errno));
    if (master_fd < 0)
        return;
    check(grantpt(master_fd) == 0, "grantpt", "%s", errname(errno));
    const char *name = ptsname(master_fd);
    check(name && strncmp(name, "/dev/pts/", 9) == 0, "ptsname is /dev/pts/N", "%s", name ? name : errname(errno));
    if (!name)
        return;
    snprintf(slave_name, sizeof slave_name, "%s", name);
    unsigned number = 99;
    check(ioctl(master_fd, TIOCGPTN, &number) == 0 && (unsigned)atoi(slave_name + 9) == number, "TIOCGPTN", "%u", number);
    int locked = -1;
    check(ioctl(master_fd, TIOCGPTLCK, &locked) == 0 && locked == 1, "a new pair is locked", "%d", locked);
    expect_errno("opening a locked slave is EIO", open(slave_name, O_RDWR | O_NOCTTY), EIO);
    check(unlockpt(master_fd) == 0, "unlockpt", "%s", errname(errno));
    slave_fd = open(slave_name, O_RDWR | O_NOCTTY);
    check(slave_fd >= 0, "open the slave", "%s", errname(errno));
    struct stat st;
    check(stat(slave_name, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 136 && minor(st.st_rdev) == number &&
              st.st_uid == getuid(),
          "/dev/pts/N is char 136:N, owned by the opener", "mode %o rdev %u:%u uid %u", st.st_mode, major(st.st_rdev),
          minor(st.st_rdev), st.st_uid);
    struct stat fst;
    check(fstat(slave_fd, &fst) == 0 && fst.st_ino == st.st_ino && fst.st_rdev == st.st_rdev, "fstat of the slave is its node",
          "ino %lu vs %lu", (unsigned long)fst.st_ino, (unsigned long)st.st_ino);
    check(isatty(master_fd) && isatty(slave_fd), "both sides are terminals", "%s", errname(errno));
    const char *tty = ttyname(slave_fd);
    check(tty && strcmp(tty, slave_name) == 0, "ttyname of the slave", "%s", tty ? tty : errname(errno));
    char link[64] = "", path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", slave_fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n < 0 ? 0 : n] = '\0';
    check(strcmp(link, slave_name) == 0, "/proc/self/fd names the slave", "'%s'", link);
    int peer = ioctl(master_fd, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    check(peer >= 0 && fstat(peer, &fst) == 0 && fst.st_rdev == st.st_rdev, "TIOCGPTPEER opens the same slave", "%s", errname(errno));
    if (peer >= 0)
        close(peer);
    expect_errno("TIOCGPTPEER on the slave is EIO", ioctl(slave_fd, TIOCGPTPEER, O_RDWR), EIO);
    expect_errno("tcgetpgrp of a terminal that is not the caller's is ENOTTY", tcgetpgrp(slave_fd), ENOTTY);
    expect_errno("TCGETS on a pipe is ENOTTY", ({
                     int p[2];
                     struct termios t;
                     long r = pipe(p) == 0 ? tcgetattr(p[0], &t) : 0;
                     int e = errno;
                     close(p[0]);
                     close(p[1]);
                     errno = e;
                     r;
                 }),
                 ENOTTY);
}

static void test_termios(void)
{
    struct termios t = {0};
    check(tcgetattr(slave_fd, &t) == 0 && (t.c_lflag & (ICANON | ECHO | ISIG)) == (ICANON | ECHO | ISIG) && (t.c_iflag & ICRNL) &&
              (t.c_oflag & (OPOST | ONLCR)) == (OPOST | ONLCR) && t.c_cc[VINTR] == 3 && t.c_cc[VEOF] == 4,
          "the slave starts cooked: ICANON ECHO ISIG, ICRNL, OPOST ONLCR, ^C, ^D", "lflag %#x iflag %#x oflag %#x", t.c_lflag, t.c_iflag,
          t.c_oflag);
    struct termios m = {0};
    check(tcgetattr(master_fd, &m) == 0 && m.c_lflag == t.c_lflag && m.c_iflag == t.c_iflag, "TCGETS on the master is the slave's",
          "lflag %#x", m.c_lflag);
    m.c_lflag &= ~ECHOCTL;
    struct termios after = {0};
    check(tcsetattr(master_fd, TCSANOW, &m) == 0 && tcgetattr(slave_fd, &after) == 0 && !(after.c_lflag & ECHOCTL),
          "and TCSETS on the master sets the slave's", "lflag %#x", after.c_lflag);
    m.c_lflag |= ECHOCTL;
    tcsetattr(master_fd, TCSANOW, &m);
    unsigned number = 0;
    expect_errno("TIOCGPTN on the slave is ENOTTY", ioctl(slave_fd, TIOCGPTN, &number), ENOTTY);
    struct winsize w = {.ws_row = 33, .ws_col = 101}, got = {0};
    check(ioctl(slave_fd, TIOCSWINSZ, &w) == 0 && ioctl(master_fd, TIOCGWINSZ, &got) == 0 && got.ws_row == 33 && got.ws_col == 101,
          "a window size set on one side is the other's", "%ux%u", got.ws_row, got.ws_col);
}

static void test_cooked(void)
{
    char buf[64];
    check(write(master_fd, "hel", 3) == 3, "the master writes part of a line", "%s", errname(errno));
    struct pollfd p = {.fd = slave_fd, .events = POLLIN};
    check(poll(&p, 1, 100) == 0, "no complete line: the slave does not poll readable", "revents %#x", p.revents);
    int avail = -1;
    check(ioctl(slave_fd, FIONREAD, &avail) == 0 && avail == 0, "FIONREAD on the slave counts complete lines only", "%d", avail);
    check(write(master_fd, "lo\r", 3) == 3, "then ends it with CR", "%s", errname(errno));
    check(ioctl(slave_fd, FIONREAD, &avail) == 0 && avail == 6, "FIONREAD: the line", "%d", avail);
    long n = read_within(slave_fd, buf, sizeof buf, 2000);
    check(n == 6 && memcmp(buf, "hello\n", 6) == 0, "the slave reads the line, CR turned into NL", "%ld '%.*s'", n, (int)(n > 0 ? n : 0), buf);
    const char *echo = drain(master_fd);
    check(strcmp(echo, "hello\r\n") == 0, "the master reads the echo, NL as CRNL", "'%s'", echo);
    long wrote = write(master_fd, "abc\x7f\x7f" "d\n", 7);
    n = read_within(slave_fd, buf, sizeof buf, 2000);
    check(wrote == 7 && n == 3 && memcmp(buf, "ad\n", 3) == 0, "VERASE erases", "%ld", n);
    echo = drain(master_fd);
    check(strcmp(echo, "abc\b \b\b \bd\r\n") == 0, "and echoes as backspace-space-backspace", "'%s'", echo);
    check(write(master_fd, "\x04", 1) == 1 && read_within(slave_fd, buf, sizeof buf, 2000) == 0, "VEOF at the start of a line reads as end of file",
          "%s", errname(errno));
    check(write(slave_fd, "out\n", 4) == 4, "the slave writes", "%s", errname(errno));
    check(ioctl(master_fd, FIONREAD, &avail) == 0 && avail == 5, "FIONREAD on the master", "%d", avail);
    echo = drain(master_fd);
    check(strcmp(echo, "out\r\n") == 0, "the master reads it, NL as CRNL (ONLCR)", "'%s'", echo);
}

static void test_raw(void)
{
    struct termios t;
    tcgetattr(slave_fd, &t);
    cfmakeraw(&t);
    check(tcsetattr(slave_fd, TCSANOW, &t) == 0, "cfmakeraw on the slave", "%s", errname(errno));
    char buf[16];
    check(write(master_fd, "\x03\rx", 3) == 3, "the master writes ^C, CR, x", "%s", errname(errno));
    long n = read_within(slave_fd, buf, sizeof buf, 2000);
    check(n == 3 && memcmp(buf, "\x03\rx", 3) == 0, "raw: the slave reads them as they are", "%ld", n);
    fcntl(master_fd, F_SETFL, O_NONBLOCK);
    expect_errno("raw: no echo (the master's non-blocking read is EAGAIN)", read(master_fd, buf, sizeof buf), EAGAIN);
    fcntl(master_fd, F_SETFL, 0);
    check(write(slave_fd, "a\nb", 3) == 3 && strcmp(drain(master_fd), "a\nb") == 0, "raw: no output processing", "%s", errname(errno));
    tcgetattr(slave_fd, &t);
    t.c_lflag |= ICANON | ECHO | ISIG;
    t.c_iflag |= ICRNL;
    t.c_oflag |= OPOST | ONLCR;
    tcsetattr(slave_fd, TCSAFLUSH, &t);
}

/* A blocked slave read, in a child, woken by the parent's write. */
static void test_blocking(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        char buf[16];
        ssize_t n = read(slave_fd, buf, sizeof buf);
        _exit(n == 5 && memcmp(buf, "wake\n", 5) == 0 ? 0 : 1);
    }
    usleep(200000);
    write(master_fd, "wake\n", 5);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a blocked slave read is woken by the master's write", "%s", describe_status(st));
    drain(master_fd);
}

static volatile sig_atomic_t got_sigint;
static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
}

/* A child leads a session whose controlling terminal is the slave: ^C from
 * the master is its SIGINT. It reports over a pipe: 'C' once it has the
 * terminal (with its pgrp as tcgetpgrp), 'I' when SIGINT came. */
static void test_controlling(void)
{
    int sync[2];
    if (pipe(sync) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(sync[0]);
        signal(SIGINT, on_sigint);
        setsid();
        int fd = open(slave_name, O_RDWR);
        char report = fd >= 0 && tcgetpgrp(fd) == getpgrp() && tcgetsid(fd) == getsid(0) ? 'C' : 'c';
        write(sync[1], &report, 1);
        for (int i = 0; i < 500 && !got_sigint; i++)
            usleep(10000);
        report = got_sigint ? 'I' : 'i';
        write(sync[1], &report, 1);
        _exit(0);
    }
    close(sync[1]);
    char first = 0, second = 0;
    read_within(sync[0], &first, 1, 5000);
    check(first == 'C', "setsid and an open without O_NOCTTY make it the controlling terminal (tcgetpgrp, tcgetsid)", "got '%c'", first);
    write(master_fd, "\x03", 1);
    read_within(sync[0], &second, 1, 10000);
    check(second == 'I', "^C written to the master is SIGINT for the foreground group", "got '%c'", second);
    int st;
    wait_for(pid, &st);
    close(sync[0]);
    drain(master_fd);
}

static void test_close(void)
{
    int m, s;
    check(openpty(&m, &s, NULL, NULL, NULL) == 0, "openpty", "%s", errname(errno));
    char name[64];
    snprintf(name, sizeof name, "%s", ttyname(s));
    write(s, "bye\n", 4);
    close(s);
    char buf[16];
    long n = read_within(m, buf, sizeof buf, 2000);
    check(n == 5, "what the slave wrote before closing is still read", "%ld", n);
    expect_errno("then, with no slave open, the master reads EIO", read(m, buf, sizeof buf), EIO);
    s = open(name, O_RDWR | O_NOCTTY);
    check(s >= 0, "the slave opens again", "%s", errname(errno));
    close(m);
    check(read_within(s, buf, sizeof buf, 2000) == 0, "once the master is closed the slave reads end of file", "%s", errname(errno));
    expect_errno("and writes EIO", write(s, "x", 1), EIO);
    close(s);
    struct stat st;
    expect_errno("and /dev/pts/N is gone", stat(name, &st), ENOENT);
}

int main(void)
{
    tap_family("pty");
    test_open();
    if (slave_fd < 0)
        return tap_done();
    test_termios();
    test_cooked();
    test_raw();
    test_blocking();
    test_controlling();
    test_close();
    close(slave_fd);
    close(master_fd);
    return tap_done();
}
