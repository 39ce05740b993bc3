/* Check suite for byte-backed datasets: an IDX file of u8 images stays
 * bytes in its vae_dataset (1 byte per value) and is converted as rows are
 * drawn. The oracle is the float path these datasets replaced: the raw
 * bytes read here with zlib, converted to float and given to
 * vae_dataset_from_array(VAE_ARRAY_COPY) with the same scale, which scales
 * a float array exactly as the IDX loader used to. Checked bit for bit:
 * every byte value under every scale, real MNIST rows, threshold and
 * dynamic binarisation, subsets, a short training run; then the lazy float
 * copy of vae_dataset_data (made once when threads race for it, NULL when
 * out of memory) and the memory a dataset holds, counted by interposing
 * the allocator (as tests/test-alloc.c does; skipped under sanitizers and
 * valgrind, which own malloc). */
#define _GNU_SOURCE /* malloc_usable_size, pthread_barrier_t */
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data/dataset.h"
#include "libvae/vae.h"
#include "tensor/rng.h"
#include "testutil.h"

/* ---------------------------------------------------------------------- */
/* Allocation accounting                                                   */
/* ---------------------------------------------------------------------- */

/* ASan and TSan own malloc: replacing it aborts before main. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#if !defined(SANITIZED) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define SANITIZED 1
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Bytes in live blocks (malloc_usable_size), their peak since the last
 * mark, and the smallest request that fails (SIZE_MAX: none fails). Signed:
 * blocks from memalign & co. are freed here without having been counted. */
static _Atomic long long live_bytes, peak_bytes;
static _Atomic size_t fail_min = SIZE_MAX;

#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static void counted(void *p)
{
    if (!p)
        return;
    long long now = atomic_fetch_add(&live_bytes, (long long)malloc_usable_size(p)) +
                    (long long)malloc_usable_size(p);
    long long pk = atomic_load(&peak_bytes);
    while (now > pk && !atomic_compare_exchange_weak(&peak_bytes, &pk, now))
        ;
}

void *malloc(size_t n)
{
    if (n >= atomic_load(&fail_min))
        return NULL;
    void *p = __libc_malloc(n);
    counted(p);
    return p;
}

void *calloc(size_t a, size_t b)
{
    if (b && a >= atomic_load(&fail_min) / b)
        return NULL;
    void *p = __libc_calloc(a, b);
    counted(p);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (n >= atomic_load(&fail_min))
        return NULL;
    long long old = p ? (long long)malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0) {
        atomic_fetch_sub(&live_bytes, old);
        counted(q);
    }
    return q;
}

void free(void *p)
{
    if (p)
        atomic_fetch_sub(&live_bytes, (long long)malloc_usable_size(p));
    __libc_free(p);
}
#endif

/* Whether the counters above see the library's allocations. */
static int counting(void)
{
    return !SANITIZED && !tu_quick(); /* the valgrind setup replaces malloc too */
}

/* Start a measurement window: the live bytes now; the peak restarts here. */
static long long mark(void)
{
    long long now = atomic_load(&live_bytes);
    atomic_store(&peak_bytes, now);
    return now;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write n images of rows x cols u8 pixels as a gzip IDX file. */
static void write_idx_u8(const char *path, const unsigned char *px, uint32_t n, uint32_t rows,
                         uint32_t cols)
{
    unsigned char h[16] = {0, 0, 0x08, 3};
    put_be32(h + 4, n);
    put_be32(h + 8, rows);
    put_be32(h + 12, cols);
    gzFile f = gzopen(path, "wb1");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, h, sizeof h), (int)sizeof h);
    size_t len = (size_t)n * rows * cols;
    for (size_t off = 0; off < len; off += 1u << 20) {
        unsigned k = (unsigned)(len - off < (1u << 20) ? len - off : 1u << 20);
        ck_assert_int_eq(gzwrite(f, px + off, k), (int)k);
    }
    ck_assert_int_eq(gzclose(f), Z_OK);
}

/* The pixels of an IDX u8 images file, read here with zlib (not with the
 * library's reader): *n images of *d bytes, malloc'd. */
static unsigned char *read_idx_u8(const char *path, size_t *n, size_t *d)
{
    gzFile f = gzopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char h[16];
    ck_assert_int_eq(gzread(f, h, 16), 16);
    ck_assert(h[0] == 0 && h[1] == 0 && h[2] == 0x08 && h[3] == 3);
    *n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
    size_t r = (size_t)h[8] << 24 | (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
    size_t c = (size_t)h[12] << 24 | (size_t)h[13] << 16 | (size_t)h[14] << 8 | h[15];
    *d = r * c;
    unsigned char *px = malloc(*n * *d);
    ck_assert_ptr_nonnull(px);
    for (size_t off = 0, len = *n * *d; off < len;) {
        int k = gzread(f, px + off, (unsigned)(len - off < (1u << 20) ? len - off : 1u << 20));
        ck_assert_int_gt(k, 0);
        off += (size_t)k;
    }
    gzclose(f);
    return px;
}

static vae_dataset *load(const char *path, int scale, int binarize)
{
    vae_dataset_options o;
    vae_dataset_options_init(&o);
    o.scale = scale;
    o.binarize = binarize;
    vae_dataset *ds = NULL;
    vae_error err;
    int st = vae_dataset_load_idx(path, NULL, &o, &ds, &err);
    ck_assert_msg(st == VAE_OK, "load %s: %s", path, err.message);
    return ds;
}

/* The float path: the bytes as floats, scaled by vae_dataset_from_array
 * (VAE_ARRAY_COPY) the way the IDX loader scaled them before byte storage.
 * VAE_SCALE_AUTO meant VAE_SCALE_255 for u8 images. */
static vae_dataset *float_path(const unsigned char *px, size_t n, size_t d, int scale,
                               int binarize)
{
    float *x = malloc(n * d * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)px[i];
    vae_dataset_options o;
    vae_dataset_options_init(&o);
    o.scale = scale == VAE_SCALE_AUTO ? VAE_SCALE_255 : scale;
    o.binarize = binarize;
    vae_dataset *ds = NULL;
    vae_error err;
    int st = vae_dataset_from_array(x, n, d, NULL, VAE_ARRAY_COPY, &o, &ds, &err);
    free(x);
    ck_assert_msg(st == VAE_OK, "from_array: %s", err.message);
    ck_assert_ptr_null(ds->u8);
    return ds;
}

/* Gather rows idx[0..n) of a and of b with generators seeded alike; the
 * outputs and the generators' states afterwards must agree bit for bit. */
static void same_gather(const vae_dataset *a, const vae_dataset *b, const size_t *idx, size_t n,
                        uint64_t seed, const char *what)
{
    size_t d = a->d;
    float *oa = malloc(n * d * sizeof *oa), *ob = malloc(n * d * sizeof *ob);
    ck_assert(oa && ob);
    vt_rng ra, rb;
    vt_rng_seed(&ra, seed, 3);
    vt_rng_seed(&rb, seed, 3);
    vds_gather(a, idx, n, oa, &ra);
    vds_gather(b, idx, n, ob, &rb);
    size_t differ = 0;
    for (size_t i = 0; i < n * d; i++)
        differ += memcmp(oa + i, ob + i, sizeof *oa) != 0;
    ck_assert_msg(differ == 0, "%s: %zu of %zu gathered values differ", what, differ, n * d);
    ck_assert_msg(vt_rng_u64(&ra) == vt_rng_u64(&rb), "%s: generators diverged", what);
    free(oa);
    free(ob);
}

static size_t *all_rows(size_t n)
{
    size_t *idx = malloc(n * sizeof *idx);
    ck_assert_ptr_nonnull(idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    return idx;
}

/* A reproducible scramble of 0..n-1 (the order of a training epoch). */
static size_t *shuffled_rows(size_t n, uint64_t seed)
{
    size_t *idx = all_rows(n);
    vt_rng r;
    vt_rng_seed(&r, seed, 9);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(vt_rng_u64(&r) % i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    return idx;
}

static int bits_eq(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static float *lazy_of(const vae_dataset *ds)
{
    return atomic_load(&((vae_dataset *)ds)->lazy);
}

/* A synthetic u8 file of n x 784 pseudo-random pixels, MNIST-like: most 0,
 * some 255, the rest anything. */
static unsigned char *synthetic_px(size_t n)
{
    unsigned char *px = malloc(n * 784);
    ck_assert_ptr_nonnull(px);
    uint64_t s = 0x2545F4914F6CDD1DULL;
    for (size_t i = 0; i < n * 784; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned v = (unsigned)(s >> 40);
        px[i] = (v & 3) == 0 ? (unsigned char)(v >> 8) : (v & 3) == 1 ? 255 : 0;
    }
    return px;
}

static const char *synthetic_file(char *path, size_t len, size_t n, unsigned char **px_out)
{
    tu_tmp_path(path, len, "u8-synthetic.idx.gz");
    unsigned char *px = synthetic_px(n);
    write_idx_u8(path, px, (uint32_t)n, 28, 28);
    if (px_out)
        *px_out = px;
    else
        free(px);
    return path;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                  */
/* ---------------------------------------------------------------------- */

/* Every byte value, every scale: the same values (bits), value range and
 * binarisation checks as the float path, and the closed forms. */
START_TEST(test_every_byte_value)
{
    static const int scales[] = {VAE_SCALE_AUTO, VAE_SCALE_NONE, VAE_SCALE_255, VAE_SCALE_MINMAX};
    /* 4 images of 8x8: all 256 values, then a file of one value only
     * (MINMAX's zero span) and one of 3..200 only (MINMAX's offset). */
    unsigned char all[256], flat[256], mid[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)(i * 97 % 256);
        flat[i] = 77;
        mid[i] = (unsigned char)(3 + i * 197 / 255);
    }
    const unsigned char *files[3] = {all, flat, mid};
    char path[4096];
    tu_tmp_path(path, sizeof path, "u8-bytes.idx.gz");
    size_t *idx = all_rows(4);
    for (int f = 0; f < 3; f++) {
        write_idx_u8(path, files[f], 4, 8, 8);
        for (size_t s = 0; s < sizeof scales / sizeof *scales; s++) {
            vae_dataset *b = load(path, scales[s], VAE_BINARIZE_NONE);
            vae_dataset *fl = float_path(files[f], 4, 64, scales[s], VAE_BINARIZE_NONE);
            ck_assert_ptr_nonnull(b->u8);
            ck_assert_ptr_null(b->x);
            ck_assert_msg(bits_eq(b->xmin, fl->xmin) && bits_eq(b->xmax, fl->xmax),
                          "file %d scale %d: range [%g, %g], float path [%g, %g]", f, scales[s],
                          (double)b->xmin, (double)b->xmax, (double)fl->xmin, (double)fl->xmax);
            same_gather(b, fl, idx, 4, 1, "every byte");
            const float *x = vae_dataset_data(b), *y = vae_dataset_data(fl);
            ck_assert_mem_eq(x, y, 256 * sizeof *x);
            /* The closed forms, in double. */
            int lo = 255, hi = 0;
            for (int i = 0; i < 256; i++) {
                lo = files[f][i] < lo ? files[f][i] : lo;
                hi = files[f][i] > hi ? files[f][i] : hi;
            }
            for (int i = 0; i < 256; i++) {
                int v = files[f][i];
                double span = hi - lo;
                double want = scales[s] == VAE_SCALE_NONE     ? v
                              : scales[s] == VAE_SCALE_MINMAX ? (span > 0 ? (v - lo) / span : 0)
                                                              : v / 255.0;
                ck_assert_msg(x[i] == (float)want, "file %d scale %d byte %d: %.9g, want %.9g", f,
                              scales[s], v, (double)x[i], want);
            }
            /* The checks that read the range agree too. */
            ck_assert_int_eq(vae_dataset_set_binarize(b, VAE_BINARIZE_DYNAMIC, 0.5f),
                             vae_dataset_set_binarize(fl, VAE_BINARIZE_DYNAMIC, 0.5f));
            vae_dataset_free(b);
            vae_dataset_free(fl);
        }
    }
    remove(path);
    free(idx);
}
END_TEST

/* Real MNIST: gather (plain, threshold, dynamic; options or set_binarize),
 * vae_dataset_gather, vae_dataset_data and a short training run give the
 * float path's bits. */
START_TEST(test_mnist_matches_float_path)
{
    char img[4096];
    if (!tu_mnist_file(img, "t10k-images-idx3-ubyte.gz")) {
        tu_skip("test_mnist_matches_float_path", "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    size_t n, d;
    unsigned char *px = read_idx_u8(img, &n, &d);
    ck_assert_uint_eq(n, 10000);
    ck_assert_uint_eq(d, 784);
    vae_dataset *b = load(img, VAE_SCALE_AUTO, VAE_BINARIZE_NONE);
    vae_dataset *fl = float_path(px, n, d, VAE_SCALE_AUTO, VAE_BINARIZE_NONE);
    ck_assert_ptr_nonnull(b->u8);
    ck_assert_mem_eq(b->u8, px, n * d);
    ck_assert(bits_eq(b->xmin, fl->xmin) && bits_eq(b->xmax, fl->xmax));

    size_t *rows = all_rows(n), *perm = shuffled_rows(n, 5);
    same_gather(b, fl, rows, n, 1, "mnist, all rows");
    same_gather(b, fl, perm, n, 2, "mnist, shuffled");
    /* Training and evaluation never make the float copy. */
    ck_assert_ptr_null(lazy_of(b));

    /* vae_dataset_data: the float path's array and (float)byte / 255.0f. */
    const float *x = vae_dataset_data(b);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_eq(x, lazy_of(b));
    ck_assert_ptr_eq(vae_dataset_data(b), x);
    ck_assert_int_eq(memcmp(x, vae_dataset_data(fl), n * d * sizeof *x), 0);
    size_t bad = 0;
    for (size_t i = 0; i < n * d; i++)
        bad += !bits_eq(x[i], (float)px[i] / 255.0f);
    ck_assert_uint_eq(bad, 0);

    /* Binarisation, set afterwards and given at load. */
    ck_assert_int_eq(vae_dataset_set_binarize(b, VAE_BINARIZE_THRESHOLD, 0.5f), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_binarize(fl, VAE_BINARIZE_THRESHOLD, 0.5f), VAE_OK);
    same_gather(b, fl, perm, n, 3, "threshold 0.5");
    /* A threshold equal to a pixel value: 128/255 itself maps to 0. */
    ck_assert_int_eq(vae_dataset_set_binarize(b, VAE_BINARIZE_THRESHOLD, 128.0f / 255.0f), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_binarize(fl, VAE_BINARIZE_THRESHOLD, 128.0f / 255.0f), VAE_OK);
    same_gather(b, fl, perm, n, 4, "threshold 128/255");
    ck_assert_int_eq(vae_dataset_set_binarize(b, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_binarize(fl, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_OK);
    same_gather(b, fl, perm, n, 5, "dynamic");
    vae_dataset *bd = load(img, VAE_SCALE_AUTO, VAE_BINARIZE_DYNAMIC);
    same_gather(bd, fl, perm, 1000, 6, "dynamic from the options");

    /* The public keyed gather. */
    float *ga = malloc(64 * d * sizeof *ga), *gb = malloc(64 * d * sizeof *gb);
    ck_assert(ga && gb);
    ck_assert_int_eq(vae_dataset_gather(b, perm + 100, 64, 7, 3, ga, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_gather(fl, perm + 100, 64, 7, 3, gb, NULL), VAE_OK);
    ck_assert_int_eq(memcmp(ga, gb, 64 * d * sizeof *ga), 0);
    free(ga);
    free(gb);
    vae_dataset_free(bd);
    vae_dataset_free(b);
    vae_dataset_free(fl);
    free(rows);
    free(perm);
    free(px);
}
END_TEST

/* Training and evaluation on a byte-backed dataset: the float path's
 * figures bit for bit, and no float copy of the data made. */
START_TEST(test_training_same_bits)
{
    char path[4096];
    unsigned char *px;
    size_t n = 600;
    synthetic_file(path, sizeof path, n, &px);
    vae_dataset *b = load(path, VAE_SCALE_AUTO, VAE_BINARIZE_DYNAMIC);
    vae_dataset *fl = float_path(px, n, 784, VAE_SCALE_AUTO, VAE_BINARIZE_DYNAMIC);
    remove(path);
    vae_elbo_stats st[2][2];
    for (int k = 0; k < 2; k++) {
        vae_model_config c;
        vae_model_config_init(&c);
        c.input_dim = 784;
        c.n_hidden = 1;
        c.hidden[0] = 32;
        c.latent_dim = 4;
        c.seed = 11;
        vae_model *m = NULL;
        vae_optimizer *o = NULL;
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
        ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
        ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
        const vae_dataset *ds = k ? fl : b;
        ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 50, NULL, NULL, &st[k][0]), VAE_OK);
        ck_assert_int_eq(vae_model_evaluate(m, ds, 100, &st[k][1]), VAE_OK);
        vae_optimizer_free(o);
        vae_model_free(m);
    }
    for (int j = 0; j < 2; j++) {
        ck_assert_msg(memcmp(&st[0][j].elbo, &st[1][j].elbo, sizeof(double)) == 0,
                      "elbo %.17g vs float path %.17g", st[0][j].elbo, st[1][j].elbo);
        ck_assert(memcmp(&st[0][j].kl, &st[1][j].kl, sizeof(double)) == 0);
    }
    ck_assert_ptr_null(lazy_of(b));
    vae_dataset_free(b);
    vae_dataset_free(fl);
    free(px);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Subsets                                                                 */
/* ---------------------------------------------------------------------- */

START_TEST(test_subset_bytes)
{
    char path[4096];
    unsigned char *px;
    size_t n = 500, d = 784;
    synthetic_file(path, sizeof path, n, &px);
    int labels[500];
    for (size_t i = 0; i < n; i++)
        labels[i] = (int)(i % 10);
    for (int minmax = 0; minmax <= 1; minmax++) {
        int scale = minmax ? VAE_SCALE_MINMAX : VAE_SCALE_AUTO;
        vae_dataset *b = load(path, scale, VAE_BINARIZE_THRESHOLD);
        vae_dataset *fl = float_path(px, n, d, scale, VAE_BINARIZE_THRESHOLD);
        /* Conditions come along (labels: test_subset_labels). */
        float *cond = malloc(n * 2 * sizeof *cond);
        ck_assert_ptr_nonnull(cond);
        for (size_t i = 0; i < 2 * n; i++)
            cond[i] = (float)labels[i / 2] + (float)(i % 2);
        ck_assert_int_eq(vae_dataset_set_conditions(b, cond, n, 2), VAE_OK);

        vae_dataset *sb = NULL, *sf = NULL, *ssb = NULL;
        ck_assert_int_eq(vae_dataset_subset(b, 123, 300, &sb, NULL), VAE_OK);
        ck_assert_int_eq(vae_dataset_subset(fl, 123, 300, &sf, NULL), VAE_OK);
        ck_assert_ptr_nonnull(sb->u8);
        ck_assert_mem_eq(sb->u8, px + 123 * d, 300 * d);
        ck_assert_mem_eq(sb->lut, b->lut, sizeof b->lut);
        ck_assert(bits_eq(sb->xmin, sf->xmin) && bits_eq(sb->xmax, sf->xmax));
        ck_assert_int_eq(sb->binarize, VAE_BINARIZE_THRESHOLD);
        ck_assert_uint_eq(vae_dataset_cond_dim(sb), 2);
        ck_assert_mem_eq(vae_dataset_conditions(sb), cond + 123 * 2, 300 * 2 * sizeof *cond);
        size_t *rows = shuffled_rows(300, 8);
        same_gather(sb, sf, rows, 300, 1, "subset, threshold");
        ck_assert_int_eq(vae_dataset_set_binarize(sb, VAE_BINARIZE_NONE, 0.5f), VAE_OK);
        ck_assert_int_eq(vae_dataset_set_binarize(sf, VAE_BINARIZE_NONE, 0.5f), VAE_OK);
        same_gather(sb, sf, rows, 300, 2, "subset, plain");
        size_t bytes = 300 * d * sizeof(float);
        ck_assert_int_eq(memcmp(vae_dataset_data(sb), vae_dataset_data(sf), bytes), 0);
        /* The subset's float copy is its own: the parent makes none. */
        ck_assert_ptr_null(lazy_of(b));
        /* A subset of a subset. */
        ck_assert_int_eq(vae_dataset_subset(sb, 299, 1, &ssb, NULL), VAE_OK);
        ck_assert_ptr_nonnull(ssb->u8);
        ck_assert_int_eq(memcmp(vae_dataset_data(ssb), vae_dataset_data(fl) + 422 * d,
                                d * sizeof(float)),
                         0);
        free(rows);
        free(cond);
        vae_dataset_free(ssb);
        vae_dataset_free(sb);
        vae_dataset_free(sf);
        vae_dataset_free(b);
        vae_dataset_free(fl);
    }
    remove(path);
    free(px);
}
END_TEST

/* Labels of a byte dataset travel with subsets. */
START_TEST(test_subset_labels)
{
    char path[4096], lpath[4096];
    size_t n = 50;
    synthetic_file(path, sizeof path, n, NULL);
    tu_tmp_path(lpath, sizeof lpath, "u8-labels.idx");
    unsigned char l[8 + 50] = {0, 0, 8, 1};
    put_be32(l + 4, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        l[8 + i] = (unsigned char)(i * 7 % 10);
    ck_assert_int_eq(tu_write_file(lpath, l, sizeof l), 0);
    vae_dataset *b = NULL, *s = NULL;
    ck_assert_int_eq(vae_dataset_load_idx(path, lpath, NULL, &b, NULL), VAE_OK);
    ck_assert_ptr_nonnull(b->u8);
    ck_assert_int_eq(vae_dataset_set_onehot(b, 10), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(b, 10, 20, &s, NULL), VAE_OK);
    for (size_t i = 0; i < 20; i++) {
        ck_assert_int_eq(vae_dataset_labels(s)[i], (int)((i + 10) * 7 % 10));
        ck_assert_float_eq(vae_dataset_conditions(s)[i * 10 + (size_t)vae_dataset_labels(s)[i]],
                           1.0f);
    }
    vae_dataset_free(s);
    vae_dataset_free(b);
    remove(path);
    remove(lpath);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The lazy float copy                                                     */
/* ---------------------------------------------------------------------- */

enum { RACERS = 4 };

typedef struct race {
    const vae_dataset *ds;
    pthread_barrier_t *go;
    const float *got;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    pthread_barrier_wait(r->go);
    r->got = vae_dataset_data(r->ds);
    return NULL;
}

/* Threads calling vae_dataset_data at once on a fresh byte dataset all get
 * one array, with the right values; nothing leaks (valgrind, ASan). */
START_TEST(test_lazy_threads)
{
    char path[4096];
    unsigned char *px;
    size_t n = 1000, d = 784;
    synthetic_file(path, sizeof path, n, &px);
    vae_dataset *all = load(path, VAE_SCALE_AUTO, VAE_BINARIZE_NONE);
    remove(path);
    int reps = tu_quick() ? 5 : 100;
    for (int rep = 0; rep < reps; rep++) {
        vae_dataset *ds = NULL;
        /* A fresh dataset each time (a subset: it has no float copy yet). */
        ck_assert_int_eq(vae_dataset_subset(all, (size_t)rep % 7, 200, &ds, NULL), VAE_OK);
        ck_assert_ptr_null(lazy_of(ds));
        pthread_barrier_t go;
        ck_assert_int_eq(pthread_barrier_init(&go, NULL, RACERS), 0);
        race r[RACERS];
        pthread_t t[RACERS];
        for (int i = 0; i < RACERS; i++) {
            r[i] = (race){ds, &go, NULL};
            ck_assert_int_eq(pthread_create(&t[i], NULL, racer, &r[i]), 0);
        }
        for (int i = 0; i < RACERS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&go);
        ck_assert_ptr_nonnull(r[0].got);
        for (int i = 1; i < RACERS; i++)
            ck_assert_ptr_eq(r[i].got, r[0].got);
        ck_assert_ptr_eq(lazy_of(ds), r[0].got);
        size_t first = (size_t)rep % 7, bad = 0;
        for (size_t i = 0; i < 200 * d; i++)
            bad += !bits_eq(r[0].got[i], (float)px[first * d + i] / 255.0f);
        ck_assert_uint_eq(bad, 0);
        vae_dataset_free(ds);
    }
    vae_dataset_free(all);
    free(px);
}
END_TEST

/* Out of memory for the float copy: NULL, a message, the dataset unchanged
 * and still usable; a later call succeeds. Failed loads and subsets leak
 * nothing. */
START_TEST(test_lazy_out_of_memory)
{
    if (!counting()) {
        fprintf(stderr, "test_lazy_out_of_memory: allocator not interposed here, skipped\n");
        return;
    }
    char path[4096];
    size_t n = 300, d = 784;
    synthetic_file(path, sizeof path, n, NULL);
    vae_dataset *ds = load(path, VAE_SCALE_AUTO, VAE_BINARIZE_NONE);

    atomic_store(&fail_min, n * d * sizeof(float)); /* exactly the copy's size fails */
    ck_assert_ptr_null(vae_dataset_data(ds));
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "out of memory"));
    ck_assert_ptr_null(lazy_of(ds));
    float row[784];
    size_t r = 7;
    vt_rng rng;
    vt_rng_seed(&rng, 1, 1);
    vds_gather(ds, &r, 1, row, &rng); /* still usable */
    atomic_store(&fail_min, SIZE_MAX);
    const float *x = vae_dataset_data(ds);
    ck_assert_ptr_nonnull(x);
    ck_assert_mem_eq(x + 7 * d, row, sizeof row);

    /* A subset or a load that runs out of memory: VAE_ERR_NOMEM, *out NULL,
     * no bytes left behind. */
    long long before = mark();
    vae_dataset *s = (vae_dataset *)path;
    vae_error err;
    atomic_store(&fail_min, n * d);
    ck_assert_int_eq(vae_dataset_subset(ds, 0, n, &s, &err), VAE_ERR_NOMEM);
    ck_assert_ptr_null(s);
    vae_dataset *l = (vae_dataset *)path;
    ck_assert_int_eq(vae_dataset_load_idx(path, NULL, NULL, &l, &err), VAE_ERR_NOMEM);
    ck_assert_ptr_null(l);
    atomic_store(&fail_min, SIZE_MAX);
    ck_assert_int_eq(atomic_load(&live_bytes), before);
    vae_dataset_free(ds);
    remove(path);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Memory                                                                  */
/* ---------------------------------------------------------------------- */

/* What a dataset of an IDX u8 file holds: its bytes (1 per value) and a
 * few KiB, also at the peak of loading; gathering allocates nothing; a
 * subset costs its bytes; only vae_dataset_data adds 4 bytes per value. */
START_TEST(test_footprint)
{
    if (!counting()) {
        fprintf(stderr, "test_footprint: allocator not interposed here, skipped\n");
        return;
    }
    char path[4096];
    const size_t n = 10000, d = 784, m = n * d; /* MNIST's size: 7.84 MB of pixels */
    synthetic_file(path, sizeof path, n, NULL);
    const long long slack = 64 * 1024; /* the handle (with its 1 KiB value table) */

    long long base = mark();
    vae_dataset *ds = load(path, VAE_SCALE_AUTO, VAE_BINARIZE_NONE);
    long long held = atomic_load(&live_bytes) - base, peak = atomic_load(&peak_bytes) - base;
    fprintf(stderr, "test_footprint: %zu values: held %lld bytes, load peak %lld bytes\n", m,
            held, peak);
    ck_assert_msg(held >= (long long)m && held <= (long long)m + slack,
                  "a loaded dataset holds %lld bytes for %zu u8 values", held, m);
    /* zlib's buffers and window are ~100 KiB; a float array would be 4 m. */
    ck_assert_msg(peak <= (long long)m + 512 * 1024, "loading peaked at %lld bytes for %zu values",
                  peak, m);

    /* Drawing batches allocates nothing. */
    float *batch = malloc(100 * d * sizeof *batch);
    size_t *rows = shuffled_rows(n, 1);
    ck_assert_ptr_nonnull(batch);
    long long b0 = mark();
    vt_rng rng;
    vt_rng_seed(&rng, 1, 1);
    for (size_t i = 0; i + 100 <= n; i += 100)
        vds_gather(ds, rows + i, 100, batch, &rng);
    ck_assert_int_eq(atomic_load(&peak_bytes), b0);

    /* The usual split: the subsets hold bytes too. */
    vae_dataset *train = NULL, *test = NULL;
    b0 = mark();
    int st1 = vae_dataset_subset(ds, 0, 9000, &train, NULL);
    int st2 = vae_dataset_subset(ds, 9000, 1000, &test, NULL);
    long long split = atomic_load(&live_bytes) - b0;
    ck_assert(st1 == VAE_OK && st2 == VAE_OK);
    ck_assert_msg(split >= (long long)m && split <= (long long)m + 2 * slack,
                  "the split holds %lld bytes", split);

    /* The float copy: 4 bytes per value, made once. */
    b0 = mark();
    const float *x = vae_dataset_data(test);
    long long copy = atomic_load(&live_bytes) - b0;
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(copy >= (long long)(1000 * d * sizeof(float)) &&
                      copy <= (long long)(1000 * d * sizeof(float)) + slack,
                  "the float copy of 1000 rows holds %lld bytes", copy);
    /* (Counters read before any ck_assert: Check's own bookkeeping allocates.) */
    b0 = mark();
    const float *again = vae_dataset_data(test);
    long long grew = atomic_load(&peak_bytes) - b0;
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(grew, 0);

    vae_dataset_free(test);
    vae_dataset_free(train);
    vae_dataset_free(ds);
    free(batch);
    free(rows);
    ck_assert_int_eq(atomic_load(&live_bytes), base);
    remove(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data-u8");
    TCase *v = tcase_create("values");
    tcase_set_timeout(v, 120);
    tcase_add_test(v, test_every_byte_value);
    tcase_add_test(v, test_mnist_matches_float_path);
    tcase_add_test(v, test_training_same_bits);
    tcase_add_test(v, test_subset_bytes);
    tcase_add_test(v, test_subset_labels);
    suite_add_tcase(s, v);
    TCase *l = tcase_create("lazy");
    tcase_set_timeout(l, 120);
    tcase_add_test(l, test_lazy_threads);
    tcase_add_test(l, test_lazy_out_of_memory);
    tcase_add_test(l, test_footprint);
    suite_add_tcase(s, l);
    return tu_run_suite(s);
}
