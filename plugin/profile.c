/* profile.c: the sampler behind `isola run --profile`, a QEMU 7.2 TCG
 * plugin (API version 1, plugin/qemu-plugin.h). docs/profile.md says how
 * the pieces fit; this file is the guest side.
 *
 * Every PERIOD guest instructions it takes a sample: the address of the
 * translation block (TB) being entered and the call stack that led there.
 * Instructions are counted per TB execution, so the samples fall on the
 * same instructions whenever the guest executes the same instructions
 * (timer interrupts under TCG still land where they land).
 *
 * API v1 reads no registers and no guest memory, so the call stack is a
 * shadow stack kept from what the plugin does see:
 * - a `call` (E8, FF /2) stores its return address: the store's address is
 *   the new RSP, the stack slot of the frame; the frame is kept as (slot,
 *   address of the call instruction);
 * - a `ret` (C3, C2) loads from its slot: every frame at or below that slot
 *   on the same stack is gone (the one called from there and any the
 *   shadow stack missed, e.g. skipped by a longjmp);
 * - a TB in the upper half after one in the lower half is an entry into
 *   the kernel (syscall, interrupt, exception): a marker frame records the
 *   last user instruction, and the kernel's frames go on top; the first
 *   lower-half TB after the kernel drops the kernel frames and the marker
 *   (the very first upper-half TB starts afresh: before it ran firmware
 *   and the kernel's 32-bit boot code).
 *
 * A "thread" is one such stack. A call or ret whose slot is far (more than
 * WINDOW bytes) from the current thread's frames is on another stack: a
 * ret whose slot is the top frame's slot of a thread set aside earlier
 * resumes that thread (how a kernel context switch looks: `ret` on the
 * other thread's kernel stack, from the very slot of its `call` into the
 * switch), as does a call just below a set-aside thread's top frame (the
 * interrupted kernel code after a handler on an IST stack); otherwise the
 * current thread is set aside and a new, empty one starts. Up to THREADS
 * threads are kept, the least recently run one reused first. Wrong guesses
 * heal: the next ret to a known slot, or the next return to user space,
 * puts the stack right again.
 *
 * QEMU 7.2 quirks (Debian's build): a memory callback registered for loads
 * only is mostly not called for `ret`, and one registered on an
 * instruction that ends a TB with an indirect jump (`ret`) keeps being
 * called for later accesses of other code. So the callback is registered
 * for loads and stores, only on the call or ret that ends a TB, and an
 * access counts only if it is the first fitting one (a store for a call, a
 * load for a ret) since that TB started.
 *
 * Arguments (-plugin libprofile.so,out=FILE[,period=N][,split=ADDR][,window=BYTES]):
 *   out=FILE     where the profile goes at QEMU's exit (required);
 *   period=N     instructions between samples (default 10007, a prime, so
 *                that loops of a round length do not alias with it);
 *   split=ADDR   the lower/upper (user/kernel) boundary, default
 *                0xffff800000000000;
 *   window=BYTES how far apart two frames of one stack may be (default
 *                65536: above the largest stack frame expected, below the
 *                distance between two kernel stacks).
 *
 * Output, text: `isola-profile 1`, then `KEY VALUE` lines (period,
 * instructions, samples, and counters of what the shadow stack did), then
 * `stacks`, then one line per distinct stack: `COUNT ADDR...` with the
 * addresses in hex, outermost first, the sampled TB's address last.
 *
 * One vCPU only (isola runs -smp 1): the state below is not per vCPU. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-plugin.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

enum { USER = 0, KERNEL = 1 };
enum { MAX_DEPTH = 128, THREADS = 64 };
/* The slot of a marker frame (no real stack slot is 0). */
#define MARKER 0

struct frame {
    uint64_t slot;
    uint64_t site; /* the call instruction, or the last user instruction */
};

struct thread {
    uint64_t last_run; /* 0: never */
    int depth;
    struct frame f[MAX_DEPTH];
};

static struct thread threads[THREADS];
static int cur;
static uint64_t clock_now = 1;

static char *out_path;
static uint64_t period = 10007;
static uint64_t split = 0xffff800000000000ULL;
static uint64_t window = 65536;

static uint64_t insns, next_sample;
static int last_half = -1;
static int kernel_seen;
static uint64_t last_insn; /* the last instruction of the previous TB */

/* What the shadow stack did, for the profile's header. */
static uint64_t n_calls, n_rets, n_rets_unmatched, n_resumed, n_new_threads, n_dropped_bottom,
    n_entries, n_exits;

static int half(uint64_t vaddr)
{
    return vaddr >= split ? KERNEL : USER;
}

/* Index of the lowest frame of the top run of `h` frames of `t` (markers
 * end a run): the run is f[base..depth). */
static int seg_base(const struct thread *t, int h)
{
    int k = t->depth;
    while (k > 0 && t->f[k - 1].slot != MARKER && half(t->f[k - 1].site) == h)
        k--;
    return k;
}

/* Whether `slot` lies on the stack of the run f[base..depth) (non-empty):
 * no more than `window` below its top frame or above its bottom one. */
static int near(const struct thread *t, int base, uint64_t slot)
{
    uint64_t top = t->f[t->depth - 1].slot, bottom = t->f[base].slot;
    uint64_t low = top > window ? top - window : 0;
    uint64_t high = bottom > UINT64_MAX - window ? UINT64_MAX : bottom + window;
    return slot >= low && slot <= high;
}

/* Pop the frames of the run at or below `slot`. */
static void pop_to(struct thread *t, int base, uint64_t slot)
{
    while (t->depth > base && t->f[t->depth - 1].slot <= slot)
        t->depth--;
}

static void push(struct thread *t, uint64_t slot, uint64_t site)
{
    if (t->depth == MAX_DEPTH) {
        memmove(&t->f[0], &t->f[1], sizeof t->f[0] * (MAX_DEPTH - 1));
        t->depth--;
        n_dropped_bottom++;
    }
    t->f[t->depth].slot = slot;
    t->f[t->depth].site = site;
    t->depth++;
}

static void resume(int i)
{
    cur = i;
    threads[i].last_run = ++clock_now;
    n_resumed++;
}

/* Set the current thread aside (unless it is empty) and start an empty one
 * in a free entry or the least recently run one. */
static void new_thread(void)
{
    if (threads[cur].depth > 0) {
        int pick = -1;
        for (int i = 0; i < THREADS; i++) {
            if (i == cur)
                continue;
            if (threads[i].depth == 0) {
                pick = i;
                break;
            }
            if (pick < 0 || threads[i].last_run < threads[pick].last_run)
                pick = i;
        }
        cur = pick;
    }
    threads[cur].depth = 0;
    threads[cur].last_run = ++clock_now;
    n_new_threads++;
}

/* The set-aside thread (most recently run first) whose top frame is an `h`
 * frame at `slot`, or -1. */
static int find_top(int h, uint64_t slot)
{
    int best = -1;
    for (int i = 0; i < THREADS; i++) {
        const struct thread *t = &threads[i];
        if (i == cur || t->depth == 0)
            continue;
        const struct frame *top = &t->f[t->depth - 1];
        if (top->slot == slot && half(top->site) == h &&
            (best < 0 || t->last_run > threads[best].last_run))
            best = i;
    }
    return best;
}

/* The set-aside thread whose top `h` frame lies just above `slot` (a call
 * made there would be its next frame), or -1. */
static int find_below_top(int h, uint64_t slot)
{
    int best = -1;
    for (int i = 0; i < THREADS; i++) {
        const struct thread *t = &threads[i];
        if (i == cur || t->depth == 0)
            continue;
        const struct frame *top = &t->f[t->depth - 1];
        if (top->slot == MARKER || half(top->site) != h)
            continue;
        if (top->slot > slot && top->slot - slot <= window &&
            (best < 0 || t->last_run > threads[best].last_run))
            best = i;
    }
    return best;
}

static void on_call(uint64_t slot, uint64_t site)
{
    int h = half(site);
    n_calls++;
    struct thread *t = &threads[cur];
    int base = seg_base(t, h);
    if (t->depth > base && !near(t, base, slot)) {
        int other = find_below_top(h, slot);
        if (other >= 0)
            resume(other);
        else
            new_thread();
        t = &threads[cur];
        base = seg_base(t, h);
    }
    pop_to(t, base, slot);
    push(t, slot, site);
}

static void on_ret(uint64_t slot, uint64_t site)
{
    int h = half(site);
    n_rets++;
    struct thread *t = &threads[cur];
    int base = seg_base(t, h);
    if (t->depth > base && near(t, base, slot)) {
        int before = t->depth;
        pop_to(t, base, slot);
        if (t->depth == before)
            n_rets_unmatched++;
        return;
    }
    int other = find_top(h, slot);
    if (other >= 0) {
        resume(other);
        threads[cur].depth--;
        return;
    }
    n_rets_unmatched++;
    if (t->depth > base)
        new_thread();
}

/* --- samples: distinct stacks counted in an open-addressing table --- */

struct entry {
    uint64_t hash;
    size_t at; /* into `arena`: length, then the addresses */
    uint64_t count;
};
static struct entry *table;
static size_t table_cap, table_used;
static uint64_t *arena;
static size_t arena_len, arena_cap;
static uint64_t n_samples, n_lost;
static uint64_t scratch[MAX_DEPTH + 1];

static uint64_t hash_stack(const uint64_t *a, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= a[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h | 1; /* 0 marks a free entry */
}

static int grow_table(void)
{
    size_t cap = table_cap ? table_cap * 2 : 4096;
    struct entry *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i].hash)
            continue;
        size_t j = table[i].hash & (cap - 1);
        while (t[j].hash)
            j = (j + 1) & (cap - 1);
        t[j] = table[i];
    }
    free(table);
    table = t;
    table_cap = cap;
    return 0;
}

static void record(const uint64_t *a, size_t n, uint64_t weight)
{
    if ((table_used + 1) * 2 > table_cap && grow_table() < 0) {
        n_lost += weight;
        return;
    }
    uint64_t h = hash_stack(a, n);
    size_t j = h & (table_cap - 1);
    for (; table[j].hash; j = (j + 1) & (table_cap - 1)) {
        const uint64_t *s = &arena[table[j].at];
        if (table[j].hash == h && s[0] == n && memcmp(s + 1, a, n * sizeof *a) == 0) {
            table[j].count += weight;
            return;
        }
    }
    if (arena_len + n + 1 > arena_cap) {
        size_t cap = arena_cap ? arena_cap * 2 : 1 << 16;
        while (cap < arena_len + n + 1)
            cap *= 2;
        uint64_t *grown = realloc(arena, cap * sizeof *arena);
        if (!grown) {
            n_lost += weight;
            return;
        }
        arena = grown;
        arena_cap = cap;
    }
    arena[arena_len] = n;
    memcpy(&arena[arena_len + 1], a, n * sizeof *a);
    table[j].hash = h;
    table[j].at = arena_len;
    table[j].count = weight;
    arena_len += n + 1;
    table_used++;
}

static void sample(uint64_t pc, uint64_t weight)
{
    const struct thread *t = &threads[cur];
    size_t n = 0;
    for (int i = 0; i < t->depth; i++)
        scratch[n++] = t->f[i].site;
    scratch[n++] = pc;
    record(scratch, n, weight);
    n_samples += weight;
}

/* --- translation and execution --- */

enum { END_OTHER, END_CALL, END_RET };

struct tbinfo {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t last_insn;
    int end; /* END_*: what the last instruction is */
};

/* The call or ret ending the TB being executed, whose stack access is
 * still to come (0: none). */
static uint64_t armed_site;
static int armed_end;
enum { CHUNK = 4096 };
struct chunk {
    struct chunk *next;
    size_t used;
    struct tbinfo tb[CHUNK];
};
static struct chunk *chunks;

static struct tbinfo *new_tbinfo(void)
{
    if (!chunks || chunks->used == CHUNK) {
        struct chunk *c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->next = chunks;
        chunks = c;
    }
    return &chunks->tb[chunks->used++];
}

static void tb_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const struct tbinfo *tb = udata;
    int h = half(tb->vaddr);
    if (h == KERNEL && !kernel_seen) {
        /* The first upper-half TB: what ran before is firmware and the
         * kernel's 32-bit boot code, not a process to return to. */
        kernel_seen = 1;
        threads[cur].depth = 0;
    } else if (h != last_half && last_half >= 0) {
        struct thread *t = &threads[cur];
        if (h == KERNEL) {
            n_entries++;
            push(t, MARKER, last_insn);
        } else {
            n_exits++;
            t->depth = seg_base(t, KERNEL);
            if (t->depth > 0 && t->f[t->depth - 1].slot == MARKER)
                t->depth--;
        }
    }
    last_half = h;
    last_insn = tb->last_insn;
    armed_site = tb->end == END_OTHER ? 0 : tb->last_insn;
    armed_end = tb->end;
    insns += tb->n_insns;
    if (insns >= next_sample) {
        uint64_t weight = (insns - next_sample) / period + 1;
        next_sample += weight * period;
        sample(tb->vaddr, weight);
    }
}

static void on_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr,
                      void *udata)
{
    (void)vcpu;
    uint64_t site = (uint64_t)(uintptr_t)udata;
    if (site != armed_site || qemu_plugin_mem_is_store(info) != (armed_end == END_CALL))
        return;
    armed_site = 0;
    if (armed_end == END_CALL)
        on_call(vaddr, site);
    else
        on_ret(vaddr, site);
}

/* The instruction's opcode after its prefixes (legacy, then REX), and
 * where its ModRM byte is; -1 if it has none. */
static int opcode(const uint8_t *p, size_t n, size_t *modrm)
{
    size_t i = 0;
    while (i < n && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf0 || p[i] == 0xf2 ||
                     p[i] == 0xf3 || p[i] == 0x2e || p[i] == 0x36 || p[i] == 0x3e ||
                     p[i] == 0x26 || p[i] == 0x64 || p[i] == 0x65))
        i++;
    if (i + 1 < n && (p[i] & 0xf0) == 0x40)
        i++;
    if (i >= n)
        return -1;
    *modrm = i + 1;
    return p[i];
}

static int is_call(const uint8_t *p, size_t n)
{
    size_t m;
    int op = opcode(p, n, &m);
    return op == 0xe8 || (op == 0xff && m < n && ((p[m] >> 3) & 7) == 2);
}

static int is_ret(const uint8_t *p, size_t n)
{
    size_t m;
    int op = opcode(p, n, &m);
    return op == 0xc3 || op == 0xc2;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0)
        return;
    struct tbinfo *info = new_tbinfo();
    if (!info)
        return;
    info->vaddr = qemu_plugin_tb_vaddr(tb);
    info->n_insns = n;
    info->last_insn = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, n - 1));
    struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
    const uint8_t *bytes = qemu_plugin_insn_data(last);
    size_t size = qemu_plugin_insn_size(last);
    info->end = is_call(bytes, size) ? END_CALL : is_ret(bytes, size) ? END_RET : END_OTHER;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
    if (info->end != END_OTHER)
        qemu_plugin_register_vcpu_mem_cb(last, on_access, QEMU_PLUGIN_CB_NO_REGS,
                                         QEMU_PLUGIN_MEM_RW,
                                         (void *)(uintptr_t)info->last_insn);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "profile: cannot write %s\n", out_path);
        return;
    }
    fprintf(f, "isola-profile 1\n");
    fprintf(f, "period %" PRIu64 "\n", period);
    fprintf(f, "split 0x%" PRIx64 "\n", split);
    fprintf(f, "instructions %" PRIu64 "\n", insns);
    fprintf(f, "samples %" PRIu64 "\n", n_samples);
    fprintf(f, "samples_lost %" PRIu64 "\n", n_lost);
    fprintf(f, "calls %" PRIu64 "\n", n_calls);
    fprintf(f, "rets %" PRIu64 "\n", n_rets);
    fprintf(f, "rets_unmatched %" PRIu64 "\n", n_rets_unmatched);
    fprintf(f, "threads_resumed %" PRIu64 "\n", n_resumed);
    fprintf(f, "threads_started %" PRIu64 "\n", n_new_threads);
    fprintf(f, "frames_dropped %" PRIu64 "\n", n_dropped_bottom);
    fprintf(f, "kernel_entries %" PRIu64 "\n", n_entries);
    fprintf(f, "kernel_exits %" PRIu64 "\n", n_exits);
    fprintf(f, "stacks\n");
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i].hash)
            continue;
        const uint64_t *s = &arena[table[i].at];
        fprintf(f, "%" PRIu64, table[i].count);
        for (uint64_t k = 0; k < s[0]; k++)
            fprintf(f, " %" PRIx64, s[1 + k]);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        fprintf(stderr, "profile: cannot write %s\n", out_path);
}

static int parse_u64(const char *text, uint64_t *value)
{
    char *end;
    if (*text == '\0')
        return -1;
    *value = strtoull(text, &end, 0);
    return *end == '\0' ? 0 : -1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    if (info->system_emulation && info->system.smp_vcpus > 1) {
        fprintf(stderr, "profile: one vCPU only (-smp 1)\n");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "out=", 4) == 0 && a[4] != '\0') {
            out_path = strdup(a + 4);
        } else if (strncmp(a, "period=", 7) == 0) {
            if (parse_u64(a + 7, &period) < 0 || period == 0) {
                fprintf(stderr, "profile: bad period '%s'\n", a + 7);
                return -1;
            }
        } else if (strncmp(a, "split=", 6) == 0) {
            if (parse_u64(a + 6, &split) < 0) {
                fprintf(stderr, "profile: bad split '%s'\n", a + 6);
                return -1;
            }
        } else if (strncmp(a, "window=", 7) == 0) {
            if (parse_u64(a + 7, &window) < 0) {
                fprintf(stderr, "profile: bad window '%s'\n", a + 7);
                return -1;
            }
        } else {
            fprintf(stderr,
                    "profile: unknown argument '%s' (out=FILE, period=N, split=ADDR, window=BYTES)\n",
                    a);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "profile: out=FILE is required\n");
        return -1;
    }
    next_sample = period;
    threads[0].last_run = clock_now;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
