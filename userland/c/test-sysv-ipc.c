/* test-sysv-ipc: SysV shared memory and semaphores (docs/sysv-ipc.md).
 *
 * - shm: a segment shared between a parent and its forked child (each
 *   sees the other's writes, fork inherits the attachment, shm_nattch
 *   follows); IPC_RMID while attached (SHM_DEST, the key private, still
 *   usable until the last detach, then gone); the segment outliving its
 *   attachments; key lookup with IPC_CREAT, IPC_EXCL (EEXIST), a missing
 *   key (ENOENT), a size too large for the segment (EINVAL), another
 *   user's segment (EACCES, EPERM for IPC_RMID); SHM_RDONLY, SHM_RND,
 *   shmdt errors; a process that is not attached touching the segment's
 *   address gets SIGSEGV; IPC_INFO and SHM_INFO; at mpk and strict, the
 *   PKRU opening the segment's key while attached and closing it after;
 * - sem: SETVAL/GETVAL, SETALL/GETALL, GETPID, IPC_STAT; a semaphore as a
 *   cross-process mutex around a counter in a segment that 4 forked
 *   children increment (the count exact); IPC_NOWAIT (EAGAIN); a
 *   semtimedop timeout (EAGAIN); SEM_UNDO given back when a child dies
 *   (exit and SIGKILL), waking a waiter; EIDRM to a waiter when the set is
 *   removed; GETNCNT and GETZCNT; a wait for zero; EINTR on a signal even
 *   with SA_RESTART; the argument errors (EFBIG, EINVAL, E2BIG, ERANGE);
 *   IPC_INFO and SEM_INFO.
 *
 * Passes on the host Linux first (the EACCES checks need root), then in
 * Isola at strict, mpk and none.
 */
#include "tap.h"

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

#define PAGE 4096

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static pid_t wait_for(pid_t pid, int *status)
{
    pid_t w;
    do
        w = waitpid(pid, status, 0);
    while (w < 0 && errno == EINTR);
    return w;
}

/* Exit status 0 of `pid`, else a description in `why`. */
static int exited_zero(pid_t pid, char *why, size_t len)
{
    int st = 0;
    if (wait_for(pid, &st) != pid) {
        snprintf(why, len, "waitpid: %s", errname(errno));
        return 0;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    if (WIFEXITED(st))
        snprintf(why, len, "child exited with %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(why, len, "child killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, len, "child status %#x", st);
    return 0;
}

static long nattch(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int sem_set(int id, int num, int val)
{
    union semun arg = { .val = val };
    return semctl(id, num, SETVAL, arg);
}

static int sem_get(int id, int num)
{
    return semctl(id, num, GETVAL);
}

static int semop1(int id, int num, int op, int flags)
{
    struct sembuf b = { .sem_num = (unsigned short)num, .sem_op = (short)op, .sem_flg = (short)flags };
    return semop(id, &b, 1);
}

/* Polls until semctl(id, num, cmd) is `want` (up to ~10 s). */
static int wait_count(int id, int num, int cmd, int want)
{
    for (int i = 0; i < 10000; i++) {
        if (semctl(id, num, cmd) == want)
            return 1;
        usleep(1000);
    }
    return 0;
}

/* A private key for this run: ftok-like, from the pid and a salt. */
static key_t key_of(int salt)
{
    return (key_t)(0x51000000 | ((getpid() & 0xffff) << 8) | (salt & 0xff));
}

/* --- shared memory ------------------------------------------------------ */

static void test_shm_fork(void)
{
    const char *name = "a segment is shared between a parent and its forked child (both ways)";
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    volatile char *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (p == (void *)-1) {
        not_ok(name, "shmget/shmat: %s", errname(errno));
        return;
    }
    check(nattch(id) == 1, "shm_nattch is 1 after shmat", "nattch %ld", nattch(id));
    int go[2], back[2];
    if (pipe(go) || pipe(back)) {
        not_ok(name, "pipe: %s", errname(errno));
        return;
    }
    p[0] = 'a';
    p[9999] = 'z';
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (p[0] != 'a' || p[9999] != 'z')
            _exit(2);
        p[1] = 'b'; /* the parent looks while this child is attached */
        if (write(back[1], "1", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(3);
        int seen = p[2];
        if (shmdt((void *)p) != 0)
            _exit(4);
        if (write(back[1], "2", 1) != 1)
            _exit(5);
        _exit(seen == 'c' ? 0 : 6);
    }
    char c;
    int ok1 = read(back[0], &c, 1) == 1;
    long both = nattch(id);
    int child_wrote = p[1] == 'b';
    p[2] = 'c';
    int ok2 = write(go[1], "g", 1) == 1 && read(back[0], &c, 1) == 1;
    long after_dt = nattch(id);
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(ok1 && ok2 && good && child_wrote, name, "child wrote %d, %s", child_wrote, why);
    check(both == 2, "shm_nattch is 2 while the forked child is attached (fork inherits it)", "nattch %ld", both);
    check(after_dt == 1, "shm_nattch is 1 again after the child's shmdt", "nattch %ld", after_dt);
    struct shmid_ds ds;
    int st = shmctl(id, IPC_STAT, &ds);
    check(st == 0 && ds.shm_segsz == 10000 && ds.shm_cpid == getpid() && ds.shm_lpid == pid && (ds.shm_perm.mode & 0777) == 0600 &&
              ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid() && ds.shm_ctime > 0 && ds.shm_atime > 0 && ds.shm_dtime > 0,
          "IPC_STAT: size, creator and last pid, mode, owner and times", "st %d, segsz %zu, cpid %d, lpid %d (child %d), mode %o",
          st, ds.shm_segsz, ds.shm_cpid, ds.shm_lpid, pid, ds.shm_perm.mode);
    /* A child killed while attached detaches too. */
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    int two = 0;
    for (int i = 0; i < 5000 && !two; i++) {
        two = nattch(id) == 2;
        if (!two)
            usleep(1000);
    }
    kill(pid, SIGKILL);
    wait_for(pid, &st);
    check(two && nattch(id) == 1, "a child killed while attached detaches (shm_nattch back to 1)", "nattch %ld", nattch(id));
    shmdt((void *)p);
    check(nattch(id) == 0, "shm_nattch is 0 after the last shmdt", "nattch %ld", nattch(id));
    /* The segment outlives its attachments. */
    p = shmat(id, NULL, 0);
    check(p != (void *)-1 && p[0] == 'a' && p[1] == 'b' && p[9999] == 'z', "a segment keeps its bytes with nothing attached",
          "p %p", (void *)p);
    if (p != (void *)-1)
        shmdt((void *)p);
    check(shmctl(id, IPC_RMID, NULL) == 0 && nattch(id) == -1 && errno == EINVAL, "IPC_RMID with nothing attached removes it at once",
          "%s", errname(errno));
    close(go[0]), close(go[1]), close(back[0]), close(back[1]);
}

static void test_shm_rmid_attached(void)
{
    key_t key = key_of(1);
    int id = shmget(key, PAGE, IPC_CREAT | IPC_EXCL | 0600);
    volatile int *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (p == (void *)-1) {
        not_ok("IPC_RMID while attached", "shmget/shmat: %s", errname(errno));
        return;
    }
    int go[2], back[2];
    if (pipe(go) || pipe(back)) {
        not_ok("IPC_RMID while attached", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        /* Removed while both are attached: still shared. */
        int seen = p[0];
        p[1] = 43;
        shmdt((void *)p);
        if (write(back[1], "d", 1) != 1)
            _exit(3);
        _exit(seen == 42 ? 0 : 4);
    }
    int rm = shmctl(id, IPC_RMID, NULL);
    struct shmid_ds ds;
    int st = shmctl(id, IPC_STAT, &ds);
    check(rm == 0 && st == 0 && (ds.shm_perm.mode & SHM_DEST) && ds.shm_perm.__key == IPC_PRIVATE && ds.shm_nattch == 2,
          "IPC_RMID while attached marks it SHM_DEST, its key private, shm_nattch unchanged", "rm %d, st %d, mode %o, key %#x, nattch %ld",
          rm, st, ds.shm_perm.mode, ds.shm_perm.__key, (long)ds.shm_nattch);
    errno = 0;
    int again = shmget(key, PAGE, 0600);
    expect_errno("its key finds nothing after IPC_RMID (ENOENT)", again, ENOENT);
    p[0] = 42;
    char c;
    int sent = write(go[1], "g", 1) == 1 && read(back[0], &c, 1) == 1;
    char why[128] = "";
    int good = exited_zero(pid, why, sizeof why);
    check(sent && good && p[1] == 43, "a removed segment stays usable (and shared) until detached", "p[1] %d, %s", p[1], why);
    check(nattch(id) == 1, "the removed segment is still there with one attachment", "nattch %ld (%s)", nattch(id), errname(errno));
    check(shmdt((void *)p) == 0, "shmdt of the last attachment", "%s", errname(errno));
    errno = 0;
    long n = nattch(id);
    check(n == -1 && errno == EINVAL, "the last detach frees it: IPC_STAT is EINVAL", "nattch %ld, %s", n, errname(errno));
    close(go[0]), close(go[1]), close(back[0]), close(back[1]);
}

static void test_shm_keys(void)
{
    key_t key = key_of(2);
    int id = shmget(key, 2 * PAGE, IPC_CREAT | 0640);
    check(id >= 0, "shmget(key, IPC_CREAT) makes a segment", "%s", errname(errno));
    check(shmget(key, 2 * PAGE, IPC_CREAT | 0640) == id, "shmget(key, IPC_CREAT) again finds the same one", "%s", errname(errno));
    check(shmget(key, 0, 0) == id, "shmget(key, 0, 0) finds it", "%s", errname(errno));
    expect_errno("IPC_CREAT|IPC_EXCL on an existing key is EEXIST", shmget(key, PAGE, IPC_CREAT | IPC_EXCL | 0640), EEXIST);
    expect_errno("a size larger than the segment's is EINVAL", shmget(key, 3 * PAGE, 0640), EINVAL);
    expect_errno("a missing key without IPC_CREAT is ENOENT", shmget(key_of(3), PAGE, 0600), ENOENT);
    expect_errno("a new segment of size 0 is EINVAL", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
    expect_errno("shmat of a stale id is EINVAL", (long)shmat(id + 0x10000000, NULL, 0), EINVAL);
    expect_errno("shmctl of an unknown command is EINVAL", shmctl(id, 9999, NULL), EINVAL);
    if (geteuid() != 0) {
        skip("another user's segment is EACCES", "needs root to become another user");
    } else {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(1000) || setuid(1000))
                _exit(2);
            /* 0640 owned by root: others may not read or write. */
            if (shmget(key, 0, 0400) != -1 || errno != EACCES)
                _exit(3);
            if (shmat(id, NULL, SHM_RDONLY) != (void *)-1 || errno != EACCES)
                _exit(4);
            struct shmid_ds ds;
            if (shmctl(id, IPC_STAT, &ds) != -1 || errno != EACCES)
                _exit(5);
            if (shmctl(id, IPC_RMID, NULL) != -1 || errno != EPERM)
                _exit(6);
            _exit(0);
        }
        char why[128] = "";
        check(exited_zero(pid, why, sizeof why), "another user: shmget, shmat and IPC_STAT are EACCES, IPC_RMID is EPERM", "%s", why);
        /* IPC_SET gives it to that user, who may then attach it read-only. */
        struct shmid_ds ds;
        int st = shmctl(id, IPC_STAT, &ds);
        ds.shm_perm.uid = 1000;
        ds.shm_perm.mode = 0444;
        int set = st == 0 ? shmctl(id, IPC_SET, &ds) : -1;
        pid = fork();
        if (pid == 0) {
            if (setgid(1000) || setuid(1000))
                _exit(2);
            volatile char *p = shmat(id, NULL, SHM_RDONLY);
            if (p == (void *)-1)
                _exit(3);
            (void)p[0];
            if (shmat(id, NULL, 0) != (void *)-1 || errno != EACCES)
                _exit(4);
            _exit(0);
        }
        check(set == 0 && exited_zero(pid, why, sizeof why), "IPC_SET changes the owner and mode (read-only attach allowed, read-write EACCES)",
              "set %d, %s", set, why);
    }
    struct shminfo info;
    int max = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    check(max >= 0 && info.shmmni > 0 && info.shmmin == 1 && info.shmmax > 0, "shmctl(IPC_INFO): the limits and the highest index",
          "max %d, shmmni %lu", max, (unsigned long)info.shmmni);
    /* struct shm_info (glibc names its first field used_ids, musl __used_ids). */
    struct {
        int used_ids;
        unsigned long shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes;
    } usage;
    max = shmctl(0, SHM_INFO, (struct shmid_ds *)&usage);
    check(max >= 0 && usage.used_ids >= 1 && usage.shm_tot >= 2, "shmctl(SHM_INFO): segments in use and their pages", "max %d, used %d, tot %lu",
          max, usage.used_ids, (unsigned long)usage.shm_tot);
    shmctl(id, IPC_RMID, NULL);
}

static void test_shm_flags(void)
{
    int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    volatile char *p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        not_ok("shmat flags", "%s", errname(errno));
        return;
    }
    p[0] = 'x';
    volatile char *ro = shmat(id, NULL, SHM_RDONLY);
    check(ro != (void *)-1 && ro != p && ro[0] == 'x', "a second, read-only attachment sees the same bytes", "%p", (void *)ro);
    pid_t pid = fork();
    if (pid == 0) {
        ro[0] = 'y'; /* SIGSEGV */
        _exit(0);
    }
    int st;
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && p[0] == 'x', "a write through SHM_RDONLY is SIGSEGV", "status %#x", st);
    shmdt((void *)ro);
    /* At a chosen address: unaligned is EINVAL, SHM_RND rounds down. */
    char *want = (char *)p + 64 * PAGE;
    expect_errno("shmat at an unaligned address is EINVAL", (long)shmat(id, want + 100, 0), EINVAL);
    volatile char *at = shmat(id, want + 100, SHM_RND);
    check(at == (volatile char *)want && at[0] == 'x', "SHM_RND rounds the address down to SHMLBA", "%p, want %p", (void *)at, (void *)want);
    expect_errno("shmat over an existing mapping is EINVAL", (long)shmat(id, want, 0), EINVAL);
    volatile char *re = shmat(id, want, SHM_REMAP);
    check(re == (volatile char *)want && re[0] == 'x', "SHM_REMAP replaces the mapping there", "%p", (void *)re);
    expect_errno("SHM_REMAP without an address is EINVAL", (long)shmat(id, NULL, SHM_REMAP), EINVAL);
    check(shmdt(want) == 0, "shmdt at the chosen address", "%s", errname(errno));
    expect_errno("shmdt where nothing is attached is EINVAL", shmdt(want), EINVAL);
    expect_errno("shmdt of an unaligned address is EINVAL", shmdt((char *)p + 1), EINVAL);
    /* shmdt ends only the segment's mapping, not an mmap there. */
    shmdt((void *)p);
    shmctl(id, IPC_RMID, NULL);
}

/* The attack: a process that never attached touches the address. */
static void test_shm_outsider(void)
{
    const char *name = "a process that is not attached touching the segment's address gets SIGSEGV";
    int ready[2], addr_pipe[2];
    if (pipe(ready) || pipe(addr_pipe)) {
        not_ok(name, "pipe: %s", errname(errno));
        return;
    }
    /* The outsider is forked before the segment exists. */
    pid_t outsider = fork();
    if (outsider == 0) {
        volatile char *addr;
        if (read(addr_pipe[0], &addr, sizeof addr) != sizeof addr)
            _exit(2);
        char c = addr[0]; /* SIGSEGV */
        _exit(c == 's' ? 3 : 4);
    }
    int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    volatile char *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    if (p == (void *)-1) {
        not_ok(name, "shmget/shmat: %s", errname(errno));
        kill(outsider, SIGKILL);
        return;
    }
    p[0] = 's';
    int sent = write(addr_pipe[1], &p, sizeof p) == sizeof p;
    int st = 0;
    wait_for(outsider, &st);
    check(sent && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && p[0] == 's', name, "status %#x", st);
    /* And one that detached. */
    pid_t pid = fork();
    if (pid == 0) {
        shmdt((void *)p);
        char c = p[0]; /* SIGSEGV */
        _exit(c == 's' ? 3 : 4);
    }
    wait_for(pid, &st);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a child that detached touching the address gets SIGSEGV", "status %#x", st);
    check(p[0] == 's', "the parent's attachment goes on", "p[0] %d", p[0]);
    shmdt((void *)p);
    shmctl(id, IPC_RMID, NULL);
    close(ready[0]), close(ready[1]), close(addr_pipe[0]), close(addr_pipe[1]);
}

/* The PKRU (Isola at mpk and strict): an attachment opens the segment's
 * shared domain, in a forked child too; the last shmdt closes it. */
static unsigned read_pkru(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0)); /* rdpkru */
    return eax;
}

static int open_keys(void)
{
    unsigned pkru = read_pkru();
    int n = 0;
    for (int k = 1; k <= 14; k++)
        n += !(pkru >> (2 * k) & 1);
    return n;
}

static void test_shm_pkru(void)
{
    enum isola_env env = isola_env();
    if (env != ENV_ISOLA_MPK && env != ENV_ISOLA_STRICT) {
        skip("shmat opens the segment's shared domain in the PKRU", env == ENV_HOST ? "Isola only" : "not applicable: no PKU");
        return;
    }
    int alone = open_keys();
    int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
    int member = open_keys();
    check(p != (void *)-1 && alone == 1 && member == 2, "shmat opens one more key: the segment's shared domain", "%d then %d keys open",
          alone, member);
    int keys[2];
    if (pipe(keys) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int n = open_keys();
            _exit(write(keys[1], &n, sizeof n) == (ssize_t)sizeof n ? 0 : 1);
        }
        int n = -1, st;
        ssize_t got = read(keys[0], &n, sizeof n);
        wait_for(pid, &st);
        check(got == (ssize_t)sizeof n && n == 2, "a forked child has the segment's key open too", "%d keys open", n);
        close(keys[0]), close(keys[1]);
    }
    if (p != (void *)-1)
        shmdt(p);
    check(open_keys() == 1, "shmdt closes the segment's key again", "%d keys open", open_keys());
    shmctl(id, IPC_RMID, NULL);
}

/* --- semaphores --------------------------------------------------------- */

static void test_sem_values(void)
{
    int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    if (id < 0) {
        not_ok("semget", "%s", errname(errno));
        return;
    }
    check(sem_get(id, 0) == 0 && sem_get(id, 2) == 0, "a new set's values are 0", "%d", sem_get(id, 0));
    check(sem_set(id, 1, 5) == 0 && sem_get(id, 1) == 5, "SETVAL then GETVAL", "%d", sem_get(id, 1));
    unsigned short all[3] = { 7, 8, 9 }, got[3] = { 0 };
    union semun arg = { .array = all };
    int set = semctl(id, 0, SETALL, arg);
    arg.array = got;
    int get = semctl(id, 0, GETALL, arg);
    check(set == 0 && get == 0 && got[0] == 7 && got[1] == 8 && got[2] == 9, "SETALL then GETALL", "%d %d %d", got[0], got[1], got[2]);
    check(semop1(id, 2, -4, 0) == 0 && sem_get(id, 2) == 5 && semctl(id, 2, GETPID) == getpid(), "semop subtracts; GETPID is the caller",
          "val %d, pid %d", sem_get(id, 2), semctl(id, 2, GETPID));
    struct sembuf two[2] = { { 0, -7, 0 }, { 1, -9, IPC_NOWAIT } };
    errno = 0;
    int r = semop(id, two, 2);
    check(r == -1 && errno == EAGAIN && sem_get(id, 0) == 7, "semop is all or nothing (the first operation is not applied)", "r %d, %s, val %d",
          r, errname(errno), sem_get(id, 0));
    struct semid_ds ds;
    arg.buf = &ds;
    int st = semctl(id, 0, IPC_STAT, arg);
    check(st == 0 && ds.sem_nsems == 3 && (ds.sem_perm.mode & 0777) == 0600 && ds.sem_otime > 0 && ds.sem_ctime > 0,
          "IPC_STAT: sem_nsems, mode, times", "st %d, nsems %lu", st, (unsigned long)ds.sem_nsems);
    expect_errno("a semaphore past the set is EFBIG", semop1(id, 3, 1, 0), EFBIG);
    expect_errno("semop of no operation is EINVAL", semop(id, two, 0), EINVAL);
    static struct sembuf many[501];
    expect_errno("more than SEMOPM operations is E2BIG", semop(id, many, 501), E2BIG);
    expect_errno("SETVAL above SEMVMX is ERANGE", sem_set(id, 0, 40000), ERANGE);
    expect_errno("SETVAL below 0 is ERANGE", sem_set(id, 0, -1), ERANGE);
    sem_set(id, 0, 32767);
    expect_errno("semop past SEMVMX is ERANGE", semop1(id, 0, 1, 0), ERANGE);
    expect_errno("GETVAL of a semaphore past the set is EINVAL", semctl(id, 3, GETVAL), EINVAL);
    expect_errno("semop of a stale id is EINVAL", semop1(id + 0x10000000, 0, 1, 0), EINVAL);
    expect_errno("semop of a negative id is EINVAL", semop1(-1, 0, 1, 0), EINVAL);
    expect_errno("semctl of an unknown command is EINVAL", semctl(id, 0, 9999), EINVAL);
    key_t key = key_of(4);
    int k = semget(key, 2, IPC_CREAT | 0600);
    check(k >= 0 && semget(key, 2, 0) == k && semget(key, 0, 0) == k, "semget by key finds the same set", "%s", errname(errno));
    expect_errno("semget of more semaphores than the set has is EINVAL", semget(key, 3, 0), EINVAL);
    expect_errno("semget IPC_CREAT|IPC_EXCL of an existing key is EEXIST", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    expect_errno("semget of a missing key is ENOENT", semget(key_of(5), 1, 0600), ENOENT);
    expect_errno("a new set of 0 semaphores is EINVAL", semget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
    if (geteuid() != 0) {
        skip("another user's set is EACCES", "needs root to become another user");
    } else {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(1000) || setuid(1000))
                _exit(2);
            if (semget(key, 0, 0600) != -1 || errno != EACCES)
                _exit(3);
            if (semop1(k, 0, 1, 0) != -1 || errno != EACCES)
                _exit(4);
            if (semctl(k, 0, GETVAL) != -1 || errno != EACCES)
                _exit(5);
            if (semctl(k, 0, IPC_RMID) != -1 || errno != EPERM)
                _exit(6);
            _exit(0);
        }
        char why[128] = "";
        check(exited_zero(pid, why, sizeof why), "another user: semget, semop and GETVAL are EACCES, IPC_RMID is EPERM", "%s", why);
    }
    struct seminfo info;
    arg.__buf = &info;
    int max = semctl(0, 0, IPC_INFO, arg);
    check(max >= 0 && info.semmsl >= 250 && info.semopm >= 32 && info.semvmx == 32767 && info.semmni > 0,
          "semctl(IPC_INFO): Linux's limits", "max %d, semmsl %d, semopm %d, semvmx %d", max, info.semmsl, info.semopm, info.semvmx);
    max = semctl(0, 0, SEM_INFO, arg);
    check(max >= 0 && info.semusz >= 2 && info.semaem >= 5, "semctl(SEM_INFO): sets and semaphores in use", "max %d, semusz %d, semaem %d", max,
          info.semusz, info.semaem);
    check(semctl(k, 0, IPC_RMID) == 0 && semctl(id, 0, IPC_RMID) == 0, "IPC_RMID of both sets", "%s", errname(errno));
    expect_errno("GETVAL of a removed set is EINVAL", semctl(id, 0, GETVAL), EINVAL);
}

static void test_sem_mutex(void)
{
    const char *name = "a semaphore as a mutex: 4 forked children add 300 each to a counter in a segment, exactly";
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    int shm = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    volatile long *counter = shm < 0 ? (void *)-1 : shmat(shm, NULL, 0);
    if (sem < 0 || counter == (void *)-1 || sem_set(sem, 0, 1) != 0) {
        not_ok(name, "setup: %s", errname(errno));
        return;
    }
    counter[0] = 0;
    counter[1] = 0; /* how many were in the critical section at once, at most */
    counter[2] = 0;
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            for (int n = 0; n < 300; n++) {
                if (semop1(sem, 0, -1, SEM_UNDO) != 0)
                    _exit(2);
                long inside = ++counter[2];
                if (inside > counter[1])
                    counter[1] = inside;
                long v = counter[0];
                if (n % 16 == 0)
                    sched_yield(); /* let another in if the mutex does not hold */
                counter[0] = v + 1;
                counter[2]--;
                if (semop1(sem, 0, 1, SEM_UNDO) != 0)
                    _exit(3);
            }
            _exit(0);
        }
    }
    char why[128] = "";
    int good = 1;
    for (int i = 0; i < 4; i++)
        if (kids[i] < 0 || !exited_zero(kids[i], why, sizeof why))
            good = 0;
    check(good && counter[0] == 1200 && counter[1] == 1, name, "counter %ld, at most %ld inside, %s", counter[0], counter[1], why);
    check(sem_get(sem, 0) == 1, "the mutex is free at the end (SEM_UNDO adjustments balanced)", "value %d", sem_get(sem, 0));
    shmdt((void *)counter);
    shmctl(shm, IPC_RMID, NULL);
    semctl(sem, 0, IPC_RMID);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_sem_waits(void)
{
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    if (id < 0) {
        not_ok("semaphore waits", "semget: %s", errname(errno));
        return;
    }
    expect_errno("IPC_NOWAIT on a semaphore at 0 is EAGAIN", semop1(id, 0, -1, IPC_NOWAIT), EAGAIN);
    sem_set(id, 1, 1);
    expect_errno("IPC_NOWAIT on a wait for zero is EAGAIN", semop1(id, 1, 0, IPC_NOWAIT), EAGAIN);
    sem_set(id, 1, 0);

    struct sembuf b = { 0, -1, 0 };
    struct timespec t = { 0, 200 * 1000 * 1000 };
    long start = now_ms();
    errno = 0;
    int r = semtimedop(id, &b, 1, &t);
    long took = now_ms() - start;
    check(r == -1 && errno == EAGAIN && took >= 150, "semtimedop times out with EAGAIN after its timeout", "r %d, %s, %ld ms", r,
          errname(errno), took);
    struct timespec bad = { 0, 1000 * 1000 * 1000 };
    expect_errno("semtimedop with tv_nsec of a second is EINVAL", semtimedop(id, &b, 1, &bad), EINVAL);

    /* A waiter woken by another process's increment; GETNCNT while it waits. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(semop1(id, 0, -1, 0) == 0 ? 0 : 2);
    int counted = wait_count(id, 0, GETNCNT, 1);
    int up = semop1(id, 0, 1, 0);
    char why[128] = "";
    check(counted, "GETNCNT counts a process waiting for the value to grow", "ncnt %d", semctl(id, 0, GETNCNT));
    check(up == 0 && exited_zero(pid, why, sizeof why) && sem_get(id, 0) == 0, "a waiter is woken by another process's semop", "%s", why);
    check(semctl(id, 0, GETNCNT) == 0, "GETNCNT is 0 again", "%d", semctl(id, 0, GETNCNT));

    /* A wait for zero. */
    sem_set(id, 1, 2);
    pid = fork();
    if (pid == 0)
        _exit(semop1(id, 1, 0, 0) == 0 ? 0 : 2);
    counted = wait_count(id, 1, GETZCNT, 1);
    semop1(id, 1, -1, 0);
    usleep(20000);
    int early = waitpid(pid, NULL, WNOHANG);
    semop1(id, 1, -1, 0);
    check(counted && early == 0, "GETZCNT counts a wait for zero; it waits while the value is not 0", "zcnt seen %d, early %d", counted, early);
    check(exited_zero(pid, why, sizeof why), "a wait for zero ends when the value reaches 0", "%s", why);

    /* Several waiters, one increment each: each wakes exactly one. */
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(semop1(id, 0, -1, 0) == 0 ? 0 : 2);
    }
    counted = wait_count(id, 0, GETNCNT, 3);
    int good = counted;
    for (int i = 0; i < 3; i++) {
        semop1(id, 0, 1, 0);
        int st;
        pid_t w = wait_for(-1, &st);
        good = good && w > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && semctl(id, 0, GETNCNT) == 2 - i;
    }
    check(good, "three waiters, three increments: one waiter goes at each", "ncnt %d", semctl(id, 0, GETNCNT));

    /* EINTR, even with SA_RESTART. */
    pid = fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        alarm(1);
        errno = 0;
        int r2 = semop1(id, 0, -1, 0);
        _exit(r2 == -1 && errno == EINTR ? 0 : 2);
    }
    check(exited_zero(pid, why, sizeof why) && semctl(id, 0, GETNCNT) == 0, "a signal ends a wait with EINTR (never restarted, SA_RESTART or not)",
          "%s", why);

    /* EIDRM to a waiter when the set is removed. */
    pid = fork();
    if (pid == 0) {
        errno = 0;
        int r2 = semop1(id, 0, -1, 0);
        _exit(r2 == -1 && errno == EIDRM ? 0 : 2);
    }
    counted = wait_count(id, 0, GETNCNT, 1);
    int rm = semctl(id, 0, IPC_RMID);
    check(counted && rm == 0 && exited_zero(pid, why, sizeof why), "a waiter gets EIDRM when the set is removed", "rm %d, %s", rm, why);
}

static void test_sem_undo(void)
{
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (id < 0 || sem_set(id, 0, 1) != 0) {
        not_ok("SEM_UNDO", "semget: %s", errname(errno));
        return;
    }
    int held[2], go[2];
    if (pipe(held) || pipe(go)) {
        not_ok("SEM_UNDO", "pipe: %s", errname(errno));
        return;
    }
    /* A child takes the semaphore with SEM_UNDO and exits holding it. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(semop1(id, 0, -1, SEM_UNDO) == 0 ? 0 : 2);
    char why[128] = "";
    check(exited_zero(pid, why, sizeof why) && sem_get(id, 0) == 1, "a child's exit gives back what it took with SEM_UNDO", "value %d, %s",
          sem_get(id, 0), why);
    check(semctl(id, 0, GETPID) == pid, "GETPID names the exited child (its undo was the last change)", "pid %d, child %d",
          semctl(id, 0, GETPID), pid);
    /* Without SEM_UNDO nothing comes back. */
    pid = fork();
    if (pid == 0)
        _exit(semop1(id, 0, -1, 0) == 0 ? 0 : 2);
    check(exited_zero(pid, why, sizeof why) && sem_get(id, 0) == 0, "without SEM_UNDO the exit gives nothing back", "value %d", sem_get(id, 0));
    sem_set(id, 0, 1);
    /* A child killed (SIGKILL) while holding: the parent, waiting, gets it. */
    pid = fork();
    if (pid == 0) {
        if (semop1(id, 0, -1, SEM_UNDO) != 0)
            _exit(2);
        if (write(held[1], "h", 1) != 1)
            _exit(3);
        pause();
        _exit(0);
    }
    char c;
    int told = read(held[0], &c, 1) == 1;
    pid_t killer = fork();
    if (killer == 0) {
        usleep(100000);
        kill(pid, SIGKILL);
        _exit(0);
    }
    struct sembuf b = { 0, -1, 0 };
    struct timespec t = { 20, 0 };
    long start = now_ms();
    int r = semtimedop(id, &b, 1, &t);
    long took = now_ms() - start;
    int st;
    wait_for(pid, &st);
    wait_for(killer, NULL);
    check(told && r == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && took < 15000,
          "a child killed while holding a SEM_UNDO semaphore wakes the waiting parent", "r %d (%s), %ld ms", r, errname(errno), took);
    /* SETVAL clears the adjustments: a child's exit then gives nothing back. */
    sem_set(id, 0, 1);
    pid = fork();
    if (pid == 0) {
        if (semop1(id, 0, -1, SEM_UNDO) != 0)
            _exit(2);
        if (write(held[1], "h", 1) != 1)
            _exit(3);
        if (read(go[0], &c, 1) != 1) /* the parent's go, after its SETVAL */
            _exit(4);
        _exit(0);
    }
    told = read(held[0], &c, 1) == 1;
    sem_set(id, 0, 3);
    int sent = write(go[1], "g", 1) == 1;
    check(told && sent && exited_zero(pid, why, sizeof why) && sem_get(id, 0) == 3, "SETVAL clears the SEM_UNDO adjustments of that semaphore",
          "value %d, %s", sem_get(id, 0), why);
    semctl(id, 0, IPC_RMID);
    close(held[0]), close(held[1]), close(go[0]), close(go[1]);
}

int main(void)
{
    tap_family("shm");
    test_shm_fork();
    test_shm_rmid_attached();
    test_shm_keys();
    test_shm_flags();
    test_shm_outsider();
    test_shm_pkru();
    tap_family("sem");
    test_sem_values();
    test_sem_mutex();
    test_sem_waits();
    test_sem_undo();
    return tap_done();
}
