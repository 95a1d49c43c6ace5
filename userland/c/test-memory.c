/* test-memory: brk, mmap, munmap, mprotect, checked one by one.
 *
 * Nothing here touches memory after unmapping or write-protecting it: a
 * fault would end the program instead of reporting a check. The W^X checks
 * hold only inside Isola (Linux allows writable+executable mappings), so
 * they are skipped on the host. */
#include "tap.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PAGE 4096UL

static void test_brk(void)
{
    long cur = syscall(SYS_brk, 0L);
    check(cur > 0, "brk(0) returns the break", "brk(0) returned %#lx", cur);
    if (cur <= 0)
        return;
    long want = cur + 64 * (long)PAGE;
    long grown = syscall(SYS_brk, want);
    check(grown == want, "brk grows", "brk(%#lx) returned %#lx", want, grown);
    if (grown != want)
        return;
    /* The new memory is zeroed and writable. */
    volatile unsigned char *p = (volatile unsigned char *)cur;
    int zero = 1;
    for (long i = 0; i < 64 * (long)PAGE; i += 512)
        zero &= p[i] == 0;
    for (long i = 0; i < 64 * (long)PAGE; i += 512)
        p[i] = (unsigned char)(i >> 9);
    int same = 1;
    for (long i = 0; i < 64 * (long)PAGE; i += 512)
        same &= p[i] == (unsigned char)(i >> 9);
    check(zero && same, "brk memory is zeroed and writable", "zeroed %d, kept writes %d", zero,
          same);
    long shrunk = syscall(SYS_brk, cur + (long)PAGE);
    check(shrunk == cur + (long)PAGE, "brk shrinks", "brk(%#lx) returned %#lx", cur + (long)PAGE,
          shrunk);
    long again = syscall(SYS_brk, 0L);
    check(again == shrunk, "brk(0) after shrinking", "brk(0) returned %#lx, want %#lx", again,
          shrunk);
    syscall(SYS_brk, cur);
}

static void test_anon(void)
{
    size_t len = 16 * PAGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED && ((uintptr_t)p & (PAGE - 1)) == 0, "mmap anonymous RW",
          "mmap returned %p (%s)", (void *)p, errname(errno));
    if (p == MAP_FAILED)
        return;
    int zero = 1;
    for (size_t i = 0; i < len; i += 256)
        zero &= p[i] == 0;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7);
    int same = 1;
    for (size_t i = 0; i < len; i++)
        same &= p[i] == (unsigned char)(i * 7);
    check(zero && same, "anonymous memory is zeroed and keeps writes", "zeroed %d, kept %d", zero,
          same);

    int r = mprotect(p, PAGE, PROT_READ);
    check(r == 0, "mprotect RW -> R", "mprotect returned %d (%s)", r, errname(errno));
    check(p[5] == (unsigned char)35, "read after mprotect R", "read %u", p[5]);

    /* MAP_FIXED over the second page of the mapping: replaced by zeros. */
    unsigned char *q = mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(q == p + PAGE && q[10] == 0 && p[2 * PAGE + 1] == (unsigned char)((2 * PAGE + 1) * 7),
          "MAP_FIXED replaces pages in place", "mmap returned %p (wanted %p), q[10] %u", (void *)q,
          (void *)(p + PAGE), q == MAP_FAILED ? 0 : q[10]);

    r = munmap(p, len);
    check(r == 0, "munmap", "munmap returned %d (%s)", r, errname(errno));
    /* A fresh mapping still works after the unmap. */
    p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap after munmap", "mmap returned %p (%s)", (void *)p, errname(errno));
    if (p != MAP_FAILED) {
        p[0] = 1;
        munmap(p, PAGE);
    }
    /* A large mapping, touched sparsely (lazy allocation). */
    size_t big = 64UL << 20;
    p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        not_ok("mmap 64 MiB", "mmap failed (%s)", errname(errno));
    } else {
        p[0] = 1;
        p[big / 2] = 2;
        p[big - 1] = 3;
        check(p[0] == 1 && p[big / 2] == 2 && p[big - 1] == 3, "mmap 64 MiB, touched sparsely",
              "values lost");
        munmap(p, big);
    }
}

static void test_file_mapping(void)
{
    const char text[] = "mapped file contents\n";
    char name[64];
    snprintf(name, sizeof name, "test-memory.%d", (int)getpid());
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        skip("mmap private file mapping", "cannot create a file in the current directory");
        return;
    }
    long w = write(fd, text, sizeof text - 1);
    close(fd);
    fd = open(name, O_RDONLY);
    char *m = fd >= 0 ? mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    check(w == (long)sizeof text - 1 && m != MAP_FAILED && memcmp(m, text, sizeof text - 1) == 0 &&
              m[sizeof text - 1] == 0,
          "mmap private file mapping shows the file", "write %ld, mmap %p (%s)", w, (void *)m,
          errname(errno));
    if (m != MAP_FAILED)
        munmap(m, PAGE);
    /* Private and writable: writes stay in the mapping, not in the file. */
    m = fd >= 0 ? mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (m != MAP_FAILED) {
        m[0] = 'M';
        char buf[4] = {0};
        long n = pread(fd, buf, 1, 0);
        check(m[0] == 'M' && n == 1 && buf[0] == 'm', "MAP_PRIVATE writes stay private",
              "mapping '%c', file '%c'", m[0], buf[0]);
        munmap(m, PAGE);
    } else {
        not_ok("MAP_PRIVATE writes stay private", "mmap failed (%s)", errname(errno));
    }
    if (fd >= 0)
        close(fd);
    unlink(name);
}

/* A file of `pages` pages where byte i is (i * 7 + i / 4096) & 0xff. */
static int make_pattern_file(const char *name, int pages)
{
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    static unsigned char page[PAGE];
    for (int p = 0; p < pages; p++) {
        for (unsigned long i = 0; i < PAGE; i++)
            page[i] = (unsigned char)((p * PAGE + i) * 7 + p);
        if (write(fd, page, PAGE) != (long)PAGE) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* The first byte of `m` (from page `from` on) that differs from the pattern, or -1. */
static long pattern_mismatch(const unsigned char *m, int from, int pages)
{
    for (int p = from; p < pages; p++)
        for (unsigned long i = 0; i < PAGE; i += 509)
            if (m[p * PAGE + i] != (unsigned char)((p * PAGE + i) * 7 + p))
                return (long)(p * PAGE + i);
    return -1;
}

/* File pages are faulted in on first touch (Isola: a run of them at a
 * time), so what a mapping shows must not depend on when it is touched:
 * the file's pages even after the file is closed and unlinked, the file's
 * new bytes for pages not touched before a write (Linux's page cache; a
 * touched private page keeps what it had), the same pages in a forked
 * child, and private writes that never reach the file. */
static void test_file_pages_on_first_touch(void)
{
    enum { PAGES = 40 };
    char name[64];
    snprintf(name, sizeof name, "test-memory-lazy.%d", (int)getpid());
    int fd = make_pattern_file(name, PAGES);
    unsigned char *m = fd >= 0 ? mmap(NULL, PAGES * PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (m == MAP_FAILED) {
        not_ok("file pages on first touch", "setup failed (%s)", errname(errno));
        return;
    }
    /* Touch page 0 only, then change pages 0 and 30 of the file. */
    unsigned char first = m[0];
    unsigned char x[2] = {'X', 'X'};
    long w0 = pwrite(fd, x, 1, 0), w30 = pwrite(fd, x, 2, 30 * PAGE);
    check(w0 == 1 && w30 == 2 && m[30 * PAGE] == 'X' && m[30 * PAGE + 1] == 'X',
          "an untouched private page shows the file's new bytes", "pwrite %ld %ld, page 30 has %02x %02x",
          w0, w30, m[30 * PAGE], m[30 * PAGE + 1]);
    (void)first;
    pid_t child = fork();
    if (child == 0) {
        /* Pages 1..29 are untouched in the parent: the child faults them in. */
        _exit(pattern_mismatch(m, 1, 30) == -1 && m[30 * PAGE] == 'X' ? 0 : 1);
    }
    int status = -1;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child sees the file's pages the parent never touched",
          "child status %#x", status);
    close(fd);
    unlink(name);
    long bad = pattern_mismatch(m, 31, PAGES);
    check(bad == -1, "pages first touched after close and unlink show the file", "byte %ld differs", bad);
    munmap(m, PAGES * PAGE);

    /* Private and writable, untouched: a write copies the file's page. */
    fd = make_pattern_file(name, 4);
    unsigned char *w = fd >= 0 ? mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (w == MAP_FAILED) {
        not_ok("a write to an untouched private file page", "setup failed (%s)", errname(errno));
        return;
    }
    w[2 * PAGE + 5] = 'W';
    unsigned char in_file = 0;
    long n = pread(fd, &in_file, 1, 2 * PAGE + 5);
    check(w[2 * PAGE + 5] == 'W' && n == 1 && in_file == (unsigned char)((2 * PAGE + 5) * 7 + 2) &&
              w[2 * PAGE + 4] == (unsigned char)((2 * PAGE + 4) * 7 + 2),
          "a write to an untouched private file page copies it, the file stays", "mapping %02x, file %02x",
          w[2 * PAGE + 5], in_file);
    munmap(w, 4 * PAGE);
    close(fd);
    unlink(name);
}

/* A file mapped executable whose untouched pages are rewritten with a
 * WRPKRU afterwards: the new bytes are checked when the page is faulted
 * in, so calling into them kills the caller (SIGSEGV), never runs them. */
static void test_exec_pages_checked_on_first_touch(void)
{
    const char *name = "executable file pages changed after mmap are checked on first touch";
    if (!in_isola()) {
        skip(name, "Isola-only (WRPKRU check)");
        return;
    }
    char file[64];
    snprintf(file, sizeof file, "test-memory-xlazy.%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    /* Far enough apart that touching the first page does not map the other. */
    enum { PAGES = 24, CHANGED = 20 };
    static unsigned char code[PAGES * PAGE];
    memset(code, 0xC3, sizeof code); /* ret everywhere */
    long w = fd >= 0 ? write(fd, code, sizeof code) : -1;
    unsigned char *m = w == (long)sizeof code ? mmap(NULL, PAGES * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
                                              : MAP_FAILED;
    if (m == MAP_FAILED) {
        not_ok(name, "setup failed (%s)", errname(errno));
        return;
    }
    ((void (*)(void))m)(); /* page 0 runs: ret */
    /* Built at run time: the bytes may not sit in this program's own code. */
    volatile unsigned char one = 1;
    unsigned char wrpkru[4] = {0x0F, 0x01, (unsigned char)(0xEE + one), 0xC3};
    long p = pwrite(fd, wrpkru, sizeof wrpkru, CHANGED * PAGE);
    pid_t child = fork();
    if (child == 0) {
        __asm__ volatile("xor %%ecx, %%ecx; xor %%edx, %%edx" ::: "ecx", "edx");
        ((void (*)(void))(m + CHANGED * PAGE))();
        _exit(0);
    }
    int status = -1;
    waitpid(child, &status, 0);
    check(p == 4 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, name, "pwrite %ld, child status %#x", p,
          status);
    munmap(m, PAGES * PAGE);
    close(fd);
    unlink(file);
}

static void test_invalid(void)
{
    /* Raw syscalls: musl checks some arguments itself. */
    long r = syscall(SYS_mmap, 0L, 0L, (long)(PROT_READ), (long)(MAP_PRIVATE | MAP_ANONYMOUS),
                     -1L, 0L);
    expect_errno("mmap length 0 -> EINVAL", r, EINVAL);
    r = syscall(SYS_mmap, 0L, (long)PAGE, (long)PROT_READ, (long)MAP_ANONYMOUS, -1L, 0L);
    expect_errno("mmap neither private nor shared -> EINVAL", r, EINVAL);
    r = syscall(SYS_mmap, 0x10001000L + 1, (long)PAGE, (long)(PROT_READ | PROT_WRITE),
                (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), -1L, 0L);
    expect_errno("mmap MAP_FIXED unaligned -> EINVAL", r, EINVAL);
    r = syscall(SYS_munmap, 0x10001001L, (long)PAGE);
    expect_errno("munmap unaligned -> EINVAL", r, EINVAL);
    r = syscall(SYS_mprotect, 0x10001001L, (long)PAGE, (long)PROT_READ);
    expect_errno("mprotect unaligned -> EINVAL", r, EINVAL);
    r = syscall(SYS_mmap, 0L, (long)PAGE, (long)PROT_READ, (long)MAP_PRIVATE, 999L, 0L);
    expect_errno("mmap of a bad fd -> EBADF", r, EBADF);
}

/* W^X: inside Isola the kernel refuses writable+executable memory, and
 * executable memory whose bytes contain WRPKRU. Linux allows both. */
static void test_wx(void)
{
    if (!in_isola()) {
        skip("mmap PROT_WRITE|PROT_EXEC refused", "Isola-only (W^X), Linux allows it");
        skip("mprotect to PROT_WRITE|PROT_EXEC refused", "Isola-only (W^X), Linux allows it");
        skip("mmap PROT_EXEC of a file holding WRPKRU refused", "Isola-only (WRPKRU scan)");
        return;
    }
    long r = syscall(SYS_mmap, 0L, (long)PAGE, (long)(PROT_READ | PROT_WRITE | PROT_EXEC),
                     (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
    expect_errno("mmap PROT_WRITE|PROT_EXEC refused", r, EACCES);
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        not_ok("mprotect to PROT_WRITE|PROT_EXEC refused", "mmap failed (%s)", errname(errno));
    } else {
        r = syscall(SYS_mprotect, p, (long)PAGE, (long)(PROT_READ | PROT_WRITE | PROT_EXEC));
        expect_errno("mprotect to PROT_WRITE|PROT_EXEC refused", r, EACCES);
        munmap(p, PAGE);
    }

    char name[64];
    snprintf(name, sizeof name, "wrpkru.%d", (int)getpid());
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        not_ok("mmap PROT_EXEC of a file holding WRPKRU refused", "cannot create %s (%s)", name,
               errname(errno));
        return;
    }
    static const unsigned char code[] = {0x90, 0x90, 0x0f, 0x01, 0xef, 0xc3};
    long w = write(fd, code, sizeof code);
    r = syscall(SYS_mmap, 0L, (long)PAGE, (long)(PROT_READ | PROT_EXEC), (long)MAP_PRIVATE,
                (long)fd, 0L);
    if (w != (long)sizeof code)
        not_ok("mmap PROT_EXEC of a file holding WRPKRU refused", "write returned %ld", w);
    else
        expect_errno("mmap PROT_EXEC of a file holding WRPKRU refused", r, EACCES);
    if (r != -1)
        munmap((void *)r, PAGE);
    close(fd);
    unlink(name);
}

/* PROT_NONE keeps a page's contents (Linux keeps the frame in a
 * non-present entry): they are back after mprotect, in a fork child too,
 * and a file mapped PROT_NONE shows the file once readable. */
static void test_prot_none_keeps_contents(void)
{
    const char *name = "PROT_NONE keeps the contents of anonymous memory";
    unsigned char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        not_ok(name, "mmap failed (%s)", errname(errno));
        return;
    }
    for (unsigned long i = 0; i < 4 * PAGE; i++)
        m[i] = (unsigned char)(i * 7 + 3);
    int bad = mprotect(m, 4 * PAGE, PROT_NONE) != 0;
    pid_t child = fork();
    if (child == 0) {
        /* The child's copy is parked too, with the same bytes. */
        if (mprotect(m, 4 * PAGE, PROT_READ) != 0)
            _exit(2);
        for (unsigned long i = 0; i < 4 * PAGE; i++)
            if (m[i] != (unsigned char)(i * 7 + 3))
                _exit(3);
        _exit(0);
    }
    int status = -1;
    if (child > 0)
        waitpid(child, &status, 0);
    bad |= mprotect(m, 2 * PAGE, PROT_READ | PROT_WRITE) != 0;
    unsigned long wrong = 0;
    for (unsigned long i = 0; i < 2 * PAGE; i++)
        wrong += m[i] != (unsigned char)(i * 7 + 3);
    m[0] = 0xAA; /* writable again, and still private to this process */
    check(!bad && wrong == 0 && m[0] == 0xAA, name, "mprotect failed: %d, %lu bytes differ", bad, wrong);
    check(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "PROT_NONE pages come back in a fork child with their contents", "child status %#x", status);
    munmap(m, 4 * PAGE);

    char file[64];
    snprintf(file, sizeof file, "test-memory-none.%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    long w = fd >= 0 ? write(fd, "file bytes", 10) : -1;
    char *f = fd >= 0 ? mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int readable = f != MAP_FAILED && mprotect(f, PAGE, PROT_READ) == 0;
    check(w == 10 && readable && memcmp(f, "file bytes", 10) == 0 && f[10] == 0,
          "a file mapped PROT_NONE shows the file once readable", "write %ld, mapping %p, readable %d", w, (void *)f,
          readable);
    if (f != MAP_FAILED)
        munmap(f, PAGE);
    if (fd >= 0)
        close(fd);
    unlink(file);
}

static long mem_free_kib(void)
{
    char buf[512];
    int fd = open("/proc/meminfo", O_RDONLY);
    long n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *at = strstr(buf, "MemFree:");
    return at ? strtol(at + 8, NULL, 10) : -1;
}

/* Private file mappings of one file share its frames across processes:
 * eight children that each map a 1 MiB file and read every page take far
 * less memory together than eight copies would. A private write copies
 * the page first: the file and the other mappings keep their bytes. */
static void test_file_pages_are_shared(void)
{
    const char *name = "file mappings in 8 processes share the file's frames";
    char file[64];
    snprintf(file, sizeof file, "test-memory-shared.%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char chunk[64 * 1024];
    for (unsigned long i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)(i % 251);
    off_t size = 0;
    for (int i = 0; fd >= 0 && i < 16; i++)
        size += write(fd, chunk, sizeof chunk);
    unlink(file);
    if (size != 16 * (off_t)sizeof chunk) {
        not_ok(name, "cannot write %s (%ld bytes written)", file, (long)size);
        if (fd >= 0)
            close(fd);
        return;
    }
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) {
        not_ok(name, "pipe failed (%s)", errname(errno));
        close(fd);
        return;
    }
    long before = mem_free_kib();
    pid_t children[8];
    int started = 0;
    for (int i = 0; i < 8; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            volatile const char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED)
                _exit(2);
            unsigned sum = 0;
            for (off_t at = 0; at < size; at += PAGE)
                sum += m[at];
            char byte = (char)sum;
            if (write(ready[1], &byte, 1) != 1)
                _exit(3);
            char wait_byte;
            if (read(go[0], &wait_byte, 1) != 1)
                _exit(4);
            _exit(0);
        }
        started += children[i] > 0;
    }
    char byte;
    int reported = 0;
    while (reported < started && read(ready[0], &byte, 1) == 1)
        reported++;
    long after = mem_free_kib();
    long used = before - after, copies = 8 * (long)(size / 1024);
    if (!in_isola())
        skip(name, "memory figures are Isola's");
    else
        check(reported == 8 && before > 0 && used < copies / 2, name,
              "%d children ready; %ld KiB used where 8 copies of the %ld KiB file would take %ld", reported, used,
              (long)(size / 1024), copies);
    /* A private write gives the writer its own copy of the page. */
    char *mine = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const char *other = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    char original = other != MAP_FAILED ? other[1] : 0;
    if (mine != MAP_FAILED)
        mine[1] = (char)(original + 1);
    char file_byte = 0;
    long n = pread(fd, &file_byte, 1, 1);
    check(mine != MAP_FAILED && other != MAP_FAILED && mine[1] == (char)(original + 1) && other[1] == original &&
              n == 1 && file_byte == original,
          "a private write to a shared file page copies it first", "mine %d, other %d, file %d",
          mine != MAP_FAILED ? mine[1] : -1, other != MAP_FAILED ? other[1] : -1, file_byte);
    for (int i = 0; i < started; i++)
        if (write(go[1], "x", 1) != 1)
            break;
    for (int i = 0; i < 8; i++)
        if (children[i] > 0)
            waitpid(children[i], NULL, 0);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    close(fd);
}

/* mremap: grow (moving when blocked), shrink, MREMAP_FIXED,
 * MREMAP_DONTUNMAP, a file mapping's growth, and Linux's errors. */
static void test_mremap(void)
{
    /* Two pages, and a read-only neighbour that blocks growth in place. */
    unsigned char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        not_ok("mremap", "mmap failed (%s)", errname(errno));
        return;
    }
    for (unsigned long i = 0; i < 2 * PAGE; i++)
        m[i] = (unsigned char)(i % 199);
    unsigned char *guard = m + 2 * PAGE;
    int guarded = mprotect(guard, PAGE, PROT_READ) == 0;
    errno = 0;
    void *r = mremap(m, 2 * PAGE, 4 * PAGE, 0);
    check(guarded && r == MAP_FAILED && errno == ENOMEM, "mremap grow without MAYMOVE, blocked -> ENOMEM",
          "mprotect %d, mremap %p (%s)", guarded, r, errname(errno));
    unsigned char *g = mremap(m, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
    unsigned long wrong = 0;
    if (g != MAP_FAILED) {
        for (unsigned long i = 0; i < 2 * PAGE; i++)
            wrong += g[i] != (unsigned char)(i % 199);
        for (unsigned long i = 2 * PAGE; i < 4 * PAGE; i++)
            wrong += g[i] != 0;
        g[4 * PAGE - 1] = 7;
    }
    check(g != MAP_FAILED && g != m && wrong == 0, "mremap MAYMOVE moves the pages and zero-fills the growth",
          "mremap %p (%s), %lu bytes wrong", (void *)g, errname(errno), wrong);
    /* The old place is free now. */
    void *probe = mmap(m, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check(probe == m, "the old range of a moved mapping is free", "mmap there gave %p (%s)", probe, errname(errno));
    if (probe != MAP_FAILED)
        munmap(probe, PAGE);
    munmap(guard, PAGE);
    if (g == MAP_FAILED)
        return;
    /* Shrink in place. */
    unsigned char *s = mremap(g, 4 * PAGE, PAGE, 0);
    probe = mmap(g + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check(s == g && s[5] == 5 % 199 && probe == g + PAGE, "mremap shrinks in place and frees the tail",
          "mremap %p, tail probe %p", (void *)s, probe);
    if (probe != MAP_FAILED)
        munmap(probe, PAGE);
    /* MREMAP_FIXED to an address of our choosing (reserved first). */
    unsigned char *dest = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *f = dest != MAP_FAILED ? mremap(s, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dest) : MAP_FAILED;
    check(f == dest && f[5] == 5 % 199 && f[PAGE] == 0, "mremap MREMAP_FIXED moves to the given address",
          "mremap %p, wanted %p (%s)", (void *)f, (void *)dest, errname(errno));
    /* Children see the moved pages too. */
    pid_t child = fork();
    if (child == 0)
        _exit(f != MAP_FAILED && f[5] == 5 % 199 ? 0 : 1);
    int status = -1;
    if (child > 0)
        waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork child sees a moved mapping's bytes", "status %#x", status);
    /* MREMAP_DONTUNMAP: the old range stays, empty. */
    unsigned char *d = f != MAP_FAILED ? mremap(f, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP) : MAP_FAILED;
    check(d != MAP_FAILED && d != f && d[5] == 5 % 199 && f[5] == 0, "mremap MREMAP_DONTUNMAP leaves the old range empty",
          "mremap %p (%s)", (void *)d, errname(errno));
    if (d != MAP_FAILED)
        munmap(d, 2 * PAGE);
    if (f != MAP_FAILED)
        munmap(f, 2 * PAGE);

    /* Errors. */
    errno = 0;
    check(mremap((char *)m + 1, PAGE, PAGE, 0) == MAP_FAILED && errno == EINVAL, "mremap unaligned -> EINVAL", "%s",
          errname(errno));
    unsigned char *e = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    check(mremap(e, PAGE, 0, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL, "mremap to length 0 -> EINVAL", "%s",
          errname(errno));
    errno = 0;
    check(mremap(e, PAGE, PAGE, MREMAP_FIXED, (void *)0x10000000) == MAP_FAILED && errno == EINVAL,
          "mremap MREMAP_FIXED without MAYMOVE -> EINVAL", "%s", errname(errno));
    errno = 0;
    check(mremap(e, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, e) == MAP_FAILED && errno == EINVAL,
          "mremap MREMAP_FIXED onto an overlapping range -> EINVAL", "%s", errname(errno));
    munmap(e, PAGE);
    errno = 0;
    check(mremap(e, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT,
          "mremap of an unmapped range -> EFAULT", "%s", errname(errno));

    /* A file mapping grows with the file's pages. */
    char file[64];
    snprintf(file, sizeof file, "test-memory-remap.%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    static char pages[3 * PAGE];
    for (unsigned long i = 0; i < sizeof pages; i++)
        pages[i] = (char)('a' + i / PAGE);
    long w = fd >= 0 ? write(fd, pages, sizeof pages) : -1;
    char *fm = w == (long)sizeof pages ? mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    char *fg = fm != MAP_FAILED ? mremap(fm, PAGE, 3 * PAGE, MREMAP_MAYMOVE) : MAP_FAILED;
    check(fg != MAP_FAILED && fg[0] == 'a' && fg[PAGE] == 'b' && fg[2 * PAGE + 9] == 'c',
          "mremap of a file mapping grows with the file's pages", "mremap %p (%s)", (void *)fg, errname(errno));
    if (fg != MAP_FAILED)
        munmap(fg, 3 * PAGE);
    if (fd >= 0)
        close(fd);
    unlink(file);
}

/* A WRPKRU split across two executable mappings: anonymous code ending in
 * 0F 01, then a file whose first byte is EF mapped executable right after
 * it. Each half is clean; together they are refused (the edge check). */
static void test_wrpkru_across_mappings(void)
{
    const char *name = "a WRPKRU across the edge of two executable mappings is refused";
    if (!in_isola()) {
        skip(name, "Isola-only (WRPKRU scan)");
        return;
    }
    unsigned char *code = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char file[64];
    snprintf(file, sizeof file, "test-memory-edge.%d", (int)getpid());
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    unsigned char ef[16] = {0xEF, 0xC3};
    long w = fd >= 0 ? write(fd, ef, sizeof ef) : -1;
    if (code == MAP_FAILED || w != (long)sizeof ef) {
        not_ok(name, "setup failed (%s)", errname(errno));
        return;
    }
    munmap(code + PAGE, PAGE);
    code[PAGE - 2] = 0x0F;
    code[PAGE - 1] = 0x01;
    int rx = mprotect(code, PAGE, PROT_READ | PROT_EXEC);
    errno = 0;
    void *m = mmap(code + PAGE, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0);
    check(rx == 0 && m == MAP_FAILED && errno == EACCES, name, "mprotect %d, mmap %p (%s)", rx, m, errname(errno));
    /* Not executable, the same file maps. */
    m = mmap(code + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    check(m == code + PAGE, "the same file maps next to it when not executable", "mmap %p (%s)", m, errname(errno));
    munmap(code, 2 * PAGE);
    close(fd);
    unlink(file);
}

int main(void)
{
    test_brk();
    test_anon();
    test_file_mapping();
    test_file_pages_on_first_touch();
    test_exec_pages_checked_on_first_touch();
    test_prot_none_keeps_contents();
    test_file_pages_are_shared();
    test_mremap();
    test_wrpkru_across_mappings();
    test_invalid();
    test_wx();
    return tap_done();
}
