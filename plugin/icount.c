/* icount.c: the instruction counter behind `isola bench
 * --count-instructions` and `isola run --count-instructions=FILE`, a QEMU
 * 7.2 TCG plugin (API version 1, plugin/qemu-plugin.h). docs/icount.md
 * says how the pieces fit; this file is the guest side.
 *
 * Every executed translation block (TB) adds its number of instructions to
 * the counter of the half of the address space it starts in (lower: user,
 * upper: kernel), with an inline add: no helper call, so counting costs
 * little. A TB left in its middle by an exception (a page fault) is still
 * counted whole: the count is that of the instructions started plus at
 * most one TB's rest per exception, the same every time the guest takes
 * the same path.
 *
 * The window: the counters are also read at every SYSCALL instruction
 * executed in the lower half (a callback on those instructions only); the
 * window is what ran from the first of them to the last. That leaves out
 * the firmware-less boot, kernel initialisation (the Linux guest's busy
 * waits on the TSC vary from boot to boot) and the power-off after the
 * last system call, so that the difference of two runs of N and 2N
 * iterations is the cost of N iterations and nothing else.
 *
 * Arguments (-plugin libicount.so,out=FILE[,split=ADDR]):
 *   out=FILE    where the counts go at QEMU's exit (required);
 *   split=ADDR  the lower/upper (user/kernel) boundary, default
 *               0xffff800000000000.
 *
 * Output, text: `isola-icount 1`, then `KEY VALUE` lines: instructions,
 * user, kernel (the whole run), window_instructions, window_user,
 * window_kernel, user_syscalls (lower-half SYSCALLs executed: 0 means no
 * window), split (hex).
 *
 * One vCPU only (isola runs -smp 1): the counters are not per vCPU. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-plugin.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

enum { USER = 0, KERNEL = 1 };

/* The inline adds write these from translated code: plain uint64_t, each
 * on its own cache line. */
struct counter {
    uint64_t n;
} __attribute__((aligned(64)));

static struct counter insns[2];

static char *out_path;
static uint64_t split = 0xffff800000000000ULL;

/* The counters at the first and at the latest lower-half SYSCALL. */
static uint64_t first_sys[2], last_sys[2];
static uint64_t user_syscalls;

static int half(uint64_t vaddr)
{
    return vaddr >= split ? KERNEL : USER;
}

static void user_syscall(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (user_syscalls == 0) {
        first_sys[USER] = insns[USER].n;
        first_sys[KERNEL] = insns[KERNEL].n;
    }
    last_sys[USER] = insns[USER].n;
    last_sys[KERNEL] = insns[KERNEL].n;
    user_syscalls++;
}

/* Whether the instruction is SYSCALL (0F 05), after any legacy prefixes
 * and one REX prefix. */
static int is_syscall(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf0 || p[i] == 0xf2 ||
                     p[i] == 0xf3 || p[i] == 0x2e || p[i] == 0x36 || p[i] == 0x3e ||
                     p[i] == 0x26 || p[i] == 0x64 || p[i] == 0x65))
        i++;
    if (i + 1 < n && (p[i] & 0xf0) == 0x40)
        i++;
    return i + 1 < n && p[i] == 0x0f && p[i + 1] == 0x05;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0)
        return;
    int h = half(qemu_plugin_tb_vaddr(tb));
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns[h].n, n);
    if (h != USER)
        return;
    /* The TB's inline add runs when the TB is entered, so at its SYSCALL
     * (which ends the TB) the counter holds the whole TB: the same at the
     * first and the last SYSCALL, so the window is exact. */
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (is_syscall(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn)))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, user_syscall, QEMU_PLUGIN_CB_NO_REGS,
                                                   NULL);
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "icount: cannot write %s\n", out_path);
        return;
    }
    uint64_t window_user = last_sys[USER] - first_sys[USER];
    uint64_t window_kernel = last_sys[KERNEL] - first_sys[KERNEL];
    fprintf(f, "isola-icount 1\n");
    fprintf(f, "instructions %" PRIu64 "\n", insns[USER].n + insns[KERNEL].n);
    fprintf(f, "user %" PRIu64 "\n", insns[USER].n);
    fprintf(f, "kernel %" PRIu64 "\n", insns[KERNEL].n);
    fprintf(f, "window_instructions %" PRIu64 "\n", window_user + window_kernel);
    fprintf(f, "window_user %" PRIu64 "\n", window_user);
    fprintf(f, "window_kernel %" PRIu64 "\n", window_kernel);
    fprintf(f, "user_syscalls %" PRIu64 "\n", user_syscalls);
    fprintf(f, "split 0x%" PRIx64 "\n", split);
    if (fclose(f) != 0)
        fprintf(stderr, "icount: cannot write %s\n", out_path);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    if (info->system_emulation && info->system.smp_vcpus > 1) {
        fprintf(stderr, "icount: one vCPU only (-smp 1)\n");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "out=", 4) == 0 && a[4] != '\0') {
            out_path = strdup(a + 4);
        } else if (strncmp(a, "split=", 6) == 0) {
            char *end;
            split = strtoull(a + 6, &end, 0);
            if (a[6] == '\0' || *end != '\0') {
                fprintf(stderr, "icount: bad split '%s'\n", a + 6);
                return -1;
            }
        } else {
            fprintf(stderr, "icount: unknown argument '%s' (out=FILE, split=ADDR)\n", a);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "icount: out=FILE is required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
