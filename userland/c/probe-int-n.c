/* probe-int-n: software interrupts and WRPKRU split across mappings, as an
 * attacker would try them from an ordinary process (issue 9, attacks 3
 * and 6). Runs at every isolation level (neither needs PKU).
 *
 * - `int $n` for vectors that mean nothing to a process (8 = #DF,
 *   18 = #MC, 13, 14 and 17 without their error code, device vectors 32
 *   and 40, 0x80, 200) must kill only the child that runs it, with SIGSEGV
 *   as Linux gives for a gate of DPL 0; `int3` stays SIGTRAP.
 * - WRPKRU split across two pages, each made executable by its own
 *   mprotect (page 1 ends 0F 01, page 2 starts EF), is refused with EACCES
 *   whichever page becomes executable second; so is a file mapped
 *   executable next to code ending in 0F 01. Harmless neighbours still
 *   pass.
 * The parent (pid 1) ends with its summary: the kernel survived all of it. */
#include "tap.h"
#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define INT_CHILD(n)                                 \
    static int int_##n(void *arg)                    \
    {                                                \
        (void)arg;                                   \
        __asm__ volatile("int $" #n ::: "memory");   \
        return 42;                                   \
    }
INT_CHILD(8)
INT_CHILD(18)
INT_CHILD(13)
INT_CHILD(14)
INT_CHILD(17)
INT_CHILD(32)
INT_CHILD(40)
INT_CHILD(0x80)
INT_CHILD(200)

static int int3_child(void *arg)
{
    (void)arg;
    __asm__ volatile("int3" ::: "memory");
    return 42;
}

static void expect_death(const char *name, int (*fn)(void *), int signal)
{
    int st = run_child(fn, NULL);
    check(WIFSIGNALED(st) && WTERMSIG(st) == signal, name, "child %s, expected %s", describe_status(st),
          strsignal(signal));
}

/* Two fresh read-write pages with `first` at the end of page 1 and `second`
 * at the start of page 2. */
static unsigned char *two_pages(const unsigned char *first, size_t first_len, const unsigned char *second,
                                size_t second_len)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0x90, 2 * (size_t)page);
    memcpy(p + page - first_len, first, first_len);
    memcpy(p + page, second, second_len);
    return p;
}

static void split_order(const char *name, int page2_first)
{
    /* The bytes are built at run time: the program's own code must not
     * contain the sequence (the loader would refuse it). */
    unsigned char head[2] = {0x0f, 0x01}, tail[2] = {0xef ^ 0xff, 0xc3};
    tail[0] ^= 0xff;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = two_pages(head, 2, tail, 2);
    if (!p) {
        not_ok(name, "mmap: %s", errname(errno));
        return;
    }
    unsigned char *one = p, *two = p + page;
    unsigned char *a = page2_first ? two : one, *b = page2_first ? one : two;
    int first = mprotect(a, (size_t)page, PROT_READ | PROT_EXEC);
    int e1 = errno;
    errno = 0;
    int second = mprotect(b, (size_t)page, PROT_READ | PROT_EXEC);
    int e2 = errno;
    if (in_isola())
        check(first == 0 && second == -1 && e2 == EACCES, name, "first mprotect %d (%s), second %d (%s)", first,
              first ? errname(e1) : "ok", second, second ? errname(e2) : "ok");
    else
        skip(name, "Linux does not scan for WRPKRU");
    munmap(p, 2 * (size_t)page);
}

static void split_both_at_once(void)
{
    const char *name = "one mprotect over both halves of a split WRPKRU is EACCES";
    unsigned char head[2] = {0x0f, 0x01}, tail[2] = {0x10, 0xc3};
    tail[0] ^= 0xff;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = two_pages(head, 2, tail, 2);
    int r = mprotect(p, 2 * (size_t)page, PROT_READ | PROT_EXEC);
    if (in_isola())
        check(r == -1 && errno == EACCES, name, "mprotect %d (%s)", r, r ? errname(errno) : "ok");
    else
        skip(name, "Linux does not scan for WRPKRU");
    munmap(p, 2 * (size_t)page);
}

static void harmless_neighbours(void)
{
    const char *name = "neighbours that form no WRPKRU both turn executable";
    unsigned char head[2] = {0x0f, 0x01}, tail[2] = {0xee, 0xc3}; /* 0F 01 EE is rdpkru */
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = two_pages(head, 2, tail, 2);
    int one = mprotect(p, (size_t)page, PROT_READ | PROT_EXEC);
    int two = mprotect(p + page, (size_t)page, PROT_READ | PROT_EXEC);
    check(one == 0 && two == 0, name, "mprotect %d, %d (%s)", one, two, errname(errno));
    munmap(p, 2 * (size_t)page);
}

static void file_next_to_code(void)
{
    const char *name = "a file mapped executable right after code ending in 0F 01 is EACCES";
    long page = sysconf(_SC_PAGESIZE);
    unsigned char head[2] = {0x0f, 0x01};
    unsigned char *p = two_pages(head, 2, (const unsigned char *)"\x90", 1);
    if (!p || mprotect(p, (size_t)page, PROT_READ | PROT_EXEC) != 0) {
        not_ok(name, "setup: %s", errname(errno));
        return;
    }
    munmap(p + page, (size_t)page);
    char path[] = "/tmp/probe-int-n.XXXXXX";
    int fd = mkstemp(path);
    unsigned char code[16];
    memset(code, 0x90, sizeof code);
    code[0] = 0x10;
    code[0] ^= 0xff;
    if (fd < 0 || write(fd, code, sizeof code) != (ssize_t)sizeof code) {
        not_ok(name, "temporary file: %s", errname(errno));
        return;
    }
    void *m = mmap(p + page, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0);
    int e = errno;
    if (in_isola())
        check(m == MAP_FAILED && e == EACCES, name, "mmap %s", m == MAP_FAILED ? errname(e) : "succeeded");
    else
        skip(name, "Linux does not scan for WRPKRU");
    close(fd);
    unlink(path);
    munmap(p, 2 * (size_t)page);
}

int main(void)
{
    expect_death("int $8 (#DF vector) kills the child with SIGSEGV", int_8, SIGSEGV);
    expect_death("int $18 (#MC vector) kills the child with SIGSEGV", int_18, SIGSEGV);
    expect_death("int $13 without an error code kills the child with SIGSEGV", int_13, SIGSEGV);
    expect_death("int $14 without an error code kills the child with SIGSEGV", int_14, SIGSEGV);
    expect_death("int $17 without an error code kills the child with SIGSEGV", int_17, SIGSEGV);
    expect_death("int $32 (the timer's vector) kills the child with SIGSEGV", int_32, SIGSEGV);
    expect_death("int $40 (the network's vector) kills the child with SIGSEGV", int_40, SIGSEGV);
    if (in_isola())
        expect_death("int $0x80 kills the child with SIGSEGV", int_0x80, SIGSEGV);
    else
        skip("int $0x80 kills the child with SIGSEGV", "Linux serves int $0x80 as the 32-bit syscall entry");
    expect_death("int $200 kills the child with SIGSEGV", int_200, SIGSEGV);
    expect_death("int3 still gives SIGTRAP", int3_child, SIGTRAP);
    split_order("WRPKRU split across pages: page 1 then page 2 executable is EACCES", 0);
    split_order("WRPKRU split across pages: page 2 then page 1 executable is EACCES", 1);
    split_both_at_once();
    harmless_neighbours();
    file_next_to_code();
    ok("the parent outlives every child");
    return tap_done();
}
