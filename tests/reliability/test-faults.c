/* Numeric faults: training that diverges (huge learning rates) stops with
 * VAE_ERR_DIVERGED naming the step, keeps the parameters and optimizer
 * state from before that step, and leaves a model that saves a finite
 * checkpoint which loads; NaN and infinities in data are refused with
 * VAE_ERR_NONFINITE wherever data enters (train_step, the other model
 * calls, vae_dataset_from_array, CSV and IDX files); non-finite values are
 * never written to, nor accepted from, a checkpoint. */
#include "relutil.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>

#include "io/ckpt.h"
#include "libvae/vae.h"
#include "models/model.h"

enum { D = 6 };

/* gaussian_sigma of the next models (0: the default). */
static float model_sigma;

static vae_model *make_model(int likelihood, int activation, uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    if (model_sigma > 0)
        c.gaussian_sigma = model_sigma;
    c.input_dim = D;
    c.hidden[0] = 8;
    c.latent_dim = 2;
    c.likelihood = likelihood;
    c.activation = activation;
    c.seed = seed;
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    return m;
}

/* Fixed inputs in [0, 1]: 4 rows of D. */
static void inputs(float *x)
{
    for (int i = 0; i < 4 * D; i++)
        x[i] = (float)((i * 7) % 11) / 10.0f;
}

/* What the model computes on fixed inputs (as tests/test-api.c does). */
static void snapshot(vae_model *m, float *out)
{
    float x[4 * D];
    inputs(x);
    ck_assert_int_eq(vae_model_reconstruct(m, x, 4, out), VAE_OK);
}

static float *params_copy(const vae_model *m)
{
    float *p = malloc(m->P.total * sizeof *p);
    ck_assert_ptr_nonnull(p);
    memcpy(p, m->P.val, m->P.total * sizeof *p);
    return p;
}

static size_t count_nonfinite(const float *v, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !isfinite(v[i]);
    return bad;
}

static const char *opt_name(int t)
{
    static const char *const names[] = {"sgd", "momentum", "adagrad", "adam"};
    return names[t];
}

/* ------------------------------------------------------------------------ */
/* Divergence                                                                */
/* ------------------------------------------------------------------------ */

typedef struct diverge_stats {
    int runs, diverged, max_steps;
} diverge_stats;

/* Train with learning rate lr until a step fails (at most 300 steps);
 * every successful step must leave finite parameters, and a failing step
 * must be VAE_ERR_DIVERGED with everything as before it. Then the model
 * must save and load back exactly. Returns 1 if the run diverged. */
static int diverge_run(int opt_type, float lr, int likelihood, int activation,
                       diverge_stats *ds)
{
    vae_model *m = make_model(likelihood, activation, 11);
    vae_optimizer *o = tu_optimizer(opt_type, lr);
    float x[4 * D], before[4 * D], after[4 * D];
    inputs(x);
    if (likelihood == VAE_LIK_GAUSSIAN_FIXED || likelihood == VAE_LIK_GAUSSIAN_LEARNED)
        for (int i = 0; i < 4 * D; i++)
            x[i] = x[i] * 4.0f - 2.0f;
    char what[128];
    snprintf(what, sizeof what, "%s lr=%g likelihood=%d activation=%d", opt_name(opt_type),
             (double)lr, likelihood, activation);
    int rc = VAE_OK, step = 0;
    float *p_before = NULL;
    for (step = 0; step < 300; step++) {
        free(p_before);
        p_before = params_copy(m);
        snapshot(m, before);
        rc = vae_model_train_step(m, o, x, 4, NULL);
        if (rc != VAE_OK)
            break;
        size_t bad = count_nonfinite(m->P.val, m->P.total);
        ck_assert_msg(bad == 0,
                      "%s: step %d returned VAE_OK but left %zu non-finite parameters "
                      "(the step should have been refused as VAE_ERR_DIVERGED)",
                      what, step + 1, bad);
    }
    ds->runs++;
    if (rc == VAE_OK) {
        free(p_before);
        vae_optimizer_free(o);
        vae_model_free(m);
        return 0;
    }
    ds->diverged++;
    if (step + 1 > ds->max_steps)
        ds->max_steps = step + 1;
    ck_assert_msg(rc == VAE_ERR_DIVERGED, "%s: status %d (%s)", what, rc, vae_model_errmsg(m));
    /* The message names the step: the optimizer's next step number. */
    char want[64];
    snprintf(want, sizeof want, "step %d", step + 1);
    ck_assert_msg(strstr(vae_model_errmsg(m), want) != NULL, "%s: message '%s' lacks '%s'", what,
                  vae_model_errmsg(m), want);
    ck_assert_uint_eq(vae_optimizer_steps(o), (uint64_t)step);
    /* Parameters and outputs exactly as before the failed step. */
    ck_assert_msg(memcmp(p_before, m->P.val, m->P.total * sizeof(float)) == 0,
                  "%s: parameters changed by the failed step", what);
    snapshot(m, after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_uint_eq(count_nonfinite(m->P.val, m->P.total), 0);

    /* A checkpoint written now is finite and loads back to the same model. */
    char path[4096];
    tu_tmp_path(path, sizeof path, "diverged.ckpt");
    ck_assert_msg(vae_model_save(m, o, path) == VAE_OK, "%s: save after divergence: %s", what,
                  vae_model_errmsg(m));
    vae_model *m2 = NULL;
    vae_optimizer *o2 = NULL;
    vae_error err;
    ck_assert_msg(vae_model_load(path, &m2, &o2, &err) == VAE_OK, "%s: load: %s", what,
                  err.message);
    ck_assert_uint_eq(m2->P.total, m->P.total);
    ck_assert(memcmp(m2->P.val, p_before, m->P.total * sizeof(float)) == 0);
    ck_assert_ptr_nonnull(o2);
    ck_assert_uint_eq(vae_optimizer_steps(o2), (uint64_t)step);
    snapshot(m2, after);
    ck_assert_mem_eq(before, after, sizeof before);
    remove(path);
    vae_optimizer_free(o2);
    vae_model_free(m2);
    free(p_before);
    vae_optimizer_free(o);
    vae_model_free(m);
    return 1;
}

/* Every optimizer at huge learning rates; SGD at 1e30 must diverge (the
 * others may instead settle, e.g. when every ReLU dies). */
START_TEST(test_huge_lr_diverges)
{
    const float lrs[] = {1e6f, 1e10f, 1e20f, 1e30f};
    diverge_stats ds = {0, 0, 0};
    for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t++)
        for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
            int d = diverge_run(t, lrs[i], VAE_LIK_BERNOULLI, VAE_ACT_RELU, &ds);
            if (t == VAE_OPT_SGD && lrs[i] == 1e30f)
                ck_assert_msg(d, "SGD at lr 1e30 did not diverge in 300 steps");
        }
    fprintf(stderr, "faults: huge lr (Bernoulli, ReLU): %d runs, %d diverged (latest at step %d)\n",
            ds.runs, ds.diverged, ds.max_steps);
    ck_assert_int_ge(ds.diverged, 4);
}
END_TEST

/* The same with other likelihoods and activations (smooth ones keep the
 * gradients alive, Gaussian likelihoods square the errors). */
START_TEST(test_huge_lr_other_models)
{
    diverge_stats ds = {0, 0, 0};
    const int liks[] = {VAE_LIK_GAUSSIAN_FIXED, VAE_LIK_GAUSSIAN_LEARNED, VAE_LIK_BERNOULLI};
    const int acts[] = {VAE_ACT_TANH, VAE_ACT_SOFTPLUS, VAE_ACT_LEAKY_RELU, VAE_ACT_SIGMOID};
    for (size_t l = 0; l < 3; l++)
        for (size_t a = 0; a < 4; a++)
            for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t += 3)
                diverge_run(t, 1e30f, liks[l], acts[a], &ds);
    fprintf(stderr, "faults: huge lr (other models): %d runs, %d diverged (latest at step %d)\n",
            ds.runs, ds.diverged, ds.max_steps);
    ck_assert_int_ge(ds.diverged, ds.runs / 2);
}
END_TEST

/* An update so large that it overflows float: with a small fixed sigma
 * the gradients are large, and lr * g exceeds FLT_MAX on the first step.
 * That step must be refused as diverged, not applied. */
START_TEST(test_update_overflow)
{
    const float lrs[] = {1e35f, 1e38f, 3e38f};
    diverge_stats ds = {0, 0, 0};
    model_sigma = 0.01f;
    for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t++)
        for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++)
            diverge_run(t, lrs[i], VAE_LIK_GAUSSIAN_FIXED, VAE_ACT_RELU, &ds);
    model_sigma = 0;
    fprintf(stderr, "faults: overflowing updates: %d runs, %d diverged (latest at step %d)\n",
            ds.runs, ds.diverged, ds.max_steps);
    ck_assert_int_eq(ds.diverged, ds.runs);
}
END_TEST

/* Through vae_model_train_epoch: the message names the batch and the step. */
START_TEST(test_epoch_divergence)
{
    vae_model *m = make_model(VAE_LIK_BERNOULLI, VAE_ACT_RELU, 5);
    vae_optimizer *o = tu_optimizer(VAE_OPT_SGD, 1e30f);
    float x[40 * D];
    for (int i = 0; i < 40 * D; i++)
        x[i] = (float)((i * 13) % 17) / 16.0f;
    vae_dataset *data = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, 40, D, NULL, VAE_ARRAY_COPY, NULL, &data, NULL),
                     VAE_OK);
    int rc = VAE_OK;
    for (int e = 0; e < 50 && rc == VAE_OK; e++)
        rc = vae_model_train_epoch(m, o, data, 4, NULL, NULL, NULL);
    ck_assert_int_eq(rc, VAE_ERR_DIVERGED);
    const char *msg = vae_model_errmsg(m);
    char want[64];
    snprintf(want, sizeof want, "step %" PRIu64, vae_optimizer_steps(o) + 1);
    ck_assert_msg(strstr(msg, "batch") && strstr(msg, want), "message '%s' lacks batch/%s", msg,
                  want);
    ck_assert_uint_eq(count_nonfinite(m->P.val, m->P.total), 0);
    char path[4096];
    tu_tmp_path(path, sizeof path, "epoch-diverged.ckpt");
    ck_assert_int_eq(vae_model_save(m, o, path), VAE_OK);
    vae_model *m2 = NULL;
    ck_assert_int_eq(vae_model_load(path, &m2, NULL, NULL), VAE_OK);
    vae_model_free(m2);
    remove(path);
    vae_dataset_free(data);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

/* Data so large that the Gaussian likelihood's squared error overflows
 * float: the step fails as diverged (or succeeds), never leaving
 * non-finite parameters. */
START_TEST(test_overflowing_data)
{
    const float big[] = {1e18f, 1e30f, FLT_MAX, -FLT_MAX};
    int diverged = 0;
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        for (int lik = VAE_LIK_GAUSSIAN_FIXED; lik <= VAE_LIK_GAUSSIAN_LEARNED; lik++) {
            vae_model *m = make_model(lik, VAE_ACT_TANH, 3);
            vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 1e-3f);
            float x[2 * D];
            for (int i = 0; i < 2 * D; i++)
                x[i] = i % 3 == 0 ? big[k] : 0.5f;
            float *p = params_copy(m);
            int rc = vae_model_train_step(m, o, x, 2, NULL);
            ck_assert_msg(rc == VAE_OK || rc == VAE_ERR_DIVERGED, "x = %g: status %d (%s)",
                          (double)big[k], rc, vae_model_errmsg(m));
            ck_assert_uint_eq(count_nonfinite(m->P.val, m->P.total), 0);
            if (rc == VAE_ERR_DIVERGED) {
                diverged++;
                ck_assert(memcmp(p, m->P.val, m->P.total * sizeof(float)) == 0);
                ck_assert_uint_eq(vae_optimizer_steps(o), 0);
            }
            free(p);
            vae_optimizer_free(o);
            vae_model_free(m);
        }
    fprintf(stderr, "faults: overflowing Gaussian data: 8 runs, %d diverged\n", diverged);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Non-finite data                                                           */
/* ------------------------------------------------------------------------ */

static const float nonfinite[3] = {NAN, INFINITY, -INFINITY};

/* NaN, +Inf and -Inf at the first, a middle and the last position of the
 * batch: refused by train_step and by every call taking data, with the
 * position in the message and nothing changed. */
START_TEST(test_nonfinite_train_data)
{
    int cases = 0;
    for (int lik = VAE_LIK_BERNOULLI; lik <= VAE_LIK_GAUSSIAN_FIXED; lik++) {
        vae_model *m = make_model(lik, VAE_ACT_RELU, 9);
        vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 1e-3f);
        float x[4 * D], before[4 * D], after[4 * D], out[4 * D];
        inputs(x);
        /* One good step first, so the optimizer has state to keep. */
        ck_assert_int_eq(vae_model_train_step(m, o, x, 4, NULL), VAE_OK);
        snapshot(m, before);
        float *p = params_copy(m);
        const size_t pos[3] = {0, 2 * D + 3, 4 * D - 1};
        for (int v = 0; v < 3; v++)
            for (int k = 0; k < 3; k++) {
                inputs(x);
                x[pos[k]] = nonfinite[v];
                char want[32];
                snprintf(want, sizeof want, "x[%zu][%zu]", pos[k] / D, pos[k] % D);
                ck_assert_int_eq(vae_model_train_step(m, o, x, 4, NULL), VAE_ERR_NONFINITE);
                ck_assert_msg(strstr(vae_model_errmsg(m), want), "'%s' lacks %s",
                              vae_model_errmsg(m), want);
                ck_assert_int_eq(vae_model_elbo(m, x, 4, NULL, NULL), VAE_ERR_NONFINITE);
                ck_assert_int_eq(vae_model_encode(m, x, 4, out, NULL), VAE_ERR_NONFINITE);
                ck_assert_int_eq(vae_model_reconstruct(m, x, 4, out), VAE_ERR_NONFINITE);
                float z[4 * 2] = {0};
                z[pos[k] % 8] = nonfinite[v];
                ck_assert_int_eq(vae_model_decode(m, z, 4, out), VAE_ERR_NONFINITE);
                cases += 5;
            }
        ck_assert_uint_eq(vae_optimizer_steps(o), 1);
        ck_assert(memcmp(p, m->P.val, m->P.total * sizeof(float)) == 0);
        snapshot(m, after);
        ck_assert_mem_eq(before, after, sizeof before);
        free(p);
        vae_optimizer_free(o);
        vae_model_free(m);
    }
    fprintf(stderr, "faults: NaN/Inf/-Inf into model calls: %d cases refused\n", cases);
}
END_TEST

START_TEST(test_nonfinite_from_array)
{
    int cases = 0;
    for (int v = 0; v < 3; v++)
        for (int mode = VAE_ARRAY_COPY; mode <= VAE_ARRAY_BORROW; mode++)
            for (size_t k = 0; k < 12; k += 5) {
                float x[12];
                for (int i = 0; i < 12; i++)
                    x[i] = (float)i;
                x[k] = nonfinite[v];
                vae_dataset *ds = (vae_dataset *)x;
                vae_error err;
                int st = vae_dataset_from_array(x, 3, 4, NULL, mode, NULL, &ds, &err);
                ck_assert_int_eq(st, VAE_ERR_NONFINITE);
                ck_assert_int_eq(err.status, VAE_ERR_NONFINITE);
                ck_assert_ptr_null(ds);
                char want[64];
                snprintf(want, sizeof want, "row %zu, column %zu", k / 4, k % 4);
                ck_assert_msg(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
                cases++;
            }
    /* The extremes of the finite range are accepted. */
    float ok[4] = {FLT_MAX, -FLT_MAX, FLT_MIN / 4, -0.0f};
    vae_dataset *ds = NULL;
    ck_assert_int_eq(vae_dataset_from_array(ok, 1, 4, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL),
                     VAE_OK);
    vae_dataset_free(ds);
    fprintf(stderr, "faults: NaN/Inf/-Inf into vae_dataset_from_array: %d cases refused\n", cases);
}
END_TEST

/* Non-finite values in CSV text (including a decimal overflow) and in IDX
 * f32 data. */
START_TEST(test_nonfinite_files)
{
    static const char *const csvs[] = {
        "1,2\nnan,3\n",  "1,inf\n",         "-inf,1\n",     "1,2\n3,1e39\n",
        "1,-1e39\n",     "NaN,1\n",         "1,INFINITY\n", "1,2\n3,4\n5,nan(123)\n",
    };
    char p[4096];
    tu_tmp_path(p, sizeof p, "nonfinite.csv");
    int cases = 0;
    for (size_t i = 0; i < sizeof csvs / sizeof csvs[0]; i++) {
        ck_assert_int_eq(tu_write_file(p, csvs[i], strlen(csvs[i])), 0);
        vae_dataset *ds = (vae_dataset *)p;
        vae_error err;
        ck_assert_msg(vae_dataset_load_csv(p, NULL, &ds, &err) == VAE_ERR_NONFINITE,
                      "CSV case %zu: %s", i, err.message);
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(err.message, "line") && strstr(err.message, "column"),
                      "CSV case %zu: '%s'", i, err.message);
        cases++;
    }
    remove(p);

    /* IDX f32, 2 x 3 values, one of them NaN / +Inf / -Inf / a signalling NaN. */
    const uint32_t bits[4] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f800001u};
    tu_tmp_path(p, sizeof p, "nonfinite.idx");
    for (int b = 0; b < 4; b++) {
        unsigned char buf[12 + 24] = {0, 0, 0x0D, 2, 0, 0, 0, 2, 0, 0, 0, 3};
        for (int i = 0; i < 6; i++) {
            float v = (float)i;
            uint32_t u;
            memcpy(&u, &v, 4);
            if (i == 4)
                u = bits[b];
            for (int j = 0; j < 4; j++)
                buf[12 + 4 * i + j] = (unsigned char)(u >> (24 - 8 * j));
        }
        ck_assert_int_eq(tu_write_file(p, buf, sizeof buf), 0);
        vae_dataset *ds = NULL;
        vae_error err;
        ck_assert_msg(vae_dataset_load_idx(p, NULL, NULL, &ds, &err) == VAE_ERR_NONFINITE,
                      "IDX case %d: %s", b, err.message);
        ck_assert_msg(strstr(err.message, "example 1, value 1"), "'%s'", err.message);
        cases++;
    }
    remove(p);
    fprintf(stderr, "faults: non-finite values in CSV and IDX files: %d cases refused\n", cases);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Non-finite values and checkpoints                                          */
/* ------------------------------------------------------------------------ */

/* vae_model_save refuses a model holding a non-finite parameter, and the
 * checkpoint already at the path is left as it was. */
START_TEST(test_save_refuses_nonfinite)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "refuse.ckpt");
    vae_model *m = make_model(VAE_LIK_BERNOULLI, VAE_ACT_RELU, 4);
    ck_assert_int_eq(vae_model_save(m, NULL, path), VAE_OK);
    size_t len0 = 0, len1 = 0;
    unsigned char *old = tu_read_file(path, &len0);
    ck_assert_ptr_nonnull(old);
    const size_t where[3] = {0, m->P.total / 2, m->P.total - 1};
    for (int v = 0; v < 3; v++)
        for (int k = 0; k < 3; k++) {
            float keep = m->P.val[where[k]];
            m->P.val[where[k]] = nonfinite[v];
            ck_assert_int_eq(vae_model_save(m, NULL, path), VAE_ERR_NONFINITE);
            ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "not finite"));
            m->P.val[where[k]] = keep;
            unsigned char *now = tu_read_file(path, &len1);
            ck_assert_ptr_nonnull(now);
            ck_assert_uint_eq(len0, len1);
            ck_assert(memcmp(old, now, len0) == 0);
            free(now);
        }
    free(old);
    vae_model_free(m);
    remove(path);
}
END_TEST

/* Copy src to dst with element `index` of the f32 tensor `name` set to v
 * (header, length and CRC rewritten, so only the value is wrong). */
static void poison_ckpt(const char *src, const char *dst, const char *name, size_t index, float v)
{
    char msg[VAE_ERRMSG_LEN];
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(src, &f, msg), VAE_OK);
    vio_writer *w = vio_writer_new();
    int found = 0;
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        if (strcmp(t->name, name) == 0) {
            ck_assert_int_eq(t->dtype, VIO_F32);
            ck_assert_uint_lt(index, t->count);
            float *copy = malloc(t->count * sizeof *copy);
            memcpy(copy, t->data, t->count * sizeof *copy);
            copy[index] = v;
            ck_assert_int_eq(vio_writer_add(w, t->name, t->dtype, t->ndim, t->dims, copy, msg),
                             VAE_OK);
            free(copy);
            found = 1;
        } else {
            ck_assert_int_eq(vio_writer_add(w, t->name, t->dtype, t->ndim, t->dims, t->data, msg),
                             VAE_OK);
        }
    }
    ck_assert_msg(found, "no tensor %s", name);
    ck_assert_int_eq(vio_writer_commit(w, dst, msg), VAE_OK);
    vio_writer_free(w);
    vio_file_free(f);
}

/* A checkpoint with a NaN or infinity in any parameter tensor or in the
 * optimizer state is refused on load (VAE_ERR_FORMAT naming the tensor). */
START_TEST(test_load_refuses_nonfinite)
{
    char src[4096], dst[4096];
    tu_tmp_path(src, sizeof src, "finite.ckpt");
    tu_tmp_path(dst, sizeof dst, "poisoned.ckpt");
    vae_model *m = make_model(VAE_LIK_GAUSSIAN_LEARNED, VAE_ACT_TANH, 6);
    vae_optimizer *o = tu_optimizer(VAE_OPT_ADAM, 1e-3f);
    float x[4 * D];
    inputs(x);
    ck_assert_int_eq(vae_model_train_step(m, o, x, 4, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(m, o, src), VAE_OK);
    vae_optimizer_free(o);
    vae_model_free(m);

    char msg[VAE_ERRMSG_LEN];
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(src, &f, msg), VAE_OK);
    int cases = 0;
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        int is_param = strncmp(t->name, "param.", 6) == 0;
        int is_state = strcmp(t->name, "optim.m") == 0 || strcmp(t->name, "optim.v") == 0;
        if (t->dtype != VIO_F32 || !(is_param || is_state))
            continue;
        for (int v = 0; v < 3; v++) {
            poison_ckpt(src, dst, t->name, (size_t)(v * 7) % t->count, nonfinite[v]);
            vae_model *m2 = (vae_model *)&m2;
            vae_optimizer *o2 = (vae_optimizer *)&o2;
            vae_error err;
            int st = vae_model_load(dst, &m2, &o2, &err);
            ck_assert_msg(st == VAE_ERR_FORMAT, "%s = %g: status %d (%s)", t->name,
                          (double)nonfinite[v], st, err.message);
            ck_assert_ptr_null(m2);
            ck_assert_ptr_null(o2);
            ck_assert_msg(strstr(err.message, t->name), "'%s' lacks '%s'", err.message, t->name);
            cases++;
        }
    }
    vio_file_free(f);
    remove(src);
    remove(dst);
    fprintf(stderr, "faults: NaN/Inf/-Inf in checkpoint tensors: %d cases refused\n", cases);
    ck_assert_int_ge(cases, 3 * 8);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("faults");
    TCase *div = tcase_create("diverge");
    tcase_set_timeout(div, 600);
    tcase_add_test(div, test_huge_lr_diverges);
    tcase_add_test(div, test_huge_lr_other_models);
    tcase_add_test(div, test_update_overflow);
    tcase_add_test(div, test_epoch_divergence);
    tcase_add_test(div, test_overflowing_data);
    suite_add_tcase(s, div);

    TCase *data = tcase_create("nonfinite");
    tcase_set_timeout(data, 300);
    tcase_add_test(data, test_nonfinite_train_data);
    tcase_add_test(data, test_nonfinite_from_array);
    tcase_add_test(data, test_nonfinite_files);
    tcase_add_test(data, test_save_refuses_nonfinite);
    tcase_add_test(data, test_load_refuses_nonfinite);
    suite_add_tcase(s, data);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
