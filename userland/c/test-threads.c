/* test-threads: POSIX threads as glibc makes them (issue 13), checked
 * against Linux's answers (run on the host first), one family at a time:
 *   sync     64 threads x 10,000 mutex-protected increments; a PI mutex
 *            under contention; condition variables (bounded buffer, 4
 *            producers, 4 consumers); pthread_barrier (one serial thread a
 *            round); sem_t between threads; pthread_mutex_timedlock,
 *            pthread_cond_timedwait and sem_timedwait timing out; robust
 *            mutexes whose owner thread (or process) died: EOWNERDEAD
 *   ids      gettid distinct and not the pid, /proc/self/task and
 *            /proc/self/status Threads:, prctl(PR_SET_NAME) per thread in
 *            /proc/self/task/TID/comm and pthread_getname_np
 *   tls      __thread variables distinct per thread, initialised afresh
 *   life     pthread_join return values (return and pthread_exit), detached
 *            threads, a raw SYS_exit of a thread (CLONE_CHILD_CLEARTID wakes
 *            the joiner), the main thread's pthread_exit while another runs
 *            on, exit_group from a thread, clone3 (present, EINVAL on a bad
 *            size), clone with pthread_create's flags (SETTLS, PARENT_SETTID,
 *            CHILD_CLEARTID) and glibc's fallback to clone when clone3 is
 *            ENOSYS (seccomp, where the kernel has it)
 *   signals  pthread_kill to one thread, per-thread masks (a process-directed
 *            signal goes to the one thread that does not block it; a
 *            thread-directed one stays pending on its thread), sigaltstack
 *            per thread (not inherited by a new thread)
 *   process  fork from a multithreaded process (one thread in the child,
 *            malloc, printf and pthread_create work; from a non-main thread
 *            too; while other threads hammer malloc), execve from a non-main
 *            thread (same pid, one thread), a thread that writes to NULL
 *            kills its whole process with SIGSEGV and not its sibling
 *
 * Statically linked with glibc (scripts/build-userland), unlike the musl
 * programs: glibc's pthread (clone3 first, robust lists, rseq, set_tid_address,
 * futex-based locks) is what Debian's programs use.
 *
 * Internal modes (re-exec of itself): --after-exec PID. */
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "child.h"

static char self_path[4096];
static pid_t main_pid;

/* pthread_create, or the end of the run: with a thread missing, the test
 * that wanted it would wait for it forever. (In a forked child: exit 90,
 * which its parent reports.) */
static void spawn(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    int err = pthread_create(t, attr, fn, arg);
    if (err == 0)
        return;
    if (getpid() != main_pid)
        _exit(90);
    not_ok("pthread_create", "%s: the remaining checks need threads", errname(err));
    exit(tap_done());
}

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* Wait for pid at most timeout_ms; on timeout SIGKILL it, reap it and
 * return -2. */
static int wait_timeout(pid_t pid, long timeout_ms, int *status)
{
    int64_t deadline = now_ns() + timeout_ms * 1000000LL;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ns() > deadline) {
            kill(pid, SIGKILL);
            wait_for(pid, status);
            return -2;
        }
        sleep_ms(5);
    }
}

static struct timespec realtime_in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* The tids listed in /proc/self/task (up to max), or -1. */
static int task_tids(pid_t *tids, int max)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n < max)
            tids[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* "Threads:" of /proc/self/status, or -1. */
static int status_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int contains_tid(const pid_t *tids, int n, pid_t tid)
{
    for (int i = 0; i < n; i++)
        if (tids[i] == tid)
            return 1;
    return 0;
}

/* ---- sync ----------------------------------------------------------- */

#define COUNT_THREADS 64
#define COUNT_EACH 10000

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static pid_t counter_tids[COUNT_THREADS];

struct count_arg {
    pthread_mutex_t *lock;
    long *counter;
    int index;
    pid_t *tids;
};

static void *count_thread(void *p)
{
    struct count_arg *a = p;
    if (a->tids)
        a->tids[a->index] = my_tid();
    for (int i = 0; i < COUNT_EACH; i++) {
        pthread_mutex_lock(a->lock);
        /* A read-modify-write that loses updates without the lock. */
        long v = *(volatile long *)a->counter;
        if ((i & 1023) == 0)
            sched_yield();
        *(volatile long *)a->counter = v + 1;
        pthread_mutex_unlock(a->lock);
    }
    return NULL;
}

static void test_mutex_counter(void)
{
    pthread_t t[COUNT_THREADS];
    struct count_arg args[COUNT_THREADS];
    int created = 0, err = 0;
    for (int i = 0; i < COUNT_THREADS; i++) {
        args[i] = (struct count_arg){&count_lock, &counter, i, counter_tids};
        err = pthread_create(&t[i], NULL, count_thread, &args[i]);
        if (err != 0)
            break;
        created++;
    }
    for (int i = 0; i < created; i++)
        pthread_join(t[i], NULL);
    check(created == COUNT_THREADS, "pthread_create 64 threads", "created %d: %s", created, errname(err));
    check(counter == (long)COUNT_THREADS * COUNT_EACH, "64 x 10,000 mutex-protected increments", "counter %ld, want %ld",
          counter, (long)COUNT_THREADS * COUNT_EACH);

    /* The tids the threads saw: distinct, none the pid. */
    int distinct = created == COUNT_THREADS, not_pid = 1;
    for (int i = 0; i < created; i++) {
        if (counter_tids[i] == getpid() || counter_tids[i] <= 0)
            not_pid = 0;
        for (int j = 0; j < i; j++)
            if (counter_tids[i] == counter_tids[j])
                distinct = 0;
    }
    check(distinct && not_pid, "gettid distinct in 64 threads, none the pid", "distinct %d not_pid %d", distinct, not_pid);
    check(my_tid() == getpid(), "the main thread's tid is the pid", "gettid %d getpid %d", (int)my_tid(), (int)getpid());
}

static void test_pi_mutex(void)
{
    pthread_mutexattr_t ma;
    pthread_mutex_t pi;
    pthread_mutexattr_init(&ma);
    int err = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
    if (err == 0)
        err = pthread_mutex_init(&pi, &ma);
    pthread_mutexattr_destroy(&ma);
    if (err != 0) {
        not_ok("PI mutex (FUTEX_LOCK_PI) under contention", "init: %s", errname(err));
        return;
    }
    long pi_counter = 0;
    pthread_t t[8];
    struct count_arg args[8];
    int created = 0;
    for (int i = 0; i < 8; i++) {
        args[i] = (struct count_arg){&pi, &pi_counter, i, NULL};
        if (pthread_create(&t[i], NULL, count_thread, &args[i]) == 0)
            created++;
    }
    for (int i = 0; i < created; i++)
        pthread_join(t[i], NULL);
    check(created == 8 && pi_counter == 8L * COUNT_EACH, "PI mutex (FUTEX_LOCK_PI) under contention", "%d threads, counter %ld", created,
          pi_counter);
    pthread_mutex_destroy(&pi);
}

/* Bounded buffer: producers put 1..ITEMS each, consumers sum. */
#define PC_PRODUCERS 4
#define PC_CONSUMERS 4
#define PC_ITEMS 5000
#define PC_SLOTS 8

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    long slot[PC_SLOTS];
    int head, count, producers_left;
    long sum[PC_CONSUMERS], taken[PC_CONSUMERS];
} pc = {.lock = PTHREAD_MUTEX_INITIALIZER, .not_full = PTHREAD_COND_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER};

static void *producer(void *p)
{
    (void)p;
    for (long v = 1; v <= PC_ITEMS; v++) {
        pthread_mutex_lock(&pc.lock);
        while (pc.count == PC_SLOTS)
            pthread_cond_wait(&pc.not_full, &pc.lock);
        pc.slot[(pc.head + pc.count) % PC_SLOTS] = v;
        pc.count++;
        pthread_cond_signal(&pc.not_empty);
        pthread_mutex_unlock(&pc.lock);
    }
    pthread_mutex_lock(&pc.lock);
    pc.producers_left--;
    pthread_cond_broadcast(&pc.not_empty);
    pthread_mutex_unlock(&pc.lock);
    return NULL;
}

static void *consumer(void *p)
{
    int me = (int)(intptr_t)p;
    for (;;) {
        pthread_mutex_lock(&pc.lock);
        while (pc.count == 0 && pc.producers_left > 0)
            pthread_cond_wait(&pc.not_empty, &pc.lock);
        if (pc.count == 0) {
            pthread_mutex_unlock(&pc.lock);
            return NULL;
        }
        long v = pc.slot[pc.head];
        pc.head = (pc.head + 1) % PC_SLOTS;
        pc.count--;
        pthread_cond_signal(&pc.not_full);
        pthread_mutex_unlock(&pc.lock);
        pc.sum[me] += v;
        pc.taken[me]++;
    }
}

static void test_condvar(void)
{
    pthread_t prod[PC_PRODUCERS], cons[PC_CONSUMERS];
    pc.producers_left = PC_PRODUCERS;
    for (int i = 0; i < PC_CONSUMERS; i++)
        spawn(&cons[i], NULL, consumer, (void *)(intptr_t)i);
    for (int i = 0; i < PC_PRODUCERS; i++)
        spawn(&prod[i], NULL, producer, NULL);
    for (int i = 0; i < PC_PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (int i = 0; i < PC_CONSUMERS; i++)
        pthread_join(cons[i], NULL);
    long sum = 0, taken = 0;
    for (int i = 0; i < PC_CONSUMERS; i++) {
        sum += pc.sum[i];
        taken += pc.taken[i];
    }
    long want = (long)PC_PRODUCERS * PC_ITEMS * (PC_ITEMS + 1) / 2;
    check(taken == (long)PC_PRODUCERS * PC_ITEMS && sum == want, "condition variables: 4 producers, 4 consumers, 8 slots",
          "taken %ld sum %ld, want %d and %ld", taken, sum, PC_PRODUCERS * PC_ITEMS, want);
}

#define BAR_THREADS 16
#define BAR_ROUNDS 200

static pthread_barrier_t barrier;
static atomic_int bar_arrived, bar_serial, bar_bad;

static void *barrier_thread(void *p)
{
    (void)p;
    for (int r = 0; r < BAR_ROUNDS; r++) {
        atomic_fetch_add(&bar_arrived, 1);
        int rc = pthread_barrier_wait(&barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&bar_serial, 1);
        else if (rc != 0)
            atomic_fetch_add(&bar_bad, 1);
        /* Everyone of this round has arrived before anyone passes. */
        if (atomic_load(&bar_arrived) < (r + 1) * BAR_THREADS)
            atomic_fetch_add(&bar_bad, 1);
        /* And no one of the next round passes before all of this one checked. */
        rc = pthread_barrier_wait(&barrier);
        if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&bar_bad, 1);
    }
    return NULL;
}

static void test_barrier(void)
{
    pthread_barrier_init(&barrier, NULL, BAR_THREADS);
    pthread_t t[BAR_THREADS];
    for (int i = 0; i < BAR_THREADS; i++)
        spawn(&t[i], NULL, barrier_thread, NULL);
    for (int i = 0; i < BAR_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    check(atomic_load(&bar_bad) == 0 && atomic_load(&bar_serial) == BAR_ROUNDS && atomic_load(&bar_arrived) == BAR_THREADS * BAR_ROUNDS,
          "pthread_barrier: 16 threads, 200 rounds, one serial thread each", "bad %d serial %d arrived %d", atomic_load(&bar_bad),
          atomic_load(&bar_serial), atomic_load(&bar_arrived));
}

static sem_t ping, pong;
#define PING_ROUNDS 10000

static void *ponger(void *p)
{
    (void)p;
    for (int i = 0; i < PING_ROUNDS; i++) {
        while (sem_wait(&ping) != 0) {
        }
        sem_post(&pong);
    }
    return NULL;
}

static sem_t counted;

static void *poster(void *p)
{
    (void)p;
    for (int i = 0; i < 1000; i++)
        sem_post(&counted);
    return NULL;
}

static void test_semaphores(void)
{
    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    pthread_t t;
    spawn(&t, NULL, ponger, NULL);
    int rounds = 0;
    for (int i = 0; i < PING_ROUNDS; i++) {
        sem_post(&ping);
        while (sem_wait(&pong) != 0) {
        }
        rounds++;
    }
    pthread_join(t, NULL);
    int v = -1;
    sem_getvalue(&pong, &v);
    check(rounds == PING_ROUNDS && v == 0, "sem_t ping-pong between two threads, 10,000 rounds", "rounds %d value %d", rounds, v);

    sem_init(&counted, 0, 0);
    pthread_t posters[8];
    for (int i = 0; i < 8; i++)
        spawn(&posters[i], NULL, poster, NULL);
    int got = 0;
    struct timespec until = realtime_in_ms(30000);
    while (got < 8000 && sem_timedwait(&counted, &until) == 0)
        got++;
    for (int i = 0; i < 8; i++)
        pthread_join(posters[i], NULL);
    errno = 0;
    int extra = sem_trywait(&counted);
    check(got == 8000 && extra == -1 && errno == EAGAIN, "sem_t: 8 posters x 1000, one waiter", "got %d, trywait after %d (%s)", got, extra,
          errname(errno));
    sem_destroy(&ping);
    sem_destroy(&pong);
    sem_destroy(&counted);
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static sem_t held_taken, held_release;

static void *holder(void *p)
{
    (void)p;
    pthread_mutex_lock(&held);
    sem_post(&held_taken);
    while (sem_wait(&held_release) != 0) {
    }
    pthread_mutex_unlock(&held);
    return NULL;
}

static void test_timeouts(void)
{
    sem_init(&held_taken, 0, 0);
    sem_init(&held_release, 0, 0);
    pthread_t t;
    spawn(&t, NULL, holder, NULL);
    sem_wait(&held_taken);

    int64_t t0 = now_ns();
    struct timespec until = realtime_in_ms(200);
    int rc = pthread_mutex_timedlock(&held, &until);
    int64_t ms = (now_ns() - t0) / 1000000;
    check(rc == ETIMEDOUT && ms >= 190 && ms < 5000, "pthread_mutex_timedlock on a held mutex times out (200 ms)", "rc %s after %lld ms",
          errname(rc), (long long)ms);
    rc = pthread_mutex_trylock(&held);
    check(rc == EBUSY, "pthread_mutex_trylock on a held mutex: EBUSY", "rc %s", errname(rc));

    /* An absolute time already past: ETIMEDOUT at once. */
    struct timespec past = realtime_in_ms(0);
    past.tv_sec -= 1;
    t0 = now_ns();
    rc = pthread_mutex_timedlock(&held, &past);
    ms = (now_ns() - t0) / 1000000;
    check(rc == ETIMEDOUT && ms < 1000, "pthread_mutex_timedlock with a past deadline: ETIMEDOUT at once", "rc %s after %lld ms",
          errname(rc), (long long)ms);

    sem_post(&held_release);
    pthread_join(t, NULL);
    until = realtime_in_ms(2000);
    rc = pthread_mutex_timedlock(&held, &until);
    check(rc == 0, "pthread_mutex_timedlock once released", "rc %s", errname(rc));
    if (rc == 0)
        pthread_mutex_unlock(&held);

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    t0 = now_ns();
    until = realtime_in_ms(150);
    rc = pthread_cond_timedwait(&c, &m, &until);
    ms = (now_ns() - t0) / 1000000;
    pthread_mutex_unlock(&m);
    check(rc == ETIMEDOUT && ms >= 140 && ms < 5000, "pthread_cond_timedwait times out (150 ms)", "rc %s after %lld ms", errname(rc),
          (long long)ms);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_t cm;
    pthread_cond_init(&cm, &ca);
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    mono.tv_nsec += 100000000L;
    if (mono.tv_nsec >= 1000000000L) {
        mono.tv_sec++;
        mono.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m);
    t0 = now_ns();
    rc = pthread_cond_timedwait(&cm, &m, &mono);
    ms = (now_ns() - t0) / 1000000;
    pthread_mutex_unlock(&m);
    check(rc == ETIMEDOUT && ms >= 90 && ms < 5000, "pthread_cond_timedwait on CLOCK_MONOTONIC times out (100 ms)", "rc %s after %lld ms",
          errname(rc), (long long)ms);

    sem_t s;
    sem_init(&s, 0, 0);
    t0 = now_ns();
    until = realtime_in_ms(100);
    errno = 0;
    rc = sem_timedwait(&s, &until);
    ms = (now_ns() - t0) / 1000000;
    check(rc == -1 && errno == ETIMEDOUT && ms >= 90 && ms < 5000, "sem_timedwait times out (100 ms)", "rc %d %s after %lld ms", rc,
          errname(errno), (long long)ms);
    sem_destroy(&s);
}

static pthread_mutex_t robust;

static void *die_holding(void *p)
{
    (void)p;
    pthread_mutex_lock(&robust);
    return NULL; /* ends holding it: the kernel walks the robust list */
}

static sem_t robust_locked;

static void *die_holding_later(void *p)
{
    (void)p;
    pthread_mutex_lock(&robust);
    sem_post(&robust_locked);
    sleep_ms(100); /* the main thread blocks in lock meanwhile */
    return NULL;
}

/* Lock a robust mutex, but give up after 5 s (ETIMEDOUT): a kernel that
 * does not walk the robust list would leave the lock taken forever. */
static int lock_within_5s(pthread_mutex_t *m)
{
    struct timespec until = realtime_in_ms(5000);
    return pthread_mutex_timedlock(m, &until);
}

static void test_robust(void)
{
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &ma);
    pthread_t t;
    spawn(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    int rc = lock_within_5s(&robust);
    check(rc == EOWNERDEAD, "robust mutex whose owner thread ended: EOWNERDEAD", "lock: %s", errname(rc));
    if (rc == EOWNERDEAD) {
        int c = pthread_mutex_consistent(&robust);
        pthread_mutex_unlock(&robust);
        rc = lock_within_5s(&robust);
        check(c == 0 && rc == 0, "robust mutex made consistent locks again", "consistent %s, lock %s", errname(c), errname(rc));
        if (rc == 0)
            pthread_mutex_unlock(&robust);
    }
    pthread_mutex_destroy(&robust);

    /* The owner dies while another thread is blocked in lock (FUTEX_WAITERS
     * set): the kernel's robust-list walk must wake it. */
    pthread_mutex_init(&robust, &ma);
    sem_init(&robust_locked, 0, 0);
    spawn(&t, NULL, die_holding_later, NULL);
    while (sem_wait(&robust_locked) != 0) {
    }
    rc = lock_within_5s(&robust);
    pthread_join(t, NULL);
    check(rc == EOWNERDEAD, "robust mutex: a waiter blocked in lock is woken with EOWNERDEAD when the owner thread ends", "lock: %s",
          errname(rc));
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&robust);
    if (rc == EOWNERDEAD || rc == 0)
        pthread_mutex_unlock(&robust);
    pthread_mutex_destroy(&robust);
    sem_destroy(&robust_locked);

    /* Process-shared robust mutex: a child process dies holding it. */
    pthread_mutex_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        not_ok("process-shared robust mutex whose owner process died: EOWNERDEAD", "mmap: %s", errname(errno));
        pthread_mutexattr_destroy(&ma);
        return;
    }
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(shared, &ma);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(shared);
        _exit(0);
    }
    int st = 0;
    int w = wait_timeout(pid, 10000, &st);
    rc = w == 0 ? lock_within_5s(shared) : -1;
    check(rc == EOWNERDEAD, "process-shared robust mutex whose owner process died: EOWNERDEAD", "wait %d (%s), lock %s", w,
          describe_status(st), errname(rc));
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(shared);
        pthread_mutex_unlock(shared);
    }
    pthread_mutexattr_destroy(&ma);
    munmap(shared, 4096);
}

/* ---- ids ------------------------------------------------------------ */

#define NAMED 5

static pthread_barrier_t named_ready, named_done;
static pid_t named_tid[NAMED];

static void *named_thread(void *p)
{
    int i = (int)(intptr_t)p;
    char name[16];
    snprintf(name, sizeof name, "worker-%d", i);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    named_tid[i] = my_tid();
    pthread_barrier_wait(&named_ready);
    pthread_barrier_wait(&named_done);
    return NULL;
}

static void read_comm(pid_t tid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(buf, len, "(open: %s)", errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

static void test_ids(void)
{
    char main_comm[32];
    read_comm(getpid(), main_comm, sizeof main_comm);
    pthread_barrier_init(&named_ready, NULL, NAMED + 1);
    pthread_barrier_init(&named_done, NULL, NAMED + 1);
    pthread_t t[NAMED];
    for (int i = 0; i < NAMED; i++)
        spawn(&t[i], NULL, named_thread, (void *)(intptr_t)i);
    pthread_barrier_wait(&named_ready);

    pid_t tids[64];
    int n = task_tids(tids, 64);
    int all = n == NAMED + 1 && contains_tid(tids, n, getpid());
    for (int i = 0; i < NAMED; i++)
        all = all && contains_tid(tids, n, named_tid[i]);
    check(all, "/proc/self/task lists the main thread and the 5 others", "%d entries", n);
    int threads = status_threads();
    check(threads == NAMED + 1, "/proc/self/status Threads: 6", "Threads: %d", threads);

    int names_ok = 1;
    char why[200] = "";
    for (int i = 0; i < NAMED && names_ok; i++) {
        char want[32], got[64], np[32] = "";
        snprintf(want, sizeof want, "worker-%d\n", i);
        read_comm(named_tid[i], got, sizeof got);
        pthread_getname_np(t[i], np, sizeof np);
        if (strcmp(got, want) != 0 || strncmp(np, want, strlen(want) - 1) != 0 || np[strlen(want) - 1] != '\0') {
            names_ok = 0;
            snprintf(why, sizeof why, "thread %d: comm '%s', getname '%s'", i, got, np);
        }
    }
    check(names_ok, "prctl(PR_SET_NAME) per thread: /proc/self/task/TID/comm, pthread_getname_np", "%s", why);
    char after[32];
    read_comm(getpid(), after, sizeof after);
    check(strcmp(after, main_comm) == 0 && strlen(after) > 1, "the main thread keeps its own comm", "was '%s', now '%s'", main_comm, after);

    /* pthread_setname_np from the main thread on another thread. */
    int rc = pthread_setname_np(t[0], "renamed");
    char got[64];
    read_comm(named_tid[0], got, sizeof got);
    check(rc == 0 && strcmp(got, "renamed\n") == 0, "pthread_setname_np on another thread (/proc/self/task/TID/comm write)",
          "rc %s comm '%s'", errname(rc), got);

    pthread_barrier_wait(&named_done);
    for (int i = 0; i < NAMED; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&named_ready);
    pthread_barrier_destroy(&named_done);

    /* Once joined, they are gone from /proc/self/task: soon, not at once
     * (Linux wakes the joiner, clearing the tid, before the thread is
     * released). */
    for (int tries = 0; tries < 200; tries++) {
        n = task_tids(tids, 64);
        if (n == 1)
            break;
        sleep_ms(10);
    }
    check(n == 1 && tids[0] == getpid(), "joined threads leave /proc/self/task", "%d entries", n);
}

/* ---- tls ------------------------------------------------------------ */

static __thread int tls_value = 42;
static __thread char tls_block[256];

#define TLS_THREADS 16

struct tls_result {
    int initial, kept;
    uintptr_t addr;
};

static pthread_barrier_t tls_barrier;

static void *tls_thread(void *p)
{
    struct tls_result *r = p;
    r->initial = tls_value;
    tls_value = (int)(uintptr_t)r; /* a value unique to the thread */
    memset(tls_block, (int)((uintptr_t)r & 0xff), sizeof tls_block);
    r->addr = (uintptr_t)&tls_value;
    pthread_barrier_wait(&tls_barrier); /* all have written theirs */
    sched_yield();
    int block_ok = 1;
    for (size_t i = 0; i < sizeof tls_block; i++)
        if (tls_block[i] != (char)((uintptr_t)r & 0xff))
            block_ok = 0;
    r->kept = tls_value == (int)(uintptr_t)r && block_ok;
    return NULL;
}

static void test_tls(void)
{
    tls_value = 7; /* the main thread's copy only */
    pthread_barrier_init(&tls_barrier, NULL, TLS_THREADS);
    pthread_t t[TLS_THREADS];
    struct tls_result r[TLS_THREADS];
    memset(r, 0, sizeof r);
    for (int i = 0; i < TLS_THREADS; i++)
        spawn(&t[i], NULL, tls_thread, &r[i]);
    for (int i = 0; i < TLS_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&tls_barrier);
    int initial = 1, kept = 1, distinct = 1;
    for (int i = 0; i < TLS_THREADS; i++) {
        initial &= r[i].initial == 42;
        kept &= r[i].kept;
        distinct &= r[i].addr != (uintptr_t)&tls_value;
        for (int j = 0; j < i; j++)
            distinct &= r[i].addr != r[j].addr;
    }
    check(initial, "__thread starts at its initialiser in each new thread", "a thread saw another value");
    check(kept && distinct && tls_value == 7, "__thread distinct per thread (16 threads)", "kept %d distinct %d main %d", kept, distinct,
          tls_value);
}

/* ---- life ----------------------------------------------------------- */

static void *returner(void *p)
{
    return (void *)((intptr_t)p * 3 + 1);
}

static void *exiter(void *p)
{
    pthread_exit((void *)((intptr_t)p * 5 + 2));
}

static sem_t detached_done;

static void *detached(void *p)
{
    if (p)
        pthread_detach(pthread_self());
    sem_post(&detached_done);
    return NULL;
}

static atomic_int raw_exit_reached;

static void *raw_exit(void *p)
{
    (void)p;
    atomic_store(&raw_exit_reached, 1);
    syscall(SYS_exit, 0); /* the thread only; glibc never sees it end */
    atomic_store(&raw_exit_reached, 2);
    return NULL;
}

static void test_join_detach(void)
{
    pthread_t t[10];
    for (int i = 0; i < 10; i++)
        spawn(&t[i], NULL, i % 2 ? exiter : returner, (void *)(intptr_t)i);
    int good = 1;
    char why[100] = "";
    for (int i = 0; i < 10; i++) {
        void *v = NULL;
        int rc = pthread_join(t[i], &v);
        intptr_t want = i % 2 ? i * 5 + 2 : i * 3 + 1;
        if (rc != 0 || (intptr_t)v != want) {
            good = 0;
            snprintf(why, sizeof why, "thread %d: rc %s value %ld want %ld", i, errname(rc), (long)(intptr_t)v, (long)want);
        }
    }
    check(good, "pthread_join returns what the thread returned or passed to pthread_exit", "%s", why);

    sem_init(&detached_done, 0, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int created = 0;
    /* Many more than any sane limit on live threads: they must be reaped. */
    for (int i = 0; i < 400; i++) {
        pthread_t d;
        if (pthread_create(&d, i % 2 ? &attr : NULL, detached, i % 2 ? NULL : (void *)1) != 0)
            break;
        created++;
        while (sem_wait(&detached_done) != 0) {
        }
    }
    pthread_attr_destroy(&attr);
    check(created == 400, "400 detached threads, one after another (created detached, or pthread_detach(self))", "created %d", created);
    /* They are gone from /proc/self/task soon after. */
    pid_t tids[8];
    int n = 0;
    for (int tries = 0; tries < 200; tries++) {
        n = task_tids(tids, 8);
        if (n == 1)
            break;
        sleep_ms(10);
    }
    check(n == 1, "ended detached threads leave /proc/self/task", "%d entries", n);

    pthread_t r;
    spawn(&r, NULL, raw_exit, NULL);
    int rc = pthread_join(r, NULL); /* woken by the kernel's clear of the tid (CLONE_CHILD_CLEARTID) */
    check(rc == 0 && atomic_load(&raw_exit_reached) == 1, "a thread's raw SYS_exit ends that thread only; pthread_join returns",
          "rc %s reached %d", errname(rc), atomic_load(&raw_exit_reached));
}

static int pipe_w = -1;

static void *outliving(void *p)
{
    (void)p;
    sleep_ms(100);
    /* The main thread is gone (pthread_exit); Linux still lists it, a
     * zombie, until the whole process ends. */
    char msg[64];
    int len = snprintf(msg, sizeof msg, "alive threads=%d\n", status_threads());
    write_all(pipe_w, msg, (size_t)len);
    exit(7);
}

static int main_exits_first(void *p)
{
    (void)p;
    pthread_t t;
    spawn(&t, NULL, outliving, NULL);
    pthread_exit(NULL); /* the process lives on in the other thread */
}

static void *stuck(void *p)
{
    (void)p;
    for (;;)
        pause();
    return NULL;
}

static void *group_exiter(void *p)
{
    (void)p;
    sleep_ms(50);
    _exit(5); /* exit_group: every thread ends */
}

static void test_exits(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("the main thread's pthread_exit: the process lives on", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pipe_w = fds[1];
        main_exits_first(NULL);
        _exit(99);
    }
    close(fds[1]);
    char buf[128] = "";
    size_t got = read_full(fds[0], buf, sizeof buf - 1);
    buf[got] = '\0';
    close(fds[0]);
    int st = 0;
    int w = wait_timeout(pid, 10000, &st);
    check(w == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7 && strncmp(buf, "alive ", 6) == 0,
          "the main thread's pthread_exit: the process lives on; exit(7) from the other ends it", "wait %d, %s, said '%s'", w,
          describe_status(st), buf);

    pid = fork();
    if (pid == 0) {
        pthread_t t;
        for (int i = 0; i < 4; i++)
            spawn(&t, NULL, stuck, NULL);
        spawn(&t, NULL, group_exiter, NULL);
        for (;;)
            pause();
    }
    w = wait_timeout(pid, 10000, &st);
    check(w == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 5, "_exit (exit_group) from a thread ends all 6 threads", "wait %d, %s", w,
          describe_status(st));
}

static void *trivial(void *p)
{
    return p;
}

#ifndef CLONE_ARGS_SIZE_VER0
#define CLONE_ARGS_SIZE_VER0 64
#endif

static int clone3_enosys_child(void *p)
{
    (void)p;
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return 40 + (errno == EINVAL || errno == ENOSYS ? 0 : 1); /* no seccomp here */
    errno = 0;
    long r = syscall(SYS_clone3, NULL, 0);
    if (r != -1 || errno != ENOSYS)
        return 2;
    /* glibc: clone3 says ENOSYS, so clone it is. */
    pthread_t t;
    void *v = NULL;
    if (pthread_create(&t, NULL, trivial, (void *)33) != 0 || pthread_join(t, &v) != 0 || v != (void *)33)
        return 3;
    return 0;
}

/* A thread made with glibc's clone() (the clone syscall, as glibc's
 * pthread_create falls back to) and the flags pthread_create uses, TLS
 * included: a fake TCB that only has to point to itself, since the child
 * makes raw system calls only. */
static uintptr_t fake_tcb[64] __attribute__((aligned(64)));
static volatile pid_t raw_ptid, raw_ctid;
static volatile pid_t raw_child_tid;
static volatile unsigned long raw_child_fs;
static volatile pid_t raw_child_pid;

static int raw_thread(void *p)
{
    (void)p;
    raw_child_tid = (pid_t)syscall(SYS_gettid);
    raw_child_pid = (pid_t)syscall(SYS_getpid);
    unsigned long fs = 0;
    syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs);
    raw_child_fs = fs;
    return 0; /* glibc's clone() then calls SYS_exit: this thread only */
}

static void test_raw_clone(void)
{
    size_t size = 64 * 1024;
    char *stack = malloc(size);
    fake_tcb[0] = (uintptr_t)fake_tcb;
    raw_ctid = -1;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                CLONE_CHILD_CLEARTID;
    int tid = stack ? clone(raw_thread, stack + size, flags, NULL, (pid_t *)&raw_ptid, fake_tcb, (pid_t *)&raw_ctid) : -1;
    int e = errno;
    if (tid < 0) {
        not_ok("clone with pthread_create's flags (SETTLS, PARENT_SETTID, CHILD_CLEARTID)", "clone: %s", errname(e));
        free(stack);
        return;
    }
    /* CHILD_CLEARTID: when the thread ends the kernel zeroes raw_ctid (-1
     * until then: no CLONE_CHILD_SETTID) and wakes its futex. */
    int64_t deadline = now_ns() + 10000000000LL;
    while (raw_ctid != 0 && now_ns() < deadline) {
        pid_t seen = raw_ctid;
        if (seen != 0) {
            struct timespec ts = {0, 10000000L};
            syscall(SYS_futex, &raw_ctid, FUTEX_WAIT, seen, &ts, NULL, 0);
        }
    }
    check(raw_ctid == 0 && raw_ptid == tid && raw_child_tid == tid && raw_child_pid == getpid() && raw_child_fs == (uintptr_t)fake_tcb,
          "clone with pthread_create's flags (SETTLS, PARENT_SETTID, CHILD_CLEARTID)",
          "ctid %d, ptid %d, tid %d, child saw tid %d pid %d fs %#lx (want %p)", (int)raw_ctid, (int)raw_ptid, tid, (int)raw_child_tid,
          (int)raw_child_pid, raw_child_fs, (void *)fake_tcb);
    free(stack);
}

static void test_clone3(void)
{
    errno = 0;
    long r = syscall(SYS_clone3, NULL, 0);
    int e = errno;
    check(r == -1 && e == EINVAL, "clone3 is there (EINVAL for a size below CLONE_ARGS_SIZE_VER0)", "r %ld %s", r, errname(e));
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_THREAD; /* without CLONE_SIGHAND and CLONE_VM */
    errno = 0;
    r = syscall(SYS_clone3, &ca, sizeof ca);
    e = errno;
    check(r == -1 && e == EINVAL, "clone3 CLONE_THREAD without CLONE_SIGHAND: EINVAL", "r %ld %s", r, errname(e));

    test_raw_clone();

    int st = run_child(clone3_enosys_child, NULL);
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 40 || WEXITSTATUS(st) == 41))
        skip("pthread_create when clone3 is ENOSYS (glibc falls back to clone)", "no seccomp filters here to make clone3 ENOSYS");
    else
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pthread_create when clone3 is ENOSYS (glibc falls back to clone)", "%s",
              describe_status(st));
}

/* ---- signals -------------------------------------------------------- */

static __thread volatile sig_atomic_t got_usr1;
static atomic_int usr1_tid, usr2_tid;
static __thread volatile uintptr_t handler_stack_addr;

static void on_usr1(int sig)
{
    (void)sig;
    int local;
    got_usr1 = 1;
    handler_stack_addr = (uintptr_t)&local;
    atomic_store(&usr1_tid, my_tid());
}

static void on_usr2(int sig)
{
    (void)sig;
    atomic_store(&usr2_tid, my_tid());
}

struct sig_thread {
    pid_t tid;
    int unblock;      /* SIGUSR2 unblocked in this thread */
    atomic_int ready; /* set once its mask is as wanted */
    atomic_int stop;
    int saw_usr1;
    int pending_usr2; /* sigpending showed a thread-directed SIGUSR2 */
    int other_pending;
    int mask_kept;
};

static void *sig_thread(void *p)
{
    struct sig_thread *s = p;
    s->tid = my_tid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(s->unblock ? SIG_UNBLOCK : SIG_BLOCK, &set, NULL);
    atomic_store(&s->ready, 1);
    while (!atomic_load(&s->stop)) {
        if (got_usr1)
            s->saw_usr1 = 1;
        sleep_ms(1);
    }
    if (got_usr1)
        s->saw_usr1 = 1;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    s->mask_kept = sigismember(&now, SIGUSR2) == !s->unblock;
    return NULL;
}

static void test_signal_targets(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);

    /* The main thread blocks SIGUSR2; the threads inherit that mask, and
     * one of them (index 2) unblocks it. */
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, &old);

    enum { N = 4, TARGET = 2 };
    struct sig_thread s[N];
    pthread_t t[N];
    memset(s, 0, sizeof s);
    for (int i = 0; i < N; i++) {
        s[i].unblock = i == TARGET;
        spawn(&t[i], NULL, sig_thread, &s[i]);
    }
    for (int i = 0; i < N; i++)
        while (!atomic_load(&s[i].ready))
            sleep_ms(1);

    /* Thread-directed: pthread_kill(t[1], SIGUSR1) runs the handler there. */
    atomic_store(&usr1_tid, 0);
    int rc = pthread_kill(t[1], SIGUSR1);
    for (int i = 0; i < 2000 && atomic_load(&usr1_tid) == 0; i++)
        sleep_ms(1);
    check(rc == 0 && atomic_load(&usr1_tid) == s[1].tid && !got_usr1, "pthread_kill runs the handler in the target thread",
          "rc %s, handler ran in tid %d (target %d, main %d)", errname(rc), atomic_load(&usr1_tid), (int)s[1].tid, (int)getpid());

    /* tgkill straight to thread 3. */
    atomic_store(&usr1_tid, 0);
    long r = syscall(SYS_tgkill, getpid(), s[3].tid, SIGUSR1);
    for (int i = 0; i < 2000 && atomic_load(&usr1_tid) == 0; i++)
        sleep_ms(1);
    check(r == 0 && atomic_load(&usr1_tid) == s[3].tid, "tgkill runs the handler in the target thread", "r %ld, ran in %d, target %d", r,
          atomic_load(&usr1_tid), (int)s[3].tid);
    errno = 0;
    r = syscall(SYS_tgkill, getpid() + 100000, s[3].tid, 0);
    check(r == -1 && errno == ESRCH, "tgkill with the wrong tgid: ESRCH", "r %ld %s", r, errname(errno));

    /* Process-directed, five times: always the one thread that does not block it. */
    int all_target = 1;
    for (int k = 0; k < 5; k++) {
        atomic_store(&usr2_tid, 0);
        kill(getpid(), SIGUSR2);
        for (int i = 0; i < 2000 && atomic_load(&usr2_tid) == 0; i++)
            sleep_ms(1);
        if (atomic_load(&usr2_tid) != s[TARGET].tid)
            all_target = 0;
    }
    check(all_target, "a process-directed signal goes to the thread that does not block it", "went to %d, target %d",
          atomic_load(&usr2_tid), (int)s[TARGET].tid);

    for (int i = 0; i < N; i++)
        atomic_store(&s[i].stop, 1);
    int masks = 1;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        masks &= s[i].mask_kept;
    }
    check(masks, "pthread_sigmask in one thread leaves the others' masks", "a thread's mask changed");
    check(s[1].saw_usr1 && s[3].saw_usr1 && !s[0].saw_usr1 && !s[2].saw_usr1, "thread-directed signals reach no other thread",
          "saw: %d %d %d %d", s[0].saw_usr1, s[1].saw_usr1, s[2].saw_usr1, s[3].saw_usr1);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A thread-directed signal that its thread blocks stays pending there. */
static atomic_int pend_stage;
static int pend_seen_by_thread, pend_seen_by_main = -1, pend_waited;

static void *pend_thread(void *p)
{
    (void)p;
    atomic_store(&pend_stage, 1);
    while (atomic_load(&pend_stage) != 2)
        sleep_ms(1);
    sigset_t set;
    sigpending(&set);
    pend_seen_by_thread = sigismember(&set, SIGUSR2);
    atomic_store(&pend_stage, 3);
    while (atomic_load(&pend_stage) != 4)
        sleep_ms(1);
    sigset_t want;
    sigemptyset(&want);
    sigaddset(&want, SIGUSR2);
    int sig = 0;
    pend_waited = sigwait(&want, &sig) == 0 && sig == SIGUSR2;
    return NULL;
}

static void test_pending_per_thread(void)
{
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, &old);
    pthread_t t;
    spawn(&t, NULL, pend_thread, NULL);
    while (atomic_load(&pend_stage) != 1)
        sleep_ms(1);
    pthread_kill(t, SIGUSR2);
    atomic_store(&pend_stage, 2);
    while (atomic_load(&pend_stage) != 3)
        sleep_ms(1);
    sigset_t set;
    sigpending(&set);
    pend_seen_by_main = sigismember(&set, SIGUSR2);
    atomic_store(&pend_stage, 4);
    pthread_join(t, NULL);
    check(pend_seen_by_thread == 1 && pend_seen_by_main == 0 && pend_waited,
          "a blocked thread-directed signal is pending in its thread only (sigpending, sigwait)", "thread %d main %d waited %d",
          pend_seen_by_thread, pend_seen_by_main, pend_waited);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct alt_result {
    int inherited_disabled;
    int set_ok;
    int on_alt;
    int flags_onstack;
    uintptr_t lo, hi;
};

static __thread volatile int alt_flags_in_handler;

static void on_alt_signal(int sig)
{
    (void)sig;
    int local;
    handler_stack_addr = (uintptr_t)&local;
    stack_t cur;
    sigaltstack(NULL, &cur);
    alt_flags_in_handler = cur.ss_flags;
}

static void *alt_thread(void *p)
{
    struct alt_result *r = p;
    stack_t cur;
    sigaltstack(NULL, &cur);
    r->inherited_disabled = (cur.ss_flags & SS_DISABLE) != 0;
    size_t size = 64 * 1024;
    char *mem = malloc(size);
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    r->set_ok = mem && sigaltstack(&ss, NULL) == 0;
    r->lo = (uintptr_t)mem;
    r->hi = (uintptr_t)mem + size;
    handler_stack_addr = 0;
    pthread_kill(pthread_self(), SIGWINCH);
    r->on_alt = handler_stack_addr >= r->lo && handler_stack_addr < r->hi;
    r->flags_onstack = (alt_flags_in_handler & SS_ONSTACK) != 0;
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(mem);
    return NULL;
}

static void test_sigaltstack(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alt_signal;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGWINCH, &sa, NULL);
    /* The main thread has one of its own: a new thread does not inherit it. */
    size_t size = 64 * 1024;
    char *mine = malloc(size);
    stack_t ss = {.ss_sp = mine, .ss_size = size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    enum { N = 4 };
    struct alt_result r[N];
    pthread_t t[N];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++)
        spawn(&t[i], NULL, alt_thread, &r[i]);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    int inherited = 1, used = 1;
    for (int i = 0; i < N; i++) {
        inherited &= r[i].inherited_disabled;
        used &= r[i].set_ok && r[i].on_alt && r[i].flags_onstack;
    }
    check(inherited, "a new thread starts without an alternate signal stack", "a thread inherited the main thread's");
    check(used, "sigaltstack per thread: each handler runs on its own thread's stack (SS_ONSTACK)", "set/on/flags: %d%d%d %d%d%d %d%d%d %d%d%d",
          r[0].set_ok, r[0].on_alt, r[0].flags_onstack, r[1].set_ok, r[1].on_alt, r[1].flags_onstack, r[2].set_ok, r[2].on_alt,
          r[2].flags_onstack, r[3].set_ok, r[3].on_alt, r[3].flags_onstack);
    handler_stack_addr = 0;
    raise(SIGWINCH);
    check(handler_stack_addr >= (uintptr_t)mine && handler_stack_addr < (uintptr_t)mine + size, "the main thread's handler runs on its own",
          "handler at %#lx", (unsigned long)handler_stack_addr);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(mine);
    signal(SIGWINCH, SIG_DFL);
}

/* ---- process -------------------------------------------------------- */

static atomic_int churn_stop;

static void *malloc_churn(void *p)
{
    (void)p;
    unsigned x = (unsigned)(uintptr_t)&x;
    while (!atomic_load(&churn_stop)) {
        x = x * 1103515245u + 12345u;
        size_t n = 16 + (x >> 8) % 70000;
        char *b = malloc(n);
        if (b) {
            b[0] = b[n - 1] = 1;
            free(b);
        }
    }
    return NULL;
}

/* The child of a fork from a multithreaded process: one thread; malloc,
 * stdio and new threads work. 0 or a bit mask of what failed. */
static int after_fork(int fd)
{
    int bad = 0;
    pid_t tids[8];
    if (task_tids(tids, 8) != 1 || tids[0] != getpid())
        bad |= 1;
    if (status_threads() != 1)
        bad |= 2;
    if (my_tid() != getpid())
        bad |= 4;
    char *big = malloc(1 << 20);
    if (!big)
        bad |= 8;
    else {
        memset(big, 0x5a, 1 << 20);
        free(big);
    }
    FILE *f = fdopen(fd, "w");
    if (!f || fprintf(f, "child %d printf ok %s\n", (int)getpid(), "with stdio") < 0 || fflush(f) != 0)
        bad |= 16;
    pthread_t t;
    void *v = NULL;
    if (pthread_create(&t, NULL, trivial, (void *)77) != 0 || pthread_join(t, &v) != 0 || v != (void *)77)
        bad |= 32;
    return bad;
}

struct fork_from {
    int fd;
    pid_t child;
    int status;
    int wait_rc;
};

static void *fork_from_thread(void *p)
{
    struct fork_from *f = p;
    pid_t pid = fork();
    if (pid == 0)
        _exit(after_fork(f->fd));
    f->child = pid;
    f->wait_rc = wait_timeout(pid, 20000, &f->status);
    return NULL;
}

static void test_fork(void)
{
    pthread_t churn[4];
    atomic_store(&churn_stop, 0);
    for (int i = 0; i < 4; i++)
        spawn(&churn[i], NULL, malloc_churn, NULL);
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("fork from a multithreaded process", "pipe: %s", errname(errno));
        return;
    }
    int good = 0, rounds = 20;
    char why[160] = "";
    for (int i = 0; i < rounds; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            _exit(after_fork(fds[1]));
        }
        int st = 0;
        int w = pid > 0 ? wait_timeout(pid, 20000, &st) : -1;
        if (w == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            good++;
        else
            snprintf(why, sizeof why, "round %d: wait %d, %s", i, w, describe_status(st));
    }
    /* And from a thread other than the main one. */
    struct fork_from ff = {.fd = fds[1]};
    pthread_t t;
    spawn(&t, NULL, fork_from_thread, &ff);
    pthread_join(t, NULL);
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(churn[i], NULL);
    close(fds[1]);
    char buf[8192];
    size_t got = read_full(fds[0], buf, sizeof buf - 1);
    buf[got] = '\0';
    close(fds[0]);
    int lines = 0;
    for (char *p = buf; (p = strstr(p, " printf ok with stdio\n")) != NULL; p++)
        lines++;
    check(good == rounds && lines >= rounds,
          "fork x20 while 4 threads hammer malloc: the child has one thread, malloc, printf and pthread_create work", "%d good, %d lines; %s",
          good, lines, why);
    check(ff.wait_rc == 0 && WIFEXITED(ff.status) && WEXITSTATUS(ff.status) == 0 && lines == rounds + 1,
          "fork from a non-main thread: the child is that one thread", "wait %d, %s, %d lines", ff.wait_rc, describe_status(ff.status),
          lines);
}

/* Mode --after-exec PID: the image a non-main thread exec'ed. */
static int after_exec(const char *want_pid)
{
    int bad = 0;
    if (getpid() != atoi(want_pid))
        bad |= 1;
    if (my_tid() != getpid())
        bad |= 2;
    pid_t tids[8];
    int n = task_tids(tids, 8);
    if (n != 1 || tids[0] != getpid())
        bad |= 4;
    if (status_threads() != 1)
        bad |= 8;
    /* Threads work in the new image. */
    pthread_t t;
    void *v = NULL;
    if (pthread_create(&t, NULL, trivial, (void *)5) != 0 || pthread_join(t, &v) != 0 || v != (void *)5)
        bad |= 16;
    return bad;
}

static void *exec_thread(void *p)
{
    (void)p;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *argv[] = {"test-threads", "--after-exec", pid, NULL};
    char *envp[] = {"ISOLA_TEST=threads", NULL};
    execve(self_path, argv, envp);
    _exit(100 + errno);
}

static void test_exec_from_thread(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        for (int i = 0; i < 3; i++)
            spawn(&t, NULL, stuck, NULL);
        spawn(&t, NULL, exec_thread, NULL);
        for (;;)
            pause();
    }
    int st = 0;
    int w = wait_timeout(pid, 20000, &st);
    check(w == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "execve from a non-main thread: the other threads end, the new image has the same pid and one thread", "wait %d, %s (%s)", w,
          describe_status(st), self_path);
}

static void *null_writer(void *p)
{
    (void)p;
    sleep_ms(20);
    *(volatile int *)(uintptr_t)p = 1; /* p is NULL */
    return NULL;
}

static void test_thread_fault(void)
{
    int go[2];
    if (pipe(go) != 0) {
        not_ok("a thread's NULL write kills its process with SIGSEGV", "pipe: %s", errname(errno));
        return;
    }
    /* A sibling process that must go on meanwhile. */
    pid_t sibling = fork();
    if (sibling == 0) {
        close(go[1]);
        char c;
        _exit(read(go[0], &c, 1) == 1 && c == 'g' ? 3 : 4);
    }
    close(go[0]);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        for (int i = 0; i < 3; i++)
            spawn(&t, NULL, stuck, NULL);
        spawn(&t, NULL, null_writer, NULL);
        for (;;)
            pause();
    }
    int st = 0;
    int w = wait_timeout(pid, 20000, &st);
    check(w == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "a thread's NULL write kills its whole process with SIGSEGV", "wait %d, %s",
          w, describe_status(st));
    int write_ok = write(go[1], "g", 1) == 1;
    close(go[1]);
    int sst = 0;
    w = wait_timeout(sibling, 10000, &sst);
    check(write_ok && w == 0 && WIFEXITED(sst) && WEXITSTATUS(sst) == 3, "its sibling process goes on", "wait %d, %s", w,
          describe_status(sst));
}

static void find_self(const char *argv0)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) {
        self_path[n] = '\0';
        if (access(self_path, X_OK) == 0)
            return;
    }
    snprintf(self_path, sizeof self_path, "%s", argv0);
}

static void on_alarm(int sig)
{
    (void)sig;
    not_ok("the whole run within 240 s", "hung in the check after the last line above");
    _exit(tap_done() | 1);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--after-exec") == 0)
        return after_exec(argv[2]);
    main_pid = getpid();
    find_self(argc > 0 ? argv[0] : "/proc/self/exe");
    /* A hang anywhere ends the run, before scripts/test's --timeout 300. */
    signal(SIGALRM, on_alarm);
    alarm(240);

    tap_family("sync");
    test_mutex_counter();
    test_pi_mutex();
    test_condvar();
    test_barrier();
    test_semaphores();
    test_timeouts();
    test_robust();
    tap_family("ids");
    test_ids();
    tap_family("tls");
    test_tls();
    tap_family("life");
    test_join_detach();
    test_exits();
    test_clone3();
    tap_family("signals");
    test_signal_targets();
    test_pending_per_thread();
    test_sigaltstack();
    tap_family("process");
    test_fork();
    test_exec_from_thread();
    test_thread_fault();
    return tap_done();
}
