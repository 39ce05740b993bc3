/* Check suite for the data layer: IDX and CSV readers (good files and
 * every kind of damage), vae_dataset_from_array, subsets, scaling,
 * binarisation in vds_gather, and the API rules (NULL arguments, vae_error,
 * failed calls leaving the handle as it was). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "data/dataset.h"
#include "libvae/vae.h"
#include "tensor/rng.h"
#include "testutil.h"

/* A non-NULL pointer that failed creations must overwrite with NULL. */
static int dummy_handle;
#define BOGUS ((vae_dataset *)(void *)&dummy_handle)

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* A failed creation: status `want`, *out reset to NULL, err filled with the
 * same status and a message containing `needle` (when not NULL). */
#define CHECK_FAILED(st, want, ds, err, needle) \
    check_failed((st), (want), (ds), (err), (needle), __LINE__)

static void check_failed(int st, int want, const vae_dataset *ds, const vae_error *err,
                         const char *needle, int line)
{
    ck_assert_msg(st == want, "line %d: status %d (%s), expected %d (%s); message: %s", line, st,
                  vae_status_str(st), want, vae_status_str(want), err->message);
    ck_assert_msg(ds == NULL, "line %d: *out not reset to NULL", line);
    ck_assert_msg(err->status == want, "line %d: err.status %d", line, err->status);
    ck_assert_msg(err->message[0] != '\0', "line %d: empty message", line);
    if (needle)
        ck_assert_msg(strstr(err->message, needle) != NULL,
                      "line %d: message \"%s\" lacks \"%s\"", line, err->message, needle);
}

static void check_ok(int st, const vae_dataset *ds, const vae_error *err)
{
    ck_assert_msg(st == VAE_OK, "status %d: %s", st, err->message);
    ck_assert_ptr_nonnull(ds);
    ck_assert_int_eq(err->status, VAE_OK);
    ck_assert_str_eq(err->message, "");
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write an IDX image (header, then payload) into out; returns its length. */
static size_t make_idx(unsigned char *out, int type, int rank, const uint32_t *dims,
                       const void *payload, size_t payload_len)
{
    out[0] = 0;
    out[1] = 0;
    out[2] = (unsigned char)type;
    out[3] = (unsigned char)rank;
    for (int i = 0; i < rank; i++)
        put_be32(out + 4 + 4 * i, dims[i]);
    size_t h = 4 + 4 * (size_t)rank;
    if (payload_len)
        memcpy(out + h, payload, payload_len);
    return h + payload_len;
}

/* f32 values as big-endian bytes. */
static void f32_be(unsigned char *out, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_be32(out + 4 * i, u);
    }
}

static void write_raw(const char *path, const void *data, size_t len)
{
    ck_assert_int_eq(tu_write_file(path, data, len), 0);
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    if (len)
        ck_assert_int_eq(gzwrite(gz, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

static void write_file(const char *path, const void *data, size_t len, int gz)
{
    if (gz)
        write_gz(path, data, len);
    else
        write_raw(path, data, len);
}

static void write_text(const char *path, const char *text)
{
    write_raw(path, text, strlen(text));
}

/* Load `data` written (raw or gzip) as an images file: expect failure. */
#define IDX_FAILS(data, len, gz, want, needle) \
    idx_fails((data), (len), (gz), (want), (needle), __LINE__)

static void idx_fails(const unsigned char *data, size_t len, int gz, int want, const char *needle,
                      int line)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, gz ? "bad.idx.gz" : "bad.idx");
    write_file(path, data, len, gz);
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_idx(path, NULL, NULL, &ds, &err);
    check_failed(st, want, ds, &err, needle, line);
    ck_assert_msg(strstr(err.message, path) != NULL, "line %d: message \"%s\" lacks the path",
                  line, err.message);
    vae_dataset_free(ds);
    remove(path);
}

static vae_dataset *csv_load(const char *text, const vae_dataset_options *opt)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "good.csv");
    write_text(path, text);
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_csv(path, opt, &ds, &err);
    remove(path);
    check_ok(st, ds, &err);
    return ds;
}

#define CSV_FAILS(text, opt, want, needle) csv_fails((text), (opt), (want), (needle), __LINE__)

static void csv_fails(const char *text, const vae_dataset_options *opt, int want,
                      const char *needle, int line)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "bad.csv");
    write_text(path, text);
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_csv(path, opt, &ds, &err);
    remove(path);
    check_failed(st, want, ds, &err, needle, line);
}

static void check_values(const vae_dataset *ds, size_t n, size_t d, const float *want)
{
    ck_assert_uint_eq(vae_dataset_count(ds), n);
    ck_assert_uint_eq(vae_dataset_dim(ds), d);
    const float *x = vae_dataset_data(ds);
    for (size_t i = 0; i < n * d; i++)
        if (x[i] != want[i])
            ck_abort_msg("value %zu is %g, expected %g", i, (double)x[i], (double)want[i]);
}

static vae_dataset *array_ds(const float *x, size_t n, size_t d, const int *labels, int mode,
                             const vae_dataset_options *opt)
{
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_from_array(x, n, d, labels, mode, opt, &ds, &err);
    check_ok(st, ds, &err);
    return ds;
}

/* ---------------------------------------------------------------------- */
/* Real MNIST                                                              */
/* ---------------------------------------------------------------------- */

/* Decompress a gzip file to a raw one, to load the same data both ways. */
static void gunzip_to(const char *src, const char *dst)
{
    gzFile in = gzopen(src, "rb");
    FILE *out = fopen(dst, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    unsigned char buf[65536];
    int k;
    while ((k = gzread(in, buf, sizeof buf)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, (size_t)k, out), (size_t)k);
    ck_assert_int_eq(k, 0);
    gzclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

START_TEST(test_mnist)
{
    char img[4096], lab[4096];
    if (!tu_mnist_file(img, "t10k-images-idx3-ubyte.gz")) {
        tu_skip("test_mnist", "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    tu_mnist_file(lab, "t10k-labels-idx1-ubyte.gz");
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_idx(img, lab, NULL, &ds, &err);
    check_ok(st, ds, &err);
    ck_assert_uint_eq(vae_dataset_count(ds), 10000);
    ck_assert_uint_eq(vae_dataset_dim(ds), 784);
    ck_assert_int_eq(vae_dataset_has_labels(ds), 1);

    const int *y = vae_dataset_labels(ds);
    static const int first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(y[i], first[i]);
    size_t per_class[10] = {0}, bad = 0;
    for (size_t i = 0; i < 10000; i++) {
        if (y[i] >= 0 && y[i] <= 9)
            per_class[y[i]]++;
        else
            bad++;
    }
    ck_assert_uint_eq(bad, 0);
    for (int c = 0; c < 10; c++)
        ck_assert_uint_gt(per_class[c], 800);

    /* u8 pixels are scaled to [0,1] by default. */
    const float *x = vae_dataset_data(ds);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < 10000 * 784; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    ck_assert(lo == 0.0f && hi == 1.0f);

    /* Explicit VAE_SCALE_NONE keeps 0..255, and the same file decompressed
     * to a raw file gives the same values. */
    char raw[4096];
    tu_tmp_path(raw, sizeof raw, "mnist-images.idx");
    gunzip_to(img, raw);
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.scale = VAE_SCALE_NONE;
    vae_dataset *r = NULL;
    st = vae_dataset_load_idx(raw, NULL, &opt, &r, &err);
    remove(raw);
    check_ok(st, r, &err);
    ck_assert_int_eq(vae_dataset_has_labels(r), 0);
    ck_assert_ptr_null(vae_dataset_labels(r));
    const float *xr = vae_dataset_data(r);
    /* Count mismatches: one Check assertion per pixel would be slow. */
    for (size_t i = 0; i < 10000 * 784; i++)
        bad += !(xr[i] == floorf(xr[i]) && xr[i] >= 0 && xr[i] <= 255 && xr[i] / 255.0f == x[i]);
    ck_assert_uint_eq(bad, 0);
    vae_dataset_free(r);

    /* The usual split: first 9000 train, last 1000 test. */
    vae_dataset *train = NULL, *test = NULL;
    ck_assert_int_eq(vae_dataset_subset(ds, 0, 9000, &train, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(ds, 10000 - 1000, 1000, &test, NULL), VAE_OK);
    ck_assert_uint_eq(vae_dataset_count(train), 9000);
    ck_assert_uint_eq(vae_dataset_count(test), 1000);
    ck_assert_mem_eq(vae_dataset_data(test), x + 9000 * 784, 1000 * 784 * sizeof(float));
    ck_assert_mem_eq(vae_dataset_labels(test), y + 9000, 1000 * sizeof(int));
    ck_assert_int_eq(vae_dataset_set_binarize(train, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_OK);
    vae_dataset_free(train);
    vae_dataset_free(test);
    vae_dataset_free(ds);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Small IDX files                                                         */
/* ---------------------------------------------------------------------- */

/* 3 images of 2x2 u8 pixels and 3 labels. */
static const unsigned char px[12] = {0, 51, 102, 255, 1, 2, 3, 4, 255, 254, 128, 0};
static const unsigned char lb[3] = {3, 0, 9};

static size_t small_images(unsigned char *buf)
{
    const uint32_t dims[3] = {3, 2, 2};
    return make_idx(buf, 0x08, 3, dims, px, sizeof px);
}

static size_t small_labels(unsigned char *buf, uint32_t n)
{
    const uint32_t dims[1] = {n};
    return make_idx(buf, 0x08, 1, dims, lb, n);
}

START_TEST(test_idx_u8)
{
    for (int gz = 0; gz <= 1; gz++) {
        unsigned char buf[256];
        char ip[4096], lp[4096];
        tu_tmp_path(ip, sizeof ip, "img.idx");
        tu_tmp_path(lp, sizeof lp, "lab.idx");
        write_file(ip, buf, small_images(buf), gz);
        write_file(lp, buf, small_labels(buf, 3), gz);

        vae_dataset *ds = BOGUS;
        vae_error err;
        ck_assert_int_eq(vae_dataset_load_idx(ip, lp, NULL, &ds, &err), VAE_OK);
        float want[12];
        for (int i = 0; i < 12; i++)
            want[i] = px[i] / 255.0f;
        check_values(ds, 3, 4, want);
        ck_assert_int_eq(vae_dataset_has_labels(ds), 1);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(vae_dataset_labels(ds)[i], lb[i]);
        vae_dataset_free(ds);

        /* An explicit scale overrides the u8 default. */
        vae_dataset_options opt;
        vae_dataset_options_init(&opt);
        opt.scale = VAE_SCALE_NONE;
        ck_assert_int_eq(vae_dataset_load_idx(ip, NULL, &opt, &ds, &err), VAE_OK);
        for (int i = 0; i < 12; i++)
            want[i] = px[i];
        check_values(ds, 3, 4, want);
        ck_assert_int_eq(vae_dataset_has_labels(ds), 0);
        vae_dataset_free(ds);

        opt.scale = VAE_SCALE_MINMAX;
        ck_assert_int_eq(vae_dataset_load_idx(ip, NULL, &opt, &ds, &err), VAE_OK);
        ck_assert(vae_dataset_data(ds)[0] == 0.0f && vae_dataset_data(ds)[3] == 1.0f);
        vae_dataset_free(ds);
        remove(ip);
        remove(lp);
    }
}
END_TEST

START_TEST(test_idx_f32)
{
    /* rank 4: 2 examples of 1x3x2 values; flattened to d = 6. */
    const float v[12] = {-1.5f, 0.0f, 2.25f, 1e6f, -3e-7f, 42.0f,
                         0.125f, -0.0f, 7.0f, 3.0e38f, -3.0e38f, 1.0f};
    unsigned char payload[48], buf[256];
    f32_be(payload, v, 12);
    const uint32_t dims[4] = {2, 1, 3, 2};
    size_t len = make_idx(buf, 0x0D, 4, dims, payload, sizeof payload);
    for (int gz = 0; gz <= 1; gz++) {
        char ip[4096];
        tu_tmp_path(ip, sizeof ip, "f32.idx");
        write_file(ip, buf, len, gz);
        vae_dataset *ds = NULL;
        vae_error err;
        /* f32 data is not scaled by default. */
        ck_assert_int_eq(vae_dataset_load_idx(ip, NULL, NULL, &ds, &err), VAE_OK);
        check_values(ds, 2, 6, v);
        vae_dataset_free(ds);

        /* MINMAX over a range wider than FLT_MAX stays finite and in [0,1]. */
        vae_dataset_options opt;
        vae_dataset_options_init(&opt);
        opt.scale = VAE_SCALE_MINMAX;
        ck_assert_int_eq(vae_dataset_load_idx(ip, NULL, &opt, &ds, &err), VAE_OK);
        const float *x = vae_dataset_data(ds);
        ck_assert(x[10] == 0.0f && x[9] == 1.0f);
        ck_assert_float_eq_tol(x[0], 0.5f, 1e-6f);
        vae_dataset_free(ds);
        remove(ip);
    }

    /* NaN in f32 data: refused, naming the example. */
    const float bad[12] = {0, 0, 0, 0, 0, 0, 0, 0, NAN, 0, 0, 0};
    f32_be(payload, bad, 12);
    len = make_idx(buf, 0x0D, 4, dims, payload, sizeof payload);
    IDX_FAILS(buf, len, 0, VAE_ERR_NONFINITE, "example 1, value 2");
}
END_TEST

START_TEST(test_idx_truncated)
{
    unsigned char buf[256];
    size_t full = small_images(buf); /* 16-byte header + 12 bytes */
    const size_t cuts[] = {0, 1, 3, 4, 5, 9, 15, 16, 17, 27};
    for (int gz = 0; gz <= 1; gz++) {
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            const char *needle = cuts[i] >= 16 ? "expected 28 bytes" : "truncated header";
            IDX_FAILS(buf, cuts[i], gz, VAE_ERR_FORMAT, needle);
        }
    }
    /* The found count is part of the message. */
    IDX_FAILS(buf, 20, 0, VAE_ERR_FORMAT, "found 20");
    IDX_FAILS(buf, 9, 0, VAE_ERR_FORMAT, "expected 16 bytes, found 9");

    /* A gzip stream cut short (compressed bytes missing at the end). */
    char gp[4096];
    tu_tmp_path(gp, sizeof gp, "cut.gz");
    write_gz(gp, buf, full);
    size_t glen;
    unsigned char *g = tu_read_file(gp, &glen);
    ck_assert_ptr_nonnull(g);
    remove(gp);
    for (size_t cut = glen - 1; cut >= 11; cut -= 3)
        IDX_FAILS(g, cut, 0, VAE_ERR_FORMAT, NULL);
    free(g);
}
END_TEST

START_TEST(test_idx_trailing)
{
    unsigned char buf[256];
    size_t len = small_images(buf);
    buf[len] = 0x77;
    IDX_FAILS(buf, len + 1, 0, VAE_ERR_FORMAT, "trailing data");
    IDX_FAILS(buf, len + 1, 1, VAE_ERR_FORMAT, "trailing data");
}
END_TEST

START_TEST(test_idx_limits)
{
    unsigned char buf[64] = {0};
    /* 2^31 images: refused from the header alone, at once. */
    const uint32_t huge[3] = {UINT32_C(1) << 31, 28, 28};
    size_t len = make_idx(buf, 0x08, 3, huge, NULL, 0);
    clock_t t0 = clock();
    IDX_FAILS(buf, len + 8, 0, VAE_ERR_LIMIT, "2147483648 examples");
    IDX_FAILS(buf, len + 8, 1, VAE_ERR_LIMIT, "limit");
    ck_assert_double_lt((double)(clock() - t0) / CLOCKS_PER_SEC, 1.0);

    /* 2^28 examples is allowed by the header, so the tiny file is simply
     * truncated (the reader must not try to allocate 2^28 * 784 floats). */
    const uint32_t big[3] = {UINT32_C(1) << 28, 28, 28};
    len = make_idx(buf, 0x08, 3, big, NULL, 0);
    IDX_FAILS(buf, len + 8, 0, VAE_ERR_FORMAT, "truncated");

    /* More than 2^24 values per example, even when each dimension is small. */
    const uint32_t wide[4] = {1, 4096, 4096, 2};
    len = make_idx(buf, 0x08, 4, wide, NULL, 0);
    IDX_FAILS(buf, len, 0, VAE_ERR_LIMIT, "values per example");
    const uint32_t wide2[2] = {1, UINT32_MAX};
    len = make_idx(buf, 0x0D, 2, wide2, NULL, 0);
    IDX_FAILS(buf, len, 1, VAE_ERR_LIMIT, "values per example");

    /* Zero dimensions. */
    const uint32_t zero0[3] = {0, 2, 2};
    len = make_idx(buf, 0x08, 3, zero0, NULL, 0);
    IDX_FAILS(buf, len, 0, VAE_ERR_FORMAT, "dimension 0 is 0");
    const uint32_t zero2[3] = {3, 2, 0};
    len = make_idx(buf, 0x08, 3, zero2, NULL, 0);
    IDX_FAILS(buf, len, 0, VAE_ERR_FORMAT, "dimension 2 is 0");
}
END_TEST

START_TEST(test_idx_bad_header)
{
    unsigned char buf[256];
    size_t len = small_images(buf);
    unsigned char bad[256];

    memcpy(bad, buf, len);
    bad[0] = 0x1f; /* neither IDX nor, with the next byte, gzip */
    IDX_FAILS(bad, len, 0, VAE_ERR_FORMAT, "not an IDX file");
    memcpy(bad, buf, len);
    bad[1] = 0x01;
    IDX_FAILS(bad, len, 1, VAE_ERR_FORMAT, "not an IDX file");
    IDX_FAILS((const unsigned char *)"hello, world\n", 13, 0, VAE_ERR_FORMAT, "not an IDX file");

    memcpy(bad, buf, len);
    bad[2] = 0x0B; /* i16: a real IDX type, not supported */
    IDX_FAILS(bad, len, 0, VAE_ERR_FORMAT, "element type 0x0b");
    bad[2] = 0x42;
    IDX_FAILS(bad, len, 0, VAE_ERR_FORMAT, "element type 0x42");

    memcpy(bad, buf, len);
    bad[3] = 0;
    IDX_FAILS(bad, len, 0, VAE_ERR_FORMAT, "rank is 0");

    /* A labels file given as images. */
    len = small_labels(bad, 3);
    IDX_FAILS(bad, len, 0, VAE_ERR_FORMAT, "rank >= 2");

    /* Corrupt deflate data inside a valid-looking gzip file. */
    char gp[4096];
    tu_tmp_path(gp, sizeof gp, "corrupt.gz");
    unsigned char big[4096];
    const uint32_t dims[3] = {4, 32, 32};
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 5));
    unsigned char file[4200];
    len = make_idx(file, 0x08, 3, dims, big, sizeof big);
    write_gz(gp, file, len);
    size_t glen;
    unsigned char *g = tu_read_file(gp, &glen);
    ck_assert_ptr_nonnull(g);
    remove(gp);
    g[glen - 6] ^= 0xff; /* the CRC-32 in the trailer */
    IDX_FAILS(g, glen, 0, VAE_ERR_FORMAT, "gzip");
    g[glen - 6] ^= 0xff;
    for (size_t i = 12; i < glen - 8; i++)
        g[i] ^= 0x5a; /* the compressed data */
    IDX_FAILS(g, glen, 0, VAE_ERR_FORMAT, NULL);
    free(g);
}
END_TEST

START_TEST(test_idx_labels)
{
    unsigned char buf[256];
    char ip[4096], lp[4096];
    tu_tmp_path(ip, sizeof ip, "img.idx");
    tu_tmp_path(lp, sizeof lp, "lab.idx");
    write_raw(ip, buf, small_images(buf));

    /* 2 labels for 3 images. */
    write_raw(lp, buf, small_labels(buf, 2));
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_idx(ip, lp, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_SHAPE, ds, &err, "2 labels for 3 images");

    /* Labels must be rank 1 u8. */
    write_raw(lp, buf, small_images(buf));
    ds = BOGUS;
    st = vae_dataset_load_idx(ip, lp, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_FORMAT, ds, &err, "labels need rank 1");
    const float f[3] = {1, 2, 3};
    unsigned char payload[12];
    f32_be(payload, f, 3);
    const uint32_t dims[1] = {3};
    write_raw(lp, buf, make_idx(buf, 0x0D, 1, dims, payload, sizeof payload));
    ds = BOGUS;
    st = vae_dataset_load_idx(ip, lp, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_FORMAT, ds, &err, "u8");

    /* A truncated labels file. */
    write_raw(lp, buf, small_labels(buf, 3) - 1);
    ds = BOGUS;
    st = vae_dataset_load_idx(ip, lp, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_FORMAT, ds, &err, lp);

    /* A missing labels file. */
    remove(lp);
    ds = BOGUS;
    st = vae_dataset_load_idx(ip, lp, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_IO, ds, &err, lp);
    remove(ip);
}
END_TEST

START_TEST(test_idx_missing)
{
    char p[4096];
    tu_tmp_path(p, sizeof p, "does-not-exist.idx");
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_idx(p, NULL, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_IO, ds, &err, p);
    ck_assert_ptr_nonnull(strstr(err.message, "No such file"));

    /* A directory opens but cannot be read. */
    const char *dir = getenv("VAE_TEST_TMPDIR");
    ds = BOGUS;
    st = vae_dataset_load_idx(dir && *dir ? dir : "/tmp", NULL, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_IO, ds, &err, NULL);

    /* Missing CSV too. */
    ds = BOGUS;
    st = vae_dataset_load_csv(p, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_IO, ds, &err, "No such file");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* CSV                                                                     */
/* ---------------------------------------------------------------------- */

START_TEST(test_csv_good)
{
    const float want[6] = {1, 2.5f, -3, 4e-3f, 5, 6};
    vae_dataset *ds = csv_load("1,2.5,-3\n4e-3,5,6\n", NULL);
    check_values(ds, 2, 3, want);
    ck_assert_int_eq(vae_dataset_has_labels(ds), 0);
    vae_dataset_free(ds);

    /* CRLF, no final newline, blank and space-only lines, spaces around fields. */
    const char *variants[] = {
        "1,2.5,-3\r\n4e-3,5,6\r\n",
        "1,2.5,-3\n4e-3,5,6",
        "1,2.5,-3\r\n4e-3,5,6",
        "\n\n1,2.5,-3\n\n  \t\n4e-3,5,6\n\n",
        "\r\n1,2.5,-3\r\n\r\n4e-3,5,6\r\n \r\n",
        " 1 , 2.5,\t-3 \n+4e-3 ,5, 6\n",
        ("\xEF\xBB\xBF" "1,2.5,-3\n4e-3,5,6\n"), /* UTF-8 byte order mark */
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        ds = csv_load(variants[i], NULL);
        check_values(ds, 2, 3, want);
        vae_dataset_free(ds);
    }

    /* A header line is skipped when asked. */
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.csv_header = 1;
    ds = csv_load("x,y,z\n1,2.5,-3\n4e-3,5,6\n", &opt);
    check_values(ds, 2, 3, want);
    vae_dataset_free(ds);
    ds = csv_load("a header, with \"anything\" in it;;\r\n1,2.5,-3\r\n4e-3,5,6", &opt);
    check_values(ds, 2, 3, want);
    vae_dataset_free(ds);

    /* A single column, a single row. */
    const float one[1] = {7};
    ds = csv_load("7", NULL);
    check_values(ds, 1, 1, one);
    vae_dataset_free(ds);
}
END_TEST

/* gzip CSV (0.4.0): the same values as the raw file; a truncated or corrupt
 * stream is VAE_ERR_FORMAT naming the gzip error, never a silent short read. */
START_TEST(test_csv_gzip)
{
    const char *text = "1,2.5,-3\n4e-3,5,6\n7,8,9\n";
    const float want[9] = {1, 2.5f, -3, 4e-3f, 5, 6, 7, 8, 9};
    char path[4096];
    tu_tmp_path(path, sizeof path, "good.csv.gz");
    write_gz(path, text, strlen(text));
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st = vae_dataset_load_csv(path, NULL, &ds, &err);
    check_ok(st, ds, &err);
    check_values(ds, 3, 3, want);
    vae_dataset_free(ds);

    size_t len = 0;
    unsigned char *gz = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(gz);
    ck_assert_uint_gt(len, 20);
    /* Cut inside the deflate data: the rows before the cut must not be
     * returned as if they were the whole file. */
    write_raw(path, gz, len - 9);
    ds = BOGUS;
    st = vae_dataset_load_csv(path, NULL, &ds, &err);
    ck_assert_int_eq(st, VAE_ERR_FORMAT);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err.message, "gzip") != NULL, "%s", err.message);
    /* A gzip header followed by garbage. */
    unsigned char bad[32] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memset(bad + 10, 0xff, sizeof bad - 10);
    write_raw(path, bad, sizeof bad);
    st = vae_dataset_load_csv(path, NULL, &ds, &err);
    ck_assert_int_eq(st, VAE_ERR_FORMAT);
    ck_assert_msg(strstr(err.message, "corrupt gzip") != NULL, "%s", err.message);
    free(gz);
    remove(path);
}
END_TEST

START_TEST(test_csv_labels)
{
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.csv_label_column = 0;
    vae_dataset *ds = csv_load("3,0.5,0.25\n1,1,2\n9.0e+00,4,8\n", &opt);
    const float want[6] = {0.5f, 0.25f, 1, 2, 4, 8};
    check_values(ds, 3, 2, want);
    ck_assert_int_eq(vae_dataset_has_labels(ds), 1);
    const int *y = vae_dataset_labels(ds);
    ck_assert(y[0] == 3 && y[1] == 1 && y[2] == 9);
    vae_dataset_free(ds);

    /* Label in the middle, with a header and scaling. */
    opt.csv_label_column = 1;
    opt.csv_header = 1;
    opt.scale = VAE_SCALE_255;
    ds = csv_load("a,label,b\n255,-2,0\n51,7,102\n", &opt);
    const float scaled[4] = {1, 0, 51 / 255.0f, 102 / 255.0f};
    check_values(ds, 2, 2, scaled);
    y = vae_dataset_labels(ds);
    ck_assert(y[0] == -2 && y[1] == 7);
    vae_dataset_free(ds);

    /* Bad labels and label columns. */
    opt.scale = VAE_SCALE_NONE;
    opt.csv_header = 0;
    opt.csv_label_column = 1;
    CSV_FAILS("1,2.5,3\n", &opt, VAE_ERR_FORMAT, "line 1, column 2");
    CSV_FAILS("1,x,3\n", &opt, VAE_ERR_FORMAT, "integer label");
    CSV_FAILS("1,1e12,3\n", &opt, VAE_ERR_FORMAT, "integer label");
    CSV_FAILS("1,,3\n", &opt, VAE_ERR_FORMAT, "empty label");
    opt.csv_label_column = 3;
    CSV_FAILS("1,2,3\n", &opt, VAE_ERR_INVALID, "label column 3");
    opt.csv_label_column = 0;
    CSV_FAILS("1\n2\n", &opt, VAE_ERR_FORMAT, "no feature columns");
}
END_TEST

START_TEST(test_csv_errors)
{
    CSV_FAILS("1,2,3\n4,5,6\n7,8\n", NULL, VAE_ERR_SHAPE, "line 3 has 2 columns, line 1 has 3");
    CSV_FAILS("\n1,2\n\n3,4,5\n", NULL, VAE_ERR_SHAPE, "line 4 has 3 columns, line 2 has 2");
    CSV_FAILS("1,2\n3,4,\n", NULL, VAE_ERR_SHAPE, "line 2");
    CSV_FAILS("1,2\n3,abc\n", NULL, VAE_ERR_FORMAT, "line 2, column 2");
    CSV_FAILS("1,2\n3,4x\n", NULL, VAE_ERR_FORMAT, "\"4x\"");
    CSV_FAILS("1,2\n3 4,5\n", NULL, VAE_ERR_FORMAT, "line 2, column 1");
    CSV_FAILS("1,,2\n", NULL, VAE_ERR_FORMAT, "line 1, column 2: empty field");
    CSV_FAILS("1;2\n", NULL, VAE_ERR_FORMAT, "line 1, column 1");
    CSV_FAILS("1,2\n3,NaN\n", NULL, VAE_ERR_NONFINITE, "line 2, column 2");
    CSV_FAILS("nan,2\n", NULL, VAE_ERR_NONFINITE, "line 1, column 1");
    CSV_FAILS("1,2\n\n5,-inf\n", NULL, VAE_ERR_NONFINITE, "line 3, column 2");
    CSV_FAILS("1,1e999\n", NULL, VAE_ERR_NONFINITE, "column 2");
    CSV_FAILS("", NULL, VAE_ERR_FORMAT, "no data rows");
    CSV_FAILS("\n \r\n\n", NULL, VAE_ERR_FORMAT, "no data rows");
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.csv_header = 1;
    CSV_FAILS("a,b,c\n", &opt, VAE_ERR_FORMAT, "no data rows");
    /* With a header the line numbers still count the header line. */
    CSV_FAILS("a,b\n1,2\n3\n", &opt, VAE_ERR_SHAPE, "line 3 has 1 columns, line 2 has 2");
    /* Dynamic binarisation requested for data outside [0,1]. */
    opt.csv_header = 0;
    opt.binarize = VAE_BINARIZE_DYNAMIC;
    CSV_FAILS("0.5,2\n", &opt, VAE_ERR_INVALID, "[0,1]");
    opt.scale = VAE_SCALE_MINMAX;
    vae_dataset *ds = csv_load("0.5,2\n-1,0\n", &opt);
    ck_assert_int_eq(ds->binarize, VAE_BINARIZE_DYNAMIC);
    vae_dataset_free(ds);
}
END_TEST

/* Write a CSV of `rows` rows of `cols` one-digit columns, (j + r) % 10. */
static void write_wide_csv(const char *path, size_t rows, size_t cols)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            fputc('0' + (int)((j + r) % 10), f);
            fputc(j + 1 < cols ? ',' : '\n', f);
        }
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_csv_long_lines)
{
    /* Lines far longer than any read block. */
    char p[4096];
    tu_tmp_path(p, sizeof p, "long.csv");
    const size_t cols = 50000;
    write_wide_csv(p, 3, cols);
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_load_csv(p, NULL, &ds, &err), VAE_OK);
    ck_assert_uint_eq(vae_dataset_count(ds), 3);
    ck_assert_uint_eq(vae_dataset_dim(ds), cols);
    const float *x = vae_dataset_data(ds);
    size_t bad = 0;
    for (size_t r = 0; r < 3; r++)
        for (size_t j = 0; j < cols; j++)
            bad += x[r * cols + j] != (float)((j + r) % 10);
    ck_assert_uint_eq(bad, 0);
    vae_dataset_free(ds);
    remove(p);
}
END_TEST

START_TEST(test_csv_too_wide)
{
    if (tu_quick()) {
        fprintf(stderr, "test_csv_too_wide: skipped (VAE_TEST_QUICK)\n");
        return;
    }
    char p[4096];
    tu_tmp_path(p, sizeof p, "wide.csv");
    const size_t limit = (size_t)1 << 18;

    /* Exactly 2^18 columns is accepted. */
    write_wide_csv(p, 1, limit);
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_load_csv(p, NULL, &ds, &err), VAE_OK);
    ck_assert_uint_eq(vae_dataset_dim(ds), limit);
    vae_dataset_free(ds);

    /* "0," 2^18 + 1 times: more than 2^18 columns. */
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t j = 0; j <= limit; j++)
        fputs("0,", f);
    fputs("\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ds = BOGUS;
    int st = vae_dataset_load_csv(p, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_LIMIT, ds, &err, "line 1 has more than 262144 columns");
    remove(p);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Arrays, options, subsets                                                */
/* ---------------------------------------------------------------------- */

static const float arr[8] = {0.0f, 0.25f, 0.5f, 1.0f, 0.75f, 0.1f, 0.9f, 0.2f};
static const int arr_labels[4] = {5, 6, 7, 8};

START_TEST(test_array_copy_borrow)
{
    float x[8];
    int y[4];
    memcpy(x, arr, sizeof x);
    memcpy(y, arr_labels, sizeof y);

    vae_dataset *c = array_ds(x, 4, 2, y, VAE_ARRAY_COPY, NULL);
    vae_dataset *b = array_ds(x, 4, 2, NULL, VAE_ARRAY_BORROW, NULL);
    ck_assert_ptr_ne(vae_dataset_data(c), x);
    ck_assert_ptr_eq(vae_dataset_data(b), x);
    ck_assert_ptr_ne(vae_dataset_labels(c), y);
    ck_assert_int_eq(vae_dataset_has_labels(b), 0);
    check_values(c, 4, 2, arr);
    check_values(b, 4, 2, arr);
    ck_assert_float_eq(c->xmin, 0.0f);
    ck_assert_float_eq(c->xmax, 1.0f);

    /* The copy is independent of the caller's arrays afterwards. */
    x[0] = 99;
    y[0] = -1;
    ck_assert_float_eq(vae_dataset_data(c)[0], 0.0f);
    ck_assert_int_eq(vae_dataset_labels(c)[0], 5);
    ck_assert_float_eq(vae_dataset_data(b)[0], 99.0f);
    vae_dataset_free(c);
    vae_dataset_free(b);
}
END_TEST

START_TEST(test_array_errors)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st;

    x[5] = NAN;
    st = vae_dataset_from_array(x, 2, 3, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NONFINITE, ds, &err, "row 1, column 2");
    x[5] = 6;
    x[1] = -INFINITY;
    ds = BOGUS;
    st = vae_dataset_from_array(x, 2, 3, NULL, VAE_ARRAY_BORROW, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NONFINITE, ds, &err, "row 0, column 1");
    x[1] = 2;

    ds = BOGUS;
    st = vae_dataset_from_array(x, 0, 3, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, "n = 0");
    ds = BOGUS;
    st = vae_dataset_from_array(x, 2, 0, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, "d = 0");
    /* Sizes are refused before the array is read. */
    ds = BOGUS;
    st = vae_dataset_from_array(x, ((size_t)1 << 28) + 1, 1, NULL, VAE_ARRAY_COPY, NULL, &ds,
                                &err);
    CHECK_FAILED(st, VAE_ERR_LIMIT, ds, &err, NULL);
    ds = BOGUS;
    st = vae_dataset_from_array(x, 1, ((size_t)1 << 24) + 1, NULL, VAE_ARRAY_BORROW, NULL, &ds,
                                &err);
    CHECK_FAILED(st, VAE_ERR_LIMIT, ds, &err, NULL);
    ds = BOGUS;
    st = vae_dataset_from_array(x, SIZE_MAX, SIZE_MAX, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_LIMIT, ds, &err, NULL);

    ds = BOGUS;
    st = vae_dataset_from_array(x, 2, 3, NULL, 7, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, "mode");

    /* A borrowed array cannot be scaled. */
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.scale = VAE_SCALE_255;
    ds = BOGUS;
    st = vae_dataset_from_array(x, 2, 3, NULL, VAE_ARRAY_BORROW, &opt, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, "borrowed");
    opt.scale = VAE_SCALE_MINMAX;
    ds = BOGUS;
    st = vae_dataset_from_array(x, 2, 3, NULL, VAE_ARRAY_BORROW, &opt, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, "borrowed");

    /* err may be NULL on failure as on success. */
    ds = BOGUS;
    ck_assert_int_eq(vae_dataset_from_array(x, 0, 3, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL),
                     VAE_ERR_INVALID);
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_scale_modes)
{
    const float x[6] = {-2, 0, 2, 6, 4, 1};
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);

    /* Arrays are not scaled by default (the auto scale is only for IDX u8). */
    vae_dataset *ds = array_ds(x, 3, 2, NULL, VAE_ARRAY_COPY, &opt);
    check_values(ds, 3, 2, x);
    vae_dataset_free(ds);

    opt.scale = VAE_SCALE_NONE;
    ds = array_ds(x, 3, 2, NULL, VAE_ARRAY_BORROW, &opt);
    check_values(ds, 3, 2, x);
    vae_dataset_free(ds);

    opt.scale = VAE_SCALE_255;
    ds = array_ds(x, 3, 2, NULL, VAE_ARRAY_COPY, &opt);
    float w255[6];
    for (int i = 0; i < 6; i++)
        w255[i] = x[i] / 255.0f;
    check_values(ds, 3, 2, w255);
    vae_dataset_free(ds);

    opt.scale = VAE_SCALE_MINMAX;
    ds = array_ds(x, 3, 2, NULL, VAE_ARRAY_COPY, &opt);
    const float wmm[6] = {0, 0.25f, 0.5f, 1, 0.75f, 0.375f};
    check_values(ds, 3, 2, wmm);
    ck_assert(ds->xmin == 0.0f && ds->xmax == 1.0f);
    vae_dataset_free(ds);

    /* Constant data maps to all zeros. */
    const float k[4] = {3, 3, 3, 3};
    const float zeros[4] = {0, 0, 0, 0};
    ds = array_ds(k, 2, 2, NULL, VAE_ARRAY_COPY, &opt);
    check_values(ds, 2, 2, zeros);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_options)
{
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    ck_assert_uint_eq(opt.struct_size, sizeof opt);
    ck_assert_int_eq(opt.binarize, VAE_BINARIZE_NONE);
    ck_assert_float_eq(opt.threshold, 0.5f);
    ck_assert_int_eq(opt.csv_header, 0);
    ck_assert_int_eq(opt.csv_label_column, -1);
    vae_dataset_options_init(NULL); /* no crash */

    const float x[2] = {0.25f, 0.75f};
    vae_dataset *ds;
    vae_error err;
    int st;
    struct {
        size_t size;
        int scale, binarize;
        float threshold;
        int header, label;
        const char *needle;
    } bad[] = {
        {0, 0, 0, 0.5f, 0, -1, "struct_size 0"},
        {3, 0, 0, 0.5f, 0, -1, "struct_size"},
        {(size_t)1 << 40, 0, 0, 0.5f, 0, -1, "struct_size"},
        {sizeof opt, 5, 0, 0.5f, 0, -1, "scale 5"},
        {sizeof opt, -2, 0, 0.5f, 0, -1, "scale -2"},
        {sizeof opt, 0, 3, 0.5f, 0, -1, "binarize 3"},
        {sizeof opt, 0, 1, NAN, 0, -1, "threshold"},
        {sizeof opt, 0, 1, INFINITY, 0, -1, "threshold"},
        {sizeof opt, 0, 0, 0.5f, 2, -1, "csv_header 2"},
        {sizeof opt, 0, 0, 0.5f, 0, -2, "csv_label_column -2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vae_dataset_options_init(&opt);
        opt.struct_size = bad[i].size;
        opt.scale = bad[i].scale;
        opt.binarize = bad[i].binarize;
        opt.threshold = bad[i].threshold;
        opt.csv_header = bad[i].header;
        opt.csv_label_column = bad[i].label;
        ds = BOGUS;
        st = vae_dataset_from_array(x, 1, 2, NULL, VAE_ARRAY_COPY, &opt, &ds, &err);
        CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, bad[i].needle);
        ds = BOGUS;
        st = vae_dataset_load_csv("/nonexistent", &opt, &ds, &err);
        CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, bad[i].needle);
        ds = BOGUS;
        st = vae_dataset_load_idx("/nonexistent", NULL, &opt, &ds, &err);
        CHECK_FAILED(st, VAE_ERR_INVALID, ds, &err, bad[i].needle);
    }

    /* An older, smaller struct: the fields it lacks take their defaults,
     * whatever lies in memory after it. */
    vae_dataset_options_init(&opt);
    opt.struct_size = offsetof(vae_dataset_options, csv_header);
    opt.csv_header = 1;
    opt.csv_label_column = 9;
    vae_dataset *c = csv_load("1,2\n3,4\n", &opt);
    ck_assert_uint_eq(vae_dataset_count(c), 2);
    ck_assert_int_eq(vae_dataset_has_labels(c), 0);
    vae_dataset_free(c);
    /* The binarisation fields the older struct does hold are used. */
    opt.binarize = VAE_BINARIZE_THRESHOLD;
    opt.threshold = 0.3f;
    ds = array_ds(x, 1, 2, NULL, VAE_ARRAY_COPY, &opt);
    ck_assert_int_eq(ds->binarize, VAE_BINARIZE_THRESHOLD);
    ck_assert_float_eq(ds->threshold, 0.3f);
    vae_dataset_free(ds);
    /* A struct cut in the middle of a field does not take that field. */
    opt.struct_size = offsetof(vae_dataset_options, threshold) + 2;
    ds = array_ds(x, 1, 2, NULL, VAE_ARRAY_COPY, &opt);
    ck_assert_float_eq(ds->threshold, 0.5f);
    vae_dataset_free(ds);
    /* A minimal struct (struct_size only) means all defaults. */
    opt.struct_size = sizeof(size_t);
    ds = array_ds(x, 1, 2, NULL, VAE_ARRAY_COPY, &opt);
    ck_assert_int_eq(ds->binarize, VAE_BINARIZE_NONE);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_subset)
{
    vae_dataset *src = array_ds(arr, 4, 2, arr_labels, VAE_ARRAY_BORROW, NULL);
    ck_assert_int_eq(vae_dataset_set_binarize(src, VAE_BINARIZE_THRESHOLD, 0.3f), VAE_OK);
    vae_dataset *first = NULL, *last = NULL, *all = NULL;
    vae_error err;

    ck_assert_int_eq(vae_dataset_subset(src, 0, 2, &first, &err), VAE_OK);
    check_values(first, 2, 2, arr);
    ck_assert_int_eq(vae_dataset_labels(first)[0], 5);
    ck_assert_int_eq(vae_dataset_labels(first)[1], 6);

    ck_assert_int_eq(vae_dataset_subset(src, 4 - 1, 1, &last, &err), VAE_OK);
    check_values(last, 1, 2, arr + 6);
    ck_assert_int_eq(vae_dataset_labels(last)[0], 8);
    ck_assert(last->xmin == 0.2f && last->xmax == 0.9f);

    ck_assert_int_eq(vae_dataset_subset(src, 0, 4, &all, &err), VAE_OK);
    check_values(all, 4, 2, arr);
    /* A copy, even of a borrowed dataset, with the binarisation inherited. */
    ck_assert_ptr_ne(vae_dataset_data(all), arr);
    ck_assert_int_eq(all->binarize, VAE_BINARIZE_THRESHOLD);
    ck_assert_float_eq(all->threshold, 0.3f);

    /* Out of range. */
    const size_t bad[][2] = {{0, 0}, {0, 5}, {3, 2}, {4, 1}, {5, 1}, {SIZE_MAX, 2}, {1, SIZE_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vae_dataset *s = BOGUS;
        int st = vae_dataset_subset(src, bad[i][0], bad[i][1], &s, &err);
        CHECK_FAILED(st, VAE_ERR_INVALID, s, &err, "do not fit");
    }
    vae_dataset_free(src);

    /* The subsets outlive their source. */
    check_values(first, 2, 2, arr);
    vae_dataset *sub2 = NULL;
    ck_assert_int_eq(vae_dataset_subset(all, 1, 2, &sub2, NULL), VAE_OK);
    check_values(sub2, 2, 2, arr + 2);
    vae_dataset_free(sub2);
    vae_dataset_free(first);
    vae_dataset_free(last);
    vae_dataset_free(all);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Binarisation and gathering                                              */
/* ---------------------------------------------------------------------- */

START_TEST(test_gather_threshold)
{
    vae_dataset *ds = array_ds(arr, 4, 2, NULL, VAE_ARRAY_COPY, NULL);
    const size_t idx[3] = {3, 0, 3};
    float out[6];
    vt_rng rng;
    vt_rng_seed(&rng, 1, 0);

    vds_gather(ds, idx, 3, out, &rng);
    const float plain[6] = {0.9f, 0.2f, 0.0f, 0.25f, 0.9f, 0.2f};
    ck_assert_mem_eq(out, plain, sizeof out);

    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_THRESHOLD, 0.25f), VAE_OK);
    vds_gather(ds, idx, 3, out, &rng);
    const float thr[6] = {1, 0, 0, 0, 1, 0}; /* v > 0.25: 0.25 itself gives 0 */
    ck_assert_mem_eq(out, thr, sizeof out);

    /* Binarisation set through the options at creation. */
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    opt.binarize = VAE_BINARIZE_THRESHOLD;
    opt.threshold = 0.15f;
    vae_dataset *ds2 = array_ds(arr, 4, 2, NULL, VAE_ARRAY_BORROW, &opt);
    vds_gather(ds2, idx, 3, out, &rng);
    const float thr2[6] = {1, 1, 0, 1, 1, 1};
    ck_assert_mem_eq(out, thr2, sizeof out);
    vae_dataset_free(ds2);

    /* Back to none. */
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_NONE, 0.5f), VAE_OK);
    vds_gather(ds, idx, 3, out, &rng);
    ck_assert_mem_eq(out, plain, sizeof out);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_gather_dynamic)
{
    enum { D = 7 };
    const float v[D] = {0.0f, 0.02f, 0.1f, 0.5f, 0.75f, 0.99f, 1.0f};
    vae_dataset *ds = array_ds(v, 1, D, NULL, VAE_ARRAY_COPY, NULL);
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_OK);

    const size_t draws = tu_quick() ? 4000 : 40000;
    size_t *idx = calloc(draws, sizeof *idx); /* all row 0 */
    float *out = malloc(draws * D * sizeof *out);
    ck_assert(idx && out);
    vt_rng rng;
    vt_rng_seed(&rng, 12345, 7);
    vds_gather(ds, idx, draws, out, &rng);

    for (int j = 0; j < D; j++) {
        double sum = 0;
        size_t other = 0;
        for (size_t i = 0; i < draws; i++) {
            float b = out[i * D + j];
            other += b != 0.0f && b != 1.0f;
            sum += b;
        }
        ck_assert_uint_eq(other, 0);
        double p = v[j], mean = sum / (double)draws;
        /* 5 binomial standard errors; p = 0 and p = 1 are exact. */
        double tol = 5.0 * sqrt(p * (1 - p) / (double)draws);
        ck_assert_msg(fabs(mean - p) <= tol, "value %g: mean %g over %zu draws (tol %g)", p,
                      mean, draws, tol);
    }

    /* Reproducible: one uniform per value, row-major, from the given rng. */
    vt_rng a, b;
    vt_rng_seed(&a, 99, 1);
    vt_rng_seed(&b, 99, 1);
    vds_gather(ds, idx, 10, out, &a);
    size_t differ = 0;
    for (size_t i = 0; i < 10 * D; i++)
        differ += out[i] != (vt_rng_uniform(&b) < (double)v[i % D] ? 1.0f : 0.0f);
    ck_assert_uint_eq(differ, 0);
    ck_assert(vt_rng_u64(&a) == vt_rng_u64(&b));
    free(idx);
    free(out);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_set_binarize_errors)
{
    vae_dataset *ds = array_ds(arr, 4, 2, NULL, VAE_ARRAY_COPY, NULL);
    ck_assert_str_eq(vae_dataset_errmsg(ds), "");
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_THRESHOLD, 0.4f), VAE_OK);

    /* Each failure keeps the previous setting and says why. */
    ck_assert_int_eq(vae_dataset_set_binarize(ds, 3, 0.5f), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "mode 3"));
    ck_assert_int_eq(vae_dataset_set_binarize(ds, -1, 0.5f), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_THRESHOLD, NAN), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "threshold"));
    ck_assert_int_eq(ds->binarize, VAE_BINARIZE_THRESHOLD);
    ck_assert_float_eq(ds->threshold, 0.4f);

    /* Dynamic binarisation needs values in [0,1]. */
    const float wide[4] = {-0.5f, 0.5f, 1.0f, 0.0f};
    vae_dataset *w = array_ds(wide, 2, 2, NULL, VAE_ARRAY_COPY, NULL);
    ck_assert_int_eq(vae_dataset_set_binarize(w, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(w), "[0,1]"));
    ck_assert_int_eq(w->binarize, VAE_BINARIZE_NONE);
    const float big[2] = {0.5f, 1.5f};
    vae_dataset *b = array_ds(big, 1, 2, NULL, VAE_ARRAY_COPY, NULL);
    ck_assert_int_eq(vae_dataset_set_binarize(b, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_ERR_INVALID);
    /* ... but a threshold works on any range, and the data is untouched. */
    ck_assert_int_eq(vae_dataset_set_binarize(w, VAE_BINARIZE_THRESHOLD, 0.0f), VAE_OK);
    check_values(w, 2, 2, wide);
    ck_assert_uint_eq(vae_dataset_count(ds), 4);
    check_values(ds, 4, 2, arr);
    vae_dataset_free(b);
    vae_dataset_free(w);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_null_arguments)
{
    const float x[2] = {0, 1};
    vae_dataset *ds = BOGUS;
    vae_error err;
    int st;

    st = vae_dataset_load_idx(NULL, NULL, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NULL, ds, &err, "images_path");
    ck_assert_int_eq(vae_dataset_load_idx("x", NULL, NULL, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(err.status, VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_load_idx(NULL, NULL, NULL, NULL, NULL), VAE_ERR_NULL);

    ds = BOGUS;
    st = vae_dataset_load_csv(NULL, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NULL, ds, &err, "path");
    ck_assert_int_eq(vae_dataset_load_csv("x", NULL, NULL, NULL), VAE_ERR_NULL);

    ds = BOGUS;
    st = vae_dataset_from_array(NULL, 1, 2, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NULL, ds, &err, "x is NULL");
    ck_assert_int_eq(vae_dataset_from_array(x, 1, 2, NULL, VAE_ARRAY_COPY, NULL, NULL, &err),
                     VAE_ERR_NULL);
    ck_assert_str_eq(err.message, "vae_dataset_from_array: out is NULL");

    ds = BOGUS;
    st = vae_dataset_subset(NULL, 0, 1, &ds, &err);
    CHECK_FAILED(st, VAE_ERR_NULL, ds, &err, "src");
    vae_dataset *good = array_ds(x, 1, 2, NULL, VAE_ARRAY_COPY, NULL);
    ck_assert_int_eq(vae_dataset_subset(good, 0, 1, NULL, NULL), VAE_ERR_NULL);

    ck_assert_int_eq(vae_dataset_set_binarize(NULL, VAE_BINARIZE_NONE, 0.5f), VAE_ERR_NULL);
    ck_assert_uint_eq(vae_dataset_count(NULL), 0);
    ck_assert_uint_eq(vae_dataset_dim(NULL), 0);
    ck_assert_int_eq(vae_dataset_has_labels(NULL), 0);
    ck_assert_ptr_null(vae_dataset_data(NULL));
    ck_assert_ptr_null(vae_dataset_labels(NULL));
    ck_assert_ptr_nonnull(vae_dataset_errmsg(NULL));
    vae_dataset_free(NULL);

    /* A success resets err. */
    memset(&err, 0x5a, sizeof err);
    vae_dataset *s = NULL;
    ck_assert_int_eq(vae_dataset_subset(good, 0, 1, &s, &err), VAE_OK);
    ck_assert_int_eq(err.status, VAE_OK);
    ck_assert_str_eq(err.message, "");
    vae_dataset_free(s);
    vae_dataset_free(good);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *idx = tcase_create("idx");
    tcase_set_timeout(idx, 600);
    tcase_add_test(idx, test_mnist);
    tcase_add_test(idx, test_idx_u8);
    tcase_add_test(idx, test_idx_f32);
    tcase_add_test(idx, test_idx_truncated);
    tcase_add_test(idx, test_idx_trailing);
    tcase_add_test(idx, test_idx_limits);
    tcase_add_test(idx, test_idx_bad_header);
    tcase_add_test(idx, test_idx_labels);
    tcase_add_test(idx, test_idx_missing);
    suite_add_tcase(s, idx);

    TCase *csv = tcase_create("csv");
    tcase_set_timeout(csv, 600);
    tcase_add_test(csv, test_csv_good);
    tcase_add_test(csv, test_csv_gzip);
    tcase_add_test(csv, test_csv_labels);
    tcase_add_test(csv, test_csv_errors);
    tcase_add_test(csv, test_csv_long_lines);
    tcase_add_test(csv, test_csv_too_wide);
    suite_add_tcase(s, csv);

    TCase *ds = tcase_create("dataset");
    tcase_set_timeout(ds, 600);
    tcase_add_test(ds, test_array_copy_borrow);
    tcase_add_test(ds, test_array_errors);
    tcase_add_test(ds, test_scale_modes);
    tcase_add_test(ds, test_options);
    tcase_add_test(ds, test_subset);
    tcase_add_test(ds, test_gather_threshold);
    tcase_add_test(ds, test_gather_dynamic);
    tcase_add_test(ds, test_set_binarize_errors);
    tcase_add_test(ds, test_null_arguments);
    suite_add_tcase(s, ds);
    return s;
}

int main(void) { return tu_run_suite(data_suite()); }
