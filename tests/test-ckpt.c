/* Tests of the checkpoint container (src/io): the CRC against zlib, exact
 * round trips of every dtype and rank, the pinned byte layout, rejection of
 * every kind of damaged or hostile file (each flipped byte, each truncation,
 * absurd sizes, bad records), the lookup helpers, atomic replacement, and
 * crash safety of the writer under SIGKILL. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "io/crc32.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static const unsigned char MAGIC[8] = {0x89, 'V', 'A', 'E', '\r', '\n', 0x1A, '\n'};

/* splitmix64: a fixed-seed generator, so every run tests the same cases. */
static uint64_t prng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static double f64_from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, 8);
    return x;
}

/* Read path expecting failure with the given status; returns the message. */
static void expect_read_fails(const char *path, int status, char *msg)
{
    vio_file *f = (vio_file *)&f; /* a non-NULL sentinel: the call must reset it */
    msg[0] = '\0';
    int st = vio_file_read(path, &f, msg);
    ck_assert_msg(st == status, "%s: status %d (%s), expected %d", path, st, msg, status);
    ck_assert_ptr_null(f);
    ck_assert_msg(msg[0] != '\0', "no message for status %d", st);
}

/* Write bytes to path and check that reading them fails with status. */
static void expect_bytes_fail(const char *path, const unsigned char *bytes, size_t len, int status,
                              char *msg)
{
    ck_assert_int_eq(tu_write_file(path, bytes, len), 0);
    expect_read_fails(path, status, msg);
}

/* Split a path into its directory and its last component. */
static void split_path(const char *path, char *dir, size_t dir_len, const char **base)
{
    const char *slash = strrchr(path, '/');
    ck_assert_ptr_nonnull(slash);
    snprintf(dir, dir_len, "%.*s", (int)(slash - path), path);
    *base = slash + 1;
}

/* Count (and with remove, delete) the temporary files of a commit to path:
 * the entries of its directory named "<base>.tmp.*". */
static int temp_files(const char *path, int remove)
{
    char dir[4096], full[8192], prefix[512];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        n++;
        if (remove) {
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            unlink(full);
        }
    }
    closedir(d);
    return n;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A growable byte buffer for hand-crafting payloads. */
typedef struct blob {
    unsigned char *p;
    size_t len, cap;
} blob;

static void blob_put(blob *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void blob_le(blob *b, uint64_t v, int bytes)
{
    unsigned char tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    blob_put(b, tmp, (size_t)bytes);
}

/* A raw record: name_len as given, the name bytes, dtype, ndim, dims, then
 * data_bytes bytes of a counting pattern. */
static void blob_record(blob *b, unsigned name_len, const char *name, int dtype, int ndim,
                        const uint64_t *dims, size_t data_bytes)
{
    blob_le(b, name_len, 2);
    blob_put(b, name, strlen(name));
    blob_le(b, (uint64_t)dtype, 1);
    blob_le(b, (uint64_t)ndim, 1);
    for (int i = 0; i < ndim; i++)
        blob_le(b, dims[i], 8);
    for (size_t i = 0; i < data_bytes; i++)
        blob_le(b, i & 0xff, 1);
}

/* The header fields of a crafted file, normally the honest values. */
typedef struct header_fields {
    uint32_t version, flags;
    uint64_t tensor_count, payload_bytes;
} header_fields;

/* Header + payload + CRC of the payload, as a writer would produce them
 * from the given header fields. */
static blob craft_file(const blob *payload, header_fields h)
{
    blob f = {0};
    blob_put(&f, MAGIC, sizeof MAGIC);
    blob_le(&f, h.version, 4);
    blob_le(&f, h.flags, 4);
    blob_le(&f, h.tensor_count, 8);
    blob_le(&f, h.payload_bytes, 8);
    blob_put(&f, payload->p, payload->len);
    blob_le(&f, vio_crc32(0, payload->p, payload->len), 4);
    return f;
}

static header_fields honest(const blob *payload, uint64_t count)
{
    header_fields h = {1, 0, count, payload->len};
    return h;
}

/* Write a crafted file whose header is honest except as the record list
 * says, read it, and check the status. */
static void expect_crafted(const char *path, const blob *payload, uint64_t count, int status,
                           char *msg)
{
    blob f = craft_file(payload, honest(payload, count));
    ck_assert_int_eq(tu_write_file(path, f.p, f.len), 0);
    free(f.p);
    if (status == VAE_OK) {
        vio_file *vf = NULL;
        int st = vio_file_read(path, &vf, msg);
        ck_assert_msg(st == VAE_OK, "crafted file should load: %s", msg);
        vio_file_free(vf);
    } else {
        expect_read_fails(path, status, msg);
    }
}

/* A small checkpoint with three tensors, committed to path. */
static void write_small(const char *path)
{
    char msg[VAE_ERRMSG_LEN];
    vio_writer *w = vio_writer_new();
    ck_assert_ptr_nonnull(w);
    float x[6] = {1, 2, 3, 4, 5, 6};
    uint64_t dims[2] = {2, 3};
    ck_assert_int_eq(vio_writer_add(w, "enc.W0", VIO_F32, 2, dims, x, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add_i64(w, "step", 42, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add_f64(w, "beta", 0.5, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);
}

/* ------------------------------------------------------------------------ */
/* CRC-32                                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_crc_check_value)
{
    ck_assert_uint_eq(vio_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(vio_crc32(0, NULL, 0), 0u);
    ck_assert_uint_eq(vio_crc32(0, "a", 1), 0xE8B7BE43u);
    /* Chaining: the check value in two pieces. */
    ck_assert_uint_eq(vio_crc32(vio_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}
END_TEST

START_TEST(test_crc_matches_zlib)
{
    enum { N = 1 << 16 };
    unsigned char *buf = malloc(N + 8);
    ck_assert_ptr_nonnull(buf);
    uint64_t s = 1234;
    for (size_t i = 0; i < N + 8; i++)
        buf[i] = (unsigned char)prng(&s);
    /* Every length up to 600 at every start alignment, then large ones. */
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 600; len++)
            ck_assert_uint_eq(vio_crc32(0, buf + off, len),
                              (uint32_t)crc32(0L, buf + off, (uInt)len));
    for (size_t len = 601; len <= N; len = len * 3 / 2 + 7)
        ck_assert_uint_eq(vio_crc32(0, buf + 3, len), (uint32_t)crc32(0L, buf + 3, (uInt)len));
    /* Incremental use from random split points and nonzero starts. */
    for (int k = 0; k < 200; k++) {
        size_t len = (size_t)(prng(&s) % N), cut = len ? (size_t)(prng(&s) % len) : 0;
        uint32_t whole = (uint32_t)crc32(0L, buf, (uInt)len);
        ck_assert_uint_eq(vio_crc32(vio_crc32(0, buf, cut), buf + cut, len - cut), whole);
        uint32_t start = (uint32_t)prng(&s);
        ck_assert_uint_eq(vio_crc32(start, buf, len), (uint32_t)crc32(start, buf, (uInt)len));
    }
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Round trips and the pinned layout                                         */
/* ------------------------------------------------------------------------ */

/* Element i of a test tensor of the given dtype, as raw host-order bits:
 * special values first (signed zero, subnormals, infinities, NaN payloads,
 * integer extremes), then a pattern. */
static void test_value(int dtype, size_t i, void *out)
{
    static const uint32_t f32s[] = {0x80000000u, 0x00000001u, 0x007fffffu, 0x7fc00001u,
                                    0xffbfffffu, 0x7f800000u, 0xff800000u, 0x3f800000u};
    static const uint64_t f64s[] = {0x8000000000000000u, 0x0000000000000001u,
                                    0x000fffffffffffffu, 0x7ff8000000000001u,
                                    0xfff7ffffffffffffu, 0x7ff0000000000000u};
    static const int64_t i64s[] = {INT64_MIN, INT64_MAX, -1, 0};
    static const uint64_t u64s[] = {UINT64_MAX, 0, 1u, 0x0123456789abcdefu};
    uint64_t pattern = i * 0x9e3779b97f4a7c15ULL + (uint64_t)dtype;
    switch (dtype) {
    case VIO_F32: {
        float x = i < 8 ? f32_from_bits(f32s[i]) : (float)i * -0.37f;
        memcpy(out, &x, 4);
        break;
    }
    case VIO_F64: {
        double x = i < 6 ? f64_from_bits(f64s[i]) : (double)i * 1e-300;
        memcpy(out, &x, 8);
        break;
    }
    case VIO_I64: {
        int64_t x = i < 4 ? i64s[i] : (int64_t)pattern;
        memcpy(out, &x, 8);
        break;
    }
    default: {
        uint64_t x = i < 4 ? u64s[i] : pattern;
        memcpy(out, &x, 8);
        break;
    }
    }
}

static const int ALL_DTYPES[4] = {VIO_F32, VIO_I64, VIO_F64, VIO_U64};
static const uint64_t RT_DIMS[4] = {3, 2, 1, 4};

static size_t esize_of(int dtype) { return dtype == VIO_F32 ? 4 : 8; }

/* Fill buf with the first count test values of dtype. */
static void fill_values(int dtype, size_t count, unsigned char *buf)
{
    for (size_t i = 0; i < count; i++)
        test_value(dtype, i, buf + i * esize_of(dtype));
}

START_TEST(test_roundtrip_every_dtype_and_rank)
{
    char path[4096], msg[VAE_ERRMSG_LEN], name[32];
    tu_tmp_path(path, sizeof path, "rt.ckpt");
    unsigned char buf[24 * 8];
    vio_writer *w = vio_writer_new();
    for (int d = 0; d < 4; d++) {
        for (int nd = 0; nd <= 4; nd++) {
            size_t count = 1;
            for (int k = 0; k < nd; k++)
                count *= RT_DIMS[k];
            fill_values(ALL_DTYPES[d], count, buf);
            snprintf(name, sizeof name, "t%d.rank%d", ALL_DTYPES[d], nd);
            ck_assert_int_eq(vio_writer_add(w, name, ALL_DTYPES[d], nd, RT_DIMS, buf, msg),
                             VAE_OK);
        }
    }
    uint64_t empty_dims[2] = {5, 0};
    ck_assert_int_eq(vio_writer_add(w, "empty", VIO_F32, 2, empty_dims, NULL, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);

    vio_file *f = NULL;
    ck_assert_msg(vio_file_read(path, &f, msg) == VAE_OK, "%s", msg);
    ck_assert_uint_eq(vio_file_count(f), 21);
    size_t at = 0;
    for (int d = 0; d < 4; d++) {
        for (int nd = 0; nd <= 4; nd++, at++) {
            const vio_tensor *t = vio_file_at(f, at);
            snprintf(name, sizeof name, "t%d.rank%d", ALL_DTYPES[d], nd);
            ck_assert_str_eq(t->name, name);
            ck_assert_ptr_eq(vio_file_find(f, name), t);
            ck_assert_int_eq(t->dtype, ALL_DTYPES[d]);
            ck_assert_int_eq(t->ndim, nd);
            size_t count = 1;
            for (int k = 0; k < nd; k++) {
                ck_assert_uint_eq(t->dims[k], RT_DIMS[k]);
                count *= RT_DIMS[k];
            }
            ck_assert_uint_eq(t->count, count);
            ck_assert_uint_eq((uintptr_t)t->data % esize_of(t->dtype), 0);
            fill_values(ALL_DTYPES[d], count, buf);
            ck_assert_mem_eq(t->data, buf, count * esize_of(t->dtype)); /* bit-exact */
        }
    }
    const vio_tensor *e = vio_file_find(f, "empty");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->count, 0);
    ck_assert_uint_eq(e->dims[0], 5);
    ck_assert_uint_eq(e->dims[1], 0);
    ck_assert_ptr_null(vio_file_at(f, 21));
    ck_assert_ptr_null(vio_file_find(f, "nope"));
    vio_file_free(f);
    unlink(path);
}
END_TEST

START_TEST(test_empty_checkpoint)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "empty.ckpt");
    vio_writer *w = vio_writer_new();
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);
    size_t len = 0;
    unsigned char *bytes = tu_read_file(path, &len);
    ck_assert_uint_eq(len, 36);
    free(bytes);
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(path, &f, msg), VAE_OK);
    ck_assert_uint_eq(vio_file_count(f), 0);
    ck_assert_ptr_null(vio_file_find(f, "x"));
    vio_file_free(f);
    vio_file_free(NULL);
    vio_writer_free(NULL);
    unlink(path);
}
END_TEST

/* The exact bytes of a one-tensor checkpoint: pins the on-disk format
 * (docs/format.md) independently of the reader. */
START_TEST(test_exact_layout)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "layout.ckpt");
    vio_writer *w = vio_writer_new();
    float x[2] = {1.0f, -2.0f};
    uint64_t dims[1] = {2};
    ck_assert_int_eq(vio_writer_add(w, "xy", VIO_F32, 1, dims, x, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);

    static const unsigned char payload[] = {
        2, 0, 'x', 'y',         /* name_len, name */
        1, 1,                   /* dtype f32, ndim 1 */
        2, 0, 0, 0, 0, 0, 0, 0, /* dims[0] */
        0x00, 0x00, 0x80, 0x3f, /* 1.0f */
        0x00, 0x00, 0x00, 0xc0, /* -2.0f */
    };
    blob p = {0};
    blob_put(&p, payload, sizeof payload);
    blob expected = craft_file(&p, honest(&p, 1));
    static const unsigned char header[32] = {
        0x89, 'V', 'A', 'E', '\r', '\n', 0x1A, '\n', 1, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, sizeof payload, 0, 0, 0, 0, 0, 0, 0,
    };
    ck_assert_mem_eq(expected.p, header, 32);

    size_t len = 0;
    unsigned char *bytes = tu_read_file(path, &len);
    ck_assert_uint_eq(len, 32 + sizeof payload + 4);
    ck_assert_mem_eq(bytes, expected.p, len);
    uint32_t crc = (uint32_t)crc32(0L, payload, sizeof payload);
    ck_assert_uint_eq(crc, 0x3B1C68FFu); /* the value docs/format.md shows */
    ck_assert_uint_eq(bytes[len - 4] | bytes[len - 3] << 8 | bytes[len - 2] << 16 |
                          (uint32_t)bytes[len - 1] << 24, crc);
    free(bytes);
    free(expected.p);
    free(p.p);
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Damaged files                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_every_byte_flip_fails)
{
    char path[4096], bad[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "flip.ckpt");
    tu_tmp_path(bad, sizeof bad, "flip-bad.ckpt");
    write_small(path);
    size_t len = 0;
    unsigned char *orig = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(orig);
    unsigned char *copy = malloc(len);
    /* Any single changed byte must be caught: in the header by the field
     * checks, in the payload or the stored CRC by the CRC. */
    static const unsigned char masks[] = {0xff, 0x01, 0x80, 0x5a};
    size_t n_masks = tu_quick() ? 1 : sizeof masks;
    for (size_t m = 0; m < n_masks; m++) {
        for (size_t i = 0; i < len; i++) {
            memcpy(copy, orig, len);
            copy[i] ^= masks[m];
            expect_bytes_fail(bad, copy, len, VAE_ERR_FORMAT, msg);
        }
    }
    free(copy);
    free(orig);
    unlink(bad);
    unlink(path);
}
END_TEST

START_TEST(test_every_truncation_fails)
{
    char path[4096], bad[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "trunc.ckpt");
    tu_tmp_path(bad, sizeof bad, "trunc-bad.ckpt");
    write_small(path);
    size_t len = 0;
    unsigned char *orig = tu_read_file(path, &len);
    for (size_t n = 0; n < len; n++)
        expect_bytes_fail(bad, orig, n, VAE_ERR_FORMAT, msg);
    /* One extra byte at the end is damage too. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, orig, len);
    longer[len] = 0;
    expect_bytes_fail(bad, longer, len + 1, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "trailing") && strstr(msg, bad), "%s", msg);
    expect_bytes_fail(bad, orig, len - 1, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "truncated"), "%s", msg);
    free(longer);
    free(orig);
    unlink(bad);
    unlink(path);
}
END_TEST

START_TEST(test_header_fields)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "hdr.ckpt");
    blob p = {0};
    uint64_t d1[1] = {2};
    blob_record(&p, 1, "a", VIO_F32, 1, d1, 8);

    header_fields h = honest(&p, 1);
    h.version = 2;
    blob f = craft_file(&p, h);
    expect_bytes_fail(path, f.p, f.len, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "format version 2 not supported, expected 1"), "%s", msg);
    free(f.p);

    h = honest(&p, 1);
    h.flags = 4;
    f = craft_file(&p, h);
    expect_bytes_fail(path, f.p, f.len, VAE_ERR_FORMAT, msg);
    free(f.p);

    /* More tensors than the payload could possibly hold. */
    h = honest(&p, 1);
    h.tensor_count = 1000;
    f = craft_file(&p, h);
    expect_bytes_fail(path, f.p, f.len, VAE_ERR_FORMAT, msg);
    free(f.p);

    f = craft_file(&p, honest(&p, 1));
    f.p[3] = 'X';
    expect_bytes_fail(path, f.p, f.len, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "not a libvae checkpoint") && strstr(msg, path), "%s", msg);
    /* A text-mode transfer turning CR LF into LF is caught by the magic. */
    memcpy(f.p, MAGIC, 8);
    memmove(f.p + 4, f.p + 5, f.len - 5);
    expect_bytes_fail(path, f.p, f.len - 1, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "not a libvae checkpoint"), "%s", msg);
    free(f.p);

    static const char text[] = "this is a text file, not a checkpoint at all\n";
    expect_bytes_fail(path, (const unsigned char *)text, sizeof text - 1, VAE_ERR_FORMAT, msg);
    free(p.p);
    unlink(path);
}
END_TEST

START_TEST(test_huge_payload_claim)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "huge.ckpt");
    blob p = {0};
    blob_record(&p, 1, "a", VIO_F32, 0, NULL, 4);
    header_fields h = honest(&p, 1);
    h.payload_bytes = (uint64_t)1 << 40;
    blob f = craft_file(&p, h);
    ck_assert_int_eq(tu_write_file(path, f.p, f.len), 0);
    double t0 = now_seconds();
    vio_file *vf = NULL;
    int st = vio_file_read(path, &vf, msg);
    ck_assert_msg(st == VAE_ERR_FORMAT || st == VAE_ERR_LIMIT, "status %d: %s", st, msg);
    ck_assert_ptr_null(vf);
    ck_assert_msg(now_seconds() - t0 < 1.0, "rejecting took too long");
    /* An all-ones size must not overflow the size arithmetic either. */
    h.payload_bytes = UINT64_MAX;
    free(f.p);
    f = craft_file(&p, h);
    expect_bytes_fail(path, f.p, f.len, VAE_ERR_FORMAT, msg);
    free(f.p);
    free(p.p);
    unlink(path);
}
END_TEST

/* Records whose shapes claim far more data than present, with a valid CRC
 * so that only the record bounds checks stand between them and a huge
 * allocation. */
START_TEST(test_huge_record_claims)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "hugerec.ckpt");
    static const struct {
        int dtype, ndim;
        uint64_t dims[4];
    } cases[] = {
        {VIO_F32, 3, {1u << 20, 1u << 20, 1u << 20, 0}},           /* 4 EiB of floats */
        {VIO_F64, 2, {1ull << 31, 1ull << 31, 0, 0}},              /* bytes overflow 64 bits */
        {VIO_U64, 3, {1ull << 32, 1ull << 32, 1ull << 32, 0}},     /* count overflows */
        {VIO_F32, 4, {UINT64_MAX, UINT64_MAX, UINT64_MAX, 2}},     /* all ones */
        {VIO_I64, 1, {3, 0, 0, 0}},                                /* just one element short */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        blob p = {0};
        blob_record(&p, 4, "huge", cases[c].dtype, cases[c].ndim, cases[c].dims, 16);
        double t0 = now_seconds();
        expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
        ck_assert_msg(strstr(msg, "'huge'"), "message should name the tensor: %s", msg);
        ck_assert_msg(now_seconds() - t0 < 1.0, "rejecting took too long");
        free(p.p);
    }
    unlink(path);
}
END_TEST

START_TEST(test_bad_records)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "badrec.ckpt");
    uint64_t d2[2] = {2, 1};
    uint64_t d5[5] = {1, 1, 1, 1, 1};
    blob p = {0};

    /* The crafting itself is right: an honest record loads. */
    blob_record(&p, 3, "abc", VIO_F64, 2, d2, 16);
    expect_crafted(path, &p, 1, VAE_OK, msg);
    /* Declared tensor count too high, then too low (bytes left over). */
    expect_crafted(path, &p, 2, VAE_ERR_FORMAT, msg);
    blob_record(&p, 3, "abd", VIO_F64, 2, d2, 16);
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    expect_crafted(path, &p, 2, VAE_OK, msg);
    /* Duplicate names. */
    blob_record(&p, 3, "abc", VIO_F64, 0, NULL, 8);
    expect_crafted(path, &p, 3, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "'abc'") && strstr(msg, "twice"), "%s", msg);
    p.len = 0;

    blob_record(&p, 0, "", VIO_F32, 0, NULL, 4); /* empty name */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 2, "a\n", VIO_F32, 0, NULL, 4); /* control character */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 2, "\xc3\xa9", VIO_F32, 0, NULL, 4); /* not ASCII */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 300, "a", VIO_F32, 0, NULL, 400); /* name_len > 255 */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 1, "a", 0, 0, NULL, 8); /* dtype 0 */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 1, "a", 9, 0, NULL, 8); /* unknown dtype */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    ck_assert_msg(strstr(msg, "dtype") && strstr(msg, "'a'"), "%s", msg);
    p.len = 0;
    blob_record(&p, 1, "a", VIO_F32, 5, d5, 4); /* ndim 5 */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    p.len = 0;
    blob_record(&p, 9, "a", VIO_F32, 0, NULL, 0); /* name runs off the end */
    expect_crafted(path, &p, 1, VAE_ERR_FORMAT, msg);
    free(p.p);
    unlink(path);
}
END_TEST

START_TEST(test_missing_and_unreadable)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "does-not-exist.ckpt");
    expect_read_fails(path, VAE_ERR_IO, msg);
    ck_assert_msg(strstr(msg, path), "message should name the path: %s", msg);
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    expect_read_fails(dir, VAE_ERR_IO, msg); /* a directory */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Writer argument checks and lookups                                        */
/* ------------------------------------------------------------------------ */

START_TEST(test_writer_rejects)
{
    char path[4096], msg[VAE_ERRMSG_LEN], long_name[300];
    tu_tmp_path(path, sizeof path, "wrej.ckpt");
    vio_writer *w = vio_writer_new();
    float x[4] = {1, 2, 3, 4};
    uint64_t d1[1] = {4}, huge[2] = {1ull << 30, 1ull << 30}, big[1] = {1ull << 40};
    ck_assert_int_eq(vio_writer_add(w, "x", VIO_F32, 1, d1, x, msg), VAE_OK);

    ck_assert_int_eq(vio_writer_add(w, "x", VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_msg(strstr(msg, "'x'"), "%s", msg);
    ck_assert_int_eq(vio_writer_add(w, "", VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    ck_assert_int_eq(vio_writer_add(w, long_name, VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);
    long_name[255] = '\0'; /* 255 is the longest allowed */
    ck_assert_int_eq(vio_writer_add(w, long_name, VIO_F32, 1, d1, x, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add(w, "tab\there", VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "caf\xc3\xa9", VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", 0, 1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", 9, 1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, -1, d1, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 5, RT_DIMS, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 2, NULL, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 1, d1, NULL, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 2, huge, x, msg), VAE_ERR_LIMIT);
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 1, big, x, msg), VAE_ERR_LIMIT);
    uint64_t overflow[3] = {1ull << 32, 1ull << 32, 1ull << 32};
    ck_assert_int_eq(vio_writer_add(w, "d", VIO_F32, 3, overflow, x, msg), VAE_ERR_INVALID);
    ck_assert_int_eq(vio_writer_add(NULL, "d", VIO_F32, 1, d1, x, msg), VAE_ERR_INVALID);

    /* The failures left no trace: exactly the two good tensors are written. */
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(path, &f, msg), VAE_OK);
    ck_assert_uint_eq(vio_file_count(f), 2);
    ck_assert_ptr_nonnull(vio_file_find(f, long_name));
    ck_assert_ptr_null(vio_file_find(f, "d"));
    vio_file_free(f);
    unlink(path);
}
END_TEST

START_TEST(test_expect_and_scalars)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "expect.ckpt");
    vio_writer *w = vio_writer_new();
    float x[6] = {0};
    int64_t pair[2] = {1, 2};
    double one[1] = {-0.25};
    uint64_t d23[2] = {2, 3}, d2[1] = {2}, d11[2] = {1, 1};
    ck_assert_int_eq(vio_writer_add(w, "W", VIO_F32, 2, d23, x, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add_i64(w, "step", -7, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add_f64(w, "beta", 1e-310, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add(w, "pair", VIO_I64, 1, d2, pair, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add(w, "one", VIO_F64, 2, d11, one, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(path, &f, msg), VAE_OK);

    const vio_tensor *t = NULL;
    ck_assert_int_eq(vio_file_expect(f, "W", VIO_F32, 6, &t, msg), VAE_OK);
    ck_assert_ptr_eq(t, vio_file_find(f, "W"));
    ck_assert_int_eq(vio_file_expect(f, "V", VIO_F32, 6, &t, msg), VAE_ERR_FORMAT);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(msg, "'V'") && strstr(msg, "missing") && strstr(msg, path), "%s", msg);
    ck_assert_int_eq(vio_file_expect(f, "W", VIO_F64, 6, &t, msg), VAE_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "'W'") && strstr(msg, "dtype"), "%s", msg);
    ck_assert_int_eq(vio_file_expect(f, "W", VIO_F32, 5, NULL, msg), VAE_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "'W'") && strstr(msg, "shape"), "%s", msg);

    int64_t i = 0;
    double v = 0;
    ck_assert_int_eq(vio_file_i64(f, "step", &i, msg), VAE_OK);
    ck_assert_int_eq(i, -7);
    ck_assert_int_eq(vio_file_f64(f, "beta", &v, msg), VAE_OK);
    ck_assert(v == 1e-310);
    ck_assert_int_eq(vio_file_f64(f, "one", &v, msg), VAE_OK); /* 1x1 counts as a scalar */
    ck_assert(v == -0.25);
    ck_assert_int_eq(vio_file_i64(f, "beta", &i, msg), VAE_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "'beta'") && strstr(msg, "dtype"), "%s", msg);
    ck_assert_int_eq(vio_file_f64(f, "step", &v, msg), VAE_ERR_FORMAT);
    ck_assert_int_eq(vio_file_i64(f, "pair", &i, msg), VAE_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "'pair'") && strstr(msg, "shape"), "%s", msg);
    ck_assert_int_eq(vio_file_i64(f, "nothing", &i, msg), VAE_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "'nothing'") && strstr(msg, "missing"), "%s", msg);
    ck_assert_int_eq(vio_file_f64(f, "nothing", &v, msg), VAE_ERR_FORMAT);
    vio_file_free(f);
    unlink(path);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Atomic commit                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_commit_replaces_atomically)
{
    char path[4096], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(path, sizeof path, "replace.ckpt");
    write_small(path);
    size_t old_len = 0;
    unsigned char *old_bytes = tu_read_file(path, &old_len);
    int old_fd = open(path, O_RDONLY);
    ck_assert_int_ge(old_fd, 0);

    vio_writer *w = vio_writer_new();
    ck_assert_int_eq(vio_writer_add_i64(w, "generation", 2, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    /* The writer stays usable: grow it and commit again. */
    ck_assert_int_eq(vio_writer_add_i64(w, "more", 3, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_OK);
    vio_writer_free(w);

    vio_file *f = NULL;
    int64_t g = 0;
    ck_assert_int_eq(vio_file_read(path, &f, msg), VAE_OK);
    ck_assert_uint_eq(vio_file_count(f), 2);
    ck_assert_int_eq(vio_file_i64(f, "generation", &g, msg), VAE_OK);
    ck_assert_int_eq(g, 2);
    vio_file_free(f);

    /* The old file was replaced by a rename, not rewritten in place: a
     * reader that had it open still sees every old byte. */
    unsigned char *seen = malloc(old_len + 1);
    ck_assert_int_eq(read(old_fd, seen, old_len + 1), (ssize_t)old_len);
    ck_assert_mem_eq(seen, old_bytes, old_len);
    close(old_fd);
    free(seen);
    free(old_bytes);
    ck_assert_int_eq(temp_files(path, 0), 0);
    unlink(path);
}
END_TEST

START_TEST(test_commit_into_missing_directory)
{
    char dir[4096], path[8192], msg[VAE_ERRMSG_LEN];
    tu_tmp_path(dir, sizeof dir, "no-such-dir");
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    vio_writer *w = vio_writer_new();
    ck_assert_int_eq(vio_writer_add_i64(w, "x", 1, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_commit(w, path, msg), VAE_ERR_IO);
    ck_assert_msg(strstr(msg, path), "message should name the path: %s", msg);
    vio_writer_free(w);
    ck_assert(!file_exists(dir));
    ck_assert(!file_exists(path));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Crash safety                                                              */
/* ------------------------------------------------------------------------ */

enum { CRASH_VARIANTS = 3, CRASH_FLOATS = 2 << 20 }; /* 8 MiB of floats each */

static float crash_value(int variant, size_t i)
{
    return (float)((i * 2654435761u + (size_t)variant * 7919u) & 0xffffffu);
}

static vio_writer *crash_writer(int variant, float *scratch)
{
    char msg[VAE_ERRMSG_LEN];
    for (size_t i = 0; i < CRASH_FLOATS; i++)
        scratch[i] = crash_value(variant, i);
    uint64_t dims[2] = {CRASH_FLOATS / 1024, 1024};
    vio_writer *w = vio_writer_new();
    ck_assert_int_eq(vio_writer_add_i64(w, "variant", variant, msg), VAE_OK);
    ck_assert_int_eq(vio_writer_add(w, "x", VIO_F32, 2, dims, scratch, msg), VAE_OK);
    return w;
}

/* The child: commit the variants in turn from `first` on, forever,
 * reporting each commit with one byte on the pipe, until it is killed. */
static void crash_child(vio_writer **w, int first, const char *path, int report_fd)
{
    char msg[VAE_ERRMSG_LEN];
    for (unsigned k = (unsigned)first;; k++) {
        if (vio_writer_commit(w[k % CRASH_VARIANTS], path, msg) != VAE_OK)
            _exit(2);
        if (write(report_fd, "c", 1) != 1)
            _exit(3);
    }
}

/* Whatever is at path after a kill must be absent (only if no commit ever
 * finished) or a complete checkpoint of one of the variants. */
static void check_after_kill(const char *path, int committed_before, float *expect)
{
    char msg[VAE_ERRMSG_LEN];
    if (!file_exists(path)) {
        ck_assert_msg(!committed_before, "checkpoint vanished after a successful commit");
        return;
    }
    vio_file *f = NULL;
    int st = vio_file_read(path, &f, msg);
    ck_assert_msg(st == VAE_OK, "after a kill: %s", msg);
    int64_t v = -1;
    const vio_tensor *t = NULL;
    ck_assert_int_eq(vio_file_i64(f, "variant", &v, msg), VAE_OK);
    ck_assert(v >= 0 && v < CRASH_VARIANTS);
    ck_assert_int_eq(vio_file_expect(f, "x", VIO_F32, CRASH_FLOATS, &t, msg), VAE_OK);
    for (size_t i = 0; i < CRASH_FLOATS; i++)
        expect[i] = crash_value((int)v, i);
    ck_assert(memcmp(t->data, expect, sizeof(float) * CRASH_FLOATS) == 0);
    vio_file_free(f);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Fork a child committing variants from `first` on and SIGKILL it delay_us
 * after it starts or, with after_commit, delay_us after its first finished
 * commit (so the kill hits a later commit replacing a complete file at some
 * random phase). Returns the number of commits the child reported. */
static size_t run_and_kill(vio_writer **w, int first, const char *path, int after_commit,
                           long delay_us)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(w, first, path, fds[1]);
    }
    close(fds[1]);
    char buf[256];
    size_t commits = 0;
    if (after_commit) {
        ck_assert_int_eq(read(fds[0], buf, 1), 1);
        commits = 1;
    }
    sleep_us(delay_us);
    kill(pid, SIGKILL);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the committing child failed (status 0x%x)", status);
    ssize_t k; /* the child is gone, so this drains to end of file */
    while ((k = read(fds[0], buf, sizeof buf)) > 0)
        commits += (size_t)k;
    close(fds[0]);
    return commits;
}

START_TEST(test_crash_safety)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "crash.ckpt");
    unlink(path);
    float *scratch = malloc(sizeof(float) * CRASH_FLOATS);
    ck_assert_ptr_nonnull(scratch);
    vio_writer *w[CRASH_VARIANTS];
    for (int v = 0; v < CRASH_VARIANTS; v++)
        w[v] = crash_writer(v, scratch);

    /* Kills counted from the child's start land mostly in a first commit
     * (writing, syncing or renaming); kills counted from a finished commit
     * land in a commit replacing a complete file. Odd kills do the latter,
     * so both are covered however fast or slow the disk is. Each child
     * starts at another variant, so old and new contents differ. Every
     * sixth round starts without a file, to retest the very first commit. */
    uint64_t seed = 20240601;
    int kills = tu_quick() ? 4 : 60;
    size_t commits = 0; /* since the file was last removed */
    for (int k = 0; k < kills; k++) {
        if (k % 6 == 0) {
            unlink(path);
            commits = 0;
        }
        long delay_us = (long)(prng(&seed) % 30001); /* 0..30 ms */
        commits += run_and_kill(w, k % CRASH_VARIANTS, path, k % 2, delay_us);
        check_after_kill(path, commits > 0, scratch);
        temp_files(path, 1); /* what the killed child left behind: 8 MiB each */
    }
    ck_assert(file_exists(path));
    ck_assert_int_eq(temp_files(path, 0), 0);
    for (int v = 0; v < CRASH_VARIANTS; v++)
        vio_writer_free(w[v]);
    free(scratch);
    unlink(path);
}
END_TEST

static Suite *ckpt_suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *crc = tcase_create("crc32");
    tcase_add_test(crc, test_crc_check_value);
    tcase_add_test(crc, test_crc_matches_zlib);
    suite_add_tcase(s, crc);

    TCase *rt = tcase_create("roundtrip");
    tcase_add_test(rt, test_roundtrip_every_dtype_and_rank);
    tcase_add_test(rt, test_empty_checkpoint);
    tcase_add_test(rt, test_exact_layout);
    tcase_add_test(rt, test_writer_rejects);
    tcase_add_test(rt, test_expect_and_scalars);
    suite_add_tcase(s, rt);

    TCase *bad = tcase_create("damaged");
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, test_every_byte_flip_fails);
    tcase_add_test(bad, test_every_truncation_fails);
    tcase_add_test(bad, test_header_fields);
    tcase_add_test(bad, test_huge_payload_claim);
    tcase_add_test(bad, test_huge_record_claims);
    tcase_add_test(bad, test_bad_records);
    tcase_add_test(bad, test_missing_and_unreadable);
    suite_add_tcase(s, bad);

    TCase *commit = tcase_create("commit");
    tcase_set_timeout(commit, 300);
    tcase_add_test(commit, test_commit_replaces_atomically);
    tcase_add_test(commit, test_commit_into_missing_directory);
    tcase_add_test(commit, test_crash_safety);
    suite_add_tcase(s, commit);
    return s;
}

int main(void) { return tu_run_suite(ckpt_suite()); }
