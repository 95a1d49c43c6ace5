/* test-priority: getpriority/setpriority as Linux has them: the nice value
 * per process, PRIO_PROCESS/PRIO_PGRP/PRIO_USER with 0 meaning the
 * caller's, the raw call's 20 - nice, clamping to -20..19, EINVAL/ESRCH,
 * inheritance across fork, /proc/self/stat's priority and nice fields, and
 * for a process that is not root: raising its own value, EACCES for
 * lowering it beyond RLIMIT_NICE, EPERM for another user's process. Runs
 * on Linux as it does in Isola (as root). */
#include "child.h"

#include <sys/mman.h>
#include <sys/resource.h>

static long raw_getpriority(int which, int who)
{
    return syscall(SYS_getpriority, which, who);
}

/* Fields 18 (priority) and 19 (nice) of /proc/self/stat. */
static int stat_priority(long *priority, long *nice)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ") ": field 3 (state) onwards. */
    p += 2;
    for (int field = 3; field < 18 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p || sscanf(p, "%ld %ld", priority, nice) != 2)
        return -1;
    return 0;
}

/* What the unprivileged child found, for the parent to report. */
struct child_results {
    int raised, raised_value;
    int lower_errno;
    int other_errno;
    int within_limit;
    int beyond_limit_errno;
    int group_errno;
    int done;
};

static int unprivileged(void *arg)
{
    struct child_results *r = arg;
    struct rlimit lim = {30, 30};
    /* RLIMIT_NICE 30: down to 20 - 30 = -10 without CAP_SYS_NICE. */
    if (setrlimit(RLIMIT_NICE, &lim) != 0 || setpriority(PRIO_PROCESS, 0, 0) != 0)
        return 1;
    if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0)
        return 2;
    r->raised = setpriority(PRIO_PROCESS, 0, 5) == 0;
    errno = 0;
    r->raised_value = getpriority(PRIO_PROCESS, 0);
    lim.rlim_cur = lim.rlim_max = 0;
    setrlimit(RLIMIT_NICE, &lim);
    r->lower_errno = setpriority(PRIO_PROCESS, 0, 4) == 0 ? 0 : errno;
    r->other_errno = setpriority(PRIO_PROCESS, getppid(), 10) == 0 ? 0 : errno;
    /* The group holds the root parent: EPERM for it, while the caller's
     * own value still changes. */
    r->group_errno = setpriority(PRIO_PGRP, 0, 7) == 0 ? 0 : errno;
    r->done = 1;
    return 0;
}

static int limited(void *arg)
{
    struct child_results *r = arg;
    struct rlimit lim = {30, 30};
    if (setrlimit(RLIMIT_NICE, &lim) != 0 || setresuid(1000, 1000, 1000) != 0)
        return 1;
    r->within_limit = setpriority(PRIO_PROCESS, 0, -10) == 0 && getpriority(PRIO_PROCESS, 0) == -10;
    r->beyond_limit_errno = setpriority(PRIO_PROCESS, 0, -11) == 0 ? 0 : errno;
    return 0;
}

static int inherits(void *arg)
{
    (void)arg;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    return nice == 3 && errno == 0 ? 0 : 10 + nice;
}

int main(void)
{
    tap_family("priority");
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    check(base == 0 && errno == 0, "a process starts at nice 0", "got %d errno %d", base, errno);
    long raw = raw_getpriority(PRIO_PROCESS, 0);
    check(raw == 20, "the raw getpriority returns 20 - nice", "got %ld", raw);
    check(setpriority(PRIO_PROCESS, getpid(), 5) == 0, "setpriority(PRIO_PROCESS, pid, 5)", "errno %d", errno);
    check(getpriority(PRIO_PROCESS, getpid()) == 5 && raw_getpriority(PRIO_PROCESS, 0) == 15, "getpriority sees 5 (raw 15)",
          "raw %ld", raw_getpriority(PRIO_PROCESS, 0));
    long prio = 0, nice = 0;
    check(stat_priority(&prio, &nice) == 0 && prio == 25 && nice == 5, "/proc/self/stat: priority 25, nice 5", "got %ld %ld", prio, nice);
    check(setpriority(PRIO_PROCESS, 0, -3) == 0 && getpriority(PRIO_PROCESS, 0) == -3, "root lowers its nice value", "errno %d", errno);
    errno = 0;
    check(setpriority(PRIO_PROCESS, 0, -1) == 0 && getpriority(PRIO_PROCESS, 0) == -1 && errno == 0,
          "nice -1 reads back as -1 with errno untouched", "errno %d", errno);
    check(setpriority(PRIO_PROCESS, 0, 100) == 0 && getpriority(PRIO_PROCESS, 0) == 19, "100 is clamped to 19", "got %d",
          getpriority(PRIO_PROCESS, 0));
    check(setpriority(PRIO_PROCESS, 0, -100) == 0 && getpriority(PRIO_PROCESS, 0) == -20 && raw_getpriority(PRIO_PROCESS, 0) == 40,
          "-100 is clamped to -20 (raw 40)", "got %d", getpriority(PRIO_PROCESS, 0));
    check(setpriority(PRIO_PGRP, 0, 2) == 0 && getpriority(PRIO_PGRP, 0) == 2, "PRIO_PGRP 0 is the caller's group", "errno %d", errno);
    check(setpriority(PRIO_USER, 0, 1) == 0 && getpriority(PRIO_USER, 0) == 1 && getpriority(PRIO_PROCESS, 0) == 1,
          "PRIO_USER 0 is the caller's user", "errno %d", errno);
    expect_errno("which 3 is EINVAL", getpriority(3, 0), EINVAL);
    expect_errno("setpriority which -1 is EINVAL", setpriority(-1, 0, 0), EINVAL);
    expect_errno("no such pid: ESRCH", raw_getpriority(PRIO_PROCESS, 4194303), ESRCH);
    expect_errno("no such group: ESRCH", setpriority(PRIO_PGRP, 4194302, 0), ESRCH);
    expect_errno("a negative pid: ESRCH", raw_getpriority(PRIO_PROCESS, -5), ESRCH);

    setpriority(PRIO_PROCESS, 0, 3);
    int st = run_child(inherits, NULL);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child inherits the nice value", "%s", describe_status(st));
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    check(child > 0 && setpriority(PRIO_PROCESS, child, 8) == 0 && getpriority(PRIO_PROCESS, child) == 8 &&
              getpriority(PRIO_PROCESS, 0) == 3,
          "root sets another process's value; its own stays", "errno %d", errno);
    if (child > 0) {
        kill(child, SIGKILL);
        wait_for(child, &st);
    }

    struct child_results *r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        not_ok("shared results page", "errno %d", errno);
        return tap_done();
    }
    memset(r, 0, sizeof *r);
    st = run_child(unprivileged, r);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && r->done, "an unprivileged child runs its checks", "%s",
          describe_status(st));
    check(r->raised && r->raised_value == 5, "not root: raising its own value", "raised %d value %d", r->raised, r->raised_value);
    check(r->lower_errno == EACCES, "not root: lowering it without RLIMIT_NICE is EACCES", "got %s", errname(r->lower_errno));
    check(r->other_errno == EPERM, "not root: another user's process is EPERM", "got %s", errname(r->other_errno));
    check(r->group_errno == EPERM, "not root: a group holding another user's process is EPERM", "got %s", errname(r->group_errno));
    check(getpriority(PRIO_PROCESS, 0) == 3, "the parent's value is untouched", "got %d", getpriority(PRIO_PROCESS, 0));
    st = run_child(limited, r);
    check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && r->within_limit, "RLIMIT_NICE 30 allows nice -10", "%s",
          describe_status(st));
    check(r->beyond_limit_errno == EACCES, "and nice -11 is EACCES", "got %s", errname(r->beyond_limit_errno));
    setpriority(PRIO_PROCESS, 0, 0);
    return tap_done();
}
