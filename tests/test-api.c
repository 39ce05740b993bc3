/* The public API's contract on bad input: a status, a message, nothing
 * crashes and the handle is unchanged. Also versions and status strings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libvae/vae.h"
#include "testutil.h"

static vae_model *make_model(int input_dim)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = input_dim;
    c.hidden[0] = 8;
    c.latent_dim = 2;
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    return m;
}

/* A snapshot of everything observable about a model: its outputs on fixed inputs. */
static void snapshot(vae_model *m, float *out16)
{
    float x[4 * 4];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i / 16.0f;
    ck_assert_int_eq(vae_model_reconstruct(m, x, 4, out16), VAE_OK);
}

START_TEST(test_version)
{
    ck_assert_str_eq(vae_version_string(), VAE_VERSION_STRING);
    ck_assert_uint_eq(vae_version_number(), VAE_VERSION_NUMBER);
    ck_assert_int_eq(VAE_VERSION_NUMBER,
                     VAE_VERSION_MAJOR * 10000 + VAE_VERSION_MINOR * 100 + VAE_VERSION_PATCH);
}
END_TEST

START_TEST(test_status_strings)
{
    for (int s = VAE_ERR_UNSUPPORTED; s <= VAE_OK; s++) {
        ck_assert_ptr_nonnull(vae_status_str(s));
        ck_assert_str_ne(vae_status_str(s), "unknown status");
    }
    ck_assert_str_eq(vae_status_str(12345), "unknown status");
    ck_assert_str_eq(vae_status_str(VAE_OK), "ok");
}
END_TEST

START_TEST(test_free_null)
{
    vae_model_free(NULL);
    vae_optimizer_free(NULL);
    vae_dataset_free(NULL);
    ck_assert_uint_eq(vae_model_param_count(NULL), 0);
    ck_assert_ptr_nonnull(vae_model_errmsg(NULL));
}
END_TEST

START_TEST(test_create_errors)
{
    vae_model *m = (vae_model *)0x1;
    vae_error err;
    ck_assert_int_eq(vae_model_create(NULL, &m, &err), VAE_ERR_NULL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, VAE_ERR_NULL);
    ck_assert_str_ne(err.message, "");
    vae_model_config c;
    vae_model_config_init(&c);
    ck_assert_int_eq(vae_model_create(&c, NULL, &err), VAE_ERR_NULL);

    /* Each bad field, one at a time, with the message naming it. */
#define BAD(stmt, st, word)                                                                       \
    do {                                                                                          \
        vae_model_config_init(&c);                                                                \
        stmt;                                                                                     \
        m = (vae_model *)0x1;                                                                     \
        ck_assert_msg(vae_model_create(&c, &m, &err) == st, "%s: wrong status", #stmt);       \
        ck_assert_ptr_null(m);                                                                    \
        ck_assert_msg(strstr(err.message, word) != NULL, "message '%s' lacks '%s'", err.message,  \
                      word);                                                                      \
    } while (0)
    BAD(c.input_dim = 0, VAE_ERR_INVALID, "input_dim");
    BAD(c.input_dim = -5, VAE_ERR_INVALID, "input_dim");
    BAD(c.latent_dim = 0, VAE_ERR_INVALID, "latent_dim");
    BAD(c.n_hidden = VAE_MAX_HIDDEN + 1, VAE_ERR_INVALID, "n_hidden");
    BAD(c.hidden[0] = 0, VAE_ERR_INVALID, "hidden[0]");
    BAD((c.n_hidden = 2, c.hidden[1] = -1), VAE_ERR_INVALID, "hidden[1]");
    BAD(c.activation = 99, VAE_ERR_INVALID, "activation");
    BAD(c.likelihood = -1, VAE_ERR_INVALID, "likelihood");
    BAD(c.gaussian_sigma = 0, VAE_ERR_INVALID, "gaussian_sigma");
    BAD(c.gaussian_sigma = NAN, VAE_ERR_INVALID, "gaussian_sigma");
    BAD(c.samples = 0, VAE_ERR_INVALID, "samples");
    BAD(c.kl_mode = 7, VAE_ERR_INVALID, "kl_mode");
    BAD(c.logvar_min = 25, VAE_ERR_INVALID, "logvar");
    BAD(c.threads = 0, VAE_ERR_INVALID, "threads");
    BAD(c.struct_size = 0, VAE_ERR_INVALID, "struct_size");
    /* Absurd sizes fail before allocating: 2^20 x 2^20 weights. */
    BAD((c.input_dim = 1 << 24, c.hidden[0] = 1 << 20), VAE_ERR_LIMIT, "parameters");
#undef BAD
}
END_TEST

/* An older caller's smaller config struct still works (fields it lacks take defaults). */
START_TEST(test_config_struct_growth)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 10;
    c.struct_size = offsetof(vae_model_config, latent_dim) + sizeof(int);
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_model_config got;
    got.struct_size = sizeof got;
    ck_assert_int_eq(vae_model_get_config(m, &got), VAE_OK);
    ck_assert_int_eq(got.input_dim, 10);
    ck_assert_int_eq(got.hidden[0], 400);
    ck_assert_int_eq(got.threads, 1);
    ck_assert_uint_eq(vae_model_param_count(m), (size_t)(10 * 400 + 400 + 2 * (400 * 20 + 20) +
                                                         20 * 400 + 400 + 400 * 10 + 10));
    vae_model_free(m);
}
END_TEST

START_TEST(test_call_errors_keep_model)
{
    vae_model *m = make_model(4);
    vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 0);
    float before[16], after[16], x[8] = {0}, out[8];
    snapshot(m, before);
    /* NULL handle */
    ck_assert_int_eq(vae_model_train_step(NULL, o, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_encode(NULL, x, 2, out, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_decode(NULL, x, 2, out), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_sample(NULL, 2, out), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_save(NULL, NULL, "x"), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_set_threads(NULL, 1), VAE_ERR_NULL);
    /* NULL arguments, with messages */
    ck_assert_int_eq(vae_model_train_step(m, NULL, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "opt"));
    ck_assert_int_eq(vae_model_train_step(m, o, NULL, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_encode(m, NULL, 2, out, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_decode(m, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_reconstruct(m, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_sample(m, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_elbo(m, NULL, 2, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_save(m, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_evaluate(m, NULL, 10, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_train_epoch(m, o, NULL, 10, NULL, NULL, NULL), VAE_ERR_NULL);
    /* Zero and absurd sizes */
    ck_assert_int_eq(vae_model_train_step(m, o, x, 0, NULL), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "n = 0"));
    ck_assert_int_eq(vae_model_encode(m, x, (size_t)1 << 40, out, NULL), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_model_set_threads(m, 0), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_set_threads(m, 100000), VAE_ERR_INVALID);
    /* NaN and out-of-range data */
    x[5] = NAN;
    ck_assert_int_eq(vae_model_train_step(m, o, x, 2, NULL), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "x[1][1]"));
    ck_assert_int_eq(vae_model_elbo(m, x, 2, NULL, NULL), VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_model_encode(m, x, 2, out, NULL), VAE_ERR_NONFINITE);
    x[5] = INFINITY;
    ck_assert_int_eq(vae_model_decode(m, x, 4, out), VAE_ERR_NONFINITE);
    x[5] = 1.5f; /* Bernoulli needs [0, 1] */
    ck_assert_int_eq(vae_model_train_step(m, o, x, 2, NULL), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "[0, 1]"));
    ck_assert_uint_eq(vae_optimizer_steps(o), 0);
    snapshot(m, after);
    ck_assert_mem_eq(before, after, sizeof before);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

START_TEST(test_dataset_mismatch)
{
    vae_model *m = make_model(4);
    vae_optimizer *o = tu_optimizer(VAE_OPT_SGD, 0);
    float x[30];
    for (int i = 0; i < 30; i++)
        x[i] = (float)i; /* outside [0, 1] */
    vae_dataset *wrong_dim, *wrong_range;
    ck_assert_int_eq(vae_dataset_from_array(x, 6, 5, NULL, VAE_ARRAY_COPY, NULL, &wrong_dim, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_from_array(x, 5, 4, NULL, VAE_ARRAY_COPY, NULL, &wrong_range, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(m, o, wrong_dim, 2, NULL, NULL, NULL), VAE_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "5 features"));
    ck_assert_int_eq(vae_model_evaluate(m, wrong_dim, 2, NULL), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_model_train_epoch(m, o, wrong_range, 2, NULL, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_train_epoch(m, o, wrong_range, 0, NULL, NULL, NULL), VAE_ERR_INVALID);
    /* Binarised, the same data is fine. */
    ck_assert_int_eq(vae_dataset_set_binarize(wrong_range, VAE_BINARIZE_THRESHOLD, 3.0f), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(m, o, wrong_range, 2, NULL, NULL, NULL), VAE_OK);
    vae_dataset_free(wrong_dim);
    vae_dataset_free(wrong_range);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

/* A huge learning rate makes training diverge: the step that fails reports
 * VAE_ERR_DIVERGED naming the step, and the parameters are those from before it. */
START_TEST(test_divergence_keeps_parameters)
{
    vae_model *m = make_model(4);
    vae_optimizer *o = tu_optimizer(VAE_OPT_SGD, 1e30f);
    float x[8] = {0, 1, 0, 1, 1, 0, 1, 0}, before[16], after[16];
    int rc = VAE_OK, steps = 0;
    while (rc == VAE_OK && steps < 100) {
        snapshot(m, before);
        rc = vae_model_train_step(m, o, x, 2, NULL);
        steps++;
    }
    ck_assert_int_eq(rc, VAE_ERR_DIVERGED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "step"));
    ck_assert_uint_eq(vae_optimizer_steps(o), (uint64_t)steps - 1);
    snapshot(m, after);
    ck_assert_mem_eq(before, after, sizeof before);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

/* An optimizer bound to one model's size refuses a model of another size. */
START_TEST(test_optimizer_bound_size)
{
    vae_model *a = make_model(4), *b = make_model(5);
    vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 0);
    float x[10] = {0};
    ck_assert_int_eq(vae_model_train_step(a, o, x, 2, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_step(b, o, x, 2, NULL), VAE_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(b), "optimizer"));
    vae_optimizer_free(o);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

START_TEST(test_load_errors)
{
    vae_model *m = (vae_model *)0x1;
    vae_optimizer *o = (vae_optimizer *)0x1;
    vae_error err;
    ck_assert_int_eq(vae_model_load("/nonexistent/ckpt", &m, &o, &err), VAE_ERR_IO);
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(o);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/ckpt"));
    ck_assert_int_eq(vae_model_load(NULL, &m, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_load("x", NULL, NULL, NULL), VAE_ERR_NULL);
}
END_TEST

/* The 0.2.0 calls refuse bad input with a status and message, and change nothing. */
START_TEST(test_training_api_errors)
{
    vae_model *m = make_model(4);
    float before[16], after[16], x[8] = {0, 1, 0, 1, 1, 0, 1, 0};
    snapshot(m, before);
    vae_model_config c;
    c.struct_size = sizeof c;
    ck_assert_int_eq(vae_model_get_config(m, &c), VAE_OK);
    /* set_training: architecture fields cannot change; training fields are checked. */
    c.latent_dim = 3;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "latent_dim"));
    c.latent_dim = 2;
    c.estimator = VAE_EST_SCORE;
    c.baseline = VAE_BASELINE_LOO;
    c.samples = 1;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "leave-one-out"));
    c.samples = 2;
    c.ema_decay = 1.0f;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    c.ema_decay = 0.9f;
    c.beta = -1.0f;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    c.beta = 1.0f;
    c.objective = VAE_OBJ_IWAE; /* IWAE is pathwise only */
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    c.objective = VAE_OBJ_ELBO;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_OK);
    ck_assert_int_eq(vae_model_set_training(m, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_set_training(NULL, &c), VAE_ERR_NULL);
    /* log_likelihood */
    double mean;
    ck_assert_int_eq(vae_model_log_likelihood(m, x, 2, 0, NULL, &mean), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_log_likelihood(m, x, 2, (1 << 20) + 1, NULL, &mean), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_log_likelihood(m, NULL, 2, 10, NULL, &mean), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_log_likelihood(m, x, 0, 10, NULL, &mean), VAE_ERR_INVALID);
    x[3] = NAN;
    ck_assert_int_eq(vae_model_log_likelihood(m, x, 2, 10, NULL, &mean), VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_model_gradient_stats(m, x, 2, NULL, 5, NULL, NULL, NULL, NULL), VAE_ERR_NONFINITE);
    x[3] = 1.0f;
    /* gradient_stats */
    vae_grad_stats all;
    ck_assert_int_eq(vae_model_gradient_stats(m, x, 2, NULL, 1, NULL, NULL, &all, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_gradient_stats(m, NULL, 2, NULL, 5, NULL, NULL, &all, NULL), VAE_ERR_NULL);
    c.kl_mode = 9;
    ck_assert_int_eq(vae_model_gradient_stats(m, x, 2, &c, 5, NULL, NULL, &all, NULL), VAE_ERR_INVALID);
    /* parameter access */
    size_t P = vae_model_param_count(m);
    float *p = malloc((P + 1) * sizeof *p);
    ck_assert_int_eq(vae_model_get_params(m, p, P + 1), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_model_get_params(m, NULL, P), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_get_params(m, p, P), VAE_OK);
    ck_assert_int_eq(vae_model_set_params(m, p, P - 1), VAE_ERR_SHAPE);
    p[7] = INFINITY;
    ck_assert_int_eq(vae_model_set_params(m, p, P), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "in[7]"));
    ck_assert_int_eq(vae_model_param_tensor_info(m, vae_model_param_tensor_count(m), NULL, NULL,
                                                 NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_param_tensor_info(NULL, 0, NULL, NULL, NULL, NULL), VAE_ERR_NULL);
    snapshot(m, after);
    ck_assert_mem_eq(before, after, sizeof before);
    free(p);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_status_strings);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_config_struct_growth);
    tcase_add_test(tc, test_call_errors_keep_model);
    tcase_add_test(tc, test_dataset_mismatch);
    tcase_add_test(tc, test_divergence_keeps_parameters);
    tcase_add_test(tc, test_optimizer_bound_size);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_training_api_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
