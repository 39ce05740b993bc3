/* The vectorisable exp and log1p (src/tensor/vmath.h) against double-precision
 * libm, and the Bernoulli row built on them.
 *
 * Oracle: exp and log1p in double, rounded error measured in units of the
 * float ulp of the exact value. An exhaustive run over every float of both
 * ranges (x86-64, 2026-12, AMD EPYC Zen 4) gave at most 0.982 ulp for
 * vm_exp_nonpos (at t = -0x1.459444p+6) and 0.898 ulp for vm_log1p_unit (at
 * e = 0x1.a6ef34p-2); the test sweeps one float in 61 of each range, plus
 * those two worst cases, and requires < 1 ulp. Changing a polynomial
 * coefficient in its 4th digit breaks it. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/simd.h"
#include "tensor/vmath.h"
#include "testutil.h"

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* |got - exact| in float ulps of exact (subnormal ulp below 2^-126). */
static double ulp_error(float got, double exact)
{
    if (exact == 0.0)
        return got == 0.0f ? 0.0 : INFINITY;
    int ex;
    frexp(exact, &ex);
    double ulp = fabs(exact) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ex - 24);
    return fabs((double)got - exact) / ulp;
}

/* Worst ulp error of f against ref over the floats with bit patterns
 * first..last (one range of one sign), one in 61 of them plus last and the
 * worst case the exhaustive run found; fails the test at 1 ulp. */
static void sweep(const char *name, float (*f)(float), double (*ref)(double), uint32_t first,
                  uint32_t last, float known_worst)
{
    float at = known_worst;
    double worst = ulp_error(f(at), ref(at));
    long n = 0;
    for (uint64_t b = first;; b += 61) {
        float x = from_bits(b < last ? (uint32_t)b : last);
        double u = ulp_error(f(x), ref((double)x));
        if (u > worst) {
            worst = u;
            at = x;
        }
        n++;
        if (b >= last)
            break;
    }
    ck_assert_msg(worst < 1.0, "%s: %.3f ulp at %a (%ld values)", name, worst, (double)at, n);
    ck_assert_msg(n > 10000000, "%s: sweep covered %ld values", name, n);
}

/* Negative floats from -0 down to -87. */
START_TEST(test_exp_sweep)
{
    sweep("vm_exp_nonpos", vm_exp_nonpos, exp, to_bits(-0.0f), to_bits(-87.0f), -0x1.459444p+6f);
}
END_TEST

/* Floats from 0 up to 1. */
START_TEST(test_log1p_sweep)
{
    sweep("vm_log1p_unit", vm_log1p_unit, log1p, to_bits(0.0f), to_bits(1.0f), 0x1.a6ef34p-2f);
}
END_TEST

START_TEST(test_special_values)
{
    ck_assert(vm_exp_nonpos(0.0f) == 1.0f);
    ck_assert(vm_exp_nonpos(-0.0f) == 1.0f);
    ck_assert(vm_exp_nonpos(-87.0f) > 0.0f);
    ck_assert(vm_exp_nonpos(-87.5f) == 0.0f);
    ck_assert(vm_exp_nonpos(-1e30f) == 0.0f);
    ck_assert(vm_exp_nonpos(-INFINITY) == 0.0f);
    ck_assert(isnan(vm_exp_nonpos(NAN)));
    ck_assert(vm_log1p_unit(0.0f) == 0.0f);
    ck_assert(vm_log1p_unit(0x1p-140f) == 0x1p-140f); /* log1p(e) = e for tiny e */
    ck_assert(vm_log1p_unit(1e-30f) == 1e-30f);
    ck_assert(isnan(vm_log1p_unit(NAN)));
    ck_assert(vm_select(1, 2.0f, 3.0f) == 2.0f && vm_select(0, 2.0f, 3.0f) == 3.0f);
    ck_assert(isnan(vm_select(1, NAN, 0.0f)));
}
END_TEST

/* The same function on many elements at once, vectorised in the clone the
 * CPU picks, must give the bits of the one-at-a-time version. */
VT_CLONES static void exp_log_vector(const float *restrict t, float *restrict e, float *restrict l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        e[i] = vm_exp_nonpos(t[i]);
        l[i] = vm_log1p_unit(e[i]);
    }
}

#if defined(__clang__)
#define SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#define SCALAR_FN __attribute__((noinline))
#else
#define SCALAR_LOOP
#define SCALAR_FN __attribute__((noinline, optimize("no-tree-vectorize")))
#endif

SCALAR_FN static void exp_log_scalar(const float *t, float *e, float *l, size_t n)
{
    SCALAR_LOOP
    for (size_t i = 0; i < n; i++) {
        e[i] = vm_exp_nonpos(t[i]);
        l[i] = vm_log1p_unit(e[i]);
    }
}

START_TEST(test_vector_equals_scalar)
{
    enum { N = 1 << 16 };
    static float t[N], e1[N], l1[N], e2[N], l2[N];
    uint32_t s = 12345;
    for (size_t i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        t[i] = -(float)(s >> 8) * (90.0f / 16777216.0f);
    }
    t[0] = -0.0f;
    t[1] = NAN;
    t[2] = -INFINITY;
    exp_log_vector(t, e1, l1, N);
    exp_log_scalar(t, e2, l2, N);
    for (size_t i = 0; i < N; i++) {
        ck_assert_msg(to_bits(e1[i]) == to_bits(e2[i]), "exp differs at %a", (double)t[i]);
        ck_assert_msg(to_bits(l1[i]) == to_bits(l2[i]), "log1p differs at %a", (double)t[i]);
    }
}
END_TEST

static Suite *vmath_suite(void)
{
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exp_sweep);
    tcase_add_test(tc, test_log1p_sweep);
    tcase_add_test(tc, test_special_values);
    tcase_add_test(tc, test_vector_equals_scalar);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(vmath_suite()); }
