/* probe-privileged: each privileged instruction an attacker who runs code in
 * a process would try (issue 10), in its own child: cli (then a busy loop),
 * cli; hlt, sti, mov to CR0/CR3/CR4 (CR4.PKE cleared), mov from CR3,
 * wrmsr (LSTAR), rdmsr, out to the exit port 0xf4, in, lidt of an empty
 * IDT followed by int3, lgdt, ltr, xsetbv (XCR0 bit 9), invlpg, wbinvd,
 * swapgs, clts. At isolation strict each must kill only its child with
 * SIGSEGV (a #GP in user mode, as Linux gives), and the parent goes on; the
 * probe also checks that it runs in ring 3 (CS RPL 3). At mpk and none
 * processes run in ring 0 and these instructions work (the README says so):
 * every check is skipped there, because running them would stop the VM. On
 * the host (Linux, ring 3) the same checks pass. */
#include "tap.h"
#include "child.h"

#include <signal.h>
#include <sys/wait.h>

#define PRIV(name, insns)                                  \
    static int name(void *arg)                             \
    {                                                      \
        (void)arg;                                         \
        __asm__ volatile(insns ::: "memory", "rax", "rcx", "rdx"); \
        return 42;                                         \
    }

PRIV(do_cli, "cli\n1: jmp 1b")
PRIV(do_cli_hlt, "cli\nhlt")
PRIV(do_sti, "sti")
PRIV(do_hlt, "hlt")
PRIV(do_write_cr0, "mov %%cr0, %%rax\nmov %%rax, %%cr0")
PRIV(do_read_cr3, "mov %%cr3, %%rax")
PRIV(do_write_cr3, "mov %%cr3, %%rax\nmov %%rax, %%cr3")
PRIV(do_clear_pke, "mov %%cr4, %%rax\nbtr $22, %%rax\nmov %%rax, %%cr4")
PRIV(do_wrmsr_lstar, "mov $0xc0000082, %%ecx\nxor %%eax, %%eax\nxor %%edx, %%edx\nwrmsr")
PRIV(do_rdmsr, "mov $0xc0000082, %%ecx\nrdmsr")
PRIV(do_out_exit, "mov $0x31, %%al\nout %%al, $0xf4")
PRIV(do_in, "in $0x60, %%al")
PRIV(do_lidt_int3, "sub $16, %%rsp\nmovq $0, (%%rsp)\nmovq $0, 8(%%rsp)\nlidt (%%rsp)\nint3\nadd $16, %%rsp")
PRIV(do_lgdt, "sub $16, %%rsp\nmovq $0, (%%rsp)\nmovq $0, 8(%%rsp)\nlgdt (%%rsp)\nadd $16, %%rsp")
PRIV(do_ltr, "mov $0x18, %%ax\nltr %%ax")
PRIV(do_xsetbv, "xor %%ecx, %%ecx\nmov $0x207, %%eax\nxor %%edx, %%edx\nxsetbv")
PRIV(do_invlpg, "invlpg (%%rsp)")
PRIV(do_wbinvd, "wbinvd")
PRIV(do_swapgs, "swapgs")
PRIV(do_clts, "clts")

struct case_ {
    const char *name;
    int (*fn)(void *);
};

static const struct case_ CASES[] = {
    {"cli then a busy loop", do_cli},
    {"cli; hlt", do_cli_hlt},
    {"sti", do_sti},
    {"hlt", do_hlt},
    {"mov to CR0", do_write_cr0},
    {"mov from CR3", do_read_cr3},
    {"mov to CR3", do_write_cr3},
    {"mov to CR4 clearing PKE", do_clear_pke},
    {"wrmsr LSTAR", do_wrmsr_lstar},
    {"rdmsr LSTAR", do_rdmsr},
    {"out to the exit port 0xf4", do_out_exit},
    {"in from port 0x60", do_in},
    {"lidt of an empty IDT then int3", do_lidt_int3},
    {"lgdt", do_lgdt},
    {"ltr", do_ltr},
    {"xsetbv with XCR0 bit 9", do_xsetbv},
    {"invlpg", do_invlpg},
    {"wbinvd", do_wbinvd},
    {"swapgs", do_swapgs},
    {"clts", do_clts},
};

int main(void)
{
    int applies;
    switch (isola_env()) {
    case ENV_HOST:
        applies = 1;
        break;
    case ENV_ISOLA_STRICT:
        applies = 1;
        break;
    default:
        applies = 0;
    }
    unsigned short cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s kills only the child, with SIGSEGV", CASES[i].name);
        if (!applies) {
            skip(name, "processes run in ring 0 at this level (only strict stops privileged instructions)");
            continue;
        }
        int st = run_child(CASES[i].fn, NULL);
        check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, name, "child %s", describe_status(st));
    }
    if (applies)
        check((cs & 3) == 3, "the process runs in ring 3", "CS %#x", cs);
    else
        skip("the process runs in ring 3", "processes run in ring 0 at this level");
    ok("the parent outlives every child");
    return tap_done();
}
