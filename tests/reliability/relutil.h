/* Helpers shared by the reliability suites (header-only, static).
 *
 * rel_measure() runs a function in a forked child and reports what it cost:
 * its return status, wall time and how much its peak resident set grew
 * (VmHWM, reset through /proc/self/clear_refs just before the call). When
 * the build is not sanitized and not under valgrind, the child also runs
 * under an address-space limit (RLIMIT_AS) of its current size + 1 GiB,
 * so that any attempt at a large allocation fails instead of succeeding
 * lazily. A crash of the child is reported, not hidden. */
#ifndef VAE_RELUTIL_H
#define VAE_RELUTIL_H

#define _GNU_SOURCE

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN 1
#endif
#endif
#ifndef REL_ASAN
#define REL_ASAN 0
#endif

/* 1 when running under valgrind (its preload libraries are in LD_PRELOAD). */
static inline int rel_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* Whether rel_measure can use RLIMIT_AS (ASan and valgrind reserve huge
 * address ranges of their own). */
static inline int rel_can_limit_as(void) { return !REL_ASAN && !rel_under_valgrind(); }

static inline double rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A field of /proc/self/status in kB ("VmHWM", "VmRSS", "VmSize"); -1 if unknown. */
static inline long rel_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

typedef struct rel_result {
    int status;          /* what fn returned */
    double seconds;      /* wall time of fn */
    long peak_growth_kb; /* VmHWM after fn minus VmRSS before it (-1 if unknown) */
    int limited;         /* 1 if RLIMIT_AS was in force */
    int died;            /* the child's wait status if it did not return normally, else 0 */
    char msg[256];       /* fn's message, if it wrote one */
} rel_result;

typedef int (*rel_fn)(void *arg, char *msg);

/* Run fn(arg, msg) in a forked child and return what it cost. If the
 * child dies instead of returning (a crash, a sanitizer abort), r.died
 * holds its wait status and r.msg says so; rel_assert_cheap fails on it. */
static inline rel_result rel_measure(rel_fn fn, void *arg)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        rel_result r;
        memset(&r, 0, sizeof r);
        if (rel_can_limit_as()) {
            long vm = rel_status_kb("VmSize");
            struct rlimit rl;
            rl.rlim_cur = rl.rlim_max = (rlim_t)(vm > 0 ? vm : 0) * 1024 + ((rlim_t)1 << 30);
            r.limited = setrlimit(RLIMIT_AS, &rl) == 0;
        }
        int fd = open("/proc/self/clear_refs", O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "5", 1) != 1) { /* reset VmHWM; best effort */
            }
            close(fd);
        }
        long rss0 = rel_status_kb("VmRSS");
        double t0 = rel_now();
        r.status = fn(arg, r.msg);
        r.seconds = rel_now() - t0;
        long hwm = rel_status_kb("VmHWM");
        r.peak_growth_kb = (rss0 >= 0 && hwm >= 0) ? hwm - rss0 : -1;
        ssize_t k = write(fds[1], &r, sizeof r);
        _exit(k == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    rel_result r;
    memset(&r, 0, sizeof r);
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = read(fds[0], (char *)&r + got, sizeof r - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int ws = 0;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && got == sizeof r)) {
        memset(&r, 0, sizeof r);
        r.died = ws ? ws : -1;
        r.status = 2000;
        if (WIFSIGNALED(ws))
            snprintf(r.msg, sizeof r.msg, "the call did not return: killed by signal %d",
                     WTERMSIG(ws));
        else
            snprintf(r.msg, sizeof r.msg, "the call did not return (wait status 0x%x)", ws);
    }
    return r;
}

/* The bounds every "absurd claim" case must meet: a clean status within a
 * few seconds (generous under valgrind) and at most 64 MiB more resident
 * memory than before the call. */
#define REL_MAX_GROWTH_KB (64L * 1024)

static inline double rel_max_seconds(void) { return rel_under_valgrind() ? 120.0 : 10.0; }

#define rel_assert_cheap(r, what)                                                               \
    do {                                                                                        \
        ck_assert_msg(!(r).died, "%s: %s", (what), (r).msg);                                   \
        ck_assert_msg((r).seconds < rel_max_seconds(), "%s: took %.2f s", (what), (r).seconds); \
        ck_assert_msg((r).peak_growth_kb < REL_MAX_GROWTH_KB,                                   \
                      "%s: peak RSS grew by %ld kB (status %d)", (what), (r).peak_growth_kb,   \
                      (r).status);                                                              \
    } while (0)

/* A splitmix64 step: the fixed-seed generator of delays and values. */
static inline uint64_t rel_prng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void rel_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif
