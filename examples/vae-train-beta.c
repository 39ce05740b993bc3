/* vae-train's beta-VAE and collapse options; see vae-train-beta.h. */
#include "vae-train-beta.h"

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_BETA = 0x100, OPT_WARMUP, OPT_CYCLICAL, OPT_CAPACITY, OPT_FREE_BITS, OPT_AGGRESSIVE,
    OPT_SIGMA, OPT_DIAG, OPT_SAMPLES_PNG, OPT_MANIFOLD_PNG
};

const struct option beta_longopts[] = {
    {"beta", 1, 0, OPT_BETA},           {"warmup", 1, 0, OPT_WARMUP},
    {"cyclical", 1, 0, OPT_CYCLICAL},   {"capacity", 1, 0, OPT_CAPACITY},
    {"free-bits", 1, 0, OPT_FREE_BITS}, {"aggressive", 0, 0, OPT_AGGRESSIVE},
    {"gaussian-sigma", 1, 0, OPT_SIGMA}, {"diagnostics", 0, 0, OPT_DIAG},
    {"samples-png", 1, 0, OPT_SAMPLES_PNG}, {"manifold-png", 1, 0, OPT_MANIFOLD_PNG},
    {0, 0, 0, 0}};

void beta_usage(FILE *to)
{
    fprintf(to,
            "beta-VAE and posterior collapse (docs/beta-vae.md, docs/posterior-collapse.md):\n"
            "  --beta B           KL weight beta >= 0 (default 1); prints 'beta B beta_norm B*K/n'\n"
            "  --warmup N         linear KL warm-up from 0 to beta over N steps\n"
            "  --cyclical P[:R[:M]] cyclical KL schedule: cycle of P steps rising over the\n"
            "                     fraction R (default 0.5), M cycles (default 0: forever)\n"
            "  --capacity C_max:N:gamma  objective -rec + gamma |KL - C|, C rising to C_max over N steps\n"
            "  --free-bits L      free bits: KL floor of L nats per latent dimension\n"
            "  --aggressive       aggressive encoder training (He et al. 2019) until the\n"
            "                     test-set MI stops increasing\n"
            "  --gaussian-sigma S fixed sigma of the Gaussian likelihood (default 1)\n"
            "  --diagnostics      after training print\n"
            "                     'diagnostics active_units <n> mi <nats> kl_per_dim <list>'\n"
            "                     (also printed whenever an option of this group is used)\n"
            "  --samples-png PATH write a grid of 100 prior samples (square images);\n"
            "                     conditional models: one row of 10 per class\n"
            "  --manifold-png PATH 2-D latent only: decoder means over a 20x20 grid of z\n");
}

static int parse_float(const char *s, float lo, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo)
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Split "a:b:c" into at most 3 fields; returns the count or -1. */
static int split3(const char *arg, char f[3][64])
{
    int n = 0;
    const char *p = arg;
    while (n < 3) {
        const char *q = strchr(p, ':');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0 || len >= 64)
            return -1;
        memcpy(f[n], p, len);
        f[n][len] = '\0';
        n++;
        if (!q)
            return n;
        p = q + 1;
    }
    return -1;
}

int beta_parse(int c, const char *arg, vae_model_config *cfg, beta_options *b)
{
    char f[3][64];
    int n;
    switch (c) {
    case OPT_BETA:
        b->used = b->beta_given = 1;
        return parse_float(arg, 0.0f, &cfg->beta) ? -1 : 1;
    case OPT_WARMUP:
        b->used = 1;
        cfg->kl_schedule = VAE_KL_SCHEDULE_LINEAR;
        return parse_int(arg, 1, 0x7fffffff, &cfg->kl_warmup_steps) ? -1 : 1;
    case OPT_CYCLICAL:
        b->used = 1;
        cfg->kl_schedule = VAE_KL_SCHEDULE_CYCLICAL;
        if ((n = split3(arg, f)) < 1 || parse_int(f[0], 1, 0x7fffffff, &cfg->kl_cycle_steps))
            return -1;
        if (n > 1 && (parse_float(f[1], 0.0f, &cfg->kl_cycle_ratio) || !(cfg->kl_cycle_ratio > 0.0f) ||
                      cfg->kl_cycle_ratio > 1.0f))
            return -1;
        return n > 2 && parse_int(f[2], 0, 0x7fffffff, &cfg->kl_cycles) ? -1 : 1;
    case OPT_CAPACITY:
        b->used = 1;
        if (split3(arg, f) != 3 || parse_float(f[0], 0.0f, &cfg->capacity_max) ||
            parse_int(f[1], 1, 0x7fffffff, &cfg->capacity_steps) ||
            parse_float(f[2], 0.0f, &cfg->capacity_gamma) || !(cfg->capacity_gamma > 0.0f))
            return -1;
        return 1;
    case OPT_FREE_BITS:
        b->used = 1;
        return parse_float(arg, 0.0f, &cfg->free_bits) ? -1 : 1;
    case OPT_AGGRESSIVE:
        b->used = 1;
        cfg->aggressive = 1;
        return 1;
    case OPT_SIGMA:
        return parse_float(arg, 0.0f, &cfg->gaussian_sigma) || !(cfg->gaussian_sigma > 0.0f) ? -1 : 1;
    case OPT_DIAG:
        b->used = 1;
        return 1;
    case OPT_SAMPLES_PNG:
        b->samples_png = arg;
        return 1;
    case OPT_MANIFOLD_PNG:
        b->manifold_png = arg;
        return 1;
    default:
        return 0;
    }
}

int beta_after_epoch(vae_model *m, const vae_dataset *test)
{
    vae_model_config c = {.struct_size = sizeof c};
    vae_model_get_config(m, &c);
    if (!c.aggressive || !test || vae_dataset_count(test) < 2)
        return 0;
    vae_training_state s = {.struct_size = sizeof s};
    vae_model_training_state(m, &s);
    if (!s.aggressive_active)
        return 0;
    int active;
    double mi;
    const float *x = vae_dataset_data(test); /* NULL only when out of memory */
    if (!x) {
        fprintf(stderr, "vae-train: aggressive check: %s\n", vae_dataset_errmsg(test));
        return -1;
    }
    int rc = c.cond_dim > 0 ? vae_model_aggressive_update_cond(m, x, vae_dataset_conditions(test),
                                                               vae_dataset_count(test), &mi,
                                                               &active)
                            : vae_model_aggressive_update(m, x, vae_dataset_count(test), &mi,
                                                          &active);
    if (rc != VAE_OK) {
        fprintf(stderr, "vae-train: aggressive check: %s\n", vae_model_errmsg(m));
        return -1;
    }
    if (!active)
        fprintf(stderr, "vae-train: held-out MI %.4f stopped increasing: aggressive training ends\n", mi);
    return 0;
}

/* Side of a square image of d pixels, or 0. */
static size_t square_side(size_t d)
{
    size_t s = (size_t)(sqrt((double)d) + 0.5);
    return s * s == d ? s : 0;
}

/* 100 prior samples in a 10 x 10 grid; for a conditional model with C
 * classes (one-hot conditions), one row of 10 samples per class instead. */
static int write_samples(vae_model *m, size_t d, int cond_dim, const char *path)
{
    size_t side = square_side(d);
    if (!side) {
        fprintf(stderr, "vae-train: --samples-png: %zu features are not a square image\n", d);
        return -1;
    }
    size_t n = cond_dim > 0 ? 10 * (size_t)cond_dim : 100;
    float *x = malloc(n * d * sizeof *x);
    float *c = cond_dim > 0 ? calloc(n * (size_t)cond_dim, sizeof *c) : NULL;
    vae_error err;
    int rc = VAE_ERR_NOMEM;
    if (x && cond_dim > 0 && c) {
        for (size_t i = 0; i < n; i++)
            c[i * (size_t)cond_dim + i / 10] = 1.0f; /* row k: class k */
        rc = vae_model_sample_cond(m, c, n, x);
    } else if (x && cond_dim == 0)
        rc = vae_model_sample(m, n, x);
    if (rc == VAE_OK)
        rc = vae_png_write_grid(path, x, n, side, side, 10, &err);
    else
        snprintf(err.message, sizeof err.message, "%s",
                 rc == VAE_ERR_NOMEM ? "out of memory" : vae_model_errmsg(m));
    free(x);
    free(c);
    if (rc != VAE_OK)
        fprintf(stderr, "vae-train: --samples-png: %s\n", err.message);
    else
        cli_wrote(path);
    return rc == VAE_OK ? 0 : -1;
}

/* Kingma and Welling's figure: decoder means at z on a G x G grid of the
 * prior's quantiles (inverse normal CDF of evenly spaced probabilities). */
static int write_manifold(vae_model *m, size_t d, int K, const char *path)
{
    enum { G = 20 };
    size_t side = square_side(d);
    if (K != 2 || !side) {
        fprintf(stderr, "vae-train: --manifold-png needs --latent 2 and square images\n");
        return -1;
    }
    float z[G * G * 2];
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            /* probit of (k + 0.5) / G by bisection on erfc (no inverse in C99) */
            double v[2];
            int k2[2] = {j, G - 1 - i};
            for (int a = 0; a < 2; a++) {
                double p = (k2[a] + 0.5) / G, lo = -8, hi = 8;
                for (int it = 0; it < 60; it++) {
                    double mid = 0.5 * (lo + hi);
                    if (0.5 * erfc(-mid / sqrt(2.0)) < p)
                        lo = mid;
                    else
                        hi = mid;
                }
                v[a] = 0.5 * (lo + hi);
            }
            z[(i * G + j) * 2] = (float)v[0];
            z[(i * G + j) * 2 + 1] = (float)v[1];
        }
    float *x = malloc((size_t)G * G * d * sizeof *x);
    vae_error err;
    int rc = x ? vae_model_decode(m, z, G * G, x) : VAE_ERR_NOMEM;
    if (rc == VAE_OK)
        rc = vae_png_write_grid(path, x, G * G, side, side, G, &err);
    else
        snprintf(err.message, sizeof err.message, "%s", vae_model_errmsg(m));
    free(x);
    if (rc != VAE_OK)
        fprintf(stderr, "vae-train: --manifold-png: %s\n", err.message);
    else
        cli_wrote(path);
    return rc == VAE_OK ? 0 : -1;
}

int beta_check_pictures(const vae_model *m, const beta_options *b)
{
    vae_model_config c = {.struct_size = sizeof c};
    if (!b->samples_png && !b->manifold_png && !b->used)
        return 0;
    if (vae_model_get_config(m, &c) != VAE_OK)
        return 0; /* the writers will report it */
    if (c.family == VAE_FAMILY_AE && (b->used || b->samples_png)) {
        fprintf(stderr, "vae-train: %s: an autoencoder (--model ae) has no posterior or prior; "
                        "use a VAE\n",
                b->samples_png ? "--samples-png" : "the beta-VAE options and --diagnostics");
        return -1;
    }
    size_t d = (size_t)c.input_dim;
    if (b->samples_png && !square_side(d)) {
        fprintf(stderr, "vae-train: --samples-png: %zu features are not a square image\n", d);
        return -1;
    }
    if (b->manifold_png && c.cond_dim > 0) {
        fprintf(stderr, "vae-train: --manifold-png: the model is conditional; its decoder "
                        "needs a class for every picture (cvae-digits draws them by class)\n");
        return -1;
    }
    if (b->manifold_png && (c.latent_dim != 2 || !square_side(d))) {
        fprintf(stderr, "vae-train: --manifold-png needs --latent 2 and square images "
                        "(the model has latent %d and %zu features)\n", c.latent_dim, d);
        return -1;
    }
    return 0;
}

/* 'layers kl_layers <nats,...> active_units_layers <n,...>' (vae_model_layer_stats on
 * up to 5000 test examples; for a hierarchical model it replaces the diagnostics line). */
static int print_layer_line(vae_model *m, const vae_model_config *c, const vae_dataset *train,
                            const vae_dataset *test)
{
    if (c->posterior != VAE_POST_GAUSSIAN)
        return 0;
    const vae_dataset *ds = test && vae_dataset_count(test) >= 2 ? test : train;
    size_t n = vae_dataset_count(ds);
    if (n > 5000)
        n = 5000;
    vae_layer_stats ls[VAE_MAX_LATENT_LAYERS];
    ls[0].struct_size = sizeof ls[0];
    const float *x = vae_dataset_data(ds);
    if (!x || vae_model_layer_stats(m, x, n, ls, VAE_MAX_LATENT_LAYERS) != VAE_OK) {
        fprintf(stderr, "vae-train: layer statistics: %s\n",
                !x ? "out of memory" : vae_model_errmsg(m));
        return -1;
    }
    int L = c->latent_layers;
    printf("layers %d kl_layers ", L);
    for (int l = 0; l < L; l++)
        printf("%s%.4f", l ? "," : "", ls[l].kl);
    printf(" active_units_layers ");
    for (int l = 0; l < L; l++)
        printf("%s%d", l ? "," : "", ls[l].active_units);
    printf("\n");
    return 0;
}

int beta_after_training(vae_model *m, const vae_dataset *train, const vae_dataset *test,
                        const beta_options *b)
{
    vae_model_config c = {.struct_size = sizeof c};
    vae_model_get_config(m, &c);
    if (b->beta_given) {
        vae_training_state s = {.struct_size = sizeof s};
        vae_model_training_state(m, &s);
        printf("beta %g beta_norm %.6g\n", s.beta, s.beta_norm);
    }
    if (b->used && c.cond_dim == 0 && print_layer_line(m, &c, train, test) != 0)
        return -1;
    if (b->used && c.latent_layers <= 1) {
        const vae_dataset *ds = test && vae_dataset_count(test) >= 2 ? test : train;
        size_t n = vae_dataset_count(ds);
        if (n > 5000)
            n = 5000; /* the MI estimate costs O(n^2) */
        vae_diagnostics dg = {.struct_size = sizeof dg};
        float *kl = malloc((size_t)c.latent_dim * sizeof *kl);
        const float *x = vae_dataset_data(ds); /* NULL only when out of memory */
        /* a conditional model: q(z|x,c) and the KL to p(z|c), c the rows' conditions */
        const float *cond = c.cond_dim > 0 ? vae_dataset_conditions(ds) : NULL;
        int rc = !kl || !x ? VAE_ERR_NOMEM
                 : c.cond_dim > 0 ? vae_model_diagnostics_cond(m, x, cond, n, &dg, kl, NULL)
                                  : vae_model_diagnostics(m, x, n, &dg, kl, NULL);
        if (rc != VAE_OK) {
            fprintf(stderr, "vae-train: diagnostics: %s\n",
                    !kl || !x ? "out of memory" : vae_model_errmsg(m));
            free(kl);
            return -1;
        }
        printf("diagnostics active_units %d mi %.4f kl_per_dim ", dg.active_units, dg.mi);
        for (int k = 0; k < c.latent_dim; k++)
            printf("%s%.4f", k ? "," : "", (double)kl[k]);
        printf("\n");
        free(kl);
    }
    size_t d = (size_t)c.input_dim;
    if (b->samples_png && write_samples(m, d, c.cond_dim, b->samples_png) != 0)
        return -1;
    if (b->manifold_png && write_manifold(m, d, c.latent_dim, b->manifold_png) != 0)
        return -1;
    return 0;
}
