/* futex(2) as Linux answers it, between processes on MAP_SHARED memory
 * (what threads of one process will do on their shared memory) and within
 * one process:
 * - WAIT / WAKE counts (a count of 0 still wakes one), FIFO order,
 *   EAGAIN on a changed word, private keys per address space;
 * - WAIT_BITSET / WAKE_BITSET;
 * - REQUEUE / CMP_REQUEUE (woken + moved; EAGAIN on a changed word);
 * - WAKE_OP (the op on the second word and its comparison);
 * - timeouts: relative, absolute CLOCK_MONOTONIC and CLOCK_REALTIME;
 * - signals: EINTR, a restart after SA_RESTART (untimed only);
 * - PI locks: LOCK_PI / UNLOCK_PI / TRYLOCK_PI, EDEADLK, EPERM, ESRCH,
 *   hand-over in order, a timeout, owner death through a robust list
 *   (OWNER_DIED), a robust non-PI lock, hostile robust lists;
 * - WAIT_REQUEUE_PI / CMP_REQUEUE_PI onto a free and a held PI lock;
 * - the C library's process-shared robust mutexes, plain and PI, over
 *   these calls: EOWNERDEAD after the owner died holding one.
 * Raw syscall(SYS_futex, ...) throughout: no libc wrappers in between. */
#include "child.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_PRIVATE 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu
#define WAKE_OP(op, oparg, cmp, cmparg) \
    ((((unsigned)(op) & 0xf) << 28) | (((unsigned)(cmp) & 0xf) << 24) | (((unsigned)(oparg) & 0xfff) << 12) | ((unsigned)(cmparg) & 0xfff))

static long fx(volatile uint32_t *word, int op, uint32_t val, const void *timeout, volatile uint32_t *word2, uint32_t val3)
{
    return syscall(SYS_futex, word, op, val, timeout, word2, val3);
}

static int tid(void)
{
    return (int)syscall(SYS_gettid);
}

/* What the processes share. */
struct shared {
    uint32_t w[8];
    uint32_t ready;
    /* Each child's futex result and errno, by index. */
    long ret[8];
    int err[8];
    uint32_t order[8];
    uint32_t order_len;
    pthread_mutex_t mutex;
};
static struct shared *sh;

/* How many wait on `word` (no PI waiters): requeueing them onto the same
 * word wakes none and counts them. */
static long waiters(volatile uint32_t *word)
{
    return fx(word, FUTEX_REQUEUE, 0, (void *)(long)INT_MAX, word, 0);
}

/* Until `n` wait on `word` (5 s at most): the count. */
static long await_waiters(volatile uint32_t *word, long n)
{
    long got = -1;
    for (int i = 0; i < 5000; i++) {
        got = waiters(word);
        if (got == n)
            return got;
        sleep_ms(1);
    }
    return got;
}

/* Until `word` has all of `bits` (5 s at most). */
static int await_bits(volatile uint32_t *word, uint32_t bits)
{
    for (int i = 0; i < 5000; i++) {
        if ((__atomic_load_n(word, __ATOMIC_SEQ_CST) & bits) == bits)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

static struct timespec after(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static long ms_since(int64_t t0)
{
    return (long)((now_ns() - t0) / 1000000);
}

/* A child that runs one futex call and records its result at `slot`. */
static pid_t spawn_call(int slot, volatile uint32_t *word, int op, uint32_t val, const struct timespec *timeout,
                        uint32_t val3)
{
    pid_t pid = fork();
    if (pid == 0) {
        long r = fx(word, op, val, timeout, NULL, val3);
        sh->err[slot] = r < 0 ? errno : 0;
        sh->ret[slot] = r;
        _exit(0);
    }
    return pid;
}

static int reap_all(pid_t *pids, int n)
{
    int clean = 1;
    for (int i = 0; i < n; i++) {
        int st;
        if (wait_for(pids[i], &st) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            clean = 0;
    }
    return clean;
}

static void test_wait_wake(void)
{
    tap_family("futex");
    volatile uint32_t *w = &sh->w[0];
    *w = 0;
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] = spawn_call(i, w, FUTEX_WAIT, 0, NULL, 0);
    long n = await_waiters(w, 3);
    check(n == 3, "three processes wait on a shared word", "%ld waiting", n);
    long r = fx(w, FUTEX_WAKE, 2, NULL, NULL, 0);
    check(r == 2, "WAKE 2 of 3: returns 2", "%ld %s", r, errname(errno));
    n = await_waiters(w, 1);
    check(n == 1, "one is left waiting", "%ld", n);
    r = fx(w, FUTEX_WAKE, 0, NULL, NULL, 0);
    check(r == 1, "WAKE with a count of 0 wakes one (as Linux)", "%ld %s", r, errname(errno));
    check(reap_all(pids, 3), "the woken children end", "a child did not exit 0");
    check(sh->ret[0] == 0 && sh->ret[1] == 0 && sh->ret[2] == 0, "each woken WAIT returns 0", "%ld %ld %ld", sh->ret[0],
          sh->ret[1], sh->ret[2]);
    r = fx(w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    check(r == 0, "WAKE with nobody waiting: 0", "%ld %s", r, errname(errno));
    expect_errno("WAIT on a word that changed: EAGAIN", fx(w, FUTEX_WAIT, 1, NULL, NULL, 0), EAGAIN);
    expect_errno("WAIT on a misaligned word: EINVAL", fx((uint32_t *)((char *)w + 2), FUTEX_WAIT, 0, NULL, NULL, 0), EINVAL);
    expect_errno("WAIT on a kernel address: EFAULT", fx((uint32_t *)KERNEL_DIRECT_MAP, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);
    expect_errno("an unknown command: ENOSYS", fx(w, 14, 0, NULL, NULL, 0), ENOSYS);

    /* FIFO: the oldest waiter is woken first. */
    sh->order_len = 0;
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            fx(w, FUTEX_WAIT, 0, NULL, NULL, 0);
            uint32_t at = __atomic_fetch_add(&sh->order_len, 1, __ATOMIC_SEQ_CST);
            sh->order[at] = (uint32_t)i;
            _exit(0);
        }
        await_waiters(w, i + 1);
    }
    for (int i = 0; i < 3; i++) {
        fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
        for (int k = 0; k < 5000 && __atomic_load_n(&sh->order_len, __ATOMIC_SEQ_CST) != (uint32_t)i + 1; k++)
            sleep_ms(1);
    }
    reap_all(pids, 3);
    check(sh->order_len == 3 && sh->order[0] == 0 && sh->order[1] == 1 && sh->order[2] == 2,
          "WAKE 1 wakes the waiters in the order they came", "%u woke: %u %u %u", sh->order_len, sh->order[0], sh->order[1],
          sh->order[2]);
}

static void test_private_keys(void)
{
    volatile uint32_t *w = &sh->w[1];
    *w = 0;
    struct timespec limit = {0, 300 * 1000000L};
    pid_t pid = spawn_call(0, w, FUTEX_WAIT | FUTEX_PRIVATE, 0, &limit, 0);
    sleep_ms(50);
    long r1 = fx(w, FUTEX_WAKE | FUTEX_PRIVATE, 1, NULL, NULL, 0);
    long r2 = fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
    reap_all(&pid, 1);
    check(r1 == 0 && r2 == 0 && sh->ret[0] == -1 && sh->err[0] == ETIMEDOUT,
          "a private wait in another process is not woken, by a private or a shared wake", "wakes %ld %ld, child %ld %s", r1,
          r2, sh->ret[0], errname(sh->err[0]));
    /* Within one process: private WAKE of nobody, and a private wait times out. */
    static uint32_t local;
    struct timespec t = {0, 20 * 1000000L};
    int64_t t0 = now_ns();
    long r = fx(&local, FUTEX_WAIT | FUTEX_PRIVATE, 0, &t, NULL, 0);
    check(r == -1 && errno == ETIMEDOUT && ms_since(t0) >= 19, "a private WAIT in one process times out",
          "%ld %s", r, errname(errno));
    check(fx(&local, FUTEX_WAKE | FUTEX_PRIVATE, 1, NULL, NULL, 0) == 0, "a private WAKE of nobody: 0", "%s",
          errname(errno));
}

static void test_bitset(void)
{
    volatile uint32_t *w = &sh->w[2];
    *w = 0;
    pid_t pids[2];
    pids[0] = spawn_call(0, w, FUTEX_WAIT_BITSET, 0, NULL, 0x1);
    await_waiters(w, 1);
    pids[1] = spawn_call(1, w, FUTEX_WAIT_BITSET, 0, NULL, 0x2);
    await_waiters(w, 2);
    long r = fx(w, FUTEX_WAKE_BITSET, 10, NULL, NULL, 0x2);
    check(r == 1, "WAKE_BITSET 0x2 wakes only the waiter whose bitset meets it", "%ld %s", r, errname(errno));
    long left = await_waiters(w, 1);
    r = fx(w, FUTEX_WAKE_BITSET, 10, NULL, NULL, 0x5);
    check(left == 1 && r == 1, "WAKE_BITSET 0x5 wakes the 0x1 waiter", "%ld left, %ld", left, r);
    check(reap_all(pids, 2) && sh->ret[0] == 0 && sh->ret[1] == 0, "both bitset waits return 0", "%ld %ld", sh->ret[0],
          sh->ret[1]);
    expect_errno("WAIT_BITSET with bitset 0: EINVAL", fx(w, FUTEX_WAIT_BITSET, 0, NULL, NULL, 0), EINVAL);
    expect_errno("WAKE_BITSET with bitset 0: EINVAL", fx(w, FUTEX_WAKE_BITSET, 1, NULL, NULL, 0), EINVAL);
}

static void test_requeue(void)
{
    volatile uint32_t *a = &sh->w[3], *b = &sh->w[4];
    *a = 0;
    *b = 0;
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = spawn_call(i, a, FUTEX_WAIT, 0, NULL, 0);
    await_waiters(a, 4);
    long r = fx(a, FUTEX_REQUEUE, 1, (void *)1L, b, 0);
    long on_a = waiters(a), on_b = waiters(b);
    check(r == 2 && on_a == 2 && on_b == 1, "REQUEUE 1 + 1: one woken, one moved, returns 2", "%ld, %ld on a, %ld on b", r,
          on_a, on_b);
    expect_errno("CMP_REQUEUE on a word that changed: EAGAIN", fx(a, FUTEX_CMP_REQUEUE, 1, (void *)1L, b, 5), EAGAIN);
    check(waiters(a) == 2, "a refused CMP_REQUEUE moves and wakes none", "%ld on a", waiters(a));
    r = fx(a, FUTEX_CMP_REQUEUE, 0, (void *)(long)INT_MAX, b, 0);
    check(r == 2 && waiters(a) == 0 && waiters(b) == 3, "CMP_REQUEUE 0 + all: every waiter moves, returns 2", "%ld", r);
    expect_errno("REQUEUE with a negative count: EINVAL", fx(a, FUTEX_REQUEUE, (uint32_t)-1, (void *)1L, b, 0), EINVAL);
    expect_errno("REQUEUE to a misaligned word: EINVAL", fx(a, FUTEX_REQUEUE, 1, (void *)1L, (uint32_t *)((char *)b + 1), 0),
                 EINVAL);
    r = fx(b, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    check(r == 3, "the moved waiters wake from the second word", "%ld", r);
    check(reap_all(pids, 4), "the requeued children end", "a child did not exit 0");
}

static void test_wake_op(void)
{
    volatile uint32_t *a = &sh->w[5], *b = &sh->w[6];
    *a = 0;
    *b = 0;
    pid_t pids[2];
    pids[0] = spawn_call(0, a, FUTEX_WAIT, 0, NULL, 0);
    pids[1] = spawn_call(1, b, FUTEX_WAIT, 0, NULL, 0);
    await_waiters(a, 1);
    await_waiters(b, 1);
    /* *b = 7 (SET); old 0 > 1 is false: only a's waiter. */
    long r = fx(a, FUTEX_WAKE_OP, 1, (void *)1L, b, WAKE_OP(0, 7, 4, 1));
    check(r == 1 && *b == 7 && waiters(b) == 1, "WAKE_OP SET, comparison false: the second word's waiter stays",
          "%ld, *b %u, %ld on b", r, *b, waiters(b));
    /* *b += 1 << 3 (ADD with OPARG_SHIFT); old 7 == 7: wakes b's waiter. */
    r = fx(a, FUTEX_WAKE_OP, 1, (void *)1L, b, WAKE_OP(1 | 8, 3, 0, 7));
    check(r == 1 && *b == 15 && waiters(b) == 0, "WAKE_OP ADD 1<<3, comparison true: the second word's waiter wakes",
          "%ld, *b %u", r, *b);
    check(reap_all(pids, 2) && sh->ret[0] == 0 && sh->ret[1] == 0, "both WAKE_OP waiters return 0", "%ld %ld", sh->ret[0],
          sh->ret[1]);
    /* Signed comparison: old 15 >= -1 (cmparg 0xfff). ANDN 0x5 -> 10. */
    r = fx(a, FUTEX_WAKE_OP, 1, (void *)1L, b, WAKE_OP(3, 5, 5, 0xfff));
    check(r == 0 && *b == 10, "WAKE_OP ANDN with nobody waiting: 0, the word changed", "%ld, *b %u", r, *b);
    expect_errno("WAKE_OP with an unknown op: ENOSYS", fx(a, FUTEX_WAKE_OP, 1, (void *)1L, b, WAKE_OP(6, 0, 0, 0)), ENOSYS);
    check(*b == 10, "an unknown op writes nothing", "*b %u", *b);
    expect_errno("WAKE_OP with an unknown comparison: ENOSYS", fx(a, FUTEX_WAKE_OP, 1, (void *)1L, b, WAKE_OP(4, 1, 9, 0)),
                 ENOSYS);
    check(*b == 11, "an unknown comparison comes after the write (XOR 1)", "*b %u", *b);
    expect_errno("WAKE_OP on an unmapped second word: EFAULT", fx(a, FUTEX_WAKE_OP, 1, (void *)1L, (uint32_t *)0x10, 0),
                 EFAULT);
}

static void test_timeouts(void)
{
    volatile uint32_t *w = &sh->w[7];
    *w = 0;
    struct timespec rel = {0, 40 * 1000000L};
    int64_t t0 = now_ns();
    long r = fx(w, FUTEX_WAIT, 0, &rel, NULL, 0);
    long ms = ms_since(t0);
    check(r == -1 && errno == ETIMEDOUT && ms >= 39, "WAIT, relative 40 ms: ETIMEDOUT after it", "%ld %s, %ld ms", r,
          errname(errno), ms);
    struct timespec at = after(CLOCK_MONOTONIC, 30);
    t0 = now_ns();
    r = fx(w, FUTEX_WAIT_BITSET, 0, &at, NULL, ~0u);
    ms = ms_since(t0);
    check(r == -1 && errno == ETIMEDOUT && ms >= 25, "WAIT_BITSET, absolute CLOCK_MONOTONIC: ETIMEDOUT", "%ld %s, %ld ms", r,
          errname(errno), ms);
    at = after(CLOCK_REALTIME, 30);
    t0 = now_ns();
    r = fx(w, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, &at, NULL, ~0u);
    ms = ms_since(t0);
    check(r == -1 && errno == ETIMEDOUT && ms >= 25, "WAIT_BITSET|CLOCK_REALTIME, absolute: ETIMEDOUT", "%ld %s, %ld ms", r,
          errname(errno), ms);
    struct timespec past = {1, 0};
    expect_errno("WAIT_BITSET to a past time: ETIMEDOUT", fx(w, FUTEX_WAIT_BITSET, 0, &past, NULL, ~0u), ETIMEDOUT);
    struct timespec bad = {0, 1000000000L}, negative = {-1, 0};
    expect_errno("WAIT with tv_nsec of 1e9: EINVAL", fx(w, FUTEX_WAIT, 0, &bad, NULL, 0), EINVAL);
    expect_errno("WAIT with a negative tv_sec: EINVAL", fx(w, FUTEX_WAIT, 0, &negative, NULL, 0), EINVAL);
    expect_errno("WAIT with an unreadable timeout: EFAULT", fx(w, FUTEX_WAIT, 0, (void *)0x10, NULL, 0), EFAULT);
    expect_errno("WAIT|CLOCK_REALTIME: ENOSYS", fx(w, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 0, &rel, NULL, 0), ENOSYS);
    /* A wake before the timeout: 0, early. */
    struct timespec long_wait = {5, 0};
    pid_t pid = spawn_call(0, w, FUTEX_WAIT, 0, &long_wait, 0);
    await_waiters(w, 1);
    t0 = now_ns();
    fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
    reap_all(&pid, 1);
    ms = ms_since(t0);
    check(sh->ret[0] == 0 && ms < 4000, "a timed WAIT woken before its timeout returns 0", "%ld %s, %ld ms", sh->ret[0],
          errname(sh->err[0]), ms);
}

static volatile sig_atomic_t handled;
static volatile uint32_t *handler_word;
static void on_alarm(int sig)
{
    (void)sig;
    handled++;
    if (handler_word)
        *handler_word = 1;
}

static long wait_with_alarm(int flags, const struct timespec *timeout, int change_word)
{
    static uint32_t word;
    word = 0;
    handled = 0;
    handler_word = change_word ? &word : NULL;
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 30 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long r = fx(&word, FUTEX_WAIT | FUTEX_PRIVATE, 0, timeout, NULL, 0);
    int e = errno;
    signal(SIGALRM, SIG_DFL);
    errno = e;
    return r;
}

static void test_signals(void)
{
    long r = wait_with_alarm(0, NULL, 0);
    check(r == -1 && errno == EINTR && handled == 1, "an untimed WAIT interrupted by a handler: EINTR", "%ld %s, %d",
          r, errname(errno), (int)handled);
    /* SA_RESTART: the call starts again and finds the word the handler changed. */
    r = wait_with_alarm(SA_RESTART, NULL, 1);
    check(r == -1 && errno == EAGAIN && handled == 1, "an untimed WAIT after an SA_RESTART handler is restarted",
          "%ld %s, %d", r, errname(errno), (int)handled);
    struct timespec t = {3, 0};
    int64_t t0 = now_ns();
    r = wait_with_alarm(SA_RESTART, &t, 1);
    check(r == -1 && errno == EINTR && handled == 1 && ms_since(t0) < 2500,
          "a timed WAIT is not restarted even with SA_RESTART: EINTR", "%ld %s, %d", r, errname(errno), (int)handled);
    /* Between processes: a signal ends a waiter's wait, the word's other waiter stays. */
    volatile uint32_t *w = &sh->w[0];
    *w = 0;
    pid_t pid = fork();
    if (pid == 0) {
        handled = 0;
        handler_word = NULL;
        struct sigaction sa = {0};
        sa.sa_handler = on_alarm;
        sigaction(SIGUSR1, &sa, NULL);
        long rr = fx(w, FUTEX_WAIT, 0, NULL, NULL, 0);
        _exit(rr == -1 && errno == EINTR && handled == 1 ? 0 : 1);
    }
    await_waiters(w, 1);
    kill(pid, SIGUSR1);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && waiters(w) == 0, "a signal from another process: EINTR, out of the queue",
          "%s", describe_status(st));
}

/* --- PI locks ----------------------------------------------------------- */

static void test_pi_basics(void)
{
    tap_family("futex-pi");
    volatile uint32_t *w = &sh->w[1];
    *w = 0;
    uint32_t me = (uint32_t)tid();
    long r = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    check(r == 0 && *w == me, "LOCK_PI of a free word: the word holds the caller's tid", "%ld %s, word %#x", r,
          errname(errno), *w);
    expect_errno("LOCK_PI of one's own lock: EDEADLK", fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0), EDEADLK);
    expect_errno("TRYLOCK_PI of one's own lock: EDEADLK", fx(w, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0), EDEADLK);
    r = fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    check(r == 0 && *w == 0, "UNLOCK_PI with no waiter: the word becomes 0", "%ld %s, word %#x", r, errname(errno), *w);
    expect_errno("UNLOCK_PI of a free word: EPERM", fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0), EPERM);
    r = fx(w, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0);
    check(r == 0 && *w == me, "TRYLOCK_PI of a free word takes it", "%ld %s, word %#x", r, errname(errno), *w);
    fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    expect_errno("LOCK_PI|CLOCK_REALTIME: ENOSYS", fx(w, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL, NULL, 0), ENOSYS);
    expect_errno("LOCK_PI on a misaligned word: EINVAL", fx((uint32_t *)((char *)w + 1), FUTEX_LOCK_PI, 0, NULL, NULL, 0),
                 EINVAL);
    expect_errno("LOCK_PI on an unmapped word: EFAULT", fx((uint32_t *)0x10, FUTEX_LOCK_PI, 0, NULL, NULL, 0), EFAULT);

    /* A word another (live) process holds. */
    pid_t holder = fork();
    if (holder == 0) {
        fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
        while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) == 0)
            sleep_ms(1);
        _exit(fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0) == 0 ? 0 : 1);
    }
    sh->ready = 0;
    while ((__atomic_load_n(w, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) != (uint32_t)holder)
        sleep_ms(1);
    expect_errno("UNLOCK_PI of another's lock: EPERM", fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0), EPERM);
    expect_errno("TRYLOCK_PI of a held lock: EAGAIN", fx(w, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0), EAGAIN);
    struct timespec at = after(CLOCK_REALTIME, 40);
    int64_t t0 = now_ns();
    r = fx(w, FUTEX_LOCK_PI, 0, &at, NULL, 0);
    long ms = ms_since(t0);
    check(r == -1 && errno == ETIMEDOUT && ms >= 30, "LOCK_PI to an absolute CLOCK_REALTIME time: ETIMEDOUT",
          "%ld %s, %ld ms", r, errname(errno), ms);
    __atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
    int st;
    wait_for(holder, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && *w == 0, "the holder's UNLOCK_PI (waiters bit left by others) frees it",
          "%s, word %#x", describe_status(st), *w);
}

static void test_pi_restart(void)
{
    /* A signal handler (no SA_RESTART) does not end a LOCK_PI: the call
     * starts again after it (Linux's ERESTARTNOINTR). */
    volatile uint32_t *w = &sh->w[6];
    *w = 0;
    fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    pid_t pid = fork();
    if (pid == 0) {
        handled = 0;
        handler_word = NULL;
        struct sigaction sa = {0};
        sa.sa_handler = on_alarm;
        sigaction(SIGUSR1, &sa, NULL);
        long r = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
        int ok = r == 0 && handled == 1 && (*w & FUTEX_TID_MASK) == (uint32_t)tid();
        fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
        _exit(ok ? 0 : 1);
    }
    await_bits(w, FUTEX_WAITERS);
    sleep_ms(30);
    kill(pid, SIGUSR1);
    sleep_ms(30);
    fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && *w == 0, "LOCK_PI is restarted after a handler, then gets the lock",
          "%s, word %#x", describe_status(st), *w);
}

static void test_pi_handover(void)
{
    volatile uint32_t *w = &sh->w[2];
    *w = 0;
    uint32_t me = (uint32_t)tid();
    fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    sh->order_len = 0;
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            long rr = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
            uint32_t word = *w;
            uint32_t at = __atomic_fetch_add(&sh->order_len, 1, __ATOMIC_SEQ_CST);
            sh->order[at] = (uint32_t)i;
            sleep_ms(10);
            long ru = fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
            _exit(rr == 0 && (word & FUTEX_TID_MASK) == (uint32_t)tid() && ru == 0 ? 0 : 1);
        }
        await_bits(w, FUTEX_WAITERS);
        sleep_ms(30);
    }
    long r = fx(w, FUTEX_WAKE, 1, NULL, NULL, 0);
    check(r == -1 && errno == EINVAL, "WAKE on a word with PI waiters: EINVAL", "%ld %s", r, errname(errno));
    check(*w == (me | FUTEX_WAITERS), "the waiters set FUTEX_WAITERS on the owner's word", "word %#x", *w);
    r = fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    uint32_t after_unlock = *w;
    check(r == 0 && after_unlock == ((uint32_t)pids[0] | FUTEX_WAITERS),
          "UNLOCK_PI hands the lock to the oldest waiter: its tid | FUTEX_WAITERS", "%ld, word %#x (first waiter %d)", r,
          after_unlock, (int)pids[0]);
    check(reap_all(pids, 2), "each waiter got the lock with its tid in the word and unlocked it", "a child failed");
    check(sh->order_len == 2 && sh->order[0] == 0 && sh->order[1] == 1 && *w == 0,
          "the waiters took the lock in the order they came; free at the end", "%u: %u %u, word %#x", sh->order_len,
          sh->order[0], sh->order[1], *w);
}

static void test_requeue_pi(void)
{
    volatile uint32_t *cond = &sh->w[0], *lock = &sh->w[1];
    *cond = 0;
    *lock = 0;
    uint32_t me = (uint32_t)tid();
    expect_errno("WAIT_REQUEUE_PI onto its own word: EINVAL", fx(cond, FUTEX_WAIT_REQUEUE_PI, 0, NULL, cond, 0), EINVAL);
    expect_errno("WAIT_REQUEUE_PI on a word that changed: EAGAIN", fx(cond, FUTEX_WAIT_REQUEUE_PI, 1, NULL, lock, 0), EAGAIN);
    struct timespec past = {1, 0};
    expect_errno("WAIT_REQUEUE_PI to a past time: ETIMEDOUT", fx(cond, FUTEX_WAIT_REQUEUE_PI, 0, &past, lock, 0), ETIMEDOUT);
    expect_errno("CMP_REQUEUE_PI with nr_wake 2: EINVAL", fx(cond, FUTEX_CMP_REQUEUE_PI, 2, (void *)1L, lock, 0), EINVAL);
    expect_errno("CMP_REQUEUE_PI onto the same word: EINVAL", fx(cond, FUTEX_CMP_REQUEUE_PI, 1, (void *)1L, cond, 0), EINVAL);
    expect_errno("CMP_REQUEUE_PI on a word that changed: EAGAIN", fx(cond, FUTEX_CMP_REQUEUE_PI, 1, (void *)1L, lock, 1),
                 EAGAIN);
    long r = fx(cond, FUTEX_CMP_REQUEUE_PI, 1, (void *)1L, lock, 0);
    check(r == 0, "CMP_REQUEUE_PI with nobody waiting: 0", "%ld %s", r, errname(errno));

    /* A free lock: the first waiter takes it, the others queue on it. */
    sh->order_len = 0;
    sh->ready = 0;
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            __atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
            long rr = fx(cond, FUTEX_WAIT_REQUEUE_PI, 0, NULL, lock, 0);
            uint32_t word = *lock;
            uint32_t at = __atomic_fetch_add(&sh->order_len, 1, __ATOMIC_SEQ_CST);
            sh->order[at] = (uint32_t)i;
            sleep_ms(5);
            long ru = fx(lock, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
            _exit(rr == 0 && (word & FUTEX_TID_MASK) == (uint32_t)tid() && ru == 0 ? 0 : 1);
        }
        while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) != (uint32_t)i + 1)
            sleep_ms(1);
        sleep_ms(30);
    }
    r = fx(cond, FUTEX_WAKE, 1, NULL, NULL, 0);
    check(r == -1 && errno == EINVAL, "WAKE of WAIT_REQUEUE_PI waiters: EINVAL", "%ld %s", r, errname(errno));
    r = fx(cond, FUTEX_CMP_REQUEUE_PI, 1, (void *)(long)INT_MAX, lock, 0);
    check(r == 3, "CMP_REQUEUE_PI onto a free lock: one takes it, two queue on it, returns 3", "%ld %s", r, errname(errno));
    check(reap_all(pids, 3), "each requeued waiter returned 0 owning the lock and unlocked it", "a child failed");
    check(sh->order_len == 3 && sh->order[0] == 0 && sh->order[1] == 1 && sh->order[2] == 2 && *lock == 0,
          "they took the lock in the order they waited; free at the end", "%u: %u %u %u, word %#x", sh->order_len,
          sh->order[0], sh->order[1], sh->order[2], *lock);

    /* A held lock: the waiter queues on it and gets it at the unlock. */
    fx(lock, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    sh->ready = 0;
    pid_t pid = fork();
    if (pid == 0) {
        __atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
        long rr = fx(cond, FUTEX_WAIT_REQUEUE_PI, 0, NULL, lock, 0);
        int owns = (*lock & FUTEX_TID_MASK) == (uint32_t)tid();
        long ru = fx(lock, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
        _exit(rr == 0 && owns && ru == 0 ? 0 : 1);
    }
    while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) != 1)
        sleep_ms(1);
    sleep_ms(30);
    r = fx(cond, FUTEX_CMP_REQUEUE_PI, 1, (void *)0L, lock, 0);
    uint32_t word = *lock;
    check(r == 1 && word == (me | FUTEX_WAITERS), "CMP_REQUEUE_PI onto a held lock: requeued, FUTEX_WAITERS set",
          "%ld %s, word %#x", r, errname(errno), word);
    fx(lock, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    int st;
    wait_for(pid, &st);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && *lock == 0, "the requeued waiter gets the lock at the owner's unlock",
          "%s, word %#x", describe_status(st), *lock);
}

/* struct robust_list_head and an entry holding a lock word. */
struct robust_head {
    uintptr_t next;
    long futex_offset;
    uintptr_t pending;
};
struct robust_entry {
    uintptr_t next;
};

static long set_robust(struct robust_head *head)
{
    return syscall(SYS_set_robust_list, head, sizeof *head);
}

/* The child's side of an owner-death test: take `w` (PI through the
 * kernel, or a plain robust lock), register it on a robust list, wait
 * for `ready`, and end without unlocking. */
static void die_holding(volatile uint32_t *w, int pi, int robust)
{
    static struct robust_head head;
    static struct robust_entry entry;
    if (robust) {
        head.next = (uintptr_t)&head;
        head.futex_offset = (long)((uintptr_t)w - (uintptr_t)&entry);
        head.pending = 0;
        set_robust(&head);
        /* glibc's order: list_op_pending, take the lock, enqueue, clear pending. */
        head.pending = (uintptr_t)&entry | (uintptr_t)pi;
    }
    if (pi)
        fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    else
        __atomic_store_n(w, (uint32_t)tid(), __ATOMIC_SEQ_CST);
    if (robust) {
        entry.next = (uintptr_t)&head;
        head.next = (uintptr_t)&entry | (uintptr_t)pi;
        head.pending = 0;
    }
    while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) == 0)
        sleep_ms(1);
    _exit(0);
}

static void test_owner_death(void)
{
    volatile uint32_t *w = &sh->w[3];
    uint32_t me = (uint32_t)tid();
    int st;

    /* The owner dies first; the next LOCK_PI finds OWNER_DIED. */
    *w = 0;
    sh->ready = 1;
    pid_t pid = fork();
    if (pid == 0)
        die_holding(w, 1, 1);
    wait_for(pid, &st);
    check(*w == FUTEX_OWNER_DIED, "a robust PI owner's death leaves FUTEX_OWNER_DIED, no tid", "word %#x", *w);
    long r = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    check(r == 0 && *w == (FUTEX_OWNER_DIED | me), "LOCK_PI takes a dead owner's lock, OWNER_DIED kept", "%ld %s, word %#x",
          r, errname(errno), *w);
    fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    check(*w == 0, "UNLOCK_PI clears OWNER_DIED too", "word %#x", *w);

    /* The owner dies while we wait in LOCK_PI: we get it, OWNER_DIED set. */
    *w = 0;
    sh->ready = 0;
    pid = fork();
    if (pid == 0)
        die_holding(w, 1, 1);
    while ((__atomic_load_n(w, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) != (uint32_t)pid)
        sleep_ms(1);
    pid_t releaser = fork();
    if (releaser == 0) {
        sleep_ms(50);
        __atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
        _exit(0);
    }
    r = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    uint32_t word = *w;
    check(r == 0 && (word & FUTEX_TID_MASK) == me && (word & FUTEX_OWNER_DIED),
          "a LOCK_PI waiter gets the lock when its robust owner dies, with OWNER_DIED", "%ld %s, word %#x", r,
          errname(errno), word);
    fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    wait_for(pid, &st);
    wait_for(releaser, &st);

    /* No robust list, the owner dies while we wait: the lock is handed
     * over all the same, and the kernel, which saw the owner die, sets
     * OWNER_DIED (Linux's fixup_pi_state_owner). */
    *w = 0;
    sh->ready = 0;
    pid = fork();
    if (pid == 0)
        die_holding(w, 1, 0);
    while ((__atomic_load_n(w, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) != (uint32_t)pid)
        sleep_ms(1);
    releaser = fork();
    if (releaser == 0) {
        sleep_ms(50);
        __atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
        _exit(0);
    }
    r = fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
    word = *w;
    check(r == 0 && word == (me | FUTEX_WAITERS | FUTEX_OWNER_DIED),
          "a LOCK_PI waiter gets the lock of an owner that dies without a robust list, OWNER_DIED set",
          "%ld %s, word %#x", r, errname(errno), word);
    fx(w, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
    wait_for(pid, &st);
    wait_for(releaser, &st);

    /* No robust list: the dead owner's tid stays, LOCK_PI is ESRCH. */
    *w = 0;
    sh->ready = 1;
    pid = fork();
    if (pid == 0)
        die_holding(w, 1, 0);
    wait_for(pid, &st);
    expect_errno("LOCK_PI of a word whose owner died without a robust list: ESRCH", fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0),
                 ESRCH);

    /* A robust non-PI lock: its waiter is woken, the word says OWNER_DIED. */
    w = &sh->w[4];
    *w = 0;
    sh->ready = 0;
    pid = fork();
    if (pid == 0)
        die_holding(w, 0, 1);
    while ((__atomic_load_n(w, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) != (uint32_t)pid)
        sleep_ms(1);
    uint32_t held = __atomic_fetch_or(w, FUTEX_WAITERS, __ATOMIC_SEQ_CST) | FUTEX_WAITERS;
    releaser = fork();
    if (releaser == 0) {
        sleep_ms(50);
        __atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
        _exit(0);
    }
    struct timespec limit = {5, 0};
    r = fx(w, FUTEX_WAIT, held, &limit, NULL, 0);
    check(r == 0 && *w == (FUTEX_OWNER_DIED | FUTEX_WAITERS),
          "a robust owner's death wakes a waiter: OWNER_DIED | WAITERS, tid cleared", "%ld %s, word %#x", r,
          errname(errno), *w);
    wait_for(pid, &st);
    wait_for(releaser, &st);
}

/* execve runs the robust list as exit does (Linux's futex_exec_release):
 * a child holding a robust PI lock execs this program again, which waits
 * for its parent (a pipe); the word is marked while the new image runs. */
static void test_exec_cleanup(const char *self)
{
    volatile uint32_t *w = &sh->w[7];
    *w = 0;
    int fds[2];
    if (pipe(fds) != 0) {
        not_ok("execve marks the robust lock", "pipe: %s", errname(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        static struct robust_head head;
        static struct robust_entry entry;
        head.futex_offset = (long)((uintptr_t)w - (uintptr_t)&entry);
        entry.next = (uintptr_t)&head;
        head.next = (uintptr_t)&entry | 1;
        set_robust(&head);
        fx(w, FUTEX_LOCK_PI, 0, NULL, NULL, 0);
        char arg[32];
        snprintf(arg, sizeof arg, "%d", fds[0]);
        char *argv[] = {(char *)self, "exec-child", arg, NULL};
        execv("/proc/self/exe", argv);
        _exit(5);
    }
    close(fds[0]);
    int marked = 0;
    for (int i = 0; i < 5000 && !marked; i++) {
        marked = __atomic_load_n(w, __ATOMIC_SEQ_CST) == FUTEX_OWNER_DIED;
        if (!marked)
            sleep_ms(1);
    }
    int alive = waitpid(pid, NULL, WNOHANG) == 0;
    close(fds[1]);
    int st;
    wait_for(pid, &st);
    check(marked && alive && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "execve marks the robust lock it held OWNER_DIED (the new image still running)", "marked %d alive %d, %s, word %#x",
          marked, alive, describe_status(st), *w);
}

/* The child's side of a hostile-list test: register the list, end. */
static int hostile_child(void *arg)
{
    int kind = (int)(long)arg;
    static struct robust_head head;
    static struct robust_entry e1, e2;
    volatile uint32_t *w = &sh->w[5];
    head.futex_offset = (long)((uintptr_t)w - (uintptr_t)&e1);
    head.pending = 0;
    switch (kind) {
    case 0: /* a cycle that never returns to the head */
        head.next = (uintptr_t)&e1;
        e1.next = (uintptr_t)&e2;
        e2.next = (uintptr_t)&e1;
        __atomic_store_n(w, (uint32_t)tid() | FUTEX_WAITERS, __ATOMIC_SEQ_CST);
        break;
    case 1: /* entries in kernel memory */
        head.next = KERNEL_DIRECT_MAP;
        head.pending = KERNEL_DIRECT_MAP | 1;
        break;
    case 2: /* an entry whose word is in kernel memory, and a pending one too */
        head.next = (uintptr_t)&e1;
        e1.next = (uintptr_t)&head;
        head.futex_offset = (long)(KERNEL_DIRECT_MAP - (uintptr_t)&e1);
        head.pending = (uintptr_t)&e2;
        break;
    default: /* the head itself unmapped */
        return syscall(SYS_set_robust_list, (void *)0x1000, sizeof head) == 0 ? 0 : 3;
    }
    return set_robust(&head) == 0 ? 0 : 3;
}

static void test_hostile_robust_lists(void)
{
    tap_family("futex-robust");
    static struct robust_head mine;
    expect_errno("set_robust_list with a wrong length: EINVAL", syscall(SYS_set_robust_list, &mine, 23), EINVAL);
    mine.next = (uintptr_t)&mine;
    set_robust(&mine);
    void *head = NULL;
    size_t len = 0;
    long r = syscall(SYS_get_robust_list, 0, &head, &len);
    check(r == 0 && head == &mine && len == sizeof mine, "get_robust_list(0) gives back the head and its length",
          "%ld %s, %p %zu", r, errname(errno), head, len);
    expect_errno("get_robust_list of no such process: ESRCH", syscall(SYS_get_robust_list, 999999, &head, &len), ESRCH);
    expect_errno("get_robust_list into unmapped memory: EFAULT", syscall(SYS_get_robust_list, 0, (void *)0x10, &len), EFAULT);

    static const char *names[] = {"a cyclic robust list", "a robust list in kernel memory",
                                  "robust words in kernel memory", "an unmapped robust list head"};
    for (int kind = 0; kind < 4; kind++) {
        volatile uint32_t *w = &sh->w[5];
        *w = 0;
        int64_t t0 = now_ns();
        int st = run_child(hostile_child, (void *)(long)kind);
        long ms = ms_since(t0);
        char name[128];
        snprintf(name, sizeof name, "%s: the dying process ends at once", names[kind]);
        check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && ms < 3000, name, "%s, %ld ms", describe_status(st), ms);
        if (kind == 0)
            check(*w == (FUTEX_OWNER_DIED | FUTEX_WAITERS), "a cyclic list's owned word is still marked", "word %#x", *w);
    }
}

/* The libc's view: a process-shared robust mutex (PI or not) whose owner
 * dies holding it is EOWNERDEAD to the next locker, consistent again after
 * pthread_mutex_consistent. */
static void test_libc_robust_mutex(int pi)
{
    static const char *names[] = {"a robust mutex", "a robust PI mutex"};
    pthread_mutex_t *m = &sh->mutex;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int e = pi ? pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT) : 0;
    char name[128];
    snprintf(name, sizeof name, "%s: set up", names[pi]);
    if (e != 0 || pthread_mutex_init(m, &attr) != 0) {
        not_ok(name, "%s", errname(e));
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        _exit(pthread_mutex_lock(m) == 0 ? 0 : 1);
    int st;
    wait_for(pid, &st);
    e = pthread_mutex_lock(m);
    snprintf(name, sizeof name, "%s whose owner died: EOWNERDEAD to the next locker", names[pi]);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && e == EOWNERDEAD, name, "child %s, lock %s", describe_status(st),
          errname(e));
    int c = pthread_mutex_consistent(m), u = pthread_mutex_unlock(m), again = pthread_mutex_lock(m);
    snprintf(name, sizeof name, "%s made consistent locks normally again", names[pi]);
    check(c == 0 && u == 0 && again == 0, name, "consistent %s, unlock %s, lock %s", errname(c), errname(u), errname(again));
    pthread_mutex_unlock(m);
    pthread_mutex_destroy(m);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exec-child") == 0) {
        /* The image test_exec_cleanup execs: lives until its parent closes the pipe. */
        char c;
        while (read(atoi(argv[2]), &c, 1) < 0 && errno == EINTR) {
        }
        return 0;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        not_ok("mmap MAP_SHARED", "%s", errname(errno));
        return tap_done();
    }
    test_wait_wake();
    test_private_keys();
    test_bitset();
    test_requeue();
    test_wake_op();
    test_timeouts();
    test_signals();
    test_pi_basics();
    test_pi_restart();
    test_pi_handover();
    test_requeue_pi();
    test_owner_death();
    test_exec_cleanup(argv[0]);
    test_hostile_robust_lists();
    tap_family("futex-libc");
    test_libc_robust_mutex(0);
    test_libc_robust_mutex(1);
    return tap_done();
}
