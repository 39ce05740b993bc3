/* The random generator: reference values, stream independence, and the
 * moments of uniform and normal draws within standard-error tolerances. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"
#include "testutil.h"

/* xoshiro256** from the reference state {1, 2, 3, 4}: the first outputs are
 * 11520, 0, 1509978240, 1215971899390074240 (Vigna's reference code). */
START_TEST(test_reference_sequence)
{
    vt_rng r = {{1, 2, 3, 4}};
    const uint64_t expect[4] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(vt_rng_u64(&r), expect[i]);
}
END_TEST

START_TEST(test_seed_and_streams)
{
    vt_rng a, b, c;
    vt_rng_seed(&a, 42, 1);
    vt_rng_seed(&b, 42, 1);
    vt_rng_seed(&c, 42, 2);
    int same_c = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = vt_rng_u64(&a);
        ck_assert_uint_eq(x, vt_rng_u64(&b));
        same_c += x == vt_rng_u64(&c);
    }
    ck_assert_int_eq(same_c, 0);
}
END_TEST

START_TEST(test_uniform_moments)
{
    vt_rng r;
    vt_rng_seed(&r, 1, 0);
    const int n = 200000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double u = vt_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        s += u;
        s2 += u * u;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    ck_assert_double_eq_tol(mean, 0.5, 4 * sqrt(1.0 / 12 / n));
    ck_assert_double_eq_tol(var, 1.0 / 12, 4 * sqrt(1.0 / 180 / n));
}
END_TEST

START_TEST(test_normal_moments)
{
    vt_rng r;
    vt_rng_seed(&r, 2, 0);
    const int n = 400001; /* odd: the last pair is cut */
    float *z = malloc(n * sizeof *z);
    vt_rng_normal(&r, z, n);
    double s = 0, s2 = 0, s4 = 0;
    int beyond3 = 0;
    for (int i = 0; i < n; i++) {
        s += z[i];
        s2 += (double)z[i] * z[i];
        s4 += pow(z[i], 4);
        beyond3 += fabsf(z[i]) > 3.0f;
    }
    /* SE of the mean 1/sqrt(n), of E z^2 sqrt(2/n), of E z^4 sqrt(96/n). */
    ck_assert_double_eq_tol(s / n, 0.0, 4 / sqrt(n));
    ck_assert_double_eq_tol(s2 / n, 1.0, 4 * sqrt(2.0 / n));
    ck_assert_double_eq_tol(s4 / n, 3.0, 4 * sqrt(96.0 / n));
    /* P(|z| > 3) = 0.0026998 */
    double p = 0.0026998;
    ck_assert_double_eq_tol((double)beyond3 / n, p, 4 * sqrt(p * (1 - p) / n));
    free(z);
}
END_TEST

START_TEST(test_below_and_shuffle)
{
    vt_rng r;
    vt_rng_seed(&r, 3, 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++)
        counts[vt_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++)
        ck_assert_int_lt(abs(counts[k] - 10000), 4 * 93); /* sd = sqrt(70000 * 1/7 * 6/7) = 92.6 */
    size_t idx[50], seen[50] = {0};
    for (size_t i = 0; i < 50; i++)
        idx[i] = i;
    vt_rng_shuffle(&r, idx, 50);
    int moved = 0;
    for (size_t i = 0; i < 50; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (size_t i = 0; i < 50; i++)
        ck_assert_uint_eq(seen[i], 1);
    ck_assert_int_gt(moved, 40);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, test_reference_sequence);
    tcase_add_test(tc, test_seed_and_streams);
    tcase_add_test(tc, test_uniform_moments);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_below_and_shuffle);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
