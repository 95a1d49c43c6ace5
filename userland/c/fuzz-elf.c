/* fuzz-elf: exec damaged ELF files; the kernel must refuse them with an
 * errno or run them, never fall over.
 *
 * Usage: fuzz-elf [SEED [COUNT]] [-v] [--from N] [--watchdog-ms MS]
 *                 [--without-huge-memsz]
 *   SEED the seed (default 1), COUNT the number of mutants (default 300);
 *   --from N starts at mutant N (replay one: `SEED 1 --from N`);
 *   -v prints every mutation; --watchdog-ms: a mutant still running after
 *   this long is killed with SIGKILL (default 1000) and counted;
 *   --without-huge-memsz leaves out mutants with a PT_LOAD or PT_TLS whose
 *   p_memsz is over 1 GiB (they hung the kernel before issue 9's memory
 *   limits: ENOMEM at once now); left out ones are counted as skipped.
 *
 * Mutant i is a pure function of (SEED, i): a template (this program's own
 * file, found at argv[0], or a tiny hand-made ELF: two PT_LOADs with bss,
 * PT_TLS, PT_GNU_STACK, code that touches its bss and exits 42) and one to
 * three mutations from a splitmix64 stream: bit flips anywhere or in the
 * headers, truncation, e_phoff, e_phnum, e_phentsize, e_entry, e_type,
 * e_machine, the ident bytes, p_type (PT_INTERP inserted, PT_TLS, PT_LOAD),
 * p_flags (W+X), p_offset, p_filesz, p_memsz, p_vaddr (kernel addresses,
 * overlapping, unaligned, wrapping), p_align, a copied program header, a
 * WRPKRU in the code. Each is written to /tmp/fuzz-elf/m and execed in a
 * forked child; the outcome is counted: execve's errno, exit status,
 * death by a signal, or killed by the watchdog.
 *
 * Passing: pid 1 finishes, both templates run unmutated (so the harness
 * can tell a refusal from a run), every child ends, and afterwards fork +
 * exec + pipe still work and free memory is back. */
#include "child.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#define PROG "fuzz-elf"
#define WORK_DIR "/tmp/fuzz-elf"
#define MUTANT WORK_DIR "/m"
#define TINY_EXIT 42

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
    return n ? next(r) % n : 0;
}

#define PICK(r, table) ((table)[below(r, sizeof(table) / sizeof((table)[0]))])

static const uint64_t ADDRS[] = {
    0, 0x1000, 0x400000, 0x400001, 0x401000, 0x7ffffffff000ULL, 0x7fffffffffffULL, 0x800000000000ULL,
    0xffff800000000000ULL, 0xffffffff80000000ULL, 0xffffffff80100000ULL, 0xfffffffffffff000ULL, ~0ULL,
    1ULL << 40, 0x10000000,
};
static const uint64_t SIZES[] = {
    0, 1, 7, 8, 0x40, 0xfff, 0x1000, 0x1001, 0x10000, 1 << 20, 1 << 30, 0x7fffffff, 0xffffffff,
    1ULL << 32, 1ULL << 40, 1ULL << 63, ~0ULL, 0x7ffffffff000ULL,
};

/* --- the tiny template ---------------------------------------------------- */

#define TINY_BASE 0x400000UL
#define TINY_SIZE 0x1100

static size_t make_tiny(unsigned char *out)
{
    memset(out, 0, TINY_SIZE);
    Elf64_Ehdr *h = (Elf64_Ehdr *)out;
    memcpy(h->e_ident, ELFMAG, SELFMAG);
    h->e_ident[EI_CLASS] = ELFCLASS64;
    h->e_ident[EI_DATA] = ELFDATA2LSB;
    h->e_ident[EI_VERSION] = EV_CURRENT;
    h->e_type = ET_EXEC;
    h->e_machine = EM_X86_64;
    h->e_version = EV_CURRENT;
    h->e_entry = TINY_BASE + 0x200;
    h->e_phoff = sizeof *h;
    h->e_ehsize = sizeof *h;
    h->e_phentsize = sizeof(Elf64_Phdr);
    h->e_phnum = 4;
    Elf64_Phdr *p = (Elf64_Phdr *)(out + h->e_phoff);
    p[0] = (Elf64_Phdr){PT_LOAD, PF_R | PF_X, 0, TINY_BASE, TINY_BASE, 0x1000, 0x1000, 0x1000};
    p[1] = (Elf64_Phdr){PT_LOAD, PF_R | PF_W, 0x1000, TINY_BASE + 0x1000, TINY_BASE + 0x1000, 0x100, 0x3000, 0x1000};
    p[2] = (Elf64_Phdr){PT_TLS, PF_R, 0x1000, TINY_BASE + 0x1000, TINY_BASE + 0x1000, 0x10, 0x40, 8};
    p[3] = (Elf64_Phdr){PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0, 16};
    static const unsigned char code[] = {
        0xc7, 0x04, 0x25, 0xf0, 0x3f, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00, /* movl $1, 0x403ff0 (bss) */
        0xb8, 0x3c, 0x00, 0x00, 0x00,                                     /* mov $60, %eax */
        0xbf, TINY_EXIT, 0x00, 0x00, 0x00,                                /* mov $42, %edi */
        0x0f, 0x05,                                                       /* syscall */
    };
    memcpy(out + 0x200, code, sizeof code);
    memcpy(out + 0x1000, "tls data 0123456", 16);
    return TINY_SIZE;
}

/* --- mutations ------------------------------------------------------------ */

struct elf {
    unsigned char *b;
    size_t len, cap;
};

static Elf64_Ehdr *ehdr(struct elf *f)
{
    return f->len >= sizeof(Elf64_Ehdr) ? (Elf64_Ehdr *)f->b : NULL;
}

/* Program header i, if the (possibly damaged) header puts it in the file. */
static Elf64_Phdr *phdr(struct elf *f, uint64_t i)
{
    Elf64_Ehdr *h = ehdr(f);
    if (!h || h->e_phentsize < sizeof(Elf64_Phdr))
        return NULL;
    uint64_t at = h->e_phoff + i * h->e_phentsize;
    if (h->e_phoff > f->len || at < h->e_phoff || at + sizeof(Elf64_Phdr) > f->len || (at & 7))
        return NULL;
    return (Elf64_Phdr *)(f->b + at);
}

static uint64_t phnum(struct elf *f)
{
    Elf64_Ehdr *h = ehdr(f);
    return h ? h->e_phnum : 0;
}

/* A program header of the given type (or any, type = -1), at random. */
static Elf64_Phdr *some_phdr(struct elf *f, struct rng *r, int64_t type)
{
    uint64_t n = phnum(f);
    if (n > 64)
        n = 64;
    uint64_t start = below(r, n ? n : 1);
    for (uint64_t k = 0; k < n; k++) {
        Elf64_Phdr *p = phdr(f, (start + k) % n);
        if (p && (type < 0 || p->p_type == (uint32_t)type))
            return p;
    }
    return NULL;
}

static const char *mutate(struct elf *f, struct rng *r, char *what, size_t size)
{
    Elf64_Ehdr *h = ehdr(f);
    Elf64_Phdr *p;
    unsigned kind = (unsigned)below(r, 22);
    switch (kind) {
    case 0: case 1: {
        unsigned n = 1 + (unsigned)below(r, 16);
        for (unsigned k = 0; k < n && f->len; k++)
            f->b[below(r, f->len)] ^= (unsigned char)(1u << below(r, 8));
        snprintf(what, size, "%u bit flips", n);
        return what;
    }
    case 2: case 3: {
        size_t head = f->len < 0x200 ? f->len : 0x200;
        unsigned n = 1 + (unsigned)below(r, 4);
        for (unsigned k = 0; k < n && head; k++)
            f->b[below(r, head)] ^= (unsigned char)(1u << below(r, 8));
        snprintf(what, size, "%u bit flips in the headers", n);
        return what;
    }
    case 4: {
        static const size_t cuts[] = {0, 1, 4, 16, 52, 63, 64, 65, 100, 119, 120, 0x200, 0x1000};
        size_t to = below(r, 2) ? PICK(r, cuts) : below(r, f->len + 1);
        if (to < f->len)
            f->len = to;
        snprintf(what, size, "truncated to %zu bytes", f->len);
        return what;
    }
    case 5:
        if (!h)
            break;
        h->e_phoff = below(r, 2) ? PICK(r, SIZES) : below(r, f->len + 64);
        snprintf(what, size, "e_phoff %#lx", (unsigned long)h->e_phoff);
        return what;
    case 6:
        if (!h)
            break;
        {
            static const uint16_t counts[] = {0, 1, 2, 3, 5, 16, 64, 100, 0xfffe, 0xffff, PN_XNUM};
            h->e_phnum = PICK(r, counts);
            if (below(r, 3) == 0) {
                static const uint16_t sizes[] = {0, 1, 32, 55, 57, 64, 0xffff};
                h->e_phentsize = PICK(r, sizes);
            }
        }
        snprintf(what, size, "e_phnum %u, e_phentsize %u", h->e_phnum, h->e_phentsize);
        return what;
    case 7:
        if (!h)
            break;
        h->e_entry = PICK(r, ADDRS) + below(r, 3) * 0x801;
        snprintf(what, size, "e_entry %#lx", (unsigned long)h->e_entry);
        return what;
    case 8:
        if (!h)
            break;
        switch (below(r, 6)) {
        case 0: h->e_type = (uint16_t)PICK(r, ((const uint16_t[]){ET_NONE, ET_REL, ET_DYN, ET_CORE, 0xffff})); break;
        case 1: h->e_machine = (uint16_t)PICK(r, ((const uint16_t[]){0, EM_386, EM_AARCH64, 0xffff})); break;
        case 2: h->e_ident[EI_CLASS] = (unsigned char)below(r, 4); break;
        case 3: h->e_ident[EI_DATA] = (unsigned char)below(r, 4); break;
        case 4: h->e_ident[below(r, 4)] ^= 0x20; break;
        default: h->e_version = (uint32_t)below(r, 3); break;
        }
        snprintf(what, size, "ident/type/machine: type %u machine %u class %u data %u", h->e_type, h->e_machine,
                 h->e_ident[EI_CLASS], h->e_ident[EI_DATA]);
        return what;
    case 9:
        if (!(p = some_phdr(f, r, -1)))
            break;
        {
            static const uint32_t types[] = {PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_SHLIB, PT_PHDR,
                                             PT_TLS, PT_GNU_EH_FRAME, PT_GNU_STACK, PT_GNU_RELRO, 0x7fffffff,
                                             0xffffffff};
            p->p_type = PICK(r, types);
        }
        snprintf(what, size, "a p_type -> %#x", p->p_type);
        return what;
    case 10:
        /* PT_INTERP: a real path, a missing one, an unterminated one, a huge one. */
        if (!(p = some_phdr(f, r, -1)))
            break;
        p->p_type = PT_INTERP;
        {
            static const char *const interps[] = {"/lib/ld-musl-x86_64.so.1", "/bin/fuzz-elf", MUTANT, "", "/"};
            const char *s = PICK(r, interps);
            size_t at = f->len > 0x180 ? 0x140 : 0;
            size_t n = strlen(s) + 1;
            if (at + n <= f->len)
                memcpy(f->b + at, s, n);
            p->p_offset = below(r, 4) ? at : PICK(r, SIZES);
            p->p_filesz = below(r, 4) ? n - below(r, 2) : PICK(r, SIZES);
            snprintf(what, size, "PT_INTERP '%s' offset %#lx size %#lx", s, (unsigned long)p->p_offset,
                     (unsigned long)p->p_filesz);
        }
        return what;
    case 11:
        if (!(p = some_phdr(f, r, -1)))
            break;
        p->p_flags = (uint32_t)PICK(r, ((const uint32_t[]){0, PF_X, PF_W, PF_W | PF_X, PF_R | PF_W | PF_X, ~0u}));
        snprintf(what, size, "p_flags %#x", p->p_flags);
        return what;
    case 12:
        if (!(p = some_phdr(f, r, PT_LOAD)))
            break;
        p->p_offset = below(r, 2) ? PICK(r, SIZES) : below(r, f->len + 0x2000);
        snprintf(what, size, "PT_LOAD p_offset %#lx", (unsigned long)p->p_offset);
        return what;
    case 13:
        if (!(p = some_phdr(f, r, PT_LOAD)))
            break;
        p->p_filesz = below(r, 2) ? PICK(r, SIZES) : p->p_memsz + below(r, 0x3000);
        snprintf(what, size, "PT_LOAD p_filesz %#lx (p_memsz %#lx)", (unsigned long)p->p_filesz,
                 (unsigned long)p->p_memsz);
        return what;
    case 14:
        if (!(p = some_phdr(f, r, PT_LOAD)))
            break;
        p->p_memsz = below(r, 2) ? PICK(r, SIZES) : below(r, 1 << 24);
        snprintf(what, size, "PT_LOAD p_memsz %#lx", (unsigned long)p->p_memsz);
        return what;
    case 15: case 16:
        if (!(p = some_phdr(f, r, PT_LOAD)))
            break;
        switch (below(r, 4)) {
        case 0: p->p_vaddr = PICK(r, ADDRS); break;
        case 1: p->p_vaddr += below(r, 0x1000); break; /* unaligned, and maybe not congruent to p_offset */
        case 2: p->p_vaddr = 0x7ffffffff000ULL - below(r, 4) * 0x1000; break; /* runs past the user half */
        default: {
            Elf64_Phdr *q = some_phdr(f, r, PT_LOAD); /* on top of another segment */
            if (q)
                p->p_vaddr = q->p_vaddr + below(r, 0x2000);
        }
        }
        if (below(r, 2))
            p->p_paddr = p->p_vaddr;
        snprintf(what, size, "PT_LOAD p_vaddr %#lx", (unsigned long)p->p_vaddr);
        return what;
    case 17:
        if (!(p = some_phdr(f, r, -1)))
            break;
        p->p_align = PICK(r, ((const uint64_t[]){0, 1, 3, 0x800, 0x1001, 0x200000, 1ULL << 40, 1ULL << 63, ~0ULL}));
        snprintf(what, size, "p_align %#lx (type %#x)", (unsigned long)p->p_align, p->p_type);
        return what;
    case 18:
        if (!(p = some_phdr(f, r, PT_TLS)) && !(p = some_phdr(f, r, -1)))
            break;
        p->p_type = PT_TLS;
        switch (below(r, 4)) {
        case 0: p->p_memsz = PICK(r, SIZES); break;
        case 1: p->p_align = PICK(r, ((const uint64_t[]){0, 3, 1 << 20, 1ULL << 40, ~0ULL})); break;
        case 2: p->p_filesz = p->p_memsz + 1 + below(r, 0x1000); break;
        default: p->p_offset = PICK(r, SIZES); break;
        }
        snprintf(what, size, "PT_TLS offset %#lx filesz %#lx memsz %#lx align %#lx", (unsigned long)p->p_offset,
                 (unsigned long)p->p_filesz, (unsigned long)p->p_memsz, (unsigned long)p->p_align);
        return what;
    case 19: {
        Elf64_Phdr *a = some_phdr(f, r, -1), *b = some_phdr(f, r, -1);
        if (!a || !b)
            break;
        *b = *a;
        snprintf(what, size, "a program header copied over another (type %#x)", a->p_type);
        return what;
    }
    case 20:
        if (!(p = some_phdr(f, r, PT_GNU_STACK)))
            break;
        p->p_flags = PF_R | PF_W | PF_X;
        p->p_memsz = PICK(r, SIZES);
        snprintf(what, size, "PT_GNU_STACK executable, memsz %#lx", (unsigned long)p->p_memsz);
        return what;
    default:
        /* WRPKRU in the code: Isola must refuse the file (ENOEXEC). */
        if (!h || h->e_entry < TINY_BASE || f->len < 0x300)
            break;
        {
            size_t at = 0x200 + below(r, 0x100);
            memcpy(f->b + at, "\x0f\x01\xef", 3);
            snprintf(what, size, "WRPKRU at file offset %#zx", at);
        }
        return what;
    }
    snprintf(what, size, "no-op (mutation %u found no header to change)", kind);
    return what;
}

/* What --without-huge-memsz leaves out (it hung the kernel before issue 9): a PT_LOAD or PT_TLS with p_memsz over
 * 1 GiB, however it came about (a bit flip can make one too). The loader's
 * work grows with p_memsz: 4 GiB takes 2.6 s under TCG to end in ENOMEM,
 * 1 TiB would take minutes, which is the hang. */
static int has_huge_memsz(struct elf *f)
{
    uint64_t n = phnum(f);
    for (uint64_t i = 0; i < n && i < 0x10000; i++) {
        Elf64_Phdr *p = phdr(f, i);
        if (!p)
            break;
        if ((p->p_type == PT_LOAD || p->p_type == PT_TLS) && p->p_memsz > (1ULL << 30))
            return 1;
    }
    return 0;
}

/* --- running a mutant ----------------------------------------------------- */

enum outcome_kind { REFUSED, EXITED, SIGNALLED, TIMED_OUT, SKIPPED, LOST };

struct outcome {
    enum outcome_kind kind;
    int value; /* errno, exit status or signal */
};

static long watchdog_ms = 1000;
static int unkillable;

static int write_file(const char *path, const unsigned char *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0)
        return -1;
    int r = write_all(fd, b, len);
    close(fd);
    return r;
}

static struct outcome run(const char *path, int own)
{
    struct outcome o = {LOST, 0};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return o;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0), dup2(null, 1), dup2(null, 2);
            if (null > 2)
                close(null);
        }
        char *argv[] = {(char *)path, own ? "--mutant" : NULL, NULL};
        char *envp[] = {"PATH=/bin", NULL};
        execve(path, argv, envp);
        int e = errno;
        write_all(pfd[1], &e, sizeof e);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return o;
    }
    int st = 0;
    int64_t deadline = now_ns() + watchdog_ms * 1000000LL;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (now_ns() > deadline) {
            kill(pid, SIGKILL);
            int64_t limit = now_ns() + 5000000000LL;
            while (waitpid(pid, &st, WNOHANG) != pid) {
                if (now_ns() > limit) {
                    unkillable = 1;
                    break;
                }
                sleep_ms(10);
            }
            close(pfd[0]);
            o.kind = TIMED_OUT;
            return o;
        }
        sleep_ms(2);
    }
    int e = 0;
    if (read_full(pfd[0], &e, sizeof e) == sizeof e) {
        o.kind = REFUSED;
        o.value = e;
    } else if (WIFEXITED(st)) {
        o.kind = EXITED;
        o.value = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        o.kind = SIGNALLED;
        o.value = WTERMSIG(st);
    }
    close(pfd[0]);
    return o;
}

static const char *describe_outcome(struct outcome o)
{
    static char buf[64];
    switch (o.kind) {
    case REFUSED: snprintf(buf, sizeof buf, "execve: %s", errname(o.value)); break;
    case EXITED: snprintf(buf, sizeof buf, "ran, exit %d", o.value); break;
    case SIGNALLED: snprintf(buf, sizeof buf, "ran, killed by signal %d", o.value); break;
    case TIMED_OUT: snprintf(buf, sizeof buf, "ran past the watchdog: killed"); break;
    case SKIPPED: snprintf(buf, sizeof buf, "skipped: p_memsz over 1 GiB (--without-huge-memsz)"); break;
    default: snprintf(buf, sizeof buf, "lost (pipe or fork failed)"); break;
    }
    return buf;
}

/* --- pid 1 ---------------------------------------------------------------- */

static int round_trip(const char *self)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        execl(self, self, "--echo", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char buf[64] = {0};
    size_t got = read_full(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int st;
    if (pid < 0 || wait_for(pid, &st) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == 5 && memcmp(buf, "echo\n", 5) == 0 ? 0 : -1;
}

static uint64_t number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s) {
        tap_line("fuzz-elf: bad %s '%s'", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 1)
        return 0;
    if (argc == 2 && strcmp(argv[1], "--mutant") == 0)
        return 0;
    if (argc == 2 && strcmp(argv[1], "--echo") == 0) {
        write_all(1, "echo\n", 5);
        return 0;
    }
    uint64_t seed = 1, count = 300, from = 0;
    int verbose = 0, huge = 1, positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--without-huge-memsz") == 0)
            huge = 0;
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = number(argv[++i], "--from");
        else if (strcmp(argv[i], "--watchdog-ms") == 0 && i + 1 < argc)
            watchdog_ms = (long)number(argv[++i], "--watchdog-ms");
        else if (positional == 0 && argv[i][0] != '-')
            seed = number(argv[i], "SEED"), positional++;
        else if (positional == 1 && argv[i][0] != '-')
            count = number(argv[i], "COUNT"), positional++;
        else {
            tap_line("usage: fuzz-elf [SEED [COUNT]] [-v] [--from N] [--watchdog-ms MS] [--without-huge-memsz]");
            return 2;
        }
    }
    const char *self = argv[0];

    /* The templates. */
    static unsigned char tiny[TINY_SIZE];
    size_t tiny_len = make_tiny(tiny);
    unsigned char *own = NULL;
    size_t own_len = 0;
    {
        int fd = open(self, O_RDONLY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (16 << 20)) {
            own = malloc((size_t)st.st_size);
            if (own && read_full(fd, own, (size_t)st.st_size) == (size_t)st.st_size)
                own_len = (size_t)st.st_size;
        }
        if (fd >= 0)
            close(fd);
    }
    check(own_len > 0, "read this program's own file as a template", "cannot read %s: %s", self, errname(errno));
    mkdir("/tmp", 01777);
    mkdir(WORK_DIR, 0755);
    long free_before = mem_free_kb(), heap_before = meminfo_kb("Slab");

    struct outcome o;
    o = write_file(MUTANT, tiny, tiny_len) == 0 ? run(MUTANT, 0) : (struct outcome){LOST, 0};
    check(o.kind == EXITED && o.value == TINY_EXIT, "the tiny template runs unmutated (exit 42)", "%s",
          describe_outcome(o));
    if (own_len) {
        o = write_file(MUTANT, own, own_len) == 0 ? run(MUTANT, 1) : (struct outcome){LOST, 0};
        check(o.kind == EXITED && o.value == 0, "this program's own file runs unmutated (exit 0)", "%s",
              describe_outcome(o));
    }

    size_t cap = (own_len > tiny_len ? own_len : tiny_len) + 64;
    unsigned char *buf = malloc(cap);
    uint64_t refused[160] = {0}, exited[256] = {0}, signalled[65] = {0}, timeouts = 0, skipped = 0, lost = 0;
    tap_line("fuzz-elf: seed %lu, mutants %lu..%lu, watchdog %ld ms%s", (unsigned long)seed, (unsigned long)from,
             (unsigned long)(from + count), watchdog_ms, huge ? ", huge p_memsz included" : "");
    int64_t start = now_ns();
    for (uint64_t i = from; i < from + count && buf; i++) {
        struct rng r = {seed * 0xd1b54a32d192ed03ULL ^ i};
        next(&r);
        int use_own = own_len && below(&r, 2);
        struct elf f = {buf, use_own ? own_len : tiny_len, cap};
        memcpy(buf, use_own ? own : tiny, f.len);
        char what[3][160];
        unsigned n = 1 + (unsigned)below(&r, 3);
        for (unsigned k = 0; k < n; k++)
            mutate(&f, &r, what[k], sizeof what[k]);
        if (!huge && has_huge_memsz(&f)) {
            o = (struct outcome){SKIPPED, 0};
        } else if (write_file(MUTANT, f.b, f.len) != 0) {
            o = (struct outcome){LOST, errno};
        } else {
            if (verbose)
                tap_line("fuzz-elf: mutant %lu of %s: %s%s%s%s%s", (unsigned long)i, use_own ? "own" : "tiny",
                         what[0], n > 1 ? "; " : "", n > 1 ? what[1] : "", n > 2 ? "; " : "", n > 2 ? what[2] : "");
            o = run(MUTANT, use_own);
        }
        if (verbose)
            tap_line("fuzz-elf: mutant %lu: %s", (unsigned long)i, describe_outcome(o));
        switch (o.kind) {
        case REFUSED: refused[o.value > 0 && o.value < 160 ? o.value : 0]++; break;
        case EXITED: exited[o.value & 255]++; break;
        case SIGNALLED: signalled[o.value & 63]++; break;
        case TIMED_OUT:
            timeouts++;
            tap_line("fuzz-elf: mutant %lu ran past the watchdog", (unsigned long)i);
            break;
        case SKIPPED: skipped++; break;
        default: lost++; break;
        }
    }
    int64_t ms = (now_ns() - start) / 1000000;
    unlink(MUTANT);
    tap_line("fuzz-elf: %lu mutants in %ld ms; %lu skipped (p_memsz over 1 GiB, --without-huge-memsz), %lu timed out, %lu lost",
             (unsigned long)count, (long)ms, (unsigned long)skipped, (unsigned long)timeouts, (unsigned long)lost);
    for (int e = 0; e < 160; e++)
        if (refused[e])
            tap_line("fuzz-elf:   refused by execve with %s: %lu", errname(e), (unsigned long)refused[e]);
    for (int s = 0; s < 256; s++)
        if (exited[s])
            tap_line("fuzz-elf:   ran and exited with %d: %lu", s, (unsigned long)exited[s]);
    for (int s = 0; s < 65; s++)
        if (signalled[s])
            tap_line("fuzz-elf:   ran and was killed by signal %d (%s): %lu", s, strsignal(s),
                     (unsigned long)signalled[s]);
    char name[128];
    snprintf(name, sizeof name, "%lu damaged ELF files execed from seed %lu, and pid 1 goes on", (unsigned long)count,
             (unsigned long)seed);
    check(lost == 0, name, "%lu mutants could not be written or started", (unsigned long)lost);
    check(!unkillable, "every mutant ended by SIGKILL within 5 s", "one outlived SIGKILL");
    check(round_trip(self) == 0, "afterwards: fork + exec + pipe round trip", "failed");
    long free_after = mem_free_kb(), heap_after = meminfo_kb("Slab");
    /* Frames are either free or the kernel heap's (Slab:), which grows on
     * demand and keeps what it took (a 8 MiB file written and removed
     * leaves it 32 MiB bigger): a frame in neither is leaked. Within 1 MiB
     * or 2 %. */
    tap_line("%s: MemFree %ld -> %ld kB, kernel heap (Slab) %ld -> %ld kB", PROG, free_before, free_after,
             heap_before, heap_after);
    long slack = free_before / 50 > 1024 ? free_before / 50 : 1024;
    int memory_back = free_before > 0 && heap_before > 0 && free_after + heap_after >= free_before + heap_before - slack;
    check(memory_back, "afterwards: no frame lost (MemFree + kernel heap back)",
          "MemFree + Slab %ld kB before, %ld kB after", free_before + heap_before, free_after + heap_after);
    if (skipped > 0)
        skip("mutants with p_memsz over 1 GiB", "left out by --without-huge-memsz (they hung the kernel before issue 9)");
    return tap_done();
}
