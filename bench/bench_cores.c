/* bench-cores: how far apart two CPUs are, as a cache line's round trip.
 *
 * Two threads, pinned to CPUs A and B (default 0 and 1), hand one cache
 * line back and forth (each waits for the other's store, then stores):
 * the round trip is twice the time a written line takes to reach the other
 * core. On a physical machine it is fixed by the topology; on a VM it
 * depends on where the hypervisor runs the two vCPUs at that moment. On
 * the 2-vCPU AMD EPYC VM of docs/performance.md it was 55-100 ns in some
 * periods and 340-590 ns in others (the vCPUs on cores that share no
 * cache), changing within seconds; libvae's two-thread step was then up to
 * 2x slower while its one-thread step did not move, because a step hands
 * the parameters, gradients and activations between the two cores (a
 * product's halves written by one thread are read by the other, the
 * optimizer's writes invalidate the other core's copies of the weights).
 * bench/compare.py prints it before each two-thread run.
 *
 * Then "parallel": the multiply-adds two threads pinned to A and B do per
 * second against one thread alone (about 2: two cores; about 1: the vCPUs
 * share one core's arithmetic, as hyperthreads, or one is taken away).
 *
 * Then "handover": the GB/s at which a 1 MiB buffer moves when the two
 * threads take turns rewriting it, and (alone) one thread's rate over the
 * same buffer in its own cache.
 *
 * Prints `cores A B round-trip <ns> ns parallel <ratio> handover <G> GB/s
 * (alone <G>)` (the median of --reps rounds of --trips round trips; 50 ms
 * of arithmetic and of each buffer measure), or `cores A B unavailable:
 * <why>` (fewer CPUs, no affinity) and exits 0: information, never
 * pass/fail.
 *
 * usage: bench-cores [--cpus A,B] [--trips N] [--reps R]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The line the two threads hand over. */
static _Alignas(64) atomic_long baton;

typedef struct side {
    int cpu;    /* where the answering thread runs */
    int pinned; /* out: it could be pinned there */
} side;

static int pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The baton value that tells the answering side to stop. */
#define STOP (-1L)

/* The answering side: waits for each odd value and answers with the next,
 * until STOP. */
static void *answer(void *arg)
{
    side *s = arg;
    s->pinned = pin(s->cpu) == 0;
    for (long i = 0;; i++) {
        long v;
        while ((v = atomic_load_explicit(&baton, memory_order_acquire)) != 2 * i + 1 && v != STOP)
            ;
        if (v == STOP)
            return NULL;
        atomic_store_explicit(&baton, 2 * i + 2, memory_order_release);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One round of at most `trips` round trips, and at most ~0.5 s (on a busy
 * machine a trip can wait for a scheduler slice); ns per trip, or -1 when
 * a thread could not be started or pinned. */
static double round_trip(int a, int b, long trips)
{
    side other = {b, 0};
    atomic_store(&baton, 0);
    if (pin(a) != 0)
        return -1.0;
    pthread_t t;
    if (pthread_create(&t, NULL, answer, &other) != 0)
        return -1.0;
    double t0 = now();
    long done = 0;
    while (done < trips) {
        atomic_store_explicit(&baton, 2 * done + 1, memory_order_release);
        while (atomic_load_explicit(&baton, memory_order_acquire) != 2 * done + 2)
            ;
        done++;
        if ((done & 1023) == 0 && now() - t0 > 0.5)
            break;
    }
    double dt = now() - t0;
    atomic_store_explicit(&baton, STOP, memory_order_release);
    pthread_join(t, NULL);
    return other.pinned ? dt / (double)done * 1e9 : -1.0;
}

/* ---- two threads' arithmetic against one's ---------------------------------
 * Each thread runs a loop of independent multiply-adds on its own
 * registers (no memory traffic) for a fixed time; the two pinned threads'
 * total against one thread's alone is about 2 when A and B are separate
 * cores, about 1 when they are two hyperthreads of one core or one of them
 * is taken away by the host: what a compute-bound two-thread run gets. */

typedef float v4 __attribute__((vector_size(16)));

typedef struct spinner {
    int cpu, pinned;
    double seconds, ops; /* in: how long; out: multiply-adds done */
} spinner;

static void *spin_fma(void *arg)
{
    spinner *s = arg;
    s->pinned = pin(s->cpu) == 0;
    v4 acc[12], m = {1.0000001f, 0.9999999f, 1.0000001f, 0.9999999f}, c = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int k = 0; k < 12; k++)
        acc[k] = (v4){(float)k, 1.0f, 2.0f, 3.0f};
    long rounds = 0;
    double t0 = now();
    do {
        for (int r = 0; r < 4096; r++)
            for (int k = 0; k < 12; k++)
                acc[k] = acc[k] * m + c;
        rounds++;
    } while (now() - t0 < s->seconds);
    double dt = now() - t0;
    float sink = 0.0f;
    for (int k = 0; k < 12; k++)
        sink += acc[k][0] + acc[k][1] + acc[k][2] + acc[k][3];
    s->ops = (double)rounds * 4096 * 12 * 4 / dt + (sink == 12345.0f); /* keep acc live */
    return NULL;
}

/* Two threads' multiply-adds per second over one thread's, or -1. */
static double parallel_ratio(int a, int b, double seconds)
{
    spinner one = {a, 0, seconds, 0.0}, x = {a, 0, seconds, 0.0}, y = {b, 0, seconds, 0.0};
    pthread_t t1, t2;
    if (pthread_create(&t1, NULL, spin_fma, &one) != 0)
        return -1.0;
    pthread_join(t1, NULL);
    if (pthread_create(&t1, NULL, spin_fma, &x) != 0)
        return -1.0;
    if (pthread_create(&t2, NULL, spin_fma, &y) != 0) {
        pthread_join(t1, NULL);
        return -1.0;
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    if (!one.pinned || !x.pinned || !y.pinned || one.ops <= 0.0)
        return -1.0;
    return (x.ops + y.ops) / one.ops;
}

/* ---- a buffer handed back and forth -----------------------------------------
 * What a training step does to its parameters and activations: one thread
 * writes a buffer the other then reads and rewrites (x += 1 over HAND_FLOATS
 * floats, 1 MiB: about half a 784-400-20 model's weights). Each pass must
 * fetch the lines from the other core's cache and take them over. Reported
 * as GB/s of buffer passed per second, for two pinned threads taking turns
 * and for one thread making the same passes alone (its own cache): their
 * ratio ("handover") is how much slower data moves between the two CPUs
 * than within one. */

#define HAND_FLOATS (256 * 1024)

static float *hand_buf;
static _Alignas(64) atomic_long hand_turn;

static void hand_pass(void)
{
    for (size_t i = 0; i < HAND_FLOATS; i++)
        hand_buf[i] += 1.0f;
}

/* The other thread: passes on every odd turn until STOP. */
static void *hand_answer(void *arg)
{
    side *s = arg;
    s->pinned = pin(s->cpu) == 0;
    for (long i = 0;; i++) {
        long v;
        while ((v = atomic_load_explicit(&hand_turn, memory_order_acquire)) != 2 * i + 1 &&
               v != STOP)
            ;
        if (v == STOP)
            return NULL;
        hand_pass();
        atomic_store_explicit(&hand_turn, 2 * i + 2, memory_order_release);
    }
}

/* GB/s of passes for `seconds`: two threads taking turns (shared = 1) or
 * one alone; -1 when a thread could not be started or pinned. */
static double hand_rate(int a, int b, int shared, double seconds)
{
    side other = {b, 0};
    if (pin(a) != 0)
        return -1.0;
    atomic_store(&hand_turn, 0);
    pthread_t t;
    if (shared && pthread_create(&t, NULL, hand_answer, &other) != 0)
        return -1.0;
    long passes = 0;
    double t0 = now();
    for (long i = 0; now() - t0 < seconds; i++) {
        hand_pass();
        passes++;
        if (shared) { /* turn 2i + 1: the other thread's pass */
            atomic_store_explicit(&hand_turn, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&hand_turn, memory_order_acquire) != 2 * i + 2)
                ;
            passes++;
        }
    }
    double dt = now() - t0;
    if (shared) {
        atomic_store_explicit(&hand_turn, STOP, memory_order_release);
        pthread_join(t, NULL);
        if (!other.pinned)
            return -1.0;
    }
    return (double)passes * HAND_FLOATS * sizeof(float) / dt * 1e-9;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    int a = 0, b = 1, reps = 5;
    long trips = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc &&
            sscanf(argv[i + 1], "%d,%d", &a, &b) == 2 && a >= 0 && b >= 0 && a != b)
            i++;
        else if (strcmp(argv[i], "--trips") == 0 && i + 1 < argc &&
                 (trips = atol(argv[i + 1])) > 0 && trips <= 100000000L)
            i++;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc &&
                 (reps = atoi(argv[i + 1])) > 0 && reps <= 1000)
            i++;
        else {
            fprintf(stderr, "usage: bench-cores [--cpus A,B] [--trips N] [--reps R]\n");
            return 2;
        }
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (a >= cpus || b >= cpus) {
        printf("cores %d %d unavailable: %ld CPUs online\n", a, b, cpus);
        return 0;
    }
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) {
        fprintf(stderr, "bench-cores: out of memory\n");
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        t[r] = round_trip(a, b, trips);
        if (t[r] < 0) {
            printf("cores %d %d unavailable: cannot pin threads to them\n", a, b);
            free(t);
            return 0;
        }
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double par = parallel_ratio(a, b, 0.05);
    double local = -1.0, across = -1.0;
    if ((hand_buf = calloc(HAND_FLOATS, sizeof(float))) != NULL) {
        local = hand_rate(a, b, 0, 0.05);
        across = hand_rate(a, b, 1, 0.05);
        free(hand_buf);
    }
    printf("cores %d %d round-trip %.0f ns parallel %.2f handover %.1f GB/s (alone %.1f)\n", a, b,
           t[reps / 2], par, across, local);
    free(t);
    return 0;
}
