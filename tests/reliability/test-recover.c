/* Reliability, round two (issue 19): training recovers from a divergence,
 * evaluation never reports a non-finite figure as VAE_OK, and a save never
 * writes a checkpoint that load would refuse.
 *
 * - A step whose update is longer than the parameter vector (plus 0.1 RMS
 *   per parameter) is refused with VAE_ERR_DIVERGED and changes nothing, so
 *   after lowering the learning rate training continues from the last good
 *   state: Adam at lr 1e10, SGD at lr 10..1e10, the VQ-VAE with Adam at 1e10.
 * - vae_model_elbo / vae_model_evaluate / vae_vqvae_evaluate of a model with
 *   wrecked parameters give VAE_ERR_NONFINITE naming the examples.
 * - vae_model_save / vae_vqvae_save refuse another model's optimizer and an
 *   empty path, leaving the file at the path as it was. */
#include "relutil.h"

#include <math.h>

#include "libvae/vae.h"
#include "models/model.h"
#include "models/vqvae.h"
#include "optim/optimizer.h"

enum { N = 64, D = 20 };

/* Fixed binary-ish data: N rows of D values in [0, 1] with some structure. */
static void make_data(float *x)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = ((i % 4) == (j % 4) || (i * 7 + j * 3) % 11 == 0) ? 1.0f : 0.0f;
}

static vae_model *make_model(int hidden, uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.hidden[0] = hidden;
    c.latent_dim = 2;
    c.seed = seed;
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    return m;
}

static double elbo_of(vae_model *m, const float *x)
{
    vae_elbo_stats st;
    int rc = vae_model_elbo(m, x, N, NULL, &st);
    ck_assert_msg(rc == VAE_OK, "elbo: %d %s", rc, vae_model_errmsg(m));
    ck_assert(isfinite(st.elbo));
    return st.elbo;
}

/* The optimizer's state as a byte string (vopt fields that a step changes). */
static float *opt_state(const vae_optimizer *o, size_t *n)
{
    *n = 2 * o->n;
    float *s = calloc(*n + 1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    if (o->m)
        memcpy(s, o->m, o->n * sizeof *s);
    if (o->v)
        memcpy(s + o->n, o->v, o->n * sizeof *s);
    return s;
}

/* Train at `lr` until a step is refused (within 50 steps): every step
 * before it must leave finite parameters, the refused one must change
 * nothing (parameters, optimizer state and step counts). Then 100 steps at
 * lr 1e-3 all succeed and the ELBO ends finite and better than at the
 * refusal. */
static void refuse_then_recover(int opt_type, float lr)
{
    float x[N * D];
    make_data(x);
    vae_model *m = make_model(16, 5);
    vae_optimizer *o = tu_optimizer(opt_type, lr);
    int rc = VAE_OK, step;
    for (step = 0; step < 50 && rc == VAE_OK; step++) {
        float *p0 = malloc(m->P.total * sizeof *p0);
        ck_assert_ptr_nonnull(p0);
        memcpy(p0, m->P.val, m->P.total * sizeof *p0);
        size_t ns0 = 0, ns1 = 0;
        float *s0 = opt_state(o, &ns0);
        uint64_t steps0 = vae_optimizer_steps(o), mstep0 = m->step;
        rc = vae_model_train_step(m, o, x, N, NULL);
        if (rc != VAE_OK) {
            ck_assert_msg(rc == VAE_ERR_DIVERGED, "lr %g: status %d: %s", (double)lr, rc,
                          vae_model_errmsg(m));
            ck_assert_msg(memcmp(p0, m->P.val, m->P.total * sizeof *p0) == 0,
                          "lr %g: a refused step changed the parameters", (double)lr);
            float *s1 = opt_state(o, &ns1);
            /* An optimizer's first step binds it (zero state): same as before. */
            if (ns0 == 0)
                for (size_t i = 0; i < ns1; i++)
                    ck_assert(s1[i] == 0.0f);
            else
                ck_assert(ns0 == ns1 && memcmp(s0, s1, ns0 * sizeof *s0) == 0);
            free(s1);
            ck_assert_uint_eq(vae_optimizer_steps(o), steps0);
            ck_assert_uint_eq(m->step, mstep0);
        } else {
            for (size_t i = 0; i < m->P.total; i++)
                ck_assert_msg(isfinite(m->P.val[i]), "lr %g step %d: non-finite parameter",
                              (double)lr, step + 1);
        }
        free(p0);
        free(s0);
    }
    ck_assert_msg(rc == VAE_ERR_DIVERGED, "%s at lr %g: no step was refused in 50",
                  opt_type == VAE_OPT_ADAM ? "adam" : "sgd", (double)lr);
    double at_refusal = elbo_of(m, x);
    ck_assert_int_eq(vae_optimizer_set_lr(o, 1e-3f), VAE_OK);
    for (int k = 0; k < 100; k++) {
        vae_elbo_stats st;
        rc = vae_model_train_step(m, o, x, N, &st);
        ck_assert_msg(rc == VAE_OK, "lr %g then 1e-3: step %d after the refusal: %d %s",
                      (double)lr, k + 1, rc, vae_model_errmsg(m));
        ck_assert(isfinite(st.elbo));
    }
    double after = elbo_of(m, x);
    ck_assert_msg(after > at_refusal, "lr %g: ELBO %g after 100 steps at 1e-3, %g before",
                  (double)lr, after, at_refusal);
    vae_optimizer_free(o);
    vae_model_free(m);
}

START_TEST(test_adam_huge_lr_refused_then_recovers)
{
    refuse_then_recover(VAE_OPT_ADAM, 1e10f);
}
END_TEST

START_TEST(test_sgd_large_lr_refused_then_recovers)
{
    const float lrs[] = {10.0f, 100.0f, 1e3f, 1e4f, 1e6f, 1e8f, 1e10f};
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++)
        refuse_then_recover(VAE_OPT_SGD, lrs[i]);
}
END_TEST

START_TEST(test_momentum_adagrad_huge_lr_refused_then_recover)
{
    refuse_then_recover(VAE_OPT_MOMENTUM, 1e4f);
    refuse_then_recover(VAE_OPT_ADAGRAD, 1e6f);
}
END_TEST

/* Wreck the parameters directly (what a diverged run would have left
 * before round two, or a caller writing through the gradient API). */
static void wreck(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (i % 2 ? 1e30f : -1e30f);
}

START_TEST(test_eval_nonfinite_is_refused)
{
    float x[N * D];
    make_data(x);
    vae_model *m = make_model(16, 5);
    wreck(m->P.val, m->P.total);
    vae_elbo_stats st;
    float per[N];
    int rc = vae_model_elbo(m, x, N, per, &st);
    ck_assert_msg(rc == VAE_ERR_NONFINITE, "elbo: %d (elbo %g)", rc, st.elbo);
    ck_assert_msg(strstr(vae_model_errmsg(m), "example 0") &&
                      strstr(vae_model_errmsg(m), "of 64 examples"),
                  "%s", vae_model_errmsg(m));
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_from_array(x, N, D, NULL, VAE_ARRAY_COPY, NULL, &ds, &err),
                     VAE_OK);
    rc = vae_model_evaluate(m, ds, 16, &st);
    ck_assert_msg(rc == VAE_ERR_NONFINITE, "evaluate: %d (elbo %g)", rc, st.elbo);
    ck_assert_msg(strstr(vae_model_errmsg(m), "evaluate:"), "%s", vae_model_errmsg(m));
    rc = vae_model_elbo_keyed(m, x, N, 1, 0, NULL, &st);
    ck_assert_msg(rc == VAE_ERR_NONFINITE, "elbo_keyed: %d", rc);
    vae_dataset_free(ds);
    vae_model_free(m);
}
END_TEST

START_TEST(test_evaluate_stats_null)
{
    float x[N * D];
    make_data(x);
    vae_model *m = make_model(8, 1);
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_from_array(x, N, D, NULL, VAE_ARRAY_COPY, NULL, &ds, &err),
                     VAE_OK);
    ck_assert_int_eq(vae_model_evaluate(m, ds, 16, NULL), VAE_ERR_NULL);
    ck_assert_msg(strstr(vae_model_errmsg(m), "stats"), "%s", vae_model_errmsg(m));
    vae_vqvae_config qc;
    vae_vqvae_config_init(&qc);
    qc.input_dim = D;
    qc.hidden[0] = 8;
    qc.n_latents = 2;
    qc.code_dim = 2;
    qc.codebook_size = 4;
    vae_vqvae *q = NULL;
    ck_assert_int_eq(vae_vqvae_create(&qc, &q, &err), VAE_OK);
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 16, NULL), VAE_ERR_NULL);
    vae_vqvae_free(q);
    vae_dataset_free(ds);
    vae_model_free(m);
}
END_TEST

static vae_vqvae *make_vq(void)
{
    vae_vqvae_config qc;
    vae_vqvae_config_init(&qc);
    qc.input_dim = D;
    qc.hidden[0] = 16;
    qc.n_latents = 2;
    qc.code_dim = 3;
    qc.codebook_size = 8;
    vae_vqvae *q = NULL;
    vae_error err;
    ck_assert_msg(vae_vqvae_create(&qc, &q, &err) == VAE_OK, "%s", err.message);
    return q;
}

START_TEST(test_vqvae_refused_then_recovers)
{
    float x[N * D];
    make_data(x);
    vae_vqvae *q = make_vq();
    vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 1e10f);
    float *p0 = malloc(q->P.total * sizeof *p0);
    ck_assert_ptr_nonnull(p0);
    memcpy(p0, q->P.val, q->P.total * sizeof *p0);
    int rc = vae_vqvae_train_step(q, o, x, N, NULL);
    ck_assert_msg(rc == VAE_ERR_DIVERGED, "status %d: %s", rc, vae_vqvae_errmsg(q));
    ck_assert(memcmp(p0, q->P.val, q->P.total * sizeof *p0) == 0);
    ck_assert_uint_eq(vae_optimizer_steps(o), 0);
    ck_assert_int_eq(vae_optimizer_set_lr(o, 1e-3f), VAE_OK);
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_from_array(x, N, D, NULL, VAE_ARRAY_COPY, NULL, &ds, &err),
                     VAE_OK);
    vae_vqvae_stats before, after;
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 16, &before), VAE_OK);
    for (int k = 0; k < 100; k++) {
        rc = vae_vqvae_train_step(q, o, x, N, NULL);
        ck_assert_msg(rc == VAE_OK, "step %d: %d %s", k + 1, rc, vae_vqvae_errmsg(q));
    }
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 16, &after), VAE_OK);
    ck_assert_msg(isfinite(after.loss) && after.loss < before.loss, "loss %g -> %g",
                  before.loss, after.loss);
    /* Wrecked parameters: evaluate refuses to report a non-finite figure. */
    wreck(q->P.val, q->P.total);
    rc = vae_vqvae_evaluate(q, ds, 16, &after);
    ck_assert_msg(rc == VAE_ERR_NONFINITE, "evaluate of wrecked parameters: %d (loss %g)", rc,
                  after.loss);
    ck_assert_msg(strstr(vae_vqvae_errmsg(q), "example"), "%s", vae_vqvae_errmsg(q));
    free(p0);
    vae_dataset_free(ds);
    vae_optimizer_free(o);
    vae_vqvae_free(q);
}
END_TEST

/* Read a whole file into a new buffer; *n its size. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

START_TEST(test_save_refuses_foreign_optimizer)
{
    float x[N * D];
    make_data(x);
    char path[512];
    tu_tmp_path(path, sizeof path, "rel-recover-foreign.ckpt");
    vae_model *m = make_model(16, 1), *other = make_model(12, 1);
    vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 1e-3f), *o_other = tu_optimizer(VAE_OPT_ADAM, 1e-3f);
    ck_assert_int_eq(vae_model_train_step(m, o, x, N, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_step(other, o_other, x, N, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(m, o, path), VAE_OK);
    size_t n0, n1;
    unsigned char *good = slurp(path, &n0);
    /* train_step refuses the other model's optimizer; so must save. */
    ck_assert_int_eq(vae_model_train_step(m, o_other, x, N, NULL), VAE_ERR_SHAPE);
    int rc = vae_model_save(m, o_other, path);
    ck_assert_msg(rc == VAE_ERR_SHAPE, "save with a foreign optimizer: %d", rc);
    ck_assert_msg(strstr(vae_model_errmsg(m), "optimizer"), "%s", vae_model_errmsg(m));
    unsigned char *now = slurp(path, &n1);
    ck_assert(n0 == n1 && memcmp(good, now, n0) == 0);
    free(now);
    vae_model *back = NULL;
    vae_optimizer *ob = NULL;
    vae_error err;
    ck_assert_msg(vae_model_load(path, &back, &ob, &err) == VAE_OK, "%s", err.message);
    vae_model_free(back);
    vae_optimizer_free(ob);
    /* The same for the VQ-VAE handle. */
    vae_vqvae *q = make_vq();
    ck_assert_int_eq(vae_vqvae_save(q, NULL, path), VAE_OK);
    unsigned char *vgood = slurp(path, &n0);
    rc = vae_vqvae_save(q, o, path);
    ck_assert_msg(rc == VAE_ERR_SHAPE, "vqvae save with a foreign optimizer: %d", rc);
    now = slurp(path, &n1);
    ck_assert(n0 == n1 && memcmp(vgood, now, n0) == 0);
    free(now);
    free(vgood);
    /* An empty path: VAE_ERR_INVALID saying so, before anything. */
    ck_assert_int_eq(vae_model_save(m, o, ""), VAE_ERR_INVALID);
    ck_assert_msg(strstr(vae_model_errmsg(m), "empty"), "%s", vae_model_errmsg(m));
    ck_assert_int_eq(vae_vqvae_save(q, NULL, ""), VAE_ERR_INVALID);
    ck_assert_msg(strstr(vae_vqvae_errmsg(q), "empty"), "%s", vae_vqvae_errmsg(q));
    vae_vqvae_free(q);
    free(good);
    remove(path);
    vae_optimizer_free(o);
    vae_optimizer_free(o_other);
    vae_model_free(m);
    vae_model_free(other);
}
END_TEST

static Suite *recover_suite(void)
{
    Suite *s = suite_create("recover");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_adam_huge_lr_refused_then_recovers);
    tcase_add_test(tc, test_sgd_large_lr_refused_then_recovers);
    tcase_add_test(tc, test_momentum_adagrad_huge_lr_refused_then_recover);
    tcase_add_test(tc, test_eval_nonfinite_is_refused);
    tcase_add_test(tc, test_evaluate_stats_null);
    tcase_add_test(tc, test_vqvae_refused_then_recovers);
    tcase_add_test(tc, test_save_refuses_foreign_optimizer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(recover_suite());
}
