/* test-exec: execve.
 *
 * The program re-executes itself (`test-exec --child ...`, found through
 * /proc/self/exe, else argv[0]) in a forked child and the new image checks
 * what it got: argv and envp exactly, close-on-exec fds closed and the
 * others open, the same pid and parent. Also: a vfork child that execs,
 * posix_spawn (musl: clone(CLONE_VM|CLONE_VFORK) + execve), execve errors
 * (ENOENT, EACCES, ENOEXEC for a text file), and, inside Isola, that an ELF
 * whose code contains WRPKRU is refused with ENOEXEC while the caller keeps
 * running. Works in the current directory (files `test-exec.<pid>.*`). */
#include "child.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>

extern char **environ;

static char self[4096];

/* The re-executed image: argv = test-exec --child PID PPID CLOEXEC_FD OPEN_FD
 * "a b" "" ; envp = FOO=bar EMPTY= ISOLA_TEST=exec. Exit status: a bit per
 * failed check (0 = all good). */
static int child_main(int argc, char **argv, char **envp)
{
    int bad = 0;
    if (argc != 8 || strcmp(argv[6], "a b") != 0 || strcmp(argv[7], "") != 0 || argv[8] != NULL)
        bad |= 1;
    int n = 0;
    while (envp[n])
        n++;
    if (n != 3 || strcmp(envp[0], "FOO=bar") != 0 || strcmp(envp[1], "EMPTY=") != 0 ||
        strcmp(envp[2], "ISOLA_TEST=exec") != 0 || strcmp(getenv("FOO") ? getenv("FOO") : "", "bar") != 0)
        bad |= 2;
    if (argc >= 6) {
        int cloexec_fd = atoi(argv[4]);
        int open_fd = atoi(argv[5]);
        if (!(fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF))
            bad |= 4;
        if (fcntl(open_fd, F_GETFD) != 0 || write(open_fd, "E", 1) != 1)
            bad |= 8;
        if (getpid() != atoi(argv[2]))
            bad |= 16;
        if (getppid() != atoi(argv[3]))
            bad |= 32;
    } else {
        bad |= 64;
    }
    return bad;
}

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

static void test_exec_self(void)
{
    int cl[2], op[2];
    if (pipe2(cl, O_CLOEXEC) != 0 || pipe(op) != 0) {
        not_ok("execve", "pipe: %s", errname(errno));
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        char a[4][16];
        snprintf(a[0], 16, "%d", (int)getpid());
        snprintf(a[1], 16, "%d", (int)parent);
        snprintf(a[2], 16, "%d", cl[1]);
        snprintf(a[3], 16, "%d", op[1]);
        char *argv[] = {"test-exec", "--child", a[0], a[1], a[2], a[3], "a b", "", NULL};
        char *envp[] = {"FOO=bar", "EMPTY=", "ISOLA_TEST=exec", NULL};
        execve(self, argv, envp);
        _exit(100 + errno % 100);
    }
    close(cl[1]);
    close(op[1]);
    int st = 0;
    pid_t w = wait_for(pid, &st);
    char c = 0;
    ssize_t got = read(op[0], &c, 1);
    close(op[0]);
    /* The close-on-exec write end died with the exec: EOF on cl[0]. */
    ssize_t eof = read(cl[0], &c, 1);
    close(cl[0]);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (w != pid || code < 0 || code >= 100) {
        not_ok("execve of the program itself", "wait %d, %s (exit >= 100: execve failed with errno %d)", w,
               describe_status(st), code - 100);
        return;
    }
    ok("execve of the program itself");
    check(!(code & 1), "argv reaches the new image exactly (with a space and an empty string)", "exit %d", code);
    check(!(code & 2), "envp reaches the new image exactly", "exit %d", code);
    check(!(code & 4), "an O_CLOEXEC fd is closed by execve", "exit %d", code);
    check(!(code & 8) && got == 1 && c == 'E', "an fd without close-on-exec stays open across execve",
          "exit %d, read %zd", code, got);
    check(!(code & 16), "execve keeps the pid", "exit %d", code);
    check(!(code & 32), "execve keeps the parent", "exit %d", code);
    check(eof == 0, "the close-on-exec writer is gone after execve (EOF)", "read returned %zd", eof);
}

static void test_vfork_exec(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        char *argv[] = {"test-exec", "--exit", "23", NULL};
        char *envp[] = {NULL};
        execve(self, argv, envp);
        _exit(99);
    }
    int st = 0;
    pid_t w = pid > 0 ? wait_for(pid, &st) : -1;
    check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 23, "vfork + execve, the new image's exit 23", "%s",
          describe_status(st));

    char *argv[] = {"test-exec", "--exit", "24", NULL};
    pid_t sp = 0;
    int r = posix_spawn(&sp, self, NULL, NULL, argv, environ);
    w = r == 0 ? wait_for(sp, &st) : -1;
    check(r == 0 && w == sp && WIFEXITED(st) && WEXITSTATUS(st) == 24, "posix_spawn (CLONE_VM|CLONE_VFORK) + exit 24",
          "posix_spawn %s, %s", errname(r), describe_status(st));
}

static char scratch[256];

static void test_exec_errors(void)
{
    char *argv[] = {"x", NULL};
    char *envp[] = {NULL};
    expect_errno("execve of a missing file: ENOENT", execve("/nonexistent/test-exec-none", argv, envp), ENOENT);

    snprintf(scratch, sizeof scratch, "test-exec.%d.txt", (int)getpid());
    int fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        not_ok("execve errors", "cannot create %s: %s", scratch, errname(errno));
        return;
    }
    const char text[] = "just text, no #! line\n";
    write_all(fd, text, sizeof text - 1);
    close(fd);
    expect_errno("execve of a file without x permission: EACCES", execve(scratch, argv, envp), EACCES);
    chmod(scratch, 0755);
    expect_errno("execve of an executable text file without #!: ENOEXEC", execve(scratch, argv, envp), ENOEXEC);
    unlink(scratch);
}

/* A minimal static ELF (one PT_LOAD, R+X) whose code is
 * `wrpkru; mov $60,%eax; xor %edi,%edi; syscall`. The WRPKRU bytes are made
 * at run time so that this program's own code never holds 0F 01 EF. */
static size_t wrpkru_elf(unsigned char *b, size_t cap)
{
    const size_t code_off = 64 + 56;
    volatile unsigned char ee = 0xee;
    unsigned char code[] = {0x0f, 0x01, (unsigned char)(ee + 1), 0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05};
    size_t total = code_off + sizeof code;
    if (cap < total)
        return 0;
    memset(b, 0, total);
    const unsigned long base = 0x400000;
    /* ELF header */
    memcpy(b, "\x7f" "ELF", 4);
    b[4] = 2; /* 64-bit */
    b[5] = 1; /* little endian */
    b[6] = 1; /* version */
    b[16] = 2; /* ET_EXEC */
    b[18] = 62; /* EM_X86_64 */
    b[20] = 1;
    unsigned long entry = base + code_off;
    memcpy(b + 24, &entry, 8);
    unsigned long phoff = 64;
    memcpy(b + 32, &phoff, 8);
    b[52] = 64; /* e_ehsize */
    b[54] = 56; /* e_phentsize */
    b[56] = 1; /* e_phnum */
    /* Program header */
    unsigned char *ph = b + 64;
    ph[0] = 1; /* PT_LOAD */
    ph[4] = 5; /* PF_R | PF_X */
    unsigned long zero = 0, size = total, align = 0x1000;
    memcpy(ph + 8, &zero, 8); /* p_offset */
    memcpy(ph + 16, &base, 8); /* p_vaddr */
    memcpy(ph + 24, &base, 8); /* p_paddr */
    memcpy(ph + 32, &size, 8); /* p_filesz */
    memcpy(ph + 40, &size, 8); /* p_memsz */
    memcpy(ph + 48, &align, 8);
    memcpy(b + code_off, code, sizeof code);
    return total;
}

static void test_exec_wrpkru(void)
{
    const char *name = "execve of an ELF containing WRPKRU fails with ENOEXEC";
    if (!in_isola()) {
        skip(name, "Isola-specific: Linux runs it");
        skip("the caller continues after the refused execve", "Isola-specific");
        return;
    }
    unsigned char elf[256];
    size_t n = wrpkru_elf(elf, sizeof elf);
    snprintf(scratch, sizeof scratch, "test-exec.%d.wrpkru", (int)getpid());
    int fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write_all(fd, elf, n) != 0) {
        not_ok(name, "cannot write %s: %s", scratch, errname(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    chmod(scratch, 0755);
    char *argv[] = {"wrpkru", NULL};
    char *envp[] = {NULL};
    /* In this very process: a refused exec must leave it running. */
    long r = execve(scratch, argv, envp);
    int e = errno;
    check(r == -1 && e == ENOEXEC, name, "execve returned %ld, errno %s", r, errname(e));
    ok("the caller continues after the refused execve");
    /* And in a child, which then exits normally. */
    pid_t pid = fork();
    if (pid == 0) {
        execve(scratch, argv, envp);
        _exit(errno == ENOEXEC ? 31 : 32);
    }
    int st = 0;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 31, "a child's execve of the WRPKRU ELF: ENOEXEC, child goes on",
          "%s", describe_status(st));
    unlink(scratch);
}

int main(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv, envp);
    if (argc == 3 && strcmp(argv[1], "--exit") == 0)
        return atoi(argv[2]);
    find_self(argv[0]);
    test_exec_self();
    test_vfork_exec();
    test_exec_errors();
    test_exec_wrpkru();
    return tap_done();
}
