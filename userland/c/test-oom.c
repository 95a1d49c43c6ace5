/* test-oom (Isola only): a copy-on-write fault that finds no frame kills
 * the process holding the most memory, not the one that faulted next.
 *
 * A sibling S blocks on a pipe. The hog H maps and touches 32 MiB, forks
 * G (which shares those pages and waits), then maps and touches 1 MiB
 * pieces until mmap fails with ENOMEM (memory is full: Isola maps eagerly).
 * Then the shared 32 MiB are written again, so each write needs a copy and
 * none can be had: in round 1 by H itself, in round 2 by G. Either way H,
 * holding the most memory, dies of SIGKILL; in round 2 G then gets its
 * copies. G, S and this process (pid 1) live on, and once H and G are
 * reaped the free memory is back. Last, with memory full, a /tmp file,
 * fork and mmap fail with ENOSPC and ENOMEM for the one who asks, and
 * processes piling up pipes get ENOMEM before the kernel's reserve is gone. */
#include "child.h"

#include <fcntl.h>
#include <sys/mman.h>

#define MIB (1UL << 20)
#define SHARED_BYTES (32 * MIB)

static void touch(char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
}

/* This program, for the helpers that must share no page with pid 1 (so
 * that pid 1 can write its own memory with none left: an exclusive page
 * needs no copy). */
static char self[4096];

static void exec_self(const char *role, int fd_a, int fd_b)
{
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", fd_a);
    snprintf(b, sizeof b, "%d", fd_b);
    char *argv[] = {"test-oom", (char *)role, a, b, NULL};
    execv(self, argv);
    _exit(100);
}

/* The sibling: echoes each byte from fd `in` as 'P' on fd `out`. */
static int echo(int in, int out)
{
    char c;
    while (read_full(in, &c, 1) == 1) {
        c = 'P';
        if (write(out, &c, 1) != 1)
            return 2;
    }
    return 0;
}

/* The hog. Reports on `report`: G's pid once G is forked, then 'f' once
 * memory is full. Then the writer writes the shared 32 MiB again: the hog
 * itself, or (child_writes) G, which then reports 'w' (it got its copies).
 * The hog exits 0 if it survives (it must not), 2+ on setup errors. */
static int hog(int report, int child_writes)
{
    char *shared = mmap(NULL, SHARED_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int go[2];
    if (shared == MAP_FAILED || pipe(go) != 0)
        return 2;
    touch(shared, SHARED_BYTES);
    pid_t g = fork();
    if (g < 0)
        return 3;
    if (g == 0) {
        char c;
        if (child_writes && read_full(go[0], &c, 1) == 1) {
            for (size_t i = 0; i < SHARED_BYTES; i += 4096)
                shared[i] = 3;
            c = 'w';
            if (write(report, &c, 1) != 1)
                _exit(2);
        }
        for (;;)
            pause();
    }
    if (write(report, &g, sizeof g) != sizeof g)
        return 4;
    long pieces = 0;
    for (;;) {
        char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        touch(p, MIB);
        pieces++;
    }
    if (errno != ENOMEM || pieces == 0)
        return 5;
    char c = 'f';
    if (write(report, &c, 1) != 1)
        return 6;
    if (child_writes) {
        /* G faults; the hog, the biggest, must be the one to go. */
        if (write(go[1], &c, 1) != 1)
            return 7;
        for (;;)
            pause();
    }
    /* Each write now needs a frame for a private copy. */
    for (size_t i = 0; i < SHARED_BYTES; i += 4096)
        shared[i] = 2;
    return 0;
}

/* One hog; `child_writes`: whether G or the hog itself faults. */
static void round_of(int child_writes, pid_t sibling, int ping_to, int ping_from)
{
    const char *who = child_writes ? "G (small) faults" : "the hog faults";
    char name[160];
    int report[2];
    if (pipe(report) != 0) {
        not_ok("pipe", "%s", errname(errno));
        return;
    }
    mem_free_kb();
    long before_kb = mem_free_kb();
    pid_t h = fork();
    if (h == 0) {
        close(report[0]);
        _exit(hog(report[1], child_writes));
    }
    close(report[1]);
    pid_t g = -1;
    char full = 0, wrote = 0;
    size_t n = read_full(report[0], &g, sizeof g);
    n += read_full(report[0], &full, 1);
    if (child_writes)
        n += read_full(report[0], &wrote, 1);
    int st = 0;
    pid_t w = wait_for(h, &st);
    snprintf(name, sizeof name, "%s: the hog filled memory (mmap until ENOMEM)", who);
    check(n >= sizeof g + 1 && full == 'f', name, "reported %zu bytes", n);
    snprintf(name, sizeof name, "%s: the hog, holding the most memory, dies of SIGKILL", who);
    check(w == h && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, name, "%s", describe_status(st));
    if (child_writes) {
        snprintf(name, sizeof name, "%s: G got its copies once the hog was gone", who);
        check(wrote == 'w', name, "no report");
    }
    char c = 'p';
    snprintf(name, sizeof name, "%s: the sibling, running all along, still answers", who);
    check(write(ping_to, &c, 1) == 1 && read_full(ping_from, &c, 1) == 1 && c == 'P', name, "no answer");
    snprintf(name, sizeof name, "%s: this process (pid 1) lives on", who);
    ok(name);
    /* G, the other sharer, was re-parented to us when the hog died. */
    snprintf(name, sizeof name, "%s: the hog's child (the other sharer) lives on", who);
    check(g > 0 && g != sibling && kill(g, 0) == 0, name, "pid %d: %s", (int)g, errname(errno));
    if (g > 0 && g != sibling) {
        kill(g, SIGKILL);
        snprintf(name, sizeof name, "%s: the hog's child is ours to reap (re-parented to pid 1)", who);
        check(wait_for(g, &st) == g && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, name, "%s", describe_status(st));
    }
    close(report[0]);
    long after_kb = mem_free_kb();
    tap_line("# %s: MemFree %ld kB before the hog, %ld kB after", who, before_kb, after_kb);
    snprintf(name, sizeof name, "%s: the free memory is back once the hog and its child are reaped", who);
    check(before_kb - after_kb < 2048, name, "%ld kB, then %ld kB", before_kb, after_kb);
}

/* Fills memory (mmap of 1 MiB, then of single pages, until ENOMEM),
 * reports 'f', waits to be killed. */
static void filler(int report)
{
    for (size_t piece = MIB; piece >= 4096; piece /= 16) {
        for (;;) {
            char *p = mmap(NULL, piece, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                break;
            touch(p, piece);
        }
    }
    char c = errno == ENOMEM ? 'f' : 'e';
    if (write(report, &c, 1) != 1)
        _exit(2);
    for (;;)
        pause();
}

/* With memory full, what others ask for fails with an errno: a /tmp file
 * (its bytes live in the kernel heap) stops with ENOSPC, fork and mmap
 * give ENOMEM; the kernel's own reserve is not theirs. Once the filler is
 * gone, all of it works again. The filler and the sibling are exec'd, so
 * that they share no page with this process, whose writes then need no
 * copy (a copy would find no frame: the OOM killer's case, tested above). */
static char chunk[1 << 20];

/* A piler: waits for a byte on fd `go`, then makes pipes (kernel records
 * only: nothing is written into them) until pipe fails, and reports the
 * errno as one byte on fd `report`; then waits to be killed. */
static int piler(int go, int report)
{
    char c;
    if (read_full(go, &c, 1) != 1)
        return 2;
    int e = 0;
    for (;;) {
        int p[2];
        if (pipe(p) != 0) {
            e = errno;
            break;
        }
    }
    c = (char)e;
    if (write(report, &c, 1) != 1)
        return 3;
    for (;;)
        pause();
}

#define PILERS 48

static void full_machine(void)
{
    memset(chunk, 7, sizeof chunk);
    int report[2], go[2], piled[2];
    if (pipe(report) != 0 || pipe(go) != 0 || pipe(piled) != 0) {
        not_ok("pipe", "%s", errname(errno));
        return;
    }
    /* A pipe's ring is allocated at its first write and kept while it has a
     * reader: one byte through `go` and `piled` now, so that releasing the
     * pilers and their reports need no memory once it is full (a report
     * refused with ENOMEM left this process waiting for it). */
    char primer = 'p';
    if (write(go[1], &primer, 1) != 1 || read(go[0], &primer, 1) != 1 || write(piled[1], &primer, 1) != 1 ||
        read(piled[0], &primer, 1) != 1) {
        not_ok("priming the release and report pipes", "%s", errname(errno));
        return;
    }
    /* Pilers first (an exec needs memory), released once memory is full. */
    pid_t pilers[PILERS];
    for (int i = 0; i < PILERS; i++) {
        pilers[i] = fork();
        if (pilers[i] == 0)
            exec_self("--pile", go[0], piled[1]);
    }
    close(go[0]);
    close(piled[1]);
    pid_t f = fork();
    if (f == 0) {
        close(report[0]);
        exec_self("--fill", report[1], -1);
    }
    close(report[1]);
    char c = 0;
    check(read_full(report[0], &c, 1) == 1 && c == 'f', "memory full: a filler mapped all it could", "reported %c", c);
    int fd = open("/tmp/test-oom.fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    long mib = 0;
    int e = 0;
    while (fd >= 0 && mib < 64) {
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            e = errno;
            break;
        }
        mib++;
    }
    tap_line("# memory full: %ld MiB of /tmp file written before %s (the kernel heap's free room)", mib, e == ENOSPC ? "ENOSPC" : errname(e));
    check(fd >= 0 && mib < 64 && e == ENOSPC, "memory full: writing a /tmp file stops with ENOSPC",
          "%ld MiB written, errno %s", mib, errname(e));
    if (fd >= 0)
        close(fd);
    unlink("/tmp/test-oom.fill");
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    e = errno;
    check(pid < 0 && e == ENOMEM, "memory full: fork fails with ENOMEM", "fork returned %d, errno %s", (int)pid, errname(e));
    if (pid > 0)
        wait_for(pid, NULL);
    void *m = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    e = errno;
    check(m == MAP_FAILED && e == ENOMEM, "memory full: mmap of 4 MiB fails with ENOMEM", "errno %s", errname(e));
    if (m != MAP_FAILED)
        munmap(m, 4 * MIB);
    /* Processes piling up kernel records (pipes, 48 x 510 of them, more
     * than the kernel's reserve): refused with ENOMEM before the reserve is
     * gone, and the kernel goes on. */
    char release[PILERS];
    memset(release, 'g', sizeof release);
    int enomem = 0, emfile = 0, others = 0;
    if (write(go[1], release, sizeof release) == (ssize_t)sizeof release) {
        for (int i = 0; i < PILERS; i++) {
            char got = 0;
            if (read_full(piled[0], &got, 1) != 1)
                break;
            enomem += got == ENOMEM;
            emfile += got == EMFILE;
            others += got != ENOMEM && got != EMFILE;
        }
    }
    tap_line("# memory full: %d pilers stopped at ENOMEM, %d at EMFILE (1024 descriptors), %d otherwise", enomem, emfile,
             others);
    check(enomem > 0 && others == 0, "memory full: piling up pipes ends in ENOMEM (the kernel keeps its reserve)",
          "%d ENOMEM, %d EMFILE, %d other", enomem, emfile, others);
    for (int i = 0; i < PILERS; i++)
        if (pilers[i] > 0)
            kill(pilers[i], SIGKILL);
    int reaped = 0;
    for (int i = 0; i < PILERS; i++) {
        int pst;
        reaped += pilers[i] > 0 && wait_for(pilers[i], &pst) == pilers[i] && WIFSIGNALED(pst);
    }
    check(reaped == PILERS, "the pilers are killed and reaped", "%d of %d", reaped, PILERS);
    close(go[1]);
    close(piled[0]);
    kill(f, SIGKILL);
    int st;
    check(wait_for(f, &st) == f && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the filler is killed and reaped", "%s",
          describe_status(st));
    close(report[0]);
    pid = fork();
    if (pid == 0)
        _exit(5);
    check(pid > 0 && wait_for(pid, &st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 5, "then fork works again", "%s",
          pid > 0 ? describe_status(st) : errname(errno));
    fd = open("/tmp/test-oom.fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0 && write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk, "and so does writing /tmp", "%s",
          errname(errno));
    if (fd >= 0)
        close(fd);
    unlink("/tmp/test-oom.fill");
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--echo") == 0)
        return echo(atoi(argv[2]), atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "--pile") == 0)
        return piler(atoi(argv[2]), atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "--fill") == 0) {
        filler(atoi(argv[2]));
        return 0;
    }
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0)
        self[len] = '\0';
    else
        snprintf(self, sizeof self, "%s", argv[0]);
    if (!in_isola()) {
        skip("the OOM killer takes the biggest process", "Isola only: fills the machine's memory");
        return tap_done();
    }
    int to_s[2], from_s[2];
    if (pipe(to_s) != 0 || pipe(from_s) != 0) {
        not_ok("pipes", "%s", errname(errno));
        return tap_done();
    }
    pid_t sibling = fork();
    if (sibling == 0) {
        close(to_s[1]);
        close(from_s[0]);
        exec_self("--echo", to_s[0], from_s[1]);
    }
    close(to_s[0]);
    close(from_s[1]);
    round_of(0, sibling, to_s[1], from_s[0]);
    round_of(1, sibling, to_s[1], from_s[0]);
    full_machine();
    close(to_s[1]);
    int st = 0;
    check(wait_for(sibling, &st) == sibling && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "the sibling ends normally when its pipe closes", "%s", describe_status(st));
    return tap_done();
}
