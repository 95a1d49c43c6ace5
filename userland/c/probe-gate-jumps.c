/* probe-gate-jumps [-r REPEATS] [-i IST_INTERRUPT_TOP] [-n NMI_IST_TOP]
 *                  [-w TABLE_ADDR]... ADDR...:
 * jumps onto every WRPKRU of the kernel image (the host test passes their
 * addresses, found by scanning the image) the ways an attacker would, each
 * attempt in its own child, and checks that no attempt ever comes back to
 * process code with a PKRU other than the child's own (issue 9, escapes 1
 * and 2). An attempt may end in the child's death (the gate's abort, a
 * key-0 fault: SIGSEGV) or in a return with the child's own PKRU (a jump
 * onto the syscall entry is just a syscall); an attempt that returns with
 * any other PKRU prints ESCAPED and fails.
 *
 * Per address (every other register but the target's and a counter set to
 * EAX as well): EAX = 0, EAX = the child's PKRU with key 0 opened, the same
 * with IF=1 (so a timer interrupt can nest inside the gate, REPEATS times),
 * a forged interrupt frame on the child's own stack with IF=1, and forged
 * frames on the kernel's own IST stacks (which a ring-0 process can write
 * at isolation mpk) claiming a timer interrupt and an NMI.
 * Each -w address (the IDT, GDT and TSS) is written by a child (its own
 * contents written back): the write must kill the child. A ring-0 process
 * that could write the IDT would point a vector at its own code and be
 * entered by the next interrupt of kernel code, with the kernel's PKRU.
 * Applies at isolation mpk only (RDPKRU needs PKU); skipped elsewhere. */
#include "probe.h"
#include "child.h"

#include <signal.h>
#include <sys/wait.h>

/* gate_jump(target, eax, sti, frame): a close(-1) syscall first (so the entry
 * area holds this routine's own return point: a jump onto the syscall entry
 * comes back here once), then EAX/ECX/EDX set, IF set if `sti`, RSP at
 * `frame` (a forged TrapFrame) or a return address pushed, and a jump to
 * `target`. Returns the PKRU at the landing. */
unsigned gate_jump(unsigned long target, unsigned long eax, unsigned long sti, unsigned long *frame);
unsigned long gate_saved_rsp;
extern char gate_landing[];
__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl gate_jump\n"
    "gate_jump:\n"
    "    push rbx\n push rbp\n push r12\n push r13\n push r14\n push r15\n"
    "    mov rbx, rdi\n mov r13, rsi\n mov r14, rdx\n mov r15, rcx\n"
    "    xor r12d, r12d\n"
    "    mov [rip + gate_saved_rsp], rsp\n"
    /* No interrupt between the syscall and the jump: the return gate
       rewrites the entry area at every return, so a tick in between would
       leave a stale return point there (sti below opens the window on
       purpose, at the jump itself). */
    "    cli\n"
    /* close(-1): the return gate leaves its result, -EBADF, in the entry
       area as the number a jump onto the syscall entry runs again (ENOSYS,
       at once; a pid there could be select or pause, which block). */
    "    mov edi, -1\n"
    "    mov eax, 3\n"
    "    syscall\n"
    "1:  test r12, r12\n"
    "    jnz gate_landing\n"
    "    inc r12\n"
    "    lea r11, [rip + gate_landing]\n"
    "    test r15, r15\n"
    "    jz 4f\n"
    "    mov rsp, r15\n"
    "    jmp 5f\n"
    /* Eight copies: a helper's epilogue may pop a few words before its
       `ret` (the old write_pkru ended `pop rbp; ret`). */
    "4:  push r11\n push r11\n push r11\n push r11\n push r11\n push r11\n push r11\n push r11\n"
    "5:  test r14, r14\n"
    "    jz 3f\n"
    "    sti\n"
    "3:  mov eax, r13d\n"
    /* Every register a helper might compare EAX against holds EAX too
       (escape 1 used EDI): only RBX (the target) and R12 (the count)
       differ. */
    "    mov edi, eax\n mov esi, eax\n mov ebp, eax\n mov r8d, eax\n mov r9d, eax\n"
    "    mov r10d, eax\n mov r11d, eax\n mov r13d, eax\n mov r14d, eax\n mov r15d, eax\n"
    "    xor ecx, ecx\n"
    "    xor edx, edx\n"
    "    jmp rbx\n"
    ".globl gate_landing\n"
    "gate_landing:\n"
    "    mov rsp, [rip + gate_saved_rsp]\n"
    "    xor ecx, ecx\n"
    "    rdpkru\n"
    "    sti\n"
    "    pop r15\n pop r14\n pop r13\n pop r12\n pop rbp\n pop rbx\n"
    "    ret\n"
    ".att_syntax prefix\n");

static unsigned own_pkru(void)
{
    unsigned eax, edx;
    __asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

/* TrapFrame of pkru::gate: 15 registers (rax first), vector, error code, then
 * the CPU's RIP, CS, RFLAGS, RSP, SS. */
enum { TF_VECTOR = 15, TF_ERROR, TF_RIP, TF_CS, TF_RFLAGS, TF_RSP, TF_SS, TF_WORDS };

static void forge(unsigned long *frame, unsigned long vector)
{
    for (int i = 0; i < TF_VECTOR; i++)
        frame[i] = (unsigned long)gate_landing;
    frame[TF_VECTOR] = vector;
    frame[TF_ERROR] = 0;
    frame[TF_RIP] = (unsigned long)gate_landing;
    frame[TF_CS] = 0x08;
    frame[TF_RFLAGS] = 0x202;
    frame[TF_RSP] = gate_saved_rsp;
    frame[TF_SS] = 0x10;
}

enum mode { PLAIN, KEY0_OPEN, WITH_IF, STACK_FRAME, IST_TIMER, IST_NMI };
static const char *const MODE_NAMES[] = {"EAX=0", "EAX=own PKRU with key 0 open", "EAX=0 and IF=1",
                                         "forged frame on its own stack, IF=1", "forged timer frame on the IST",
                                         "forged NMI frame on the IST"};
static unsigned long ist_interrupt_top, ist_nmi_top;

static int attempt(unsigned long target, enum mode mode)
{
    unsigned mine = own_pkru();
    unsigned long stack_frame[TF_WORDS + 8];
    unsigned long *frame = NULL;
    unsigned long eax = 0, sti = 0;
    switch (mode) {
    case PLAIN:
        break;
    case KEY0_OPEN:
        eax = mine & ~3u;
        break;
    case WITH_IF:
        sti = 1;
        break;
    case STACK_FRAME:
        frame = stack_frame;
        sti = 1;
        break;
    case IST_TIMER:
        frame = (unsigned long *)(ist_interrupt_top - TF_WORDS * 8);
        break;
    case IST_NMI:
        frame = (unsigned long *)(ist_nmi_top - TF_WORDS * 8);
        break;
    }
    if (frame) {
        /* gate_saved_rsp is set inside gate_jump; forge with a placeholder
         * and let the landing reload the real one. */
        forge(frame, mode == IST_NMI ? 2 : 32);
    }
    unsigned got = gate_jump(target, eax, sti, frame);
    if (got != mine) {
        tap_line("ESCAPED: jump to %#lx (%s) came back with PKRU %#x, own %#x", target, MODE_NAMES[mode], got, mine);
        return 99;
    }
    return 0;
}

static int write_table_child(void *arg)
{
    volatile unsigned long *p = arg;
    unsigned long v = *p;
    *p = v;
    tap_line("WROTE: %p is writable from a process", arg);
    return 99;
}

struct job {
    unsigned long target;
    enum mode mode;
};

static int attempt_child(void *arg)
{
    struct job *job = arg;
    /* A tick inside the jump's window leaves EAX = 0 as the syscall number
       a jump onto the syscall entry then runs: read(0, ...) must not block. */
    close(0);
    return attempt(job->target, job->mode);
}

/* run_child, but a child still running after 5 s is killed (and reported
 * as killed by SIGKILL: not an outcome the probe accepts). */
static int run_child_watched(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg));
    int st = 0;
    for (int ms = 0; ms < 5000; ms++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    tap_line("# a child was still running after 5 s: killed");
    return st;
}

int main(int argc, char **argv)
{
    long repeats = 20;
    unsigned long tables[8];
    int ntables = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc)
            break;
        if (!strcmp(argv[i], "-r"))
            repeats = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "-i"))
            ist_interrupt_top = strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-n"))
            ist_nmi_top = strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-w") && ntables < 8)
            tables[ntables++] = strtoul(argv[i + 1], NULL, 0);
    }
    if (!probe_applies() || isola_env() == ENV_HOST) {
        skip("jumps onto every WRPKRU of the kernel", NO_PKU);
        return tap_done();
    }
    if (i >= argc) {
        not_ok("jumps onto every WRPKRU of the kernel", "no address given");
        return tap_done();
    }
    for (int t = 0; t < ntables; t++) {
        char name[96];
        snprintf(name, sizeof name, "a write to the descriptor table at %#lx kills the writer", tables[t]);
        int st = run_child_watched(write_table_child, (void *)tables[t]);
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, name, "child %s", describe_status(st));
    }
    for (; i < argc; i++) {
        unsigned long target = strtoul(argv[i], NULL, 0);
        for (enum mode mode = PLAIN; mode <= IST_NMI; mode++) {
            if ((mode == IST_TIMER && !ist_interrupt_top) || (mode == IST_NMI && !ist_nmi_top))
                continue;
            long tries = (mode == WITH_IF || mode == STACK_FRAME) ? repeats : 1;
            long died = 0, returned = 0, escaped = 0, other = 0;
            int first_other = 0;
            for (long t = 0; t < tries; t++) {
                struct job job = {target, mode};
                int st = run_child_watched(attempt_child, &job);
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                    returned++;
                else if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
                    escaped++;
                else if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGILL || WTERMSIG(st) == SIGTRAP))
                    died++;
                else if (!other++)
                    first_other = st;
            }
            char name[160];
            snprintf(name, sizeof name, "jump onto WRPKRU at %#lx, %s: no escape", target, MODE_NAMES[mode]);
            check(escaped == 0 && other == 0, name, "%ld of %ld escaped, %ld other (first: %s)", escaped, tries,
                  other, other ? describe_status(first_other) : "-");
            tap_line("# %#lx %s: %ld died, %ld returned with their own PKRU", target, MODE_NAMES[mode], died, returned);
        }
    }
    ok("the parent outlives every attempt");
    return tap_done();
}
