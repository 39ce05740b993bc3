/* Acceptance tests of the conditional VAE on real MNIST (first 9000 digits
 * train, last 1000 test, labels from t10k-labels-idx1-ubyte.gz, pixels
 * scaled to [0,1], Bernoulli likelihood on the grey values):
 *   - the test ELBO given the labels beats the unconditional VAE's with the
 *     same architecture, seed and epochs (both priors);
 *   - a nearest-class-mean classifier fitted on the training images assigns
 *     at least 80% of 1000 class-conditional decoder means (100 per class,
 *     z ~ p(z|c)) to the class they were conditioned on, for both priors.
 *     That model has a 2-D latent (Kingma and Welling's manifold setting)
 *     and trains CLASSIFY_EPOCHS epochs: with 20 latent dimensions the
 *     encoder also stores the class in z, prior draws land among other
 *     classes' codes, and 5 epochs reach only 32% / 71% (docs/cvae.md).
 *     Measured with seeds 1, 2, 7: 91-94.5%. The z = prior-mean figure is
 *     printed as well.
 * The measured numbers are printed and recorded in docs/cvae.md. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvae/vae.h"
#include "testutil.h"

#define EPOCHS 5
#define CLASSIFY_EPOCHS 10
#define CLASSIFY_LATENT 2
#define CLASSES 10

static vae_dataset *g_train, *g_test;

static void data_setup(void)
{
    char img[4096], lab[4096];
    /* MNIST-sized training under valgrind takes far too long; quick mode skips. */
    if (tu_quick() || !tu_mnist_file(img, "t10k-images-idx3-ubyte.gz"))
        return;
    tu_mnist_file(lab, "t10k-labels-idx1-ubyte.gz");
    vae_dataset *all;
    ck_assert_int_eq(vae_dataset_load_idx(img, lab, NULL, &all, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_onehot(all, CLASSES), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 0, 9000, &g_train, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 9000, 1000, &g_test, NULL), VAE_OK);
    vae_dataset_free(all);
}

static void data_teardown(void)
{
    vae_dataset_free(g_train);
    vae_dataset_free(g_test);
    g_train = g_test = NULL;
}

static vae_model *train_k(int cond_dim, int prior, int latent, int epochs);

/* Train a 784-256-20 model (cond_dim 0 or 10) for EPOCHS epochs; return it. */
static vae_model *train(int cond_dim, int prior) { return train_k(cond_dim, prior, 20, EPOCHS); }

static vae_model *train_k(int cond_dim, int prior, int latent, int epochs)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.hidden[0] = 256;
    c.latent_dim = latent;
    c.threads = 2;
    c.seed = 7;
    c.cond_dim = cond_dim;
    c.prior = prior;
    vae_model *m;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    for (int e = 0; e < epochs; e++)
        ck_assert_msg(vae_model_train_epoch(m, o, g_train, 100, NULL, NULL, NULL) == VAE_OK, "%s",
                      vae_model_errmsg(m));
    vae_optimizer_free(o);
    return m;
}

static double test_elbo(vae_model *m)
{
    vae_elbo_stats st;
    ck_assert_msg(vae_model_evaluate(m, g_test, 500, &st) == VAE_OK, "%s", vae_model_errmsg(m));
    return st.elbo;
}

START_TEST(test_cvae_elbo_beats_vae)
{
    if (!g_train) {
        if (!tu_quick()) /* quick mode leaves it out on purpose */
            tu_skip("test_cvae_elbo_beats_vae", "MNIST files not found ($VAE_MNIST_DIR)");
        return; /* no MNIST here, or quick mode */
    }
    vae_model *vae = train(0, VAE_PRIOR_STANDARD);
    vae_model *cvae = train(CLASSES, VAE_PRIOR_STANDARD);
    vae_model *lp = train(CLASSES, VAE_PRIOR_LEARNED);
    double e0 = test_elbo(vae), e1 = test_elbo(cvae), e2 = test_elbo(lp);
    printf("test ELBO after %d epochs: vae %.3f, cvae (independent prior) %.3f (+%.3f), "
           "cvae (learned prior) %.3f (+%.3f) nats\n",
           EPOCHS, e0, e1, e1 - e0, e2, e2 - e0);
    ck_assert_msg(e1 > e0, "cvae %.3f <= vae %.3f", e1, e0);
    ck_assert_msg(e2 > e0, "cvae learned prior %.3f <= vae %.3f", e2, e0);
    vae_model_free(vae);
    vae_model_free(cvae);
    vae_model_free(lp);
}
END_TEST

/* Fraction of 100 decoder means per class that the nearest class mean of
 * the training images assigns to the class they were conditioned on. */
static double class_accuracy(vae_model *m, const char *name, int at_mean)
{
    const size_t D = 784, n = vae_dataset_count(g_train), per = 100;
    const float *x = vae_dataset_data(g_train);
    const int *y = vae_dataset_labels(g_train);
    double *mean = calloc(CLASSES * D, sizeof *mean);
    size_t cnt[CLASSES] = {0};
    for (size_t i = 0; i < n; i++) {
        cnt[y[i]]++;
        for (size_t j = 0; j < D; j++)
            mean[(size_t)y[i] * D + j] += x[i * D + j];
    }
    for (int k = 0; k < CLASSES; k++)
        for (size_t j = 0; j < D; j++)
            mean[(size_t)k * D + j] /= (double)cnt[k];
    float *c = calloc(CLASSES * per * CLASSES, sizeof *c);
    float *out = malloc(CLASSES * per * D * sizeof *out);
    for (size_t i = 0; i < CLASSES * per; i++)
        c[i * CLASSES + i / per] = 1.0f;
    if (at_mean) { /* z = the mean of p(z|c) */
        float *z = calloc(CLASSES * per * CLASSIFY_LATENT, sizeof *z);
        ck_assert_int_eq(vae_model_prior_cond(m, c, CLASSES * per, z, NULL), VAE_OK);
        ck_assert_int_eq(vae_model_decode_cond(m, z, c, CLASSES * per, out), VAE_OK);
        free(z);
    } else
    ck_assert_msg(vae_model_sample_cond(m, c, CLASSES * per, out) == VAE_OK, "%s",
                  vae_model_errmsg(m));
    size_t right = 0, per_class[CLASSES] = {0};
    for (size_t i = 0; i < CLASSES * per; i++) {
        int best = -1;
        double bd = DBL_MAX;
        for (int k = 0; k < CLASSES; k++) {
            double d = 0.0;
            for (size_t j = 0; j < D; j++) {
                double t = out[i * D + j] - mean[(size_t)k * D + j];
                d += t * t;
            }
            if (d < bd)
                bd = d, best = k;
        }
        if (best == (int)(i / per))
            right++, per_class[i / per]++;
    }
    printf("%s: %zu of %zu decoder means assigned to their class (per class:", name, right,
           CLASSES * per);
    for (int k = 0; k < CLASSES; k++)
        printf(" %zu", per_class[k]);
    printf(")\n");
    fflush(stdout);
    free(mean);
    free(c);
    free(out);
    return (double)right / (double)(CLASSES * per);
}

START_TEST(test_cvae_class_conditional_samples)
{
    if (!g_train) {
        if (!tu_quick())
            tu_skip("test_cvae_class_conditional_samples",
                    "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    vae_model *cvae = train_k(CLASSES, VAE_PRIOR_STANDARD, CLASSIFY_LATENT, CLASSIFY_EPOCHS);
    vae_model *lp = train_k(CLASSES, VAE_PRIOR_LEARNED, CLASSIFY_LATENT, CLASSIFY_EPOCHS);
    class_accuracy(cvae, "cvae (independent prior), z = prior mean", 1);
    class_accuracy(lp, "cvae (learned prior), z = prior mean", 1);
    double a1 = class_accuracy(cvae, "cvae (independent prior), z ~ p(z|c)", 0);
    double a2 = class_accuracy(lp, "cvae (learned prior), z ~ p(z|c)", 0);
    ck_assert_msg(a1 >= 0.80, "independent prior: accuracy %.3f < 0.80", a1);
    ck_assert_msg(a2 >= 0.80, "learned prior: accuracy %.3f < 0.80", a2);
    vae_model_free(cvae);
    vae_model_free(lp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cvae-mnist");
    TCase *tc = tcase_create("mnist");
    tcase_add_unchecked_fixture(tc, data_setup, data_teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_cvae_elbo_beats_vae);
    tcase_add_test(tc, test_cvae_class_conditional_samples);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
