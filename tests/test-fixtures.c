/* 0.3.0 checkpoint fixtures (tests/fixtures/0.3.0): every later release must
 * load the checkpoints 0.3.0 wrote and compute the same figures from them.
 *
 * Each fixture is loaded with its optimizer; the quantities of
 * fixtures/0.3.0/fixture_calc.h (per-example ELBO, encoder means and
 * log-variances, decode of fixed z; for the VQ-VAE codes, reconstruction
 * and decode of fixed codes; then one more training step with the loaded
 * optimizer and its loss) are recomputed and compared with expected.txt,
 * which the 0.3.0 library wrote (make_fixtures.c).
 *
 * Tolerance: integers (codes, step counts) must be equal; floats within
 * 1e-5 relative (plus 1e-6 absolute for values near zero). The figures are
 * sums over dot products computed by the BLAS: the same build on the same
 * CPU reproduces them bit for bit, but another OpenBLAS kernel (AVX-512 vs
 * AVX2, reference CBLAS) may round the last bits differently. The number of
 * values that matched bit for bit is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "testutil.h"
#include "fixtures/0.3.0/fixture_calc.h"

#define REL_TOL 1e-5
#define ABS_TOL 1e-6
#define MAX_LINES 4096

typedef struct {
    char fixture[64], what[32];
    size_t index;
    double value;
} fx_line;

typedef struct {
    fx_line *want;
    size_t n_want, pos, exact, checked;
    double worst;
    char fail[512];
} fx_check;

static const char *fixture_dir(void)
{
    const char *d = getenv("VAE_FIXTURE_DIR");
    return d ? d : "tests/fixtures";
}

static size_t read_expected(fx_line *out, size_t cap)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/0.3.0/expected.txt", fixture_dir());
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (set VAE_FIXTURE_DIR)", path);
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        ck_assert_uint_lt(n, cap);
        fx_line *l = &out[n];
        ck_assert_msg(sscanf(line, "%63s %31s %zu %lg", l->fixture, l->what, &l->index,
                             &l->value) == 4,
                      "expected.txt: bad line '%s'", line);
        n++;
    }
    fclose(f);
    return n;
}

static int is_integer_quantity(const char *what)
{
    return !strcmp(what, "code") || !strcmp(what, "steps");
}

/* The emit callback: the next value computed must be the next line of the file. */
static void check_value(void *user, const char *fixture, const char *what, size_t index,
                        double got)
{
    fx_check *c = user;
    if (c->fail[0])
        return;
    /* Skip the lines of other fixtures. */
    while (c->pos < c->n_want && strcmp(c->want[c->pos].fixture, fixture) != 0)
        c->pos++;
    if (c->pos >= c->n_want) {
        snprintf(c->fail, sizeof c->fail, "%s %s %zu: not in expected.txt", fixture, what,
                 index);
        return;
    }
    const fx_line *w = &c->want[c->pos++];
    if (strcmp(w->what, what) != 0 || w->index != index) {
        snprintf(c->fail, sizeof c->fail, "%s: computed %s %zu where expected.txt has %s %zu",
                 fixture, what, index, w->what, w->index);
        return;
    }
    c->checked++;
    /* The file holds %.9g: a float printed so reads back exactly. */
    if ((float)got == (float)w->value)
        c->exact++;
    double diff = fabs(got - w->value);
    double rel = diff / (fabs(w->value) > 1e-30 ? fabs(w->value) : 1e-30);
    if (diff > ABS_TOL && rel > c->worst)
        c->worst = rel;
    int ok = is_integer_quantity(what) ? got == w->value
                                       : diff <= REL_TOL * fabs(w->value) + ABS_TOL;
    if (!ok)
        snprintf(c->fail, sizeof c->fail, "%s %s %zu = %.9g, 0.3.0 computed %.9g", fixture, what,
                 index, got, w->value);
}

static const char *ckpt_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/0.3.0/checkpoints/%s.ckpt", fixture_dir(), name);
    return buf;
}

static void run_model_fixture(const char *name, int cond, int likelihood, int n_hidden)
{
    static fx_line want[MAX_LINES];
    fx_check c;
    memset(&c, 0, sizeof c);
    c.want = want;
    c.n_want = read_expected(want, MAX_LINES);
    char path[4096];
    vae_model *m = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    int rc = vae_model_load(ckpt_path(path, sizeof path, name), &m, &opt, &err);
    ck_assert_msg(rc == VAE_OK, "load %s: %s", path, err.message);
    ck_assert_msg(opt != NULL, "%s: the optimizer was not restored", name);
    ck_assert_uint_eq(vae_optimizer_steps(opt), 5);

    vae_model_config cfg;
    vae_model_config_init(&cfg);
    ck_assert_int_eq(vae_model_get_config(m, &cfg), VAE_OK);
    ck_assert_int_eq(cfg.input_dim, FX_DIM);
    ck_assert_int_eq(cfg.latent_dim, FX_LATENT);
    ck_assert_int_eq(cfg.n_hidden, n_hidden);
    ck_assert_int_eq(cfg.likelihood, likelihood);
    ck_assert_int_eq(cfg.cond_dim, cond ? FX_COND : 0);
    if (cond)
        ck_assert_int_eq(cfg.prior, VAE_PRIOR_LEARNED);

    rc = fx_model_values(m, opt, cond, name, check_value, &c);
    ck_assert_msg(rc == VAE_OK, "%s: %s", name, vae_model_errmsg(m));
    ck_assert_msg(!c.fail[0], "%s", c.fail);
    ck_assert_uint_gt(c.checked, 40);
    printf("%s: %zu values, %zu bit-exact, worst relative difference %.3g\n", name, c.checked,
           c.exact, c.worst);
    vae_model_free(m);
    vae_optimizer_free(opt);
}

START_TEST(test_vae_bernoulli)
{
    run_model_fixture("vae_bernoulli", 0, VAE_LIK_BERNOULLI, 1);
}
END_TEST

START_TEST(test_vae_gauss_learned)
{
    run_model_fixture("vae_gauss_learned", 0, VAE_LIK_GAUSSIAN_LEARNED, 2);
}
END_TEST

START_TEST(test_cvae_learned_prior)
{
    run_model_fixture("cvae_learned_prior", 1, VAE_LIK_BERNOULLI, 1);
}
END_TEST

START_TEST(test_vqvae)
{
    static fx_line want[MAX_LINES];
    fx_check c;
    memset(&c, 0, sizeof c);
    c.want = want;
    c.n_want = read_expected(want, MAX_LINES);
    char path[4096];
    vae_vqvae *vq = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    int rc = vae_vqvae_load(ckpt_path(path, sizeof path, "vqvae"), &vq, &opt, &err);
    ck_assert_msg(rc == VAE_OK, "load %s: %s", path, err.message);
    ck_assert_msg(opt != NULL, "vqvae: the optimizer was not restored");
    vae_vqvae_config cfg;
    vae_vqvae_config_init(&cfg);
    ck_assert_int_eq(vae_vqvae_get_config(vq, &cfg), VAE_OK);
    ck_assert_int_eq(cfg.codebook_size, 5);
    ck_assert_int_eq(cfg.n_latents, FX_VQ_M);
    float prior[FX_VQ_M * 5];
    ck_assert_int_eq(vae_vqvae_get_prior(vq, prior, FX_VQ_M * 5), VAE_OK);
    rc = fx_vqvae_values(vq, opt, 5, "vqvae", check_value, &c);
    ck_assert_msg(rc == VAE_OK, "vqvae: %s", vae_vqvae_errmsg(vq));
    ck_assert_msg(!c.fail[0], "%s", c.fail);
    ck_assert_uint_gt(c.checked, 40);
    printf("vqvae: %zu values, %zu bit-exact, worst relative difference %.3g\n", c.checked,
           c.exact, c.worst);
    vae_vqvae_free(vq);
    vae_optimizer_free(opt);
}
END_TEST

static Suite *fixtures_suite(void)
{
    Suite *s = suite_create("fixtures-0.3.0");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_vae_bernoulli);
    tcase_add_test(tc, test_vae_gauss_learned);
    tcase_add_test(tc, test_cvae_learned_prior);
    tcase_add_test(tc, test_vqvae);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(fixtures_suite());
}
