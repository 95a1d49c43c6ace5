/* test-pseudofiles: the kernel-generated files glibc and Debian programs
 * read, parsed the way those programs parse them.
 *
 * /proc/self/maps and /proc/PID/maps (every line in Linux's layout; the
 * program's own text, data, heap and stack inside lines with the right
 * rights and names), /proc/self/status (keys, tabs, values that match the
 * calls: pid, ppid, uid, umask, blocked/ignored/caught signals),
 * /proc/cpuinfo (against CPUID itself: fpu, pku, ospke, family),
 * /proc/uptime, /proc/sys/kernel/{pid_max,ngroups_max,ostype,osrelease,
 * hostname,random/boot_id,random/uuid}, /proc/sys/vm/overcommit_memory,
 * /sys/devices/system/cpu/{online,possible}, /dev/urandom, /dev/random,
 * /dev/full, and rseq's ENOSYS inside Isola. */
#include "tap.h"

#include <cpuid.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

static char slurp_buf[1 << 20];

/* The whole file at `path` in slurp_buf (NUL-terminated); its length or -1. */
static long slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, slurp_buf + total, sizeof slurp_buf - 1 - (size_t)total);
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        total += n;
        if ((size_t)total >= sizeof slurp_buf - 1)
            break;
    }
    close(fd);
    slurp_buf[total] = '\0';
    return total;
}

static int data_var = 42;

struct maps_find {
    uintptr_t addr;
    char perms[5];
    char path[256];
    int found;
};

static void find_in(struct maps_find *f, uintptr_t start, uintptr_t end, const char *perms, const char *path)
{
    if (f->addr >= start && f->addr < end) {
        f->found = 1;
        snprintf(f->perms, sizeof f->perms, "%s", perms);
        snprintf(f->path, sizeof f->path, "%s", path);
    }
}

static void test_maps(void)
{
    /* A heap: grow the break by a page so that [heap] exists (raw brk:
     * musl's sbrk refuses to move the break). */
    uintptr_t brk0 = (uintptr_t)syscall(SYS_brk, 0);
    int heap_ok = (uintptr_t)syscall(SYS_brk, brk0 + 8192) >= brk0 + 8192;
    char *heap_byte = (char *)brk0;
    if (heap_ok)
        *heap_byte = 1;
    int stack_var = 0;
    struct maps_find text = {.addr = (uintptr_t)&test_maps}, data = {.addr = (uintptr_t)&data_var},
                     heap = {.addr = (uintptr_t)heap_byte}, stack = {.addr = (uintptr_t)&stack_var};

    long n = slurp("/proc/self/maps");
    if (n <= 0) {
        not_ok("read /proc/self/maps", "%s", errname(errno));
        return;
    }
    static char self_copy[sizeof slurp_buf], pristine[sizeof slurp_buf];
    memcpy(self_copy, slurp_buf, (size_t)n + 1);
    memcpy(pristine, slurp_buf, (size_t)n + 1);
    int lines = 0, bad = 0, sorted = 1;
    uintptr_t last_end = 0;
    char bad_line[160] = "";
    for (char *line = self_copy, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (!next) {
            bad++;
            snprintf(bad_line, sizeof bad_line, "no newline: %.100s", line);
            break;
        }
        *next++ = '\0';
        lines++;
        unsigned long start, end, offset, inode;
        unsigned major, minor;
        char perms[5];
        int path_at = -1;
        int got = sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &start, &end, perms, &offset, &major, &minor, &inode,
                         &path_at);
        int perms_ok = got >= 7 && strlen(perms) == 4 && strchr("r-", perms[0]) && strchr("w-", perms[1]) &&
                       strchr("x-", perms[2]) && strchr("ps", perms[3]);
        const char *path = path_at > 0 ? line + path_at : "";
        /* Linux: a path starts at column 73 (fields padded to 72, one space). */
        int column_ok = *path == '\0' ? line[strlen(line) - 1] == ' ' : path_at == 73 || path_at > 73;
        if (got < 7 || !perms_ok || start >= end || (start & 0xfff) || (end & 0xfff) || !column_ok) {
            if (!bad)
                snprintf(bad_line, sizeof bad_line, "%.150s", line);
            bad++;
            continue;
        }
        if (start < last_end)
            sorted = 0;
        last_end = end;
        find_in(&text, start, end, perms, path);
        find_in(&data, start, end, perms, path);
        find_in(&heap, start, end, perms, path);
        find_in(&stack, start, end, perms, path);
    }
    check(lines > 0 && bad == 0, "/proc/self/maps: every line is `start-end perms offset dev inode [path]`",
          "%d of %d lines bad, first: '%s'", bad, lines, bad_line);
    check(sorted, "/proc/self/maps: lines in address order", "overlap or disorder");
    const char *base = strrchr(text.path, '/');
    check(text.found && text.perms[0] == 'r' && text.perms[2] == 'x' && base && strcmp(base, "/test-pseudofiles") == 0,
          "maps: own code in an r-x line naming the program", "found %d perms '%s' path '%s'", text.found, text.perms,
          text.path);
    check(data.found && data.perms[0] == 'r' && data.perms[1] == 'w', "maps: own data in an rw line",
          "found %d perms '%s'", data.found, data.perms);
    if (heap_ok)
        check(heap.found && strcmp(heap.path, "[heap]") == 0 && strncmp(heap.perms, "rw-p", 4) == 0,
              "maps: the break's memory in an rw-p [heap] line", "found %d perms '%s' path '%s'", heap.found,
              heap.perms, heap.path);
    else
        not_ok("brk(+8192)", "%s", errname(errno));
    check(stack.found && strcmp(stack.path, "[stack]") == 0 && strncmp(stack.perms, "rw-p", 4) == 0,
          "maps: a local variable in the rw-p [stack] line", "found %d perms '%s' path '%s'", stack.found, stack.perms,
          stack.path);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)getpid());
    long m = slurp(path);
    check(m == n && strcmp(slurp_buf, pristine) == 0,
          "/proc/PID/maps of itself is /proc/self/maps", "%ld vs %ld bytes", m, n);
}

/* 2000 pages whose rights alternate are 2000 lines (Linux splits the VMA
 * at each mprotect boundary and merges none of them). */
static void test_many_maps(void)
{
    enum { PAGES = 2000 };
    long page = sysconf(_SC_PAGESIZE);
    char *base = mmap(NULL, (size_t)(PAGES * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        not_ok("mmap 2000 pages", "%s", errname(errno));
        return;
    }
    for (int i = 0; i < PAGES; i += 2)
        mprotect(base + (long)i * page, (size_t)page, PROT_READ);
    long n = slurp("/proc/self/maps");
    int in_range = 0, alternating = 1;
    char expect = 'r';
    for (char *line = slurp_buf; n > 0 && line && *line;) {
        unsigned long start, end;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 && start >= (unsigned long)base &&
            end <= (unsigned long)(base + PAGES * page)) {
            in_range++;
            int w = perms[1] == 'w';
            if (end - start != (unsigned long)page || w != (expect == 'w'))
                alternating = 0;
            expect = expect == 'w' ? 'r' : 'w';
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    check(n > 0 && in_range == PAGES && alternating, "maps: 2000 pages of alternating rights are 2000 lines",
          "read %ld bytes, %d lines in range, alternating %d", n, in_range, alternating);
    munmap(base, (size_t)(PAGES * page));
}

/* The value after "Key:\t" in slurp_buf, or NULL (the key must open a line). */
static const char *field(const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:\t", key);
    if (strncmp(slurp_buf, pat + 1, strlen(pat) - 1) == 0)
        return slurp_buf + strlen(pat) - 1;
    const char *at = strstr(slurp_buf, pat);
    return at ? at + strlen(pat) : NULL;
}

static void on_term(int sig)
{
    (void)sig;
}

static void test_status(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGTERM, on_term);
    mode_t old = umask(027);

    char comm[32] = "";
    if (slurp("/proc/self/comm") > 0)
        sscanf(slurp_buf, "%31[^\n]", comm);
    long n = slurp("/proc/self/status");
    umask(old);
    if (n <= 0) {
        not_ok("read /proc/self/status", "%s", errname(errno));
        return;
    }
    const char *keys[] = {"Name", "Umask", "State", "Tgid", "Ngid", "Pid", "PPid", "TracerPid", "Uid", "Gid",
                          "FDSize", "Groups", "VmPeak", "VmSize", "VmRSS", "Threads", "SigQ", "SigPnd", "ShdPnd",
                          "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp",
                          "Cpus_allowed", "Cpus_allowed_list", "voluntary_ctxt_switches",
                          "nonvoluntary_ctxt_switches"};
    const char *missing = NULL, *prev = slurp_buf;
    int ordered = 1;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = field(keys[i]);
        if (!v) {
            missing = keys[i];
            break;
        }
        if (v < prev)
            ordered = 0;
        prev = v;
    }
    check(!missing && ordered, "/proc/self/status: Linux's keys, `Key:\\t`, in Linux's order", "missing %s, ordered %d",
          missing ? missing : "-", ordered);
    char name[32] = "";
    const char *v = field("Name");
    if (v)
        sscanf(v, "%31[^\n]", name);
    check(name[0] && strcmp(name, comm) == 0, "status Name: is /proc/self/comm", "'%s' vs '%s'", name, comm);
    unsigned um = 0;
    v = field("Umask");
    check(v && sscanf(v, "%o", &um) == 1 && um == 027 && strncmp(v, "0027\n", 5) == 0, "status Umask: 0027",
          "'%.5s'", v ? v : "");
    v = field("State");
    check(v && strncmp(v, "R (running)\n", 12) == 0, "status State: R (running) while reading it", "'%.12s'",
          v ? v : "");
    int pid = -1, ppid = -1, tgid = -1;
    if ((v = field("Pid")))
        sscanf(v, "%d", &pid);
    if ((v = field("PPid")))
        sscanf(v, "%d", &ppid);
    if ((v = field("Tgid")))
        sscanf(v, "%d", &tgid);
    check(pid == getpid() && tgid == pid && ppid == getppid(), "status Pid/Tgid/PPid match getpid/getppid",
          "pid %d tgid %d ppid %d", pid, tgid, ppid);
    unsigned u[4] = {9, 9, 9, 9}, g[4] = {9, 9, 9, 9};
    int nu = (v = field("Uid")) ? sscanf(v, "%u\t%u\t%u\t%u", &u[0], &u[1], &u[2], &u[3]) : 0;
    int ng = (v = field("Gid")) ? sscanf(v, "%u\t%u\t%u\t%u", &g[0], &g[1], &g[2], &g[3]) : 0;
    check(nu == 4 && ng == 4 && u[0] == getuid() && u[1] == geteuid() && g[0] == getgid() && g[1] == getegid(),
          "status Uid/Gid: four ids, real and effective match", "uid %u %u gid %u %u", u[0], u[1], g[0], g[1]);
    unsigned long size_kb = 0, rss_kb = 0, peak_kb = 0;
    char unit[4] = "";
    int sizes = (v = field("VmSize")) && sscanf(v, "%lu %3s", &size_kb, unit) == 2 && strcmp(unit, "kB") == 0 &&
                (v = field("VmRSS")) && sscanf(v, "%lu", &rss_kb) == 1 && (v = field("VmPeak")) &&
                sscanf(v, "%lu", &peak_kb) == 1;
    check(sizes && rss_kb > 0 && size_kb >= rss_kb && peak_kb >= size_kb, "status VmPeak >= VmSize >= VmRSS > 0 kB",
          "peak %lu size %lu rss %lu", peak_kb, size_kb, rss_kb);
    unsigned long long blk = 0, ign = 0, cgt = 0;
    int masks = (v = field("SigBlk")) && sscanf(v, "%16llx", &blk) == 1 && (v = field("SigIgn")) &&
                sscanf(v, "%16llx", &ign) == 1 && (v = field("SigCgt")) && sscanf(v, "%16llx", &cgt) == 1 &&
                strlen(v) > 16 && v[16] == '\n';
    check(masks && (blk & 1ull << (SIGUSR1 - 1)) && (ign & 1ull << (SIGUSR2 - 1)) && (cgt & 1ull << (SIGTERM - 1)) &&
              !(ign & 1ull << (SIGTERM - 1)),
          "status SigBlk/SigIgn/SigCgt: 16 hex digits with the blocked, ignored, caught signals",
          "blk %llx ign %llx cgt %llx", blk, ign, cgt);
    int threads = 0;
    check((v = field("Threads")) && sscanf(v, "%d", &threads) == 1 && threads == 1, "status Threads: 1", "%d",
          threads);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGUSR2, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* "0\n" or "0-N\n": the number of CPUs, or -1. */
static int cpu_list_count(const char *path)
{
    if (slurp(path) <= 0)
        return -1;
    int a, b, used = 0;
    if (sscanf(slurp_buf, "%d-%d%n", &a, &b, &used) == 2 && a == 0 && strcmp(slurp_buf + used, "\n") == 0)
        return b + 1;
    if (sscanf(slurp_buf, "%d%n", &a, &used) == 1 && a == 0 && strcmp(slurp_buf + used, "\n") == 0)
        return 1;
    return -1;
}

static int has_flag(const char *flags, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)); p += len)
        if ((p == flags || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
            return 1;
    return 0;
}

static void test_cpus(void)
{
    int online = cpu_list_count("/sys/devices/system/cpu/online");
    int possible = cpu_list_count("/sys/devices/system/cpu/possible");
    check(online >= 1, "/sys/devices/system/cpu/online is `0` or `0-N`", "'%s'", slurp_buf);
    check(possible >= online, "/sys/devices/system/cpu/possible covers online", "%d vs %d", possible, online);
    if (in_isola())
        check(online == 1, "Isola: one CPU online", "%d", online);

    if (slurp("/proc/cpuinfo") <= 0) {
        not_ok("read /proc/cpuinfo", "%s", errname(errno));
        return;
    }
    int blocks = 0;
    for (const char *p = slurp_buf; (p = strstr(p, "processor\t: ")); p++)
        if (p == slurp_buf || p[-1] == '\n')
            blocks++;
    check(blocks == online, "/proc/cpuinfo: one `processor\\t: N` block per online CPU", "%d blocks, %d online",
          blocks, online);
    unsigned a, b, c, d;
    __cpuid(0, a, b, c, d);
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    char want[40];
    snprintf(want, sizeof want, "vendor_id\t: %s\n", vendor);
    check(strstr(slurp_buf, want) != NULL, "cpuinfo vendor_id is CPUID's", "want '%s'", vendor);
    unsigned l1a, l1b, l1c, l1d;
    __cpuid(1, l1a, l1b, l1c, l1d);
    unsigned family = l1a >> 8 & 0xf;
    if (family == 0xf)
        family += l1a >> 20 & 0xff;
    const char *fam = strstr(slurp_buf, "cpu family\t: ");
    unsigned shown = 999;
    check(fam && sscanf(fam + 13, "%u", &shown) == 1 && shown == family, "cpuinfo cpu family is CPUID's",
          "%u vs %u", shown, family);
    check(strstr(slurp_buf, "\nmodel\t\t: ") && strstr(slurp_buf, "\nmodel name\t: "), "cpuinfo has model and model name",
          "missing");
    const char *flags = strstr(slurp_buf, "\nflags\t\t: ");
    if (!flags) {
        not_ok("cpuinfo has a flags line", "missing");
        return;
    }
    flags += 10;
    char line[4096];
    sscanf(flags, "%4095[^\n]", line);
    unsigned l7a = 0, l7b = 0, l7c = 0, l7d = 0;
    if (a >= 7)
        __cpuid_count(7, 0, l7a, l7b, l7c, l7d);
    int fpu = l1d & 1, sse2 = l1d >> 26 & 1, pku = l7c >> 3 & 1, ospke = l7c >> 4 & 1;
    check(has_flag(line, "fpu") == fpu && has_flag(line, "sse2") == sse2, "cpuinfo flags fpu, sse2 as CPUID says",
          "fpu %d sse2 %d", fpu, sse2);
    check(has_flag(line, "pku") == pku && has_flag(line, "ospke") == ospke, "cpuinfo flags pku, ospke as CPUID says",
          "CPUID pku %d ospke %d; flags '%.200s'", pku, ospke, line);
    if (isola_env() == ENV_ISOLA_MPK || isola_env() == ENV_ISOLA_STRICT)
        check(has_flag(line, "pku") && has_flag(line, "ospke"), "Isola with MPK: pku and ospke shown", "'%.200s'",
              line);
}

static void test_uptime(void)
{
    double up1 = -1, idle1 = -1, up2 = -1, idle2 = -1;
    int ok1 = slurp("/proc/uptime") > 0 && sscanf(slurp_buf, "%lf %lf", &up1, &idle1) == 2 &&
              strchr(slurp_buf, '\n') == slurp_buf + strlen(slurp_buf) - 1;
    const char *dot = strchr(slurp_buf, '.');
    int two_digits = dot && isdigit((unsigned char)dot[1]) && isdigit((unsigned char)dot[2]) && dot[3] == ' ';
    usleep(30000);
    int ok2 = slurp("/proc/uptime") > 0 && sscanf(slurp_buf, "%lf %lf", &up2, &idle2) == 2;
    check(ok1 && ok2 && two_digits && up1 > 0 && idle1 >= 0 && up2 >= up1 + 0.02, "/proc/uptime: `S.CC S.CC`, growing",
          "%f %f then %f %f", up1, idle1, up2, idle2);
}

/* The first line of a file, newline stripped; 1 if it ended in "\n". */
static int first_line(const char *path, char *out, size_t size)
{
    long n = slurp(path);
    if (n <= 0)
        return 0;
    snprintf(out, size, "%.*s", (int)strcspn(slurp_buf, "\n"), slurp_buf);
    return slurp_buf[n - 1] == '\n';
}

static int is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static void test_sysctl(void)
{
    struct utsname u;
    uname(&u);
    char v[128];
    long pid_max = 0;
    check(first_line("/proc/sys/kernel/pid_max", v, sizeof v) && sscanf(v, "%ld", &pid_max) == 1 && pid_max > getpid(),
          "/proc/sys/kernel/pid_max above own pid", "'%s'", v);
    long ngroups = 0;
    check(first_line("/proc/sys/kernel/ngroups_max", v, sizeof v) && sscanf(v, "%ld", &ngroups) == 1 &&
              ngroups >= 32 && sysconf(_SC_NGROUPS_MAX) > 0,
          "/proc/sys/kernel/ngroups_max", "'%s'", v);
    check(first_line("/proc/sys/kernel/ostype", v, sizeof v) && strcmp(v, u.sysname) == 0,
          "/proc/sys/kernel/ostype is uname's sysname", "'%s' vs '%s'", v, u.sysname);
    check(first_line("/proc/sys/kernel/osrelease", v, sizeof v) && strcmp(v, u.release) == 0,
          "/proc/sys/kernel/osrelease is uname's release", "'%s' vs '%s'", v, u.release);
    check(first_line("/proc/sys/kernel/hostname", v, sizeof v) && strcmp(v, u.nodename) == 0,
          "/proc/sys/kernel/hostname is uname's nodename", "'%s' vs '%s'", v, u.nodename);
    char boot1[64] = "", boot2[64] = "", uuid1[64] = "", uuid2[64] = "";
    first_line("/proc/sys/kernel/random/boot_id", boot1, sizeof boot1);
    first_line("/proc/sys/kernel/random/boot_id", boot2, sizeof boot2);
    check(is_uuid(boot1) && strcmp(boot1, boot2) == 0, "random/boot_id: one UUID for the boot", "'%s' then '%s'",
          boot1, boot2);
    first_line("/proc/sys/kernel/random/uuid", uuid1, sizeof uuid1);
    first_line("/proc/sys/kernel/random/uuid", uuid2, sizeof uuid2);
    check(is_uuid(uuid1) && is_uuid(uuid2) && strcmp(uuid1, uuid2) != 0 && uuid1[14] == '4' &&
              strchr("89ab", uuid1[19]),
          "random/uuid: a fresh version-4 UUID per read", "'%s' then '%s'", uuid1, uuid2);
    int mode = -1;
    check(first_line("/proc/sys/vm/overcommit_memory", v, sizeof v) && sscanf(v, "%d", &mode) == 1 && mode >= 0 &&
              mode <= 2,
          "/proc/sys/vm/overcommit_memory is 0, 1 or 2", "'%s'", v);
    int fd = open("/proc/sys/kernel/no_such_knob", O_RDONLY);
    check(fd < 0 && errno == ENOENT, "an unknown /proc/sys file is ENOENT", "fd %d %s", fd, errname(errno));
}

static void test_devices(void)
{
    struct {
        const char *path;
        unsigned major, minor;
    } devs[] = {{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/full", 1, 7}};
    for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) {
        struct stat st;
        int r = stat(devs[i].path, &st);
        char name[64];
        snprintf(name, sizeof name, "%s is character device %u,%u", devs[i].path, devs[i].major, devs[i].minor);
        check(r == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == devs[i].major &&
                  minor(st.st_rdev) == devs[i].minor,
              name, "r %d mode %o rdev %u,%u", r, r == 0 ? st.st_mode : 0, r == 0 ? major(st.st_rdev) : 0,
              r == 0 ? minor(st.st_rdev) : 0);
    }
    for (int i = 0; i < 2; i++) {
        const char *path = devs[i].path;
        unsigned char a[32], b[32], zero[32] = {0};
        int fd = open(path, O_RDWR);
        ssize_t ra = fd >= 0 ? read(fd, a, sizeof a) : -1;
        ssize_t rb = fd >= 0 ? read(fd, b, sizeof b) : -1;
        ssize_t w = fd >= 0 ? write(fd, "seed", 4) : -1;
        char name[80];
        snprintf(name, sizeof name, "%s: two reads of 32 bytes differ; writes accepted", path);
        check(ra == 32 && rb == 32 && memcmp(a, b, 32) != 0 && memcmp(a, zero, 32) != 0 && w == 4, name,
              "reads %zd %zd, write %zd (%s)", ra, rb, w, errname(errno));
        if (fd >= 0)
            close(fd);
    }
    int fd = open("/dev/urandom", O_RDONLY);
    static unsigned char big[65536];
    ssize_t r = fd >= 0 ? read(fd, big, sizeof big) : -1;
    int counts[256] = {0}, min = 1 << 30;
    for (ssize_t i = 0; i < r; i++)
        counts[big[i]]++;
    for (int i = 0; i < 256; i++)
        min = counts[i] < min ? counts[i] : min;
    check(r == (ssize_t)sizeof big && min > 128, "/dev/urandom: a 64 KiB read is whole and uses every byte value",
          "read %zd, rarest byte seen %d times", r, min);
    if (fd >= 0)
        close(fd);
    fd = open("/dev/full", O_RDWR);
    unsigned char z[16];
    memset(z, 0xff, sizeof z);
    ssize_t zr = fd >= 0 ? read(fd, z, sizeof z) : -1;
    errno = 0;
    ssize_t zw = fd >= 0 ? write(fd, "x", 1) : -1;
    int werr = errno;
    check(zr == 16 && z[0] == 0 && z[15] == 0 && zw == -1 && werr == ENOSPC, "/dev/full: reads zeros, writes ENOSPC",
          "read %zd, write %zd (%s)", zr, zw, errname(werr));
    if (fd >= 0)
        close(fd);
}

static void test_rseq(void)
{
    if (!in_isola()) {
        skip("rseq is ENOSYS", "host Linux has rseq");
        return;
    }
    errno = 0;
    long r = syscall(334, NULL, 0, 0, 0);
    check(r == -1 && errno == ENOSYS, "rseq is ENOSYS (glibc's probe falls back)", "%ld (%s)", r, errname(errno));
}

int main(void)
{
    tap_family("proc");
    test_maps();
    test_many_maps();
    test_status();
    test_cpus();
    test_uptime();
    test_sysctl();
    tap_family("devices");
    test_devices();
    tap_family("rseq");
    test_rseq();
    return tap_done();
}
