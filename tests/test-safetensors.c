/* Parameters as .safetensors files (src/io/safetensors.c, src/api/weights_api.c):
 * bit-exact round trips (MLP, convolutional, VQ-VAE), the pinned byte layout,
 * F16, BF16 and F64 files converted (every 16-bit pattern against the
 * formats' definitions, F64 rounded to nearest), and every refusal:
 * wrong dtype, shape, layout (transposed), missing, unknown and repeated
 * tensors, bad offsets, NaN values, FIFOs and directories. Every failing
 * import must leave the parameters exactly as they were. */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libvae/vae.h"
#include "models/model.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* An MLP VAE input-hidden-latent. */
static vae_model *mlp_sized(int input, int hidden, int latent, uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = input;
    c.latent_dim = latent;
    c.n_hidden = 1;
    c.hidden[0] = hidden;
    c.seed = seed;
    vae_model *m = NULL;
    vae_error e;
    ck_assert_msg(vae_model_create(&c, &m, &e) == VAE_OK, "%s", e.message);
    return m;
}

static vae_model *mlp_model(uint64_t seed) { return mlp_sized(12, 8, 3, seed); }

static vae_model *conv_model(uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 64;
    c.input_shape[0] = 1, c.input_shape[1] = 8, c.input_shape[2] = 8;
    c.latent_dim = 2;
    c.encoder = "conv2d(3,3,2,1) relu flatten dense(10) layernorm tanh";
    c.decoder = "dense(32) relu reshape(2,4,4) convT2d(1,4,2,1)";
    c.seed = seed;
    vae_model *m = NULL;
    vae_error e;
    ck_assert_msg(vae_model_create(&c, &m, &e) == VAE_OK, "%s", e.message);
    return m;
}

static float *params_of(const vae_model *m)
{
    size_t n = vae_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(vae_model_get_params(m, p, n), VAE_OK);
    return p;
}

/* Add 0.5 to every parameter; returns the perturbed copy (caller frees). */
static float *perturb(vae_model *m)
{
    size_t n = vae_model_param_count(m);
    float *p = params_of(m);
    for (size_t i = 0; i < n; i++)
        p[i] += 0.5f;
    ck_assert_int_eq(vae_model_set_params(m, p, n), VAE_OK);
    return p;
}

static void assert_params_equal(const vae_model *m, const float *want)
{
    float *got = params_of(m);
    ck_assert_msg(memcmp(got, want, vae_model_param_count(m) * sizeof *got) == 0,
                  "parameters differ");
    free(got);
}

static const char *tmp(const char *name)
{
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    return tu_tmp_path(buf[k], sizeof buf[k], name);
}

/* A safetensors file: the 8-byte length, the header h[0..len), `gap` zero
 * bytes, np values of w bytes each (little-endian, from bits[i]) and
 * `trailing` zero bytes. */
static void write_st_file(const char *path, const char *h, size_t len, size_t gap,
                          const uint64_t *bits, unsigned w, size_t np, size_t trailing)
{
    size_t total = 8 + len + gap + w * np + trailing;
    unsigned char *b = calloc(1, total);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(b + 8, h, len);
    for (size_t i = 0; i < np; i++)
        for (unsigned k = 0; k < w; k++)
            b[8 + len + gap + w * i + k] = (unsigned char)(bits[i] >> (8 * k));
    ck_assert_int_eq(tu_write_file(path, b, total), 0);
    free(b);
}

/* How to damage the file make_file writes (the model's tensors otherwise). */
typedef struct damage {
    int skip;              /* tensor index left out of the header, or -1 */
    int dtype_of;          /* tensor whose dtype is dtype, or -1 */
    const char *dtype;
    int transpose;         /* tensor whose shape is written [cols, rows], or -1 */
    int four_d;            /* tensor written as [rows, cols, 1, 1], or -1 */
    int dup;               /* tensor listed twice, or -1 */
    const char *extra;     /* an additional entry's name, or NULL */
    int gap;               /* 1: the first tensor starts at byte 4 (a gap) */
    int nan_at;            /* flat index of a NaN in the data, or -1 */
    size_t trailing;       /* bytes appended after the data */
} damage;

static damage no_damage(void)
{
    damage d = {-1, -1, "F32", -1, -1, -1, NULL, 0, -1, 0};
    return d;
}

/* A safetensors file of m's parameters built by hand (not by the library). */
static void make_file(const vae_model *m, const char *path, damage d)
{
    size_t nt = vae_model_param_tensor_count(m), np = vae_model_param_count(m);
    float *p = params_of(m);
    if (d.nan_at >= 0)
        p[d.nan_at] = NAN;
    size_t cap = 64 + nt * 256, len = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"test\"}");
    size_t shift = d.gap ? 4 : 0;
    for (size_t i = 0; i < nt; i++) {
        const char *name;
        size_t r, c, off;
        vae_model_param_tensor_info(m, i, &name, &r, &c, &off);
        if ((int)i == d.skip)
            continue;
        for (int rep = 0; rep < ((int)i == d.dup ? 2 : 1); rep++) {
            char shape[64];
            if ((int)i == d.transpose)
                snprintf(shape, sizeof shape, "[%zu,%zu]", c, r);
            else if ((int)i == d.four_d)
                snprintf(shape, sizeof shape, "[%zu,%zu,1,1]", r, c);
            else
                snprintf(shape, sizeof shape, "[%zu, %zu]", r, c);
            len += (size_t)snprintf(h + len, cap - len,
                                    ",\n \"%s\": {\"dtype\": \"%s\", \"shape\": %s, \"data_offsets\": [%zu,%zu]}",
                                    name, (int)i == d.dtype_of ? d.dtype : "F32", shape,
                                    shift + 4 * off, shift + 4 * (off + r * c));
        }
    }
    if (d.extra)
        len += (size_t)snprintf(h + len, cap - len,
                                ",\"%s\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", d.extra);
    len += (size_t)snprintf(h + len, cap - len, "}  ");
    ck_assert_uint_lt(len, cap);
    uint64_t *bits = malloc(np * sizeof *bits);
    ck_assert_ptr_nonnull(bits);
    for (size_t i = 0; i < np; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        bits[i] = u;
    }
    write_st_file(path, h, len, shift, bits, 4, np, d.trailing);
    free(bits);
    free(h);
    free(p);
}

/* Import path into m expecting status, with the message containing `needle`
 * (NULL: any); the parameters must not change. */
static void expect_import_fails(vae_model *m, const char *path, int status, const char *needle)
{
    float *before = params_of(m);
    int st = vae_model_import_safetensors(m, path);
    const char *msg = vae_model_errmsg(m);
    ck_assert_msg(st == status, "%s: status %d (%s), expected %d", path, st, msg, status);
    ck_assert_msg(msg[0] != '\0', "no message");
    if (needle)
        ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    assert_params_equal(m, before);
    free(before);
}

/* ---- round trips ----------------------------------------------------------------- */

static void round_trip(vae_model *m, const char *name)
{
    const char *path = tmp(name);
    float *orig = params_of(m);
    ck_assert_msg(vae_model_export_safetensors(m, path) == VAE_OK, "%s", vae_model_errmsg(m));
    float *changed = perturb(m);
    ck_assert_msg(memcmp(orig, changed, vae_model_param_count(m) * sizeof *orig) != 0,
                  "the perturbation changed nothing");
    ck_assert_msg(vae_model_import_safetensors(m, path) == VAE_OK, "%s", vae_model_errmsg(m));
    assert_params_equal(m, orig);
    /* the hand-built file (another writer, other whitespace) reads the same */
    free(perturb(m));
    make_file(m, path, no_damage());
    float *want = params_of(m);
    ck_assert_int_eq(vae_model_set_params(m, orig, vae_model_param_count(m)), VAE_OK);
    ck_assert_msg(vae_model_import_safetensors(m, path) == VAE_OK, "%s", vae_model_errmsg(m));
    assert_params_equal(m, want);
    unlink(path);
    free(want);
    free(orig);
    free(changed);
}

START_TEST(test_round_trip_mlp)
{
    vae_model *m = mlp_model(3);
    round_trip(m, "st-mlp.safetensors");
    vae_model_free(m);
}
END_TEST

START_TEST(test_round_trip_conv)
{
    vae_model *m = conv_model(4);
    round_trip(m, "st-conv.safetensors");
    vae_model_free(m);
}
END_TEST

/* A model of the same architecture but another seed takes the weights and
 * then computes exactly what the original does. */
START_TEST(test_transfer_outputs)
{
    vae_model *a = conv_model(5), *b = conv_model(6);
    const char *path = tmp("st-transfer.safetensors");
    ck_assert_int_eq(vae_model_export_safetensors(a, path), VAE_OK);
    ck_assert_int_eq(vae_model_import_safetensors(b, path), VAE_OK);
    float x[2 * 64], mu_a[4], lv_a[4], mu_b[4], lv_b[4];
    for (int i = 0; i < 128; i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
    ck_assert_int_eq(vae_model_encode(a, x, 2, mu_a, lv_a), VAE_OK);
    ck_assert_int_eq(vae_model_encode(b, x, 2, mu_b, lv_b), VAE_OK);
    ck_assert(memcmp(mu_a, mu_b, sizeof mu_a) == 0 && memcmp(lv_a, lv_b, sizeof lv_a) == 0);
    unlink(path);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

/* The bytes of a tiny export: the length, the header's start and the data. */
START_TEST(test_layout_pinned)
{
    vae_model *m = mlp_model(7);
    const char *path = tmp("st-layout.safetensors");
    ck_assert_int_eq(vae_model_export_safetensors(m, path), VAE_OK);
    size_t len;
    unsigned char *b = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(b);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    ck_assert_uint_eq(n % 8, 0);
    size_t np = vae_model_param_count(m);
    ck_assert_uint_eq(len, 8 + n + 4 * np);
    ck_assert_int_eq(memcmp(b + 8, "{\"__metadata__\":{\"format\":\"libvae\"", 34), 0);
    char *hdr = strndup((const char *)b + 8, (size_t)n);
    ck_assert_ptr_nonnull(strstr(hdr, "\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384]}"));
    ck_assert_ptr_nonnull(strstr(hdr, "\"encoder\":\"dense(8) relu\""));
    ck_assert_ptr_nonnull(strstr(hdr, "\"input_shape\":\"12,1,1\""));
    /* the data: the flat parameter vector, little-endian */
    float *p = params_of(m);
    for (size_t i = 0; i < np; i++) {
        uint32_t u = (uint32_t)b[8 + n + 4 * i] | (uint32_t)b[8 + n + 4 * i + 1] << 8 |
                     (uint32_t)b[8 + n + 4 * i + 2] << 16 | (uint32_t)b[8 + n + 4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        ck_assert_msg(memcmp(&f, &p[i], 4) == 0, "value %zu", i);
    }
    free(p);
    free(hdr);
    free(b);
    unlink(path);
    vae_model_free(m);
}
END_TEST

START_TEST(test_vqvae_round_trip)
{
    for (int mode = 0; mode < 2; mode++) {
        vae_vqvae_config c;
        vae_vqvae_config_init(&c);
        c.input_dim = 10;
        c.n_hidden = 1;
        c.hidden[0] = 6;
        c.n_latents = 2;
        c.code_dim = 3;
        c.codebook_size = 5;
        c.codebook_update = mode ? VAE_VQ_CODEBOOK_LOSS : VAE_VQ_CODEBOOK_EMA;
        vae_vqvae *a = NULL, *b = NULL;
        vae_error e;
        ck_assert_msg(vae_vqvae_create(&c, &a, &e) == VAE_OK, "%s", e.message);
        c.seed = 99;
        ck_assert_msg(vae_vqvae_create(&c, &b, &e) == VAE_OK, "%s", e.message);
        const char *path = tmp("st-vq.safetensors");
        ck_assert_msg(vae_vqvae_export_safetensors(a, path) == VAE_OK, "%s", vae_vqvae_errmsg(a));
        ck_assert_msg(vae_vqvae_import_safetensors(b, path) == VAE_OK, "%s", vae_vqvae_errmsg(b));
        float ca[15], cb[15];
        ck_assert_int_eq(vae_vqvae_get_codebook(a, ca, 15), VAE_OK);
        ck_assert_int_eq(vae_vqvae_get_codebook(b, cb, 15), VAE_OK);
        ck_assert(memcmp(ca, cb, sizeof ca) == 0);
        float x[3 * 10], ra[30], rb[30];
        for (int i = 0; i < 30; i++)
            x[i] = (float)(i % 7) / 7.0f;
        ck_assert_int_eq(vae_vqvae_reconstruct(a, x, 3, ra), VAE_OK);
        ck_assert_int_eq(vae_vqvae_reconstruct(b, x, 3, rb), VAE_OK);
        ck_assert(memcmp(ra, rb, sizeof ra) == 0);
        /* a vae_model's file is refused by name */
        vae_model *m = mlp_model(1);
        const char *mp = tmp("st-vq-model.safetensors");
        ck_assert_int_eq(vae_model_export_safetensors(m, mp), VAE_OK);
        ck_assert_int_eq(vae_vqvae_import_safetensors(b, mp), VAE_ERR_FORMAT);
        ck_assert_msg(strstr(vae_vqvae_errmsg(b), "enc.") != NULL, "%s", vae_vqvae_errmsg(b));
        ck_assert_int_eq(vae_vqvae_reconstruct(b, x, 3, rb), VAE_OK);
        ck_assert(memcmp(ra, rb, sizeof ra) == 0);
        unlink(path);
        unlink(mp);
        vae_model_free(m);
        vae_vqvae_free(a);
        vae_vqvae_free(b);
    }
}
END_TEST

/* ---- refusals -------------------------------------------------------------------- */

START_TEST(test_bad_arguments)
{
    vae_model *m = mlp_model(1);
    ck_assert_int_eq(vae_model_export_safetensors(NULL, "x"), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_import_safetensors(NULL, "x"), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_export_safetensors(m, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_export_safetensors(m, ""), VAE_ERR_INVALID);
    expect_import_fails(m, "", VAE_ERR_INVALID, "empty");
    ck_assert_int_eq(vae_model_import_safetensors(m, NULL), VAE_ERR_NULL);
    expect_import_fails(m, tmp("st-does-not-exist"), VAE_ERR_IO, "cannot open");
    ck_assert_int_eq(vae_vqvae_export_safetensors(NULL, "x"), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_import_safetensors(NULL, "x"), VAE_ERR_NULL);
    vae_model_free(m);
}
END_TEST

START_TEST(test_fifo_and_directory)
{
    vae_model *m = mlp_model(1);
    const char *fifo = tmp("st-fifo");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    expect_import_fails(m, fifo, VAE_ERR_IO, "FIFO"); /* returns at once: no writer needed */
    unlink(fifo);
    const char *dir = tmp("st-dir");
    rmdir(dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    expect_import_fails(m, dir, VAE_ERR_IO, "directory");
    /* exporting onto a directory fails and leaves it */
    ck_assert_int_eq(vae_model_export_safetensors(m, dir), VAE_ERR_IO);
    struct stat sb;
    ck_assert(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    rmdir(dir);
    vae_model_free(m);
}
END_TEST

START_TEST(test_truncated_and_lengths)
{
    vae_model *m = mlp_model(2);
    const char *good = tmp("st-good.safetensors"), *bad = tmp("st-bad.safetensors");
    ck_assert_int_eq(vae_model_export_safetensors(m, good), VAE_OK);
    free(perturb(m));
    size_t len;
    unsigned char *b = tu_read_file(good, &len);
    ck_assert_ptr_nonnull(b);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    /* every cut: inside the length, inside the header, inside the data */
    size_t cuts[] = {0, 3, 7, 8, 9, (size_t)n / 2, 8 + (size_t)n - 1, 8 + (size_t)n,
                     8 + (size_t)n + 1, len - 4, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        ck_assert_int_eq(tu_write_file(bad, b, cuts[k]), 0);
        expect_import_fails(m, bad, VAE_ERR_FORMAT, NULL);
    }
    /* a huge declared header length is refused before allocating */
    unsigned char *c = malloc(len);
    memcpy(c, b, len);
    uint64_t huge[] = {(uint64_t)1 << 62, UINT64_MAX, 100000001};
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++)
            c[i] = (unsigned char)(huge[k] >> (8 * i));
        ck_assert_int_eq(tu_write_file(bad, c, len), 0);
        expect_import_fails(m, bad, VAE_ERR_LIMIT, "header length");
    }
    /* a length beyond the file, a length of 0 */
    uint64_t lens[] = {len, 0, 1};
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++)
            c[i] = (unsigned char)(lens[k] >> (8 * i));
        ck_assert_int_eq(tu_write_file(bad, c, len), 0);
        expect_import_fails(m, bad, VAE_ERR_FORMAT, "header length");
    }
    /* one byte more at the end: the data section does not match */
    unsigned char *d = malloc(len + 1);
    memcpy(d, b, len);
    d[len] = 0;
    ck_assert_int_eq(tu_write_file(bad, d, len + 1), 0);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "trailing");
    free(d);
    free(c);
    free(b);
    unlink(good);
    unlink(bad);
    vae_model_free(m);
}
END_TEST

/* Replace the header of a valid export by text (data kept). */
static void with_header(const char *path, const char *json, const unsigned char *data, size_t dlen)
{
    size_t n = strlen(json);
    unsigned char *b = malloc(8 + n + dlen);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    memcpy(b + 8 + n, data, dlen);
    ck_assert_int_eq(tu_write_file(path, b, 8 + n + dlen), 0);
    free(b);
}

START_TEST(test_bad_json)
{
    vae_model *m = mlp_model(2);
    const char *bad = tmp("st-json.safetensors");
    free(perturb(m));
    unsigned char data[16] = {0};
    const char *cases[] = {
        "",                                                     /* length 0 */
        "[]",
        "{",
        "{\"a\"}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384]},}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384]}} x",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12.0,8],\"data_offsets\":[0,384]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[-12,8],\"data_offsets\":[0,384]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[012,8],\"data_offsets\":[0,384]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384],\"x\":1}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,384,5]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[384,0]}}",
        "{\"enc.0.W\":{\"dtype\":\"F32\",\"shape\":[12,8],\"data_offsets\":[0,99999999999999999999]}}",
        "{\"__metadata__\":{\"a\":1}}",
        "{\"__metadata__\":{\"a\":\"b\"},\"__metadata__\":{}}",
        "{\"__metadata__\":{\"a\":\"\\x\"}}",
        "{\"__metadata__\":{\"a\":\"\\ud800\"}}",
        "{\"__metadata__\":{\"a\":\"\\u0000\"}}",
        "{\"__metadata__\":{\"a\":\"\x01\"}}",
        "{\"__metadata__\":{\"a\":\"unterminated}}",
        "{\"__metadata__\":{\"a\":\"b\"}}\\",
        "{}",                                                   /* every tensor missing */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        with_header(bad, cases[k], data, sizeof data);
        expect_import_fails(m, bad, VAE_ERR_FORMAT, NULL);
    }
    /* a NUL byte inside the header */
    unsigned char nul[8 + 4] = {4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' '};
    ck_assert_int_eq(tu_write_file(bad, nul, sizeof nul), 0);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "NUL");
    unlink(bad);
    vae_model_free(m);
}
END_TEST

START_TEST(test_wrong_tensors)
{
    vae_model *m = mlp_model(2);
    const char *bad = tmp("st-wrong.safetensors");
    free(perturb(m));
    const char *w0;
    vae_model_param_tensor_info(m, 0, &w0, NULL, NULL, NULL);
    ck_assert_str_eq(w0, "enc.0.W");
    damage d;

    d = no_damage(), d.dtype_of = 0, d.dtype = "I32";
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "'enc.0.W': dtype I32, libvae reads F32, F16");
    d = no_damage(), d.dtype_of = 1, d.dtype = "F8_E4M3";
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "'enc.0.b': dtype F8_E4M3");
    /* an F16 tensor whose offsets span 4 bytes a value */
    d = no_damage(), d.dtype_of = 0, d.dtype = "F16";
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "do not span its 12 x 8 F16 values");

    /* a deliberately wrong layout: nn.Linear's [out, in] instead of [in, out] */
    d = no_damage(), d.transpose = 0;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "transposed");
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "'enc.0.W': shape [8, 12]");
    d = no_damage(), d.four_d = 0;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "shape [12, 8, 1, 1]");

    d = no_damage(), d.skip = 2;
    make_file(m, bad, d);
    const char *n2;
    vae_model_param_tensor_info(m, 2, &n2, NULL, NULL, NULL);
    char want[96];
    snprintf(want, sizeof want, "'%s' is missing", n2);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, want);

    d = no_damage(), d.extra = "enc.9.W";
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "'enc.9.W' is not a parameter");

    d = no_damage(), d.dup = 1;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "appears twice");

    d = no_damage(), d.gap = 1;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "gap");

    d = no_damage(), d.trailing = 4;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, "trailing");

    d = no_damage(), d.nan_at = 17;
    make_file(m, bad, d);
    expect_import_fails(m, bad, VAE_ERR_NONFINITE, "'enc.0.W': value [2][1]");

    /* a file of another architecture */
    vae_model *other = conv_model(1);
    ck_assert_int_eq(vae_model_export_safetensors(other, bad), VAE_OK);
    expect_import_fails(m, bad, VAE_ERR_FORMAT, NULL);
    vae_model_free(other);
    unlink(bad);
    vae_model_free(m);
}
END_TEST

/* ---- other dtypes: F16, BF16, F64 read and converted ------------------------------- */

/* The bits of v in `dtype`, for values the dtype holds exactly (F64 any;
 * the test's own encoders, not the library's decoders). */
static uint64_t encode(const char *dtype, double v)
{
    if (!strcmp(dtype, "F64")) {
        uint64_t u;
        memcpy(&u, &v, 8);
        return u;
    }
    float f = (float)v;
    ck_assert_msg((double)f == v, "%.17g is not a float", v);
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!strcmp(dtype, "F32"))
        return u;
    if (!strcmp(dtype, "BF16")) {
        ck_assert_msg((u & 0xffffu) == 0, "%.17g is not a bfloat16", v);
        return u >> 16;
    }
    /* F16: |v| = M * 2^(E-25) with 1024 <= M < 2048 (normal, E in 1..30),
     * or |v| = M * 2^-24 with M < 1024 (E = 0) */
    uint64_t sign = signbit(v) ? 0x8000u : 0;
    double a = fabs(v);
    if (a < ldexp(1.0, -14)) {
        double mm = ldexp(a, 24);
        ck_assert_msg(mm == floor(mm), "%.17g is not a half", v);
        return sign | (uint64_t)mm;
    }
    int e;
    double fr = frexp(a, &e); /* a = fr * 2^e, 0.5 <= fr < 1 */
    double mm = ldexp(fr, 11); /* 1024 <= mm < 2048 */
    ck_assert_msg(mm == floor(mm) && e + 14 >= 1 && e + 14 <= 30, "%.17g is not a half", v);
    return sign | (uint64_t)(e + 14) << 10 | ((uint64_t)mm - 1024);
}

static unsigned dtype_size(const char *dtype)
{
    return !strcmp(dtype, "F64") ? 8 : !strcmp(dtype, "F32") ? 4 : 2;
}

/* A file of m's tensors, all of `dtype`, holding the raw values bits[0..np). */
static void make_typed_file(const vae_model *m, const char *path, const char *dtype,
                            const uint64_t *bits)
{
    size_t nt = vae_model_param_tensor_count(m), np = vae_model_param_count(m);
    unsigned w = dtype_size(dtype);
    size_t cap = 64 + nt * 256, len = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    len += (size_t)snprintf(h + len, cap - len, "{");
    for (size_t i = 0; i < nt; i++) {
        const char *name;
        size_t r, c, off;
        vae_model_param_tensor_info(m, i, &name, &r, &c, &off);
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", name, dtype, r, c, w * off, w * (off + r * c));
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    ck_assert_uint_lt(len, cap);
    write_st_file(path, h, len, 0, bits, w, np, 0);
    free(h);
}

/* Every dtype gives the same parameters for values all four hold exactly. */
START_TEST(test_import_dtypes)
{
    vae_model *m = mlp_model(3);
    const char *path = tmp("st-dtypes.safetensors");
    size_t np = vae_model_param_count(m);
    uint64_t *bits = malloc(np * sizeof *bits);
    float *want = malloc(np * sizeof *want);
    ck_assert(bits && want);
    for (size_t i = 0; i < np; i++)
        want[i] = (float)((double)((long)(i * 37 % 257) - 128) / 64.0); /* k/64, |k| <= 128 */
    const char *types[] = {"F32", "F16", "BF16", "F64"};
    for (int t = 0; t < 4; t++) {
        for (size_t i = 0; i < np; i++)
            bits[i] = encode(types[t], want[i]);
        make_typed_file(m, path, types[t], bits);
        free(perturb(m));
        ck_assert_msg(vae_model_import_safetensors(m, path) == VAE_OK, "%s: %s", types[t],
                      vae_model_errmsg(m));
        assert_params_equal(m, want);
    }
    unlink(path);
    free(bits);
    free(want);
    vae_model_free(m);
}
END_TEST

/* Every 16-bit pattern of F16 and of BF16: the finite ones read as the value
 * the format defines (computed here from its fields in double, an oracle
 * independent of the library's bit moves), each infinity and NaN refused
 * with its index. */
START_TEST(test_every_half_value)
{
    vae_model *m = mlp_sized(784, 100, 2, 1); /* 78,400 values in its first tensor */
    const char *path = tmp("st-halves.safetensors");
    size_t np = vae_model_param_count(m);
    uint64_t *bits = calloc(np, sizeof *bits);
    float *want = calloc(np, sizeof *want);
    ck_assert(bits && want);
    for (int bf = 0; bf < 2; bf++) {
        int ebits = bf ? 8 : 5, mbits = bf ? 7 : 10, emax = (1 << ebits) - 1, bias = emax / 2;
        size_t k = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            int s = (int)(h >> 15), e = (int)(h >> mbits) & emax, mm = (int)(h & ((1u << mbits) - 1));
            if (e == emax)
                continue; /* infinities and NaNs: below */
            double v = e == 0 ? ldexp(mm, 1 - bias - mbits)
                              : ldexp(1.0 + ldexp(mm, -mbits), e - bias);
            want[k] = (float)(s ? -v : v);
            ck_assert((double)want[k] == (s ? -v : v)); /* every such value is a float */
            bits[k++] = h;
        }
        ck_assert_uint_eq(k, (bf ? 65280u : 63488u)); /* less 2 x 128 or 2 x 1024 */
        for (size_t i = k; i < np; i++)
            bits[i] = 0, want[i] = 0.0f;
        make_typed_file(m, path, bf ? "BF16" : "F16", bits);
        ck_assert_msg(vae_model_import_safetensors(m, path) == VAE_OK, "%s", vae_model_errmsg(m));
        assert_params_equal(m, want);
        /* +inf, -inf and a NaN at index [1][2] (flat 102) */
        uint64_t inf = (uint64_t)emax << mbits;
        uint64_t odd[] = {inf, inf | 0x8000u, inf | 1u};
        for (int j = 0; j < 3; j++) {
            uint64_t keep = bits[102];
            bits[102] = odd[j];
            make_typed_file(m, path, bf ? "BF16" : "F16", bits);
            expect_import_fails(m, path, VAE_ERR_NONFINITE, "'enc.0.W': value [1][2]");
            expect_import_fails(m, path, VAE_ERR_NONFINITE, "is not finite");
            bits[102] = keep;
        }
    }
    unlink(path);
    free(bits);
    free(want);
    vae_model_free(m);
}
END_TEST

/* F64 values are rounded to the nearest float (checked against both
 * neighbours, ties to even); beyond float32's range is refused. */
START_TEST(test_f64_rounding)
{
    vae_model *m = mlp_model(5);
    const char *path = tmp("st-f64.safetensors");
    size_t np = vae_model_param_count(m);
    uint64_t *bits = malloc(np * sizeof *bits);
    double *v = malloc(np * sizeof *v);
    ck_assert(bits && v);
    const double special[] = {1.0 + ldexp(1.0, -24), 1.0 + 3 * ldexp(1.0, -24), -1.0 / 3.0, 0.1,
                              (double)FLT_MAX * (1.0 + ldexp(1.0, -26)), 1e-46, 3e-45, -0.0,
                              ldexp(1.0, -149) * 1.5, 123456789.123};
    ck_assert_uint_ge(np, 10);
    uint64_t r = 7;
    for (size_t i = 0; i < np; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = i < 10 ? special[i] : ((double)(r >> 11) * 0x1p-53 - 0.5) * ldexp(1.0, (int)(r % 60) - 30);
        bits[i] = encode("F64", v[i]);
    }
    make_typed_file(m, path, "F64", bits);
    ck_assert_msg(vae_model_import_safetensors(m, path) == VAE_OK, "%s", vae_model_errmsg(m));
    float *got = params_of(m);
    for (size_t i = 0; i < np; i++) {
        double f = got[i], up = nextafterf(got[i], INFINITY), down = nextafterf(got[i], -INFINITY);
        ck_assert_msg(fabs(f - v[i]) <= fabs(up - v[i]) && fabs(f - v[i]) <= fabs(down - v[i]),
                      "[%zu] %.17g read as %.9g", i, v[i], f);
    }
    ck_assert(got[0] == 1.0f);                    /* 1 + half an ulp: a tie, to even (down) */
    ck_assert(got[1] == 1.0f + ldexpf(1.0f, -22)); /* 1 + 1.5 ulp: a tie, to even (up) */
    ck_assert(got[4] == FLT_MAX && got[5] == 0.0f && signbit(got[7]));
    free(got);
    bits[3] = encode("F64", 1e39);
    make_typed_file(m, path, "F64", bits);
    expect_import_fails(m, path, VAE_ERR_NONFINITE, "'enc.0.W': value [0][3] = 1e+39 is beyond float32's range");
    bits[3] = encode("F64", -INFINITY);
    make_typed_file(m, path, "F64", bits);
    expect_import_fails(m, path, VAE_ERR_NONFINITE, "is not finite");
    unlink(path);
    free(bits);
    free(v);
    vae_model_free(m);
}
END_TEST

/* Non-finite parameters are not written, and the old file stays. */
START_TEST(test_export_refuses_nan)
{
    vae_model *m = mlp_model(2);
    const char *path = tmp("st-nan.safetensors");
    ck_assert_int_eq(vae_model_export_safetensors(m, path), VAE_OK);
    size_t len0, len1;
    unsigned char *b0 = tu_read_file(path, &len0);
    m->P.val[5] = NAN; /* white-box: vae_model_set_params would refuse it */
    ck_assert_int_eq(vae_model_export_safetensors(m, path), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "enc.0.W[5]"));
    unsigned char *b1 = tu_read_file(path, &len1);
    ck_assert(len0 == len1 && memcmp(b0, b1, len0) == 0);
    free(b0);
    free(b1);
    unlink(path);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip_mlp);
    tcase_add_test(tc, test_round_trip_conv);
    tcase_add_test(tc, test_transfer_outputs);
    tcase_add_test(tc, test_layout_pinned);
    tcase_add_test(tc, test_vqvae_round_trip);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_fifo_and_directory);
    tcase_add_test(tc, test_truncated_and_lengths);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_wrong_tensors);
    tcase_add_test(tc, test_export_refuses_nan);
    tcase_add_test(tc, test_import_dtypes);
    tcase_add_test(tc, test_every_half_value);
    tcase_add_test(tc, test_f64_rounding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
