/* prefork-httpd [-p PORT] [-w WORKERS] [-r ROOT]: a prefork HTTP server,
 * like Apache's prefork MPM.
 *
 * The master binds 0.0.0.0:PORT (default 80; 0 picks a free port), listens,
 * and forks WORKERS (default 4) workers that all block in accept() on the
 * inherited listening socket. It then waits for them: a worker that dies is
 * reported and replaced. SIGTERM or SIGINT stops the master: it sends
 * SIGTERM to every worker, reaps them and prints the requests they served
 * (each worker reports its count over a pipe when SIGTERM ends it or /crash
 * is asked; a worker killed otherwise takes its count with it).
 *
 * A worker serves HTTP/1.0 and 1.1 GET and HEAD, keep-alive included
 * (closed after 10 s idle). Without ROOT every path answers
 * `hello from prefork-httpd pid <pid>`; with ROOT, files under ROOT are sent
 * with sendfile (index.html for a directory, 404 when missing; `/` without
 * an index.html still says hello). Two paths are for tests: /crash kills the
 * worker (SIGKILL) without answering, /quit answers `bye` and stops the
 * master. No percent-decoding, no request bodies (a request announcing one
 * gets its answer, then the connection is closed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define IDLE_MS 10000

static const char usage[] = "usage: prefork-httpd [-p PORT] [-w WORKERS] [-r ROOT]\n";

static int listen_fd, root_fd = -1, report[2]; /* report: worker counts -> master */
static pid_t workers[MAX_WORKERS];
static int nworkers = 4;
static volatile sig_atomic_t stopping;
static volatile unsigned long served; /* requests answered by this worker */

/* One line on stdout in a single write (several processes share it). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    while (write(1, buf, (size_t)n) < 0 && errno == EINTR) {
    }
}

/* ---- worker ------------------------------------------------------------ */

static void on_worker_term(int sig)
{
    (void)sig;
    unsigned long n = served;
    (void)!write(report[1], &n, sizeof n); /* 8 bytes < PIPE_BUF: atomic */
    _exit(0);
}

/* Write all of buf; 0, or -1 when the client is gone (EPIPE, ECONNRESET). */
static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send a response with a small body (not sent for HEAD); 0 or -1. */
static int reply(int fd, int head, int keep, const char *status, const char *type, const char *body)
{
    char buf[1024];
    size_t blen = strlen(body);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %s\r\nServer: prefork-httpd\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                     status, type, blen, keep ? "keep-alive" : "close", head ? "" : body);
    served++;
    return send_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html"}, {".txt", "text/plain"}, {".css", "text/css"}, {".js", "text/javascript"},
        {".json", "application/json"}, {".png", "image/png"}, {".jpg", "image/jpeg"}, {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Answer from ROOT: returns keep (or 0 if the connection broke), or -2 when
 * there is no such file (the caller then answers). */
static int serve_file(int fd, const char *path, int head, int keep)
{
    for (const char *s = path; (s = strstr(s, "..")) != NULL; s += 2)
        if ((s == path || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return -2; /* no way out of ROOT */
    while (*path == '/')
        path++;
    int f = openat(root_fd, *path ? path : ".", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (f >= 0 && fstat(f, &st) == 0 && S_ISDIR(st.st_mode)) {
        int index = openat(f, "index.html", O_RDONLY | O_CLOEXEC);
        close(f);
        f = index;
        path = "index.html";
    }
    if (f < 0 || fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f >= 0)
            close(f);
        return -2;
    }
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 200 OK\r\nServer: prefork-httpd\r\nContent-Type: %s\r\n"
                     "Content-Length: %lld\r\nConnection: %s\r\n\r\n",
                     content_type(path), (long long)st.st_size, keep ? "keep-alive" : "close");
    served++;
    int ok = send_all(fd, hdr, (size_t)n) == 0;
    off_t off = 0;
    while (ok && !head && off < st.st_size) {
        ssize_t w = sendfile(fd, f, &off, (size_t)(st.st_size - off));
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0; /* 0: the file shrank; the promised length cannot be kept */
    }
    close(f);
    return ok ? keep : 0;
}

enum { CLOSE = 0, KEEP = 1, QUIT = 2 };

/* Handle one request (NUL-terminated head, CRLF lines): KEEP, CLOSE or QUIT. */
static int handle(int fd, char *req)
{
    char *headers = strstr(req, "\r\n");
    if (headers) {
        *headers = '\0';
        headers += 2;
    } else {
        headers = "";
    }
    char *method = req, *path = strchr(req, ' '), *version = path ? strchr(path + 1, ' ') : NULL;
    if (!version || path == method || version == path + 1 || path[1] != '/' || strncmp(version + 1, "HTTP/1.", 7)) {
        reply(fd, 0, 0, "400 Bad Request", "text/plain", "bad request\n");
        return CLOSE;
    }
    *path++ = '\0';
    *version++ = '\0';
    int keep = strcmp(version, "HTTP/1.1") == 0; /* 1.1: keep-alive unless asked otherwise */
    for (char *line = headers; *line;) {
        char *next = strstr(line, "\r\n");
        next = next ? next + 2 : line + strlen(line);
        if (strncasecmp(line, "Connection:", 11) == 0) {
            char value[64];
            snprintf(value, sizeof value, "%.*s", (int)(next - line - 11), line + 11);
            if (strcasestr(value, "close"))
                keep = 0;
            else if (strcasestr(value, "keep-alive"))
                keep = 1;
        } else if ((strncasecmp(line, "Content-Length:", 15) == 0 && atol(line + 15) != 0) ||
                   strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            keep = 0; /* a body we do not read: close after answering */
        }
        line = next;
    }
    int head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        reply(fd, 0, 0, "501 Not Implemented", "text/plain", "not implemented\n");
        return CLOSE;
    }
    path[strcspn(path, "?#")] = '\0';
    if (strcmp(path, "/crash") == 0) {
        unsigned long n = served; /* report first: a SIGKILL leaves no chance later */
        (void)!write(report[1], &n, sizeof n);
        kill(getpid(), SIGKILL);
    }
    if (strcmp(path, "/quit") == 0) {
        reply(fd, head, 0, "200 OK", "text/plain", "bye\n");
        return QUIT; /* the caller closes the connection, then stops the master */
    }
    if (root_fd >= 0) {
        int r = serve_file(fd, path, head, keep);
        if (r != -2)
            return r;
        if (strcmp(path, "/") != 0)
            return reply(fd, head, keep, "404 Not Found", "text/plain", "not found\n") == 0 ? keep : CLOSE;
    }
    char body[64];
    snprintf(body, sizeof body, "hello from prefork-httpd pid %d\n", (int)getpid());
    return reply(fd, head, keep, "200 OK", "text/plain", body) == 0 ? keep : CLOSE;
}

/* Serve one connection, request after request, until close or error. */
static int serve(int fd)
{
    char buf[8192];
    size_t len = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
            if (len == sizeof buf - 1) {
                reply(fd, 0, 0, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
                return CLOSE;
            }
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int r = poll(&p, 1, IDLE_MS);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return CLOSE; /* idle too long */
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return CLOSE; /* client gone (EOF, ECONNRESET) */
            len += (size_t)n;
        }
        size_t used = (size_t)(end + 4 - buf);
        *end = '\0';
        int r = handle(fd, buf);
        if (r != KEEP)
            return r;
        memmove(buf, buf + used, len - used); /* pipelined requests */
        len -= used;
    }
}

__attribute__((noreturn)) static void worker(void)
{
    struct sigaction sa = {.sa_handler = on_worker_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL); /* the master forks with SIGTERM blocked */
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(100000); /* EMFILE and the like: do not spin */
            continue;
        }
        int r = serve(fd);
        close(fd);
        if (r == QUIT)
            kill(getppid(), SIGTERM);
    }
}

/* ---- master ------------------------------------------------------------ */

/* Killing the workers here, not after wait() returns, leaves no window in
 * which a SIGTERM arriving just before wait() would go unnoticed. */
static void on_master_term(int sig)
{
    (void)sig;
    stopping = 1;
    for (int i = 0; i < nworkers; i++)
        if (workers[i] > 0)
            kill(workers[i], SIGTERM);
}

/* Fork a worker into slot i; called with SIGTERM/SIGINT blocked. */
static pid_t spawn(int i)
{
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        worker();
    }
    workers[i] = pid > 0 ? pid : 0;
    return pid;
}

static void drain_reports(unsigned long *total)
{
    unsigned long n;
    while (read(report[0], &n, sizeof n) == (ssize_t)sizeof n)
        *total += n;
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "prefork-httpd: %s\n%s", msg, usage);
    return 2;
}

int main(int argc, char **argv)
{
    long port = 80, n = nworkers;
    const char *root = NULL;
    int opt;
    opterr = 0;
    while ((opt = getopt(argc, argv, ":p:w:r:")) != -1) {
        char flag[3] = {'-', (char)optopt, '\0'};
        if (opt == 'p' && parse_num(optarg, 0, 65535, &port) != 0)
            return bad_usage("bad port '%s' (0 to 65535)", optarg);
        if (opt == 'w' && parse_num(optarg, 1, MAX_WORKERS, &n) != 0)
            return bad_usage("bad worker count '%s' (1 to 64)", optarg);
        if (opt == 'r')
            root = optarg;
        if (opt == ':')
            return bad_usage("option %s needs a value", flag);
        if (opt == '?')
            return bad_usage("unknown option %s", flag);
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    nworkers = (int)n;
    if (root && (root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return bad_usage("ROOT '%s' is not a directory", root);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t alen = sizeof addr;
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listen_fd, 128) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "prefork-httpd: cannot listen on port %ld: %s\n", port, strerror(errno));
        return 1;
    }
    if (pipe2(report, O_CLOEXEC | O_NONBLOCK) != 0) { /* a full pipe loses counts, never blocks */
        fprintf(stderr, "prefork-httpd: pipe: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_master_term}; /* no SA_RESTART: wait() gets EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);

    say("prefork-httpd: listening on port %d, %d workers", ntohs(addr.sin_port), nworkers);
    int live = 0;
    sigprocmask(SIG_BLOCK, &term, &old);
    for (int i = 0; i < nworkers; i++) {
        pid_t pid = spawn(i);
        if (pid < 0) {
            fprintf(stderr, "prefork-httpd: fork: %s\n", strerror(errno));
            continue;
        }
        live++;
        say("prefork-httpd: worker pid %d started", (int)pid);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);

    unsigned long total = 0;
    while (live > 0) {
        int st;
        pid_t pid = wait(&st);
        int e = errno;
        drain_reports(&total);
        if (pid < 0) {
            if (e == EINTR)
                continue;
            break; /* ECHILD: nobody left */
        }
        int i = 0;
        while (i < nworkers && workers[i] != pid)
            i++;
        if (i == nworkers)
            continue;
        sigprocmask(SIG_BLOCK, &term, &old); /* stopping cannot change below */
        workers[i] = 0;
        pid_t repl = stopping ? -1 : spawn(i);
        if (repl > 0 && WIFSIGNALED(st))
            say("prefork-httpd: worker pid %d killed by signal %d, replaced by pid %d", (int)pid, WTERMSIG(st),
                (int)repl);
        else if (repl > 0)
            say("prefork-httpd: worker pid %d exited with status %d, replaced by pid %d", (int)pid,
                WEXITSTATUS(st), (int)repl);
        else
            live--;
        if (repl < 0 && !stopping)
            fprintf(stderr, "prefork-httpd: fork: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    close(report[1]);
    drain_reports(&total);
    say("prefork-httpd: stopped, served %lu requests", total);
    return stopping ? 0 : 1;
}
