/* Corruption for denoising (src/data/corrupt.c, vae_corrupt,
 * vae_corruption_parse): statistics within a few standard errors for fixed
 * seeds, determinism, fresh draws, and argument errors. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "libvae/vae.h"
#include "tensor/rng.h"
#include "testutil.h"

#define N 200
#define D 500
#define M ((size_t)N * D)

/* Inputs in [0.1, 0.9): never 0 or 1, so every corruption is visible. */
static float *inputs(void)
{
    float *x = malloc(M * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, 99, 1);
    for (size_t i = 0; i < M; i++)
        x[i] = 0.1f + 0.8f * (float)vt_rng_uniform(&r);
    return x;
}

START_TEST(gaussian_noise_has_mean_zero_and_variance_sigma_squared)
{
    float *x = inputs(), *out = malloc(M * sizeof *out);
    const double sigma = 0.5;
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_GAUSSIAN, (float)sigma, 7, x, N, D, out, NULL),
                     VAE_OK);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < M; i++) {
        double e = (double)out[i] - x[i];
        s += e;
        s2 += e * e;
    }
    double mean = s / M, var = s2 / M - mean * mean;
    double se_mean = sigma / sqrt((double)M), se_var = sigma * sigma * sqrt(2.0 / (M - 1));
    ck_assert_msg(fabs(mean) < 4 * se_mean, "mean %g, 4 SE %g", mean, 4 * se_mean);
    ck_assert_msg(fabs(var - sigma * sigma) < 4 * se_var, "variance %g, want %g +- %g", var,
                  sigma * sigma, 4 * se_var);
    /* A wrong variant (sigma 0.51) is outside the band: the test has power. */
    ck_assert_double_gt(fabs(var * (0.51 * 0.51) / (sigma * sigma) - sigma * sigma),
                        4 * se_var);
    free(x);
    free(out);
}
END_TEST

START_TEST(mask_zeroes_a_fraction_p_and_keeps_the_rest)
{
    float *x = inputs(), *out = malloc(M * sizeof *out);
    const double p = 0.3;
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, (float)p, 8, x, N, D, out, NULL), VAE_OK);
    size_t zeroed = 0;
    for (size_t i = 0; i < M; i++) {
        if (out[i] == 0.0f)
            zeroed++;
        else
            ck_assert_msg(out[i] == x[i], "value %zu changed without being masked", i);
    }
    double frac = (double)zeroed / M, se = sqrt(p * (1 - p) / M);
    ck_assert_msg(fabs(frac - p) < 4 * se, "zeroed %g, want %g +- %g", frac, p, 4 * se);
    /* p = 0 keeps everything, p = 1 zeroes everything */
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.0f, 8, x, N, D, out, NULL), VAE_OK);
    ck_assert_int_eq(memcmp(out, x, M * sizeof *x), 0);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 1.0f, 8, x, N, D, out, NULL), VAE_OK);
    for (size_t i = 0; i < M; i++)
        ck_assert_float_eq(out[i], 0.0f);
    free(x);
    free(out);
}
END_TEST

START_TEST(salt_and_pepper_changes_a_fraction_p_half_to_zero_half_to_one)
{
    float *x = inputs(), *out = malloc(M * sizeof *out);
    const double p = 0.2;
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_SALT_PEPPER, (float)p, 9, x, N, D, out, NULL),
                     VAE_OK);
    size_t changed = 0, zeros = 0;
    for (size_t i = 0; i < M; i++) {
        if (out[i] == x[i])
            continue;
        changed++;
        ck_assert_msg(out[i] == 0.0f || out[i] == 1.0f, "value %zu became %g", i, out[i]);
        zeros += out[i] == 0.0f;
    }
    double frac = (double)changed / M, se = sqrt(p * (1 - p) / M);
    ck_assert_msg(fabs(frac - p) < 4 * se, "changed %g, want %g +- %g", frac, p, 4 * se);
    double half = (double)zeros / changed, se_half = sqrt(0.25 / changed);
    ck_assert_msg(fabs(half - 0.5) < 4 * se_half, "zeros among changed %g", half);
    free(x);
    free(out);
}
END_TEST

START_TEST(a_seed_fixes_the_result_and_seeds_differ)
{
    float *x = inputs(), *a = malloc(M * sizeof *a), *b = malloc(M * sizeof *b);
    int kinds[] = {VAE_CORRUPT_GAUSSIAN, VAE_CORRUPT_MASK, VAE_CORRUPT_SALT_PEPPER};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(vae_corrupt(kinds[i], 0.3f, 123, x, N, D, a, NULL), VAE_OK);
        ck_assert_int_eq(vae_corrupt(kinds[i], 0.3f, 123, x, N, D, b, NULL), VAE_OK);
        ck_assert_int_eq(memcmp(a, b, M * sizeof *a), 0);
        ck_assert_int_eq(vae_corrupt(kinds[i], 0.3f, 124, x, N, D, b, NULL), VAE_OK);
        ck_assert_int_ne(memcmp(a, b, M * sizeof *a), 0);
        /* in place: the same bits */
        memcpy(b, x, M * sizeof *b);
        ck_assert_int_eq(vae_corrupt(kinds[i], 0.3f, 123, b, N, D, b, NULL), VAE_OK);
        ck_assert_int_eq(memcmp(a, b, M * sizeof *a), 0);
    }
    /* NONE copies */
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_NONE, 0.0f, 1, x, N, D, a, NULL), VAE_OK);
    ck_assert_int_eq(memcmp(a, x, M * sizeof *a), 0);
    /* the internal function draws fresh values from a generator it advances */
    vt_rng r;
    vt_rng_seed(&r, 5, 1);
    vds_corrupt(VAE_CORRUPT_MASK, 0.5f, &r, x, N, D, a);
    vds_corrupt(VAE_CORRUPT_MASK, 0.5f, &r, x, N, D, b);
    ck_assert_int_ne(memcmp(a, b, M * sizeof *a), 0);
    vt_rng_seed(&r, 5, 1);
    vds_corrupt(VAE_CORRUPT_MASK, 0.5f, &r, x, N, D, b);
    ck_assert_int_eq(memcmp(a, b, M * sizeof *a), 0);
    free(x);
    free(a);
    free(b);
}
END_TEST

START_TEST(vae_corrupt_checks_its_arguments)
{
    float x[6] = {0, 1, 2, 3, 4, 5}, out[6];
    vae_error err;
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, NULL, 2, 3, out, &err),
                     VAE_ERR_NULL);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, x, 2, 3, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_corrupt(7, 0.5f, 1, x, 2, 3, out, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "kind 7"));
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 1.5f, 1, x, 2, 3, out, &err),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_SALT_PEPPER, -0.1f, 1, x, 2, 3, out, &err),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_GAUSSIAN, -1.0f, 1, x, 2, 3, out, &err),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_GAUSSIAN, NAN, 1, x, 2, 3, out, &err),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, x, 0, 3, out, &err),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, x, SIZE_MAX / 2, 3, out, &err),
                     VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, x, 1, 3, x + 1, &err),
                     VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "overlaps"));
    x[4] = INFINITY;
    ck_assert_int_eq(vae_corrupt(VAE_CORRUPT_MASK, 0.5f, 1, x, 2, 3, out, &err),
                     VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(err.message, "x[1][1]"));
}
END_TEST

START_TEST(parser_accepts_the_command_line_forms)
{
    int kind = -1;
    float p = -1;
    ck_assert_int_eq(vae_corruption_parse("gaussian:0.5", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(kind, VAE_CORRUPT_GAUSSIAN);
    ck_assert_float_eq(p, 0.5f);
    ck_assert_int_eq(vae_corruption_parse("mask:0.25", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(kind, VAE_CORRUPT_MASK);
    ck_assert_float_eq(p, 0.25f);
    ck_assert_int_eq(vae_corruption_parse("saltpepper:0.2", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(kind, VAE_CORRUPT_SALT_PEPPER);
    ck_assert_float_eq(p, 0.2f);
    ck_assert_int_eq(vae_corruption_parse("salt-pepper:1", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(kind, VAE_CORRUPT_SALT_PEPPER);
    ck_assert_int_eq(vae_corruption_parse("mask:0", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(vae_corruption_parse("gaussian:1e-1", &kind, &p, NULL), VAE_OK);
    ck_assert_float_eq(p, 0.1f);
    ck_assert_int_eq(vae_corruption_parse("none", &kind, &p, NULL), VAE_OK);
    ck_assert_int_eq(kind, VAE_CORRUPT_NONE);
    ck_assert_float_eq(p, 0.0f);
}
END_TEST

START_TEST(parser_refuses_bad_text_and_leaves_outputs_alone)
{
    const char *bad[] = {"",           "foo:0.1",     "gaussian",    "gaussian:",
                         "gaussian:abc", "gaussian:0.5x", "gaussian:-0.1", "mask:1.5",
                         "mask:-0.01", "saltpepper:2", "gaussian:nan", "gaussian:inf",
                         "none:1",     "Gaussian:0.5", "mask: 0.5",   "mask:0.5 ",
                         "gaussian:1e39", ":0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int kind = 42;
        float p = 42.0f;
        vae_error err;
        ck_assert_msg(vae_corruption_parse(bad[i], &kind, &p, &err) == VAE_ERR_INVALID,
                      "'%s' was accepted", bad[i]);
        ck_assert_msg(err.message[0] != '\0', "'%s': no message", bad[i]);
        ck_assert_int_eq(kind, 42);
        ck_assert_float_eq(p, 42.0f);
    }
    int kind;
    float p;
    vae_error err;
    ck_assert_int_eq(vae_corruption_parse("foo:1", &kind, &p, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "unknown kind"));
    ck_assert_int_eq(vae_corruption_parse("mask:1.5", &kind, &p, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "[0, 1]"));
    ck_assert_int_eq(vae_corruption_parse(NULL, &kind, &p, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_corruption_parse("mask:0.1", NULL, &p, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_corruption_parse("mask:0.1", &kind, NULL, &err), VAE_ERR_NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corrupt");
    TCase *tc = tcase_create("corrupt");
    tcase_add_test(tc, gaussian_noise_has_mean_zero_and_variance_sigma_squared);
    tcase_add_test(tc, mask_zeroes_a_fraction_p_and_keeps_the_rest);
    tcase_add_test(tc, salt_and_pepper_changes_a_fraction_p_half_to_zero_half_to_one);
    tcase_add_test(tc, a_seed_fixes_the_result_and_seeds_differ);
    tcase_add_test(tc, vae_corrupt_checks_its_arguments);
    tcase_add_test(tc, parser_accepts_the_command_line_forms);
    tcase_add_test(tc, parser_refuses_bad_text_and_leaves_outputs_alone);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
