/* test-shared-memory: MAP_SHARED memory is one set of frames for every
 * process that maps it (docs/shared-memory.md).
 *
 * - anonymous MAP_SHARED across fork: the parent sees its children's
 *   writes (a counter several children add to, the test-harness result
 *   page), MAP_SHARED of /dev/zero likewise, MAP_PRIVATE stays private;
 * - a file mapped MAP_SHARED by unrelated processes (this program
 *   re-exec'd as a helper): each sees the other's writes while both map
 *   it; read() sees a mapping's writes (with and without msync), a write()
 *   is seen through the mapping, munmap leaves the data in the file;
 * - O_RDONLY: PROT_READ works, PROT_WRITE and mprotect(PROT_WRITE) EACCES;
 * - munmap of part, mprotect, mremap of shared memory, exec leaving it;
 * - past the end of the object (its file, or mremap growth): SIGBUS;
 * - many shared objects at once (more than there are protection keys);
 * - futexes on shared words: a wake in one process wakes a waiter in
 *   another (and a process-shared semaphore works);
 * - a named semaphore (sem_open in /dev/shm, unlinked at once, as
 *   Python's multiprocessing does): its file lives on while mapped, and a
 *   post in a fork child wakes the parent;
 * - an attack: a process outside the shared domain touching the shared
 *   address gets SIGSEGV (its parent sees it in wait), the others go on;
 * - in Isola at mpk and strict, the PKRU (rdpkru) opens the shared key of
 *   each object mapped and closes it when the last of it is unmapped.
 *
 * Passes on the host Linux first, then in Isola at strict, mpk and none.
 */
#include "tap.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>

#define PAGE 4096
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

static char self[256];

static void find_self(const char *argv0)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        if (access(self, X_OK) == 0)
            return;
    }
    snprintf(self, sizeof self, "%s", argv0);
}

static pid_t wait_for(pid_t pid, int *status)
{
    pid_t w;
    do
        w = waitpid(pid, status, 0);
    while (w < 0 && errno == EINTR);
    return w;
}

/* Exit status 0 of `pid`, else a description in `why`. */
static int exited_zero(pid_t pid, char *why, size_t len)
{
    int st = 0;
    if (wait_for(pid, &st) != pid) {
        snprintf(why, len, "waitpid: %s", errname(errno));
        return 0;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    if (WIFEXITED(st))
        snprintf(why, len, "child exited with %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(why, len, "child killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, len, "child status %#x", st);
    return 0;
}

/* Whether `pid` died of SIGSEGV. */
static int died_of_segv(pid_t pid, int *status)
{
    *status = 0;
    return wait_for(pid, status) == pid && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV;
}

/* Whether `pid` died of SIGBUS. */
static int died_of_sigbus(pid_t pid, int *status)
{
    *status = 0;
    return wait_for(pid, status) == pid && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGBUS;
}

static void *map_anon_shared(size_t len)
{
    return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

/* --- anonymous shared memory across fork ------------------------------- */

static void test_fork_counter(void)
{
    const char *name = "MAP_SHARED|MAP_ANONYMOUS before fork: the parent sees what 4 children add";
    volatile long *counter = map_anon_shared(PAGE);
    if (counter == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    *counter = 1000; /* written before fork: each child sees it */
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            if (*counter < 1000)
                _exit(2);
            for (int n = 0; n < 250; n++)
                __atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
            _exit(0);
        }
    }
    char why[128] = "";
    int good = 1;
    for (int i = 0; i < 4; i++)
        if (kids[i] < 0 || !exited_zero(kids[i], why, sizeof why))
            good = 0;
    check(good && *counter == 2000, name, "counter %ld, %s", *counter, why);
    munmap((void *)counter, PAGE);
}

/* The classic harness: each child leaves its result in a shared page. */
static void test_result_page(void)
{
    const char *name = "children's results in a shared page reach the parent (the test-harness result page)";
    struct results {
        int ran[8];
        int failed[8];
    } *r = map_anon_shared(sizeof *r);
    if (r == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    for (int i = 0; i < 8; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            r->ran[i] = 1;
            r->failed[i] = i % 3 == 0; /* some "tests" fail */
            _exit(0);
        }
        int st;
        wait_for(pid, &st);
    }
    int ran = 0, failed = 0;
    for (int i = 0; i < 8; i++) {
        ran += r->ran[i];
        failed += r->failed[i];
    }
    check(ran == 8 && failed == 3, name, "%d ran, %d failed (want 8, 3)", ran, failed);
    munmap(r, sizeof *r);
}

static void test_child_write_then_parent_write(void)
{
    const char *name = "a child sees the parent's writes after fork, the parent the child's";
    volatile int *p = map_anon_shared(PAGE);
    int go[2], back[2];
    if (p == MAP_FAILED || pipe(go) || pipe(back)) {
        not_ok(name, "setup: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        int seen = p[0];
        p[1] = seen + 1;
        if (write(back[1], "k", 1) != 1)
            _exit(4);
        _exit(seen == 77 ? 0 : 5);
    }
    p[0] = 77; /* after the fork */
    char c;
    int sent = write(go[1], "g", 1) == 1 && read(back[0], &c, 1) == 1;
    int reply = p[1];
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(sent && good && reply == 78, name, "reply %d, %s", reply, why);
    close(go[0]), close(go[1]), close(back[0]), close(back[1]);
    munmap((void *)p, PAGE);
}

static void test_dev_zero_and_private(void)
{
    int fd = open("/dev/zero", O_RDWR);
    volatile int *z = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    volatile int *priv = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (z == MAP_FAILED || priv == MAP_FAILED) {
        not_ok("MAP_SHARED of /dev/zero is shared across fork", "setup: %s", errname(errno));
        return;
    }
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        z[5] = 55;
        priv[5] = 66;
        _exit(0);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(good && z[5] == 55, "MAP_SHARED of /dev/zero is shared across fork", "z[5] = %d, %s", z[5], why);
    check(good && priv[5] == 0, "MAP_PRIVATE stays private: the child's write is its own", "priv[5] = %d", priv[5]);
    munmap((void *)z, PAGE);
    munmap((void *)priv, PAGE);
}

static void test_maps(void)
{
    const char *name = "/proc/self/maps shows shared memory as rw-s";
    char *m = map_anon_shared(PAGE);
    int fd = open("/proc/self/maps", O_RDONLY);
    static char text[65536];
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (m == MAP_FAILED || n <= 0) {
        not_ok(name, "%s", errname(errno));
        return;
    }
    text[n] = '\0';
    close(fd);
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx rw-s ", (unsigned long)(uintptr_t)m, (unsigned long)(uintptr_t)m + PAGE);
    char *line = strstr(text, want);
    check(line != NULL, name, "no line '%s'", want);
    munmap(m, PAGE);
}

/* --- a file mapped shared by unrelated processes ------------------------ */

static char path[64];

/* The helper (this program re-exec'd): maps `path` shared, checks the
 * parent's "parent" at offset 100, writes "helper" at 200, tells the
 * parent, waits for its "again" at 300 and answers at 400. */
static int helper_file(const char *file, int to_parent, int from_parent)
{
    int fd = open(file, O_RDWR);
    if (fd < 0)
        return 10;
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 11;
    close(fd);
    if (memcmp(m + 100, "parent", 6) != 0)
        return 12;
    memcpy(m + 200, "helper", 6);
    memcpy(m + PAGE + 8, "second", 6);
    char c;
    if (write(to_parent, "h", 1) != 1 || read(from_parent, &c, 1) != 1)
        return 13;
    if (memcmp(m + 300, "again", 5) != 0)
        return 14;
    memcpy(m + 400, "answer", 6);
    if (write(to_parent, "a", 1) != 1)
        return 15;
    return 0;
}

static void test_file_between_processes(void)
{
    snprintf(path, sizeof path, "/tmp/test-shared-memory-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char zeros[2 * PAGE] = {0};
    if (fd < 0 || write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros) {
        not_ok("a file mapped MAP_SHARED in two unrelated processes", "create %s: %s", path, errname(errno));
        return;
    }
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int up[2], down[2];
    if (m == MAP_FAILED || pipe(up) || pipe(down)) {
        not_ok("a file mapped MAP_SHARED in two unrelated processes", "mmap: %s", errname(errno));
        return;
    }
    memcpy(m + 100, "parent", 6);
    pid_t pid = fork();
    if (pid == 0) {
        char a[2][16];
        snprintf(a[0], 16, "%d", up[1]);
        snprintf(a[1], 16, "%d", down[0]);
        char *argv[] = {"test-shared-memory", "--helper-file", path, a[0], a[1], NULL};
        execv(self, argv);
        _exit(100);
    }
    close(up[1]);
    close(down[0]);
    char c;
    int first = read(up[0], &c, 1) == 1;
    check(first && memcmp(m + 200, "helper", 6) == 0 && memcmp(m + PAGE + 8, "second", 6) == 0,
          "a file mapped MAP_SHARED in two unrelated processes: the parent sees the helper's writes", "got '%.6s'",
          m + 200);
    memcpy(m + 300, "again", 5);
    int second = write(down[1], "p", 1) == 1 && read(up[0], &c, 1) == 1;
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(second && good && memcmp(m + 400, "answer", 6) == 0,
          "... and the helper sees the parent's (both mapping the file at once)", "%s, got '%.6s'", why, m + 400);
    close(up[0]);
    close(down[1]);

    /* read() and write() against the mapping. */
    char buf[16] = {0};
    memcpy(m + 500, "direct", 6);
    check(pread(fd, buf, 6, 500) == 6 && memcmp(buf, "direct", 6) == 0, "read() sees a mapping's write (no msync)",
          "read '%.6s'", buf);
    memcpy(m + PAGE + 600, "synced", 6);
    int synced = msync(m, 2 * PAGE, MS_SYNC);
    memset(buf, 0, sizeof buf);
    check(synced == 0 && pread(fd, buf, 6, PAGE + 600) == 6 && memcmp(buf, "synced", 6) == 0,
          "read() sees a mapping's write after msync(MS_SYNC)", "msync %d, read '%.6s'", synced, buf);
    check(pwrite(fd, "through", 7, 700) == 7 && memcmp(m + 700, "through", 7) == 0,
          "write() to the file is seen through the mapping", "mapping has '%.7s'", m + 700);
    check(msync(m, PAGE, MS_ASYNC) == 0 && msync(m, PAGE, MS_INVALIDATE) == 0, "msync MS_ASYNC and MS_INVALIDATE",
          "%s", errname(errno));
    check(msync(m, PAGE, MS_SYNC | MS_ASYNC) < 0 && errno == EINVAL, "msync MS_SYNC|MS_ASYNC is EINVAL", "errno %s",
          errname(errno));

    /* A private mapping taken now starts from what the shared one wrote. */
    char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(p != MAP_FAILED && memcmp(p + 200, "helper", 6) == 0, "a MAP_PRIVATE mapping of the file sees the shared writes",
          "%s", p == MAP_FAILED ? errname(errno) : "different bytes");
    if (p != MAP_FAILED) {
        memcpy(p + 200, "privat", 6);
        check(memcmp(m + 200, "helper", 6) == 0, "... and its own writes stay its own", "shared mapping has '%.6s'", m + 200);
        munmap(p, PAGE);
    }

    /* munmap (without msync) leaves the data in the file. */
    memcpy(m + 800, "unmapd", 6);
    munmap(m, 2 * PAGE);
    close(fd);
    fd = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    check(fd >= 0 && pread(fd, buf, 6, 800) == 6 && memcmp(buf, "unmapd", 6) == 0,
          "after munmap and close, the file holds what the mapping wrote", "read '%.6s'", buf);
    struct stat st;
    check(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 2 * PAGE, "a shared mapping never changes the file's size",
          "size %lld", (long long)st.st_size);

    /* O_RDONLY: PROT_READ yes, PROT_WRITE no. */
    char *ro = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    check(ro != MAP_FAILED && memcmp(ro + 100, "parent", 6) == 0, "MAP_SHARED|PROT_READ of an O_RDONLY file works",
          "%s", ro == MAP_FAILED ? errname(errno) : "wrong bytes");
    if (ro != MAP_FAILED) {
        check(mprotect(ro, PAGE, PROT_READ | PROT_WRITE) < 0 && errno == EACCES,
              "mprotect(PROT_WRITE) of that mapping is EACCES", "errno %s", errname(errno));
        munmap(ro, PAGE);
    }
    void *rw = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(rw == MAP_FAILED && errno == EACCES, "MAP_SHARED|PROT_WRITE of an O_RDONLY file is EACCES", "%s",
          rw == MAP_FAILED ? errname(errno) : "mapped");
    if (rw != MAP_FAILED)
        munmap(rw, PAGE);
    close(fd);

    /* A third process mapping it later sees everything. */
    pid = fork();
    if (pid == 0) {
        int f = open(path, O_RDWR);
        char *n = f < 0 ? MAP_FAILED : mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, f, 0);
        if (n == MAP_FAILED)
            _exit(2);
        _exit(memcmp(n + 800, "unmapd", 6) == 0 && memcmp(n + 700, "through", 7) == 0 ? 0 : 3);
    }
    why[0] = '\0';
    check(exited_zero(pid, why, sizeof why), "a process mapping the file after all were unmapped sees their writes", "%s",
          why);

    /* ftruncate: what is cut reads as zeros when the file grows again. */
    fd = open(path, O_RDWR);
    m = fd < 0 ? MAP_FAILED : mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
        m[PAGE] = 'q'; /* the second page is mapped here before the cut */
        int cut = ftruncate(fd, 512) == 0;
        pid = fork();
        if (pid == 0) {
            (void)*(volatile char *)(m + PAGE); /* past the new end */
            _exit(0);
        }
        int st;
        check(cut && died_of_sigbus(pid, &st), "after ftruncate down, a page past the new end is SIGBUS", "status %#x", st);
        cut = cut && ftruncate(fd, 2 * PAGE) == 0;
        check(cut && m[100] == 'p' && m[800] == 0 && m[PAGE + 8] == 0,
              "ftruncate down and up: the mapping reads zeros past the cut", "m[800] = %d, m[PAGE+8] = %d", m[800],
              m[PAGE + 8]);
        munmap(m, 2 * PAGE);
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
}

/* --- munmap of part, mprotect, mremap, exec ----------------------------- */

static void test_partial_unmap(void)
{
    const char *name = "munmap of a shared region's middle page: the rest stays shared";
    char *m = map_anon_shared(3 * PAGE);
    if (m == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    if (munmap(m + PAGE, PAGE) != 0) {
        not_ok(name, "munmap: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        m[0] = 'a';
        m[2 * PAGE] = 'c';
        _exit(0);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(good && m[0] == 'a' && m[2 * PAGE] == 'c', name, "%s, got %d %d", why, m[0], m[2 * PAGE]);
    pid = fork();
    if (pid == 0) {
        m[PAGE] = 'b'; /* unmapped: SIGSEGV */
        _exit(0);
    }
    int st;
    check(died_of_segv(pid, &st), "a write to the unmapped middle page is SIGSEGV", "status %#x", st);
    munmap(m, 3 * PAGE);
}

static void test_mprotect(void)
{
    char *m = map_anon_shared(2 * PAGE);
    if (m == MAP_FAILED) {
        not_ok("mprotect of shared memory", "mmap: %s", errname(errno));
        return;
    }
    m[0] = 1;
    check(mprotect(m, PAGE, PROT_READ) == 0, "mprotect(PROT_READ) of shared memory", "%s", errname(errno));
    pid_t pid = fork();
    if (pid == 0) {
        m[0] = 2; /* read-only: SIGSEGV */
        _exit(0);
    }
    int st;
    check(died_of_segv(pid, &st) && m[0] == 1, "a write to it is SIGSEGV and changes nothing", "status %#x, m[0] %d", st,
          m[0]);
    check(mprotect(m, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back to PROT_READ|PROT_WRITE", "%s", errname(errno));
    pid = fork();
    if (pid == 0) {
        m[0] = 3;
        m[PAGE] = 4;
        _exit(0);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(good && m[0] == 3 && m[PAGE] == 4, "written again, still shared (never copied on write)", "%s, m[0] %d", why,
          m[0]);
    m[1] = 9; /* the parent's write to the page made writable again */
    check(m[1] == 9, "the parent writes it too", "m[1] %d", m[1]);
    if (in_isola()) {
        check(mprotect(m, PAGE, PROT_READ | PROT_EXEC) < 0 && errno == EACCES,
              "mprotect(PROT_EXEC) of shared memory is EACCES in Isola (bytes others can change)", "errno %s",
              errname(errno));
        void *x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        check(x == MAP_FAILED && errno == EACCES, "mmap of executable MAP_SHARED memory is EACCES in Isola", "%s",
              x == MAP_FAILED ? errname(errno) : "mapped");
    } else {
        skip("executable shared memory is EACCES", "Isola only (Linux allows it)");
    }
    munmap(m, 2 * PAGE);
}

/* A read-only executable MAP_SHARED mapping of a file (Python's mmap test
 * makes one): it maps and reads the file in Isola too (as a private
 * mapping would, scanned for WRPKRU), can never be made writable, and a
 * file holding WRPKRU is refused. */
static void test_exec_shared_file(void)
{
    char file[64];
    snprintf(file, sizeof file, "/tmp/test-shared-exec-%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PAGE];
    memset(page, 0xc3, sizeof page); /* ret */
    if (fd < 0 || write(fd, page, sizeof page) != (ssize_t)sizeof page) {
        not_ok("a read-only executable MAP_SHARED mapping of a file", "create %s: %s", file, errname(errno));
        return;
    }
    close(fd);
    fd = open(file, O_RDONLY);
    unsigned char *x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    check(x != MAP_FAILED && x[0] == 0xc3 && x[PAGE - 1] == 0xc3, "a read-only executable MAP_SHARED mapping of a file maps and reads it",
          "%s", x == MAP_FAILED ? errname(errno) : "wrong bytes");
    if (x != MAP_FAILED) {
        ((void (*)(void))x)();
        ok("code in it runs");
        check(mprotect(x, PAGE, PROT_READ | PROT_WRITE) < 0 && errno == EACCES,
              "mprotect(PROT_WRITE) of it is EACCES (the file is open read-only)", "%s", errname(errno));
        munmap(x, PAGE);
    }
    close(fd);
    if (in_isola()) {
        fd = open(file, O_RDWR);
        static const unsigned char wrpkru[] = {0x0f, 0x01, 0xef};
        ssize_t w = pwrite(fd, wrpkru, sizeof wrpkru, 100);
        x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        check(w == 3 && x == MAP_FAILED, "a file with WRPKRU is refused executable MAP_SHARED too", "%s",
              x == MAP_FAILED ? errname(errno) : "mapped");
        close(fd);
    } else {
        skip("a file with WRPKRU is refused executable MAP_SHARED", "Isola only");
    }
    unlink(file);
}

static void test_mremap(void)
{
    const char *name = "mremap moves shared memory: still shared at its new address";
    char *m = map_anon_shared(2 * PAGE);
    /* A free place to move to. */
    char *to = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || to == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    m[0] = 'x';
    char *g = mremap(m, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (g != to) {
        not_ok(name, "mremap: %s", g == MAP_FAILED ? errname(errno) : "elsewhere");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (g[0] != 'x')
            _exit(2);
        g[PAGE + 5] = 'y';
        g[1] = 'z';
        _exit(0);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(good && g[PAGE + 5] == 'y' && g[1] == 'z', name, "%s", why);
    pid = fork();
    if (pid == 0) {
        m[0] = 'o'; /* the old address: gone */
        _exit(0);
    }
    int st;
    check(died_of_segv(pid, &st), "the old address is unmapped after the move", "status %#x", st);
    char *s = mremap(g, 2 * PAGE, PAGE, 0);
    pid = fork();
    if (pid == 0) {
        g[2] = 'w';
        _exit(0);
    }
    good = exited_zero(pid, why, sizeof why);
    check(s == g && good && g[0] == 'x' && g[2] == 'w', "mremap shrinks shared memory in place, the rest still shared",
          "%s", s == MAP_FAILED ? errname(errno) : why);
    munmap(g, PAGE);
}

static void test_past_the_end(void)
{
    /* mremap growth of anonymous shared memory: past its size is SIGBUS. */
    char *m = map_anon_shared(PAGE);
    char *g = m == MAP_FAILED ? MAP_FAILED : mremap(m, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
    if (g == MAP_FAILED) {
        not_ok("mremap growth of shared anonymous memory", "%s", errname(errno));
        return;
    }
    g[0] = 'k';
    pid_t pid = fork();
    if (pid == 0) {
        g[PAGE] = 'x';
        _exit(0);
    }
    int st;
    check(died_of_sigbus(pid, &st) && g[0] == 'k', "past a shared anonymous object's size (after mremap growth): SIGBUS",
          "status %#x", st);
    munmap(g, 2 * PAGE);

    /* A file of one page mapped for two: the second page is SIGBUS. */
    char file[64];
    snprintf(file, sizeof file, "/tmp/test-shared-memory-end-%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "end", 3) != 3) {
        not_ok("a shared file mapping past the end of the file", "create: %s", errname(errno));
        return;
    }
    char *f = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f == MAP_FAILED) {
        not_ok("a shared file mapping past the end of the file", "mmap: %s", errname(errno));
        return;
    }
    f[100] = 'z'; /* the last page, past the file's end in it: fine */
    check(memcmp(f, "end", 3) == 0, "the file's last partial page maps, zeros after its end", "%.3s", f);
    pid = fork();
    if (pid == 0) {
        (void)*(volatile char *)(f + PAGE);
        _exit(0);
    }
    check(died_of_sigbus(pid, &st), "a page wholly past the end of the file: SIGBUS", "status %#x", st);
    int pipefd[2];
    if (pipe(pipefd) == 0) {
        ssize_t w = write(pipefd[1], "data", 4);
        ssize_t r = read(pipefd[0], f + PAGE, 4);
        check(w == 4 && r < 0 && errno == EFAULT, "read(2) into it is EFAULT", "read %zd, %s", r, errname(errno));
        close(pipefd[0]);
        close(pipefd[1]);
    }
    struct stat sb;
    check(fstat(fd, &sb) == 0 && sb.st_size == 3, "and the file keeps its size (a write in its last page is not growth)",
          "size %lld", (long long)sb.st_size);
    /* Grown by write(2), the page is there. */
    check(pwrite(fd, "grow", 4, PAGE) == 4 && memcmp(f + PAGE, "grow", 4) == 0,
          "once the file grows the page maps, with the file's bytes", "%.4s", f + PAGE);
    munmap(f, 2 * PAGE);
    close(fd);
    unlink(file);
}

static void test_exec_leaves(void)
{
    const char *name = "after exec the shared memory is gone from the new image (touching it is SIGSEGV)";
    char *m = map_anon_shared(PAGE);
    if (m == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    m[0] = 's';
    pid_t pid = fork();
    if (pid == 0) {
        char a[32];
        snprintf(a, sizeof a, "%lu", (unsigned long)(uintptr_t)m);
        char *argv[] = {"test-shared-memory", "--helper-touch", a, NULL};
        execv(self, argv);
        _exit(100);
    }
    int st;
    check(died_of_segv(pid, &st), name, "status %#x", st);
    check(m[0] == 's', "the parent's mapping is untouched by the child's exec", "m[0] %d", m[0]);
    munmap(m, PAGE);
}

/* The helper that touches an address it does not map. */
static int helper_touch(const char *addr)
{
    volatile char *p = (volatile char *)(uintptr_t)strtoul(addr, NULL, 10);
    return *p == 's' ? 3 : 4; /* reaching here is a failure: it must fault */
}

/* --- many objects: more than there are protection keys ------------------ */

#define OBJECTS 40

static void test_many_objects(void)
{
    const char *name = "40 shared objects at once (more than the 16 keys): each is shared, none mixed up";
    volatile int *obj[OBJECTS];
    for (int i = 0; i < OBJECTS; i++) {
        obj[i] = map_anon_shared(PAGE);
        if (obj[i] == MAP_FAILED) {
            not_ok(name, "mmap %d: %s", i, errname(errno));
            while (i-- > 0)
                munmap((void *)obj[i], PAGE);
            return;
        }
    }
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < OBJECTS; i++)
            obj[i][i] = 1000 + i;
        _exit(0);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    int wrong = -1;
    for (int i = 0; i < OBJECTS && wrong < 0; i++)
        for (int j = 0; j < OBJECTS; j++)
            if (obj[i][j] != (j == i ? 1000 + i : 0)) {
                wrong = i;
                break;
            }
    check(good && wrong < 0, name, "%s, object %d wrong", why, wrong);
    /* And while they all live, a private fork still works and a new
     * object is made (the keys ran out long ago). */
    volatile int *more = map_anon_shared(PAGE);
    pid = fork();
    if (pid == 0) {
        if (more != MAP_FAILED)
            more[0] = 7;
        _exit(0);
    }
    good = exited_zero(pid, why, sizeof why);
    check(more != MAP_FAILED && good && more[0] == 7, "one more object after the keys ran out", "%s",
          more == MAP_FAILED ? errname(errno) : why);
    if (more != MAP_FAILED)
        munmap((void *)more, PAGE);
    for (int i = 0; i < OBJECTS; i++)
        munmap((void *)obj[i], PAGE);
    /* All gone: objects come and go without leaking. */
    int leaks = 0;
    for (int round = 0; round < 200; round++) {
        volatile int *t = map_anon_shared(PAGE);
        if (t == MAP_FAILED) {
            leaks = round + 1;
            break;
        }
        t[0] = round;
        munmap((void *)t, PAGE);
    }
    check(leaks == 0, "200 objects made and dropped in turn", "mmap failed at round %d", leaks - 1);
}

static long mem_free_kb(void)
{
    char text[4096];
    int fd = open("/proc/meminfo", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *line = strstr(text, "MemFree:");
    return line ? strtol(line + 8, NULL, 10) : -1;
}

/* Objects touched by a forked member and dropped give all their frames back. */
static void test_no_frame_lost(void)
{
    const char *name = "50 objects of 16 pages, touched by a child and dropped: no frame lost";
    if (!in_isola()) {
        skip(name, "Isola only (the host's MemFree moves on its own)");
        return;
    }
    long before = mem_free_kb();
    for (int round = 0; round < 50; round++) {
        char *m = map_anon_shared(16 * PAGE);
        if (m == MAP_FAILED) {
            not_ok(name, "mmap: %s", errname(errno));
            return;
        }
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 16; i++)
                m[i * PAGE] = (char)i;
            _exit(0);
        }
        int st;
        wait_for(pid, &st);
        m[0] = 1;
        munmap(m, 16 * PAGE);
    }
    long after = mem_free_kb();
    check(before > 0 && after > 0 && before - after < 64, name, "MemFree %ld -> %ld kB", before, after);
}

/* --- the attack: a process outside the shared domain -------------------- */

static void test_outsider(void)
{
    const char *name = "a process outside the shared domain touching the shared address gets SIGSEGV";
    int addr_pipe[2];
    if (pipe(addr_pipe)) {
        not_ok(name, "pipe: %s", errname(errno));
        return;
    }
    /* The outsider is forked before the memory exists: it is no member. */
    pid_t outsider = fork();
    if (outsider == 0) {
        uintptr_t at = 0;
        if (read(addr_pipe[0], &at, sizeof at) != (ssize_t)sizeof at)
            _exit(2);
        volatile char *guess = (volatile char *)at;
        char stolen = guess[0]; /* the guessed location: must fault */
        _exit(stolen == 'S' ? 3 : 4);
    }
    char *secret = map_anon_shared(PAGE);
    if (secret == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    memcpy(secret, "SECRET", 6);
    /* A member, forked after: it reads and writes the memory. */
    pid_t member = fork();
    if (member == 0)
        _exit(memcmp(secret, "SECRET", 6) == 0 && (secret[10] = 'm') ? 0 : 5);
    uintptr_t at = (uintptr_t)secret;
    if (write(addr_pipe[1], &at, sizeof at) != (ssize_t)sizeof at) {
        not_ok(name, "write: %s", errname(errno));
        return;
    }
    int st;
    check(died_of_segv(outsider, &st), name, "status %#x", st);
    char why[128] = "";
    check(exited_zero(member, why, sizeof why) && secret[10] == 'm', "a member goes on reading and writing it", "%s",
          why);
    check(memcmp(secret, "SECRET", 6) == 0, "the parent goes on with its memory intact", "%.6s", secret);
    close(addr_pipe[0]);
    close(addr_pipe[1]);
    munmap(secret, PAGE);
}

/* --- futexes on shared words: waits and wakes across processes -------- */

static long futex(volatile int *word, int op, int val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

static void test_shared_futex(void)
{
    const char *name = "FUTEX_WAKE in one process wakes a FUTEX_WAIT in another on a shared word";
    volatile int *word = map_anon_shared(PAGE);
    if (word == MAP_FAILED) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec limit = {20, 0}; /* a lost wake fails, never hangs */
        long r;
        do
            r = futex(word, FUTEX_WAIT, 0, &limit);
        while (r < 0 && errno == EINTR);
        _exit(r == 0 && word[0] == 1 ? 0 : r < 0 && errno == ETIMEDOUT ? 2 : 3);
    }
    /* Wake once the child sleeps: until a wake finds it (at most ~10 s). */
    long woken = 0;
    for (int i = 0; i < 1000 && woken == 0; i++) {
        usleep(10000);
        word[0] = 1;
        woken = futex(word, FUTEX_WAKE, 1, NULL);
    }
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(good && woken == 1, name, "wake returned %ld, %s", woken, why);
    check(futex(word, FUTEX_WAKE, 10, NULL) == 0, "a wake with nobody waiting wakes 0", "%s", errname(errno));

    /* A process-shared semaphore, as test harnesses use one. */
    sem_t *sem = (sem_t *)(word + 16);
    name = "a process-shared semaphore in shared memory: sem_wait returns after the other process's sem_post";
    if (sem_init(sem, 1, 0) != 0) {
        not_ok(name, "sem_init: %s", errname(errno));
        return;
    }
    pid = fork();
    if (pid == 0) {
        usleep(50000);
        _exit(sem_post(sem) == 0 ? 0 : 1);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    int r;
    do
        r = sem_timedwait(sem, &until);
    while (r < 0 && errno == EINTR);
    int waited = r;
    good = exited_zero(pid, why, sizeof why);
    check(waited == 0 && good, name, "sem_timedwait %d (%s), %s", waited, errname(errno), why);
    sem_destroy(sem);
    munmap((void *)word, PAGE);
}

/* sem_open makes a file in /dev/shm and maps it MAP_SHARED; Python's
 * multiprocessing unlinks the name at once, so the mapping alone keeps the
 * file (and its size) alive. */
static void test_named_semaphore(void)
{
    char name[64];
    snprintf(name, sizeof name, "/isola-test-%d", (int)getpid());
    sem_t *sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
    check(sem != SEM_FAILED, "sem_open(O_CREAT) in /dev/shm", "%s", errname(errno));
    if (sem == SEM_FAILED)
        return;
    check(sem_unlink(name) == 0, "sem_unlink right away", "%s", errname(errno));
    int value = -1;
    check(sem_getvalue(sem, &value) == 0 && value == 1, "an unlinked semaphore's mapping still reads (no SIGBUS)", "value %d", value);
    check(sem_wait(sem) == 0 && sem_getvalue(sem, &value) == 0 && value == 0, "sem_wait takes it", "value %d", value);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        _exit(sem_post(sem) == 0 ? 0 : 1);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    int r;
    do
        r = sem_timedwait(sem, &until);
    while (r < 0 && errno == EINTR);
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(r == 0 && good, "a fork child's sem_post wakes the parent's sem_timedwait on the unlinked semaphore", "r %d (%s), %s", r,
          errname(errno), why);
    check(sem_close(sem) == 0, "sem_close", "%s", errname(errno));
}

/* --- the PKRU each process runs with (Isola at mpk and strict) --------- */

static unsigned read_pkru(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0)); /* rdpkru */
    return eax;
}

/* Domain keys (1..14) the PKRU lets the process read. */
static int open_keys(unsigned pkru)
{
    int n = 0;
    for (int k = 1; k <= 14; k++)
        n += !(pkru >> (2 * k) & 1);
    return n;
}

static void test_pkru_membership(void)
{
    enum isola_env env = isola_env();
    if (env != ENV_ISOLA_MPK && env != ENV_ISOLA_STRICT) {
        skip("the PKRU opens the shared domains a process is a member of",
             env == ENV_HOST ? "Isola only (Linux has no per-process keys)" : "not applicable: no PKU");
        return;
    }
    int alone = open_keys(read_pkru());
    check(alone == 1, "a process without shared memory has only its own key open", "%d keys open", alone);
    char *m = map_anon_shared(PAGE);
    int member = open_keys(read_pkru());
    check(m != MAP_FAILED && member == 2, "mapping shared memory opens one more key: the shared domain's", "%d keys open",
          member);
    int child_keys[2];
    if (pipe(child_keys) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int n = open_keys(read_pkru());
            _exit(write(child_keys[1], &n, sizeof n) == (ssize_t)sizeof n ? 0 : 1);
        }
        int n = -1, st;
        ssize_t got = read(child_keys[0], &n, sizeof n);
        wait_for(pid, &st);
        check(got == (ssize_t)sizeof n && n == 2, "a forked child is a member too (its key and the shared one)",
              "%d keys open", n);
        close(child_keys[0]);
        close(child_keys[1]);
    }
    if (m != MAP_FAILED)
        munmap(m, PAGE);
    int after = open_keys(read_pkru());
    check(after == 1, "munmap of the last of it closes the shared key again", "%d keys open", after);
    /* Many objects: the keys they take are bounded (docs/shared-memory.md). */
    void *many[OBJECTS];
    int mapped = 0;
    for (; mapped < OBJECTS; mapped++)
        if ((many[mapped] = map_anon_shared(PAGE)) == MAP_FAILED)
            break;
    int n = open_keys(read_pkru());
    check(mapped == OBJECTS && n >= 2 && n <= 7, "40 objects open at most 6 shared keys (then keys are shared)",
          "%d mapped, %d keys open", mapped, n);
    while (mapped-- > 0)
        munmap(many[mapped], PAGE);
    check(open_keys(read_pkru()) == 1, "all unmapped: only the own key again", "%d keys open", open_keys(read_pkru()));
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--helper-file") == 0)
        return helper_file(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 3 && strcmp(argv[1], "--helper-touch") == 0)
        return helper_touch(argv[2]);
    find_self(argv[0]);
    test_fork_counter();
    test_result_page();
    test_child_write_then_parent_write();
    test_dev_zero_and_private();
    test_maps();
    test_file_between_processes();
    test_partial_unmap();
    test_mprotect();
    test_exec_shared_file();
    test_mremap();
    test_past_the_end();
    test_exec_leaves();
    test_many_objects();
    test_no_frame_lost();
    test_outsider();
    test_shared_futex();
    test_named_semaphore();
    test_pkru_membership();
    return tap_done();
}
