/* Writes the fuzzers' seed corpora: small valid inputs of every kind the
 * readers accept (fuzz/corpus/<target>/). Run by fuzz/build.sh --corpus;
 * the output is committed, so this only needs rerunning when the formats
 * change. Every file is checked to load before it is kept.
 *
 *   make-corpus <fuzz/corpus directory>
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "libvae/vae.h"
#include "st_models.h"

static const char *root;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "make-corpus: %s: %s\n", path, what);
    exit(1);
}

static const char *path_of(const char *target, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s/%s", root, target, name);
    return buf;
}

static void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die("cannot write", path);
}

static void write_gz(const char *path, const void *p, size_t n)
{
    gzFile g = gzopen(path, "wb9");
    if (!g || gzwrite(g, p, (unsigned)n) != (int)n || gzclose(g) != Z_OK)
        die("cannot write gzip", path);
}

static size_t put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* An IDX file: type, rank, dims, then elements from gen(i). */
static size_t make_idx(unsigned char *buf, int type, int rank, const uint32_t *dims)
{
    size_t k = 0, count = 1;
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = (unsigned char)type;
    buf[k++] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        k += put_be32(buf + k, dims[i]);
        count *= dims[i];
    }
    for (size_t i = 0; i < count; i++) {
        if (type == 0x08) {
            buf[k++] = (unsigned char)((i * 37) % 256);
        } else {
            float v = (float)i * 0.25f - 1.0f;
            uint32_t u;
            memcpy(&u, &v, 4);
            k += put_be32(buf + k, u);
        }
    }
    return k;
}

static void idx_pair(const char *name, int type, int rank, const uint32_t *dims, int labels)
{
    unsigned char buf[4096];
    size_t len = make_idx(buf, type, rank, dims);
    char raw[256], gz[256];
    snprintf(raw, sizeof raw, "%s", path_of("idx", name));
    snprintf(gz, sizeof gz, "%s.gz", raw);
    write_raw(raw, buf, len);
    write_gz(gz, buf, len);
    const char *both[2] = {raw, gz};
    for (int i = 0; i < 2; i++) {
        vae_dataset *ds = NULL;
        vae_error err;
        if (!labels && vae_dataset_load_idx(both[i], NULL, NULL, &ds, &err) != VAE_OK)
            die(err.message, both[i]);
        if (labels && vae_dataset_load_idx(path_of("idx", "u8-2x3x3"), both[i], NULL, &ds,
                                           &err) != VAE_OK)
            die(err.message, both[i]);
        vae_dataset_free(ds);
    }
}

static void csv(const char *name, const char *text, int header, int label)
{
    const char *p = path_of("csv", name);
    write_raw(p, text, strlen(text));
    vae_dataset_options o;
    vae_dataset_options_init(&o);
    o.csv_header = header;
    o.csv_label_column = label;
    vae_dataset *ds = NULL;
    vae_error err;
    if (vae_dataset_load_csv(p, &o, &ds, &err) != VAE_OK)
        die(err.message, p);
    vae_dataset_free(ds);
}

/* A tiny model, optionally with an optimizer that took two steps. */
/* Training settings of the next checkpoint seed (0.2.0 fields); reset after each. */
static int next_posterior = VAE_POST_GAUSSIAN, next_estimator = VAE_EST_PATHWISE,
           next_baseline = VAE_BASELINE_NONE, next_objective = VAE_OBJ_ELBO, next_samples = 1;
/* 0.3.0 fields of the next seed: a conditional model, a KL schedule with free bits. */
static int next_cond_dim = 0, next_prior = VAE_PRIOR_STANDARD, next_schedule = VAE_KL_SCHEDULE_CONSTANT;
static float next_free_bits = 0.0f;

static void ckpt(const char *name, int input_dim, int n_hidden, int hidden, int likelihood,
                 int activation, int opt_type)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.posterior = next_posterior;
    c.estimator = next_estimator;
    c.baseline = next_baseline;
    c.objective = next_objective;
    c.samples = next_samples;
    next_posterior = VAE_POST_GAUSSIAN;
    next_estimator = VAE_EST_PATHWISE;
    next_baseline = VAE_BASELINE_NONE;
    next_objective = VAE_OBJ_ELBO;
    next_samples = 1;
    c.cond_dim = next_cond_dim;
    c.prior = next_prior;
    c.kl_schedule = next_schedule;
    c.kl_warmup_steps = 5;
    c.free_bits = next_free_bits;
    next_cond_dim = 0;
    next_prior = VAE_PRIOR_STANDARD;
    next_schedule = VAE_KL_SCHEDULE_CONSTANT;
    next_free_bits = 0.0f;
    c.input_dim = input_dim;
    c.n_hidden = n_hidden;
    for (int k = 0; k < n_hidden; k++)
        c.hidden[k] = hidden - k;
    c.latent_dim = 2;
    c.likelihood = likelihood;
    c.activation = activation;
    c.seed = 7;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_error err;
    const char *p = path_of("ckpt", name);
    if (vae_model_create(&c, &m, &err) != VAE_OK)
        die(err.message, p);
    if (opt_type >= 0) {
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, opt_type);
        if (vae_optimizer_create(&oc, &o, &err) != VAE_OK)
            die(err.message, p);
        float x[2 * 64], cv[2 * 8] = {0};
        for (int i = 0; i < 2 * input_dim; i++)
            x[i] = (float)(i % 2);
        for (int i = 0; i < 2 && c.cond_dim > 0; i++)
            cv[i * c.cond_dim + i % c.cond_dim] = 1.0f; /* one-hot rows */
        for (int s = 0; s < 2; s++)
            if ((c.cond_dim ? vae_model_train_step_cond(m, o, x, cv, 2, NULL)
                            : vae_model_train_step(m, o, x, 2, NULL)) != VAE_OK)
                die(vae_model_errmsg(m), p);
    }
    if (vae_model_save(m, o, p) != VAE_OK)
        die(vae_model_errmsg(m), p);
    vae_model_free(m);
    vae_optimizer_free(o);
    if (vae_model_load(p, &m, &o, &err) != VAE_OK)
        die(err.message, p);
    vae_model_free(m);
    vae_optimizer_free(o);
}

/* A tiny VQ-VAE (M = 2 latents of D = 2, K = 4 codes) after two Adam steps. */
static void vq_ckpt(const char *name, int ema)
{
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    c.input_dim = 4;
    c.hidden[0] = 3;
    c.n_latents = 2;
    c.code_dim = 2;
    c.codebook_size = 4;
    if (!ema)
        c.codebook_update = VAE_VQ_CODEBOOK_LOSS;
    vae_vqvae *m = NULL;
    vae_optimizer *o = NULL;
    vae_error err;
    const char *p = path_of("ckpt", name);
    if (vae_vqvae_create(&c, &m, &err) != VAE_OK)
        die(err.message, p);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    if (vae_optimizer_create(&oc, &o, &err) != VAE_OK)
        die(err.message, p);
    const float x[8] = {0, 1, 0, 1, 1, 0, 1, 0};
    for (int s = 0; s < 2; s++)
        if (vae_vqvae_train_step(m, o, x, 2, NULL) != VAE_OK)
            die(vae_vqvae_errmsg(m), p);
    if (vae_vqvae_save(m, o, p) != VAE_OK)
        die(vae_vqvae_errmsg(m), p);
    vae_vqvae_free(m);
    vae_optimizer_free(o);
    if (vae_vqvae_load(p, &m, &o, &err) != VAE_OK)
        die(err.message, p);
    vae_vqvae_free(m);
    vae_optimizer_free(o);
}

/* ---- safetensors seeds: the two models of fuzz_safetensors.c --------------- */

/* float -> F16 bits by truncating the mantissa (values below the half's
 * normal range become 0): any half is a valid seed value. */
static uint16_t half_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = u >> 16 & 0x8000u, e = u >> 23 & 0xffu;
    if (e < 113 || e > 142)
        return (uint16_t)sign;
    return (uint16_t)(sign | (e - 112u) << 10 | (u >> 13 & 0x3ffu));
}

/* The model's parameters as a safetensors file of `dtype`, built by hand
 * (F32 comes from vae_model_export_safetensors itself). */
static void st_seed(const char *name, int conv, const char *dtype)
{
    vae_model *m = st_model(conv);
    const char *p = path_of("safetensors", name);
    if (!m)
        die("cannot make the model", p);
    if (!strcmp(dtype, "F32")) {
        if (vae_model_export_safetensors(m, p) != VAE_OK)
            die(vae_model_errmsg(m), p);
    } else {
        size_t nt = vae_model_param_tensor_count(m), np = vae_model_param_count(m);
        unsigned w = !strcmp(dtype, "F64") ? 8 : 2;
        float *v = malloc(np * sizeof *v);
        char *h = malloc(64 + nt * 160);
        unsigned char *b = malloc(8 + 64 + nt * 160 + w * np);
        if (!v || !h || !b || vae_model_get_params(m, v, np) != VAE_OK)
            die("out of memory", p);
        size_t len = (size_t)sprintf(h, "{\"__metadata__\":{\"format\":\"seed\"}");
        for (size_t i = 0; i < nt; i++) {
            const char *tn;
            size_t r, c, off;
            vae_model_param_tensor_info(m, i, &tn, &r, &c, &off);
            len += (size_t)sprintf(h + len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],"
                                   "\"data_offsets\":[%zu,%zu]}", tn, dtype, r, c, w * off,
                                   w * (off + r * c));
        }
        len += (size_t)sprintf(h + len, "}");
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)((uint64_t)len >> (8 * k));
        memcpy(b + 8, h, len);
        for (size_t i = 0; i < np; i++) {
            uint64_t u;
            if (w == 8) {
                double d = v[i];
                memcpy(&u, &d, 8);
            } else if (!strcmp(dtype, "BF16")) {
                uint32_t f;
                memcpy(&f, &v[i], 4);
                u = f >> 16;
            } else
                u = half_bits(v[i]);
            for (unsigned k = 0; k < w; k++)
                b[8 + len + w * i + k] = (unsigned char)(u >> (8 * k));
        }
        write_raw(p, b, 8 + len + w * np);
        free(v);
        free(h);
        free(b);
    }
    if (vae_model_import_safetensors(m, p) != VAE_OK) /* every seed loads */
        die(vae_model_errmsg(m), p);
    vae_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-corpus <fuzz/corpus directory>\n");
        return 2;
    }
    root = argv[1];

    const uint32_t d233[3] = {2, 3, 3}, d34[2] = {3, 4}, d1[2] = {1, 1}, d2221[4] = {2, 2, 2, 1},
                   l2[1] = {2};
    idx_pair("u8-2x3x3", 0x08, 3, d233, 0);
    idx_pair("f32-3x4", 0x0D, 2, d34, 0);
    idx_pair("u8-1x1", 0x08, 2, d1, 0);
    idx_pair("f32-2x2x2x1", 0x0D, 4, d2221, 0);
    idx_pair("labels-u8-2", 0x08, 1, l2, 1);

    csv("plain.csv", "0,0.5,1\n0.25,0.75,0.125\n", 0, -1);
    csv("header-label.csv", "label,a,b,c\n3,0.1,0.2,0.3\n7,1e-3,-2.5E+1,4\n", 1, 0);
    csv("crlf-bom-blank.csv", "\xEF\xBB\xBF" "1, 2 ,3\r\n\r\n  \t\r\n4,5,6\r\n", 0, -1);
    csv("no-final-newline.csv", "0.5\n-0.5\n1.5", 0, -1);
    csv("numpy.csv", "0.000000000000000000e+00,1.000000000000000000e+00,2.0e+00\n"
                     "3.000000000000000000e+00,4.000000000000000000e+00,5.0e+00\n", 0, 2);
    csv("hex-inf-words.csv", "0x1p-3,1e38,-1e-38\n", 0, -1);

    ckpt("bernoulli-relu.ckpt", 6, 1, 4, VAE_LIK_BERNOULLI, VAE_ACT_RELU, -1);
    ckpt("bernoulli-adam.ckpt", 6, 1, 4, VAE_LIK_BERNOULLI, VAE_ACT_TANH, VAE_OPT_ADAM);
    ckpt("gauss-learned-momentum.ckpt", 5, 2, 4, VAE_LIK_GAUSSIAN_LEARNED, VAE_ACT_LEAKY_RELU,
         VAE_OPT_MOMENTUM);
    ckpt("gauss-fixed-adagrad-nohidden.ckpt", 3, 0, 1, VAE_LIK_GAUSSIAN_FIXED, VAE_ACT_SOFTPLUS,
         VAE_OPT_ADAGRAD);
    ckpt("sgd.ckpt", 4, 1, 3, VAE_LIK_BERNOULLI, VAE_ACT_SIGMOID, VAE_OPT_SGD);
    next_estimator = VAE_EST_SCORE;
    next_baseline = VAE_BASELINE_EMA;
    next_samples = 2;
    ckpt("score-ema-adam.ckpt", 5, 1, 3, VAE_LIK_BERNOULLI, VAE_ACT_TANH, VAE_OPT_ADAM);
    next_posterior = VAE_POST_LAPLACE;
    next_objective = VAE_OBJ_IWAE;
    next_samples = 3;
    ckpt("laplace-iwae.ckpt", 4, 1, 3, VAE_LIK_GAUSSIAN_FIXED, VAE_ACT_RELU, VAE_OPT_SGD);
    next_cond_dim = 2;
    next_prior = VAE_PRIOR_LEARNED;
    ckpt("cvae-learned-prior-adam.ckpt", 4, 1, 3, VAE_LIK_BERNOULLI, VAE_ACT_RELU, VAE_OPT_ADAM);
    next_schedule = VAE_KL_SCHEDULE_LINEAR;
    next_free_bits = 0.25f;
    ckpt("warmup-freebits-adam.ckpt", 4, 1, 3, VAE_LIK_BERNOULLI, VAE_ACT_RELU, VAE_OPT_ADAM);
    vq_ckpt("vqvae-ema-adam.ckpt", 1);
    vq_ckpt("vqvae-loss-adam.ckpt", 0);

    const char *dtypes[] = {"F32", "F16", "BF16", "F64"};
    for (int conv = 0; conv < 2; conv++)
        for (int t = 0; t < 4; t++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%s.safetensors", conv ? "conv" : "mlp", dtypes[t]);
            st_seed(name, conv, dtypes[t]);
        }
    return 0;
}
