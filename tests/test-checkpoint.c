/* Model checkpoints: round trips are bit-exact, training continues exactly,
 * damaged or foreign files are refused cleanly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "testutil.h"

static float *toy_data(size_t n, size_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)vt_rng_uniform(&r);
    return x;
}

static int g_estimator = VAE_EST_PATHWISE, g_baseline = VAE_BASELINE_NONE;

static vae_model *toy_model(int likelihood, int n_hidden, int kl_mode)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 12;
    c.latent_dim = 3;
    c.n_hidden = n_hidden;
    c.hidden[0] = 10;
    c.hidden[1] = 7;
    c.likelihood = likelihood;
    c.kl_mode = kl_mode;
    c.samples = 2;
    c.seed = 77;
    c.activation = VAE_ACT_TANH;
    c.estimator = g_estimator;
    c.baseline = g_baseline;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    return m;
}

static vae_optimizer *adam(void)
{
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.clip_norm = 5.0f;
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    return o;
}

/* Save mid-training, continue both the original and the reloaded copy: bit-identical. */
static void continue_identically(int likelihood, int n_hidden, int kl_mode)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "cont.ckpt");
    float *x = toy_data(200, 12, 5);
    vae_dataset *ds;
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    ck_assert_int_eq(vae_dataset_from_array(x, 200, 12, NULL, VAE_ARRAY_COPY, &dopt, &ds, NULL), VAE_OK);
    vae_model *a = toy_model(likelihood, n_hidden, kl_mode);
    vae_optimizer *oa = adam();
    ck_assert_int_eq(vae_model_train_epoch(a, oa, ds, 32, NULL, NULL, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(a, oa, path), VAE_OK);

    vae_model *b = NULL;
    vae_optimizer *ob = NULL;
    vae_error err;
    ck_assert_msg(vae_model_load(path, &b, &ob, &err) == VAE_OK, "%s", err.message);
    ck_assert_ptr_nonnull(ob);
    ck_assert_uint_eq(vae_optimizer_steps(ob), vae_optimizer_steps(oa));
    /* Same outputs right after loading. */
    float ra[5 * 12], rb[5 * 12];
    ck_assert_int_eq(vae_model_reconstruct(a, x, 5, ra), VAE_OK);
    ck_assert_int_eq(vae_model_reconstruct(b, x, 5, rb), VAE_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    vae_model_config ca = {.struct_size = sizeof ca}, cb = {.struct_size = sizeof cb};
    vae_model_get_config(a, &ca);
    vae_model_get_config(b, &cb);
    ck_assert(tu_config_equal(&ca, &cb));
    /* Same training afterwards, to the bit. */
    vae_elbo_stats sa, sb;
    for (int e = 0; e < 2; e++) {
        ck_assert_int_eq(vae_model_train_epoch(a, oa, ds, 32, NULL, NULL, &sa), VAE_OK);
        ck_assert_int_eq(vae_model_train_epoch(b, ob, ds, 32, NULL, NULL, &sb), VAE_OK);
        ck_assert(sa.elbo == sb.elbo);
    }
    ck_assert_uint_eq(a->P.total, b->P.total);
    ck_assert_mem_eq(a->P.val, b->P.val, a->P.total * sizeof(float));
    ck_assert_int_eq(vae_model_sample(a, 5, ra), VAE_OK);
    ck_assert_int_eq(vae_model_sample(b, 5, rb), VAE_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_model_free(a);
    vae_model_free(b);
    vae_dataset_free(ds);
    free(x);
    unlink(path);
}

START_TEST(test_continue_bernoulli) { continue_identically(VAE_LIK_BERNOULLI, 2, VAE_KL_ANALYTIC); }
END_TEST
START_TEST(test_continue_gauss_learned) { continue_identically(VAE_LIK_GAUSSIAN_LEARNED, 1, VAE_KL_MONTE_CARLO); }
END_TEST
START_TEST(test_continue_no_hidden) { continue_identically(VAE_LIK_GAUSSIAN_FIXED, 0, VAE_KL_ANALYTIC); }
END_TEST

/* The score estimator's EMA baseline is part of the state that must survive. */
START_TEST(test_continue_score_ema)
{
    g_estimator = VAE_EST_SCORE;
    g_baseline = VAE_BASELINE_EMA;
    continue_identically(VAE_LIK_BERNOULLI, 1, VAE_KL_ANALYTIC);
    g_estimator = VAE_EST_PATHWISE;
    g_baseline = VAE_BASELINE_NONE;
}
END_TEST

START_TEST(test_without_optimizer)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "noopt.ckpt");
    vae_model *a = toy_model(VAE_LIK_BERNOULLI, 1, VAE_KL_ANALYTIC), *b;
    ck_assert_int_eq(vae_model_save(a, NULL, path), VAE_OK);
    vae_optimizer *o = (vae_optimizer *)0x1;
    ck_assert_int_eq(vae_model_load(path, &b, &o, NULL), VAE_OK);
    ck_assert_ptr_null(o);
    ck_assert_mem_eq(a->P.val, b->P.val, a->P.total * sizeof(float));
    vae_model_free(b);
    /* opt_out may be NULL even when the file has optimizer state. */
    vae_optimizer *oa = adam();
    float x[24] = {0};
    ck_assert_int_eq(vae_model_train_step(a, oa, x, 2, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(a, oa, path), VAE_OK);
    ck_assert_int_eq(vae_model_load(path, &b, NULL, NULL), VAE_OK);
    vae_model_free(b);
    vae_optimizer_free(oa);
    vae_model_free(a);
    unlink(path);
}
END_TEST

/* Every damaged variant of a real checkpoint is refused with a status, never a crash. */
START_TEST(test_damaged_files)
{
    char path[512], bad[512];
    tu_tmp_path(path, sizeof path, "good.ckpt");
    tu_tmp_path(bad, sizeof bad, "bad.ckpt");
    vae_model *a = toy_model(VAE_LIK_BERNOULLI, 1, VAE_KL_ANALYTIC), *b;
    vae_optimizer *oa = adam();
    float x[24] = {0};
    ck_assert_int_eq(vae_model_train_step(a, oa, x, 2, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(a, oa, path), VAE_OK);
    size_t len;
    unsigned char *buf = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(buf);
    vae_error err;
    /* Byte flips spread over the file (every one when not in quick mode). */
    size_t stride = tu_quick() ? len / 50 + 1 : 7;
    for (size_t i = 0; i < len; i += stride) {
        buf[i] ^= 0x40;
        ck_assert_int_eq(tu_write_file(bad, buf, len), 0);
        b = (vae_model *)0x1;
        int rc = vae_model_load(bad, &b, NULL, &err);
        ck_assert_msg(rc == VAE_ERR_FORMAT || rc == VAE_ERR_LIMIT, "flip at %zu: status %d (%s)",
                      i, rc, err.message);
        ck_assert_ptr_null(b);
        ck_assert_str_ne(err.message, "");
        buf[i] ^= 0x40;
    }
    /* Truncations. */
    for (size_t cut = 0; cut < len; cut += tu_quick() ? len / 20 + 1 : 13) {
        ck_assert_int_eq(tu_write_file(bad, buf, cut), 0);
        ck_assert_int_eq(vae_model_load(bad, &b, NULL, &err), VAE_ERR_FORMAT);
    }
    /* A foreign file. */
    const char *text = "epoch 1 time 0.1 samples/s 10 train_elbo -1 test_elbo -1\n";
    ck_assert_int_eq(tu_write_file(bad, text, strlen(text)), 0);
    ck_assert_int_eq(vae_model_load(bad, &b, NULL, &err), VAE_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, bad));
    free(buf);
    vae_optimizer_free(oa);
    vae_model_free(a);
    unlink(path);
    unlink(bad);
}
END_TEST

START_TEST(test_save_errors)
{
    vae_model *a = toy_model(VAE_LIK_BERNOULLI, 1, VAE_KL_ANALYTIC);
    ck_assert_int_eq(vae_model_save(a, NULL, "/nonexistent-dir/x.ckpt"), VAE_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(a), "/nonexistent-dir"));
    /* Non-finite parameters are never written. */
    char path[512];
    tu_tmp_path(path, sizeof path, "nan.ckpt");
    unlink(path);
    float keep = a->P.val[3];
    a->P.val[3] = NAN;
    ck_assert_int_eq(vae_model_save(a, NULL, path), VAE_ERR_NONFINITE);
    ck_assert_int_eq(access(path, F_OK), -1);
    a->P.val[3] = keep;
    ck_assert_int_eq(vae_model_save(a, NULL, path), VAE_OK);
    vae_model_free(a);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_continue_bernoulli);
    tcase_add_test(tc, test_continue_gauss_learned);
    tcase_add_test(tc, test_continue_no_hidden);
    tcase_add_test(tc, test_continue_score_ema);
    tcase_add_test(tc, test_without_optimizer);
    tcase_add_test(tc, test_damaged_files);
    tcase_add_test(tc, test_save_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
