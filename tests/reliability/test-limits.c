/* Resource limits: inputs that claim absurd sizes fail with a clean status
 * before any large allocation. Each case runs in a forked child
 * (rel_measure) that checks the status, the time taken and the growth of
 * the peak resident set, under an address-space limit of +1 GiB where the
 * build allows one (not under ASan or valgrind). */
#include "relutil.h"

#include <math.h>
#include <stdint.h>

#include "data/idx.h"
#include "io/ckpt.h"
#include "io/crc32.h"
#include "libvae/vae.h"

#include <zlib.h>

/* ------------------------------------------------------------------------ */
/* Byte builders                                                             */
/* ------------------------------------------------------------------------ */

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void b_put(bytes *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void b_u8(bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    b_put(b, &c, 1);
}

static void b_le(bytes *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void b_be32(bytes *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        b_u8(b, (v >> (8 * i)) & 0xff);
}

/* A checkpoint record header (name, dtype, dims); the caller appends data. */
static void rec_head(bytes *b, const char *name, int dtype, int ndim, const uint64_t *dims)
{
    b_le(b, strlen(name), 2);
    b_put(b, name, strlen(name));
    b_u8(b, (unsigned)dtype);
    b_u8(b, (unsigned)ndim);
    for (int i = 0; i < ndim; i++)
        b_le(b, dims[i], 8);
}

/* A whole checkpoint file around a payload: header, payload, CRC. */
static bytes ckpt_file(const bytes *payload, uint64_t tensor_count)
{
    static const unsigned char magic[8] = {0x89, 'V', 'A', 'E', '\r', '\n', 0x1A, '\n'};
    bytes f = {0};
    b_put(&f, magic, 8);
    b_le(&f, 1, 4);
    b_le(&f, 0, 4);
    b_le(&f, tensor_count, 8);
    b_le(&f, payload->len, 8);
    b_put(&f, payload->p, payload->len);
    b_le(&f, vio_crc32(0, payload->p, payload->len), 4);
    return f;
}

static const char *write_tmp(char *buf, size_t len, const char *name, const bytes *b)
{
    tu_tmp_path(buf, len, name);
    ck_assert_int_eq(tu_write_file(buf, b->p, b->len), 0);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* The calls measured                                                        */
/* ------------------------------------------------------------------------ */

static int call_load_idx(void *arg, char *msg)
{
    vae_dataset *ds = NULL;
    vae_error err;
    int st = vae_dataset_load_idx(arg, NULL, NULL, &ds, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st == VAE_OK && ds == NULL)
        st = 1; /* impossible: flagged as a distinct status */
    vae_dataset_free(ds);
    return st;
}

static int call_load_csv(void *arg, char *msg)
{
    vae_dataset *ds = NULL;
    vae_error err;
    int st = vae_dataset_load_csv(arg, NULL, &ds, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st == VAE_OK)
        snprintf(msg, 256, "%zu x %zu", vae_dataset_count(ds), vae_dataset_dim(ds));
    vae_dataset_free(ds);
    return st;
}

static int call_load_model(void *arg, char *msg)
{
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_error err;
    int st = vae_model_load(arg, &m, &o, &err);
    snprintf(msg, 256, "%s", err.message);
    if (st != VAE_OK && (m || o))
        st = 1;
    vae_model_free(m);
    vae_optimizer_free(o);
    return st;
}

static void expect_refused(rel_fn fn, const char *path, int want1, int want2, const char *word,
                           const char *what)
{
    rel_result r = rel_measure(fn, (void *)path);
    ck_assert_msg(!r.died, "%s: %s", what, r.msg);
    fprintf(stderr, "limits: %s: %s, %.3f s, peak RSS +%ld kB%s: %s\n", what,
            vae_status_str(r.status), r.seconds, r.peak_growth_kb,
            r.limited ? " (under RLIMIT_AS +1 GiB)" : "", r.msg);
    ck_assert_msg(r.status == want1 || r.status == want2,
                  "%s: status %d (%s), expected %d or %d; message: %s", what, r.status,
                  vae_status_str(r.status), want1, want2, r.msg);
    if (word)
        ck_assert_msg(strstr(r.msg, word) != NULL, "%s: message '%s' lacks '%s'", what, r.msg,
                      word);
    rel_assert_cheap(r, what);
}

/* ------------------------------------------------------------------------ */
/* IDX                                                                       */
/* ------------------------------------------------------------------------ */

/* An IDX header with the given dims followed by `data_bytes` zero bytes. */
static bytes idx_bytes(int type, int rank, const uint32_t *dims, size_t data_bytes)
{
    bytes b = {0};
    b_u8(&b, 0);
    b_u8(&b, 0);
    b_u8(&b, (unsigned)type);
    b_u8(&b, (unsigned)rank);
    for (int i = 0; i < rank; i++)
        b_be32(&b, dims[i]);
    unsigned char zero[4096] = {0};
    while (data_bytes > 0) {
        size_t k = data_bytes < sizeof zero ? data_bytes : sizeof zero;
        b_put(&b, zero, k);
        data_bytes -= k;
    }
    return b;
}

static void gzip_file(const char *src, const char *dst)
{
    size_t len = 0;
    unsigned char *data = tu_read_file(src, &len);
    ck_assert_ptr_nonnull(data);
    gzFile g = gzopen(dst, "wb6");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(g), Z_OK);
    free(data);
}

/* 2^31 images of 28x28, raw and gzip, u8 and f32: refused at the header. */
START_TEST(test_idx_2e31_images)
{
    char p[4096], gz[4200];
    const uint32_t dims[3] = {(uint32_t)1 << 31, 28, 28};
    for (int type = 0; type < 2; type++) {
        bytes b = idx_bytes(type ? 0x0D : 0x08, 3, dims, 28 * 28 * 4 * 3);
        write_tmp(p, sizeof p, "huge.idx", &b);
        snprintf(gz, sizeof gz, "%s.gz", p);
        gzip_file(p, gz);
        expect_refused(call_load_idx, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "2147483648 examples",
                       "IDX raw, 2^31 images");
        expect_refused(call_load_idx, gz, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "2147483648 examples",
                       "IDX gzip, 2^31 images");
        remove(p);
        remove(gz);
        free(b.p);
    }
}
END_TEST

/* Every dimension at its most (2^32 - 1), and products past 2^24 values. */
START_TEST(test_idx_huge_dims)
{
    char p[4096];
    const uint32_t cases[][4] = {
        {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX},
        {1, 1u << 16, 1u << 16, 1},       /* 2^32 values per example */
        {1, 4097, 4096, 1},               /* just past 2^24 */
        {(1u << 28) + 1, 1, 1, 1},        /* just past 2^28 examples */
        {1, UINT32_MAX, UINT32_MAX, 1},   /* product overflows 64 bits if multiplied naively */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes b = idx_bytes(0x08, 4, cases[i], 64);
        write_tmp(p, sizeof p, "dims.idx", &b);
        char what[64];
        snprintf(what, sizeof what, "IDX dims case %zu", i);
        expect_refused(call_load_idx, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, NULL, what);
        free(b.p);
    }
    remove(p);
}
END_TEST

/* Within the limits but far larger than the file: 2^28 images of 8x8
 * claimed, 10 present. Truncation is found without allocating for the claim. */
START_TEST(test_idx_lying_header)
{
    char p[4096], gz[4200];
    const uint32_t dims[3] = {1u << 28, 8, 8};
    bytes b = idx_bytes(0x0D, 3, dims, 10 * 64 * 4);
    write_tmp(p, sizeof p, "lying.idx", &b);
    snprintf(gz, sizeof gz, "%s.gz", p);
    gzip_file(p, gz);
    expect_refused(call_load_idx, p, VAE_ERR_FORMAT, VAE_ERR_FORMAT, "truncated",
                   "IDX raw, 2^28 images claimed, 10 present");
    expect_refused(call_load_idx, gz, VAE_ERR_FORMAT, VAE_ERR_FORMAT, "truncated",
                   "IDX gzip, 2^28 images claimed, 10 present");
    remove(p);
    remove(gz);
    free(b.p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------ */

/* A record claiming a 1 TB (and larger) tensor inside a file whose header,
 * length and CRC are all valid. */
START_TEST(test_ckpt_1tb_tensor)
{
    char p[4096];
    const struct {
        int dtype, ndim;
        uint64_t dims[4];
    } cases[] = {
        {VIO_F32, 1, {(uint64_t)1 << 40}},                    /* 4 TB of f32 */
        {VIO_F32, 1, {(uint64_t)1 << 38}},                    /* 1 TB */
        {VIO_F64, 2, {(uint64_t)1 << 20, (uint64_t)1 << 20}}, /* 8 TB */
        {VIO_F32, 4, {1 << 16, 1 << 16, 1 << 16, 1 << 16}},   /* 2^64: count overflows */
        {VIO_I64, 1, {UINT64_MAX / 8 + 1}},                   /* bytes overflow 64 bits */
        {VIO_U64, 3, {UINT64_MAX, UINT64_MAX, 2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes payload = {0};
        /* A real scalar first, then the liar with a little data after it. */
        const uint64_t none[1] = {0};
        rec_head(&payload, "model.kind", VIO_I64, 0, none);
        b_le(&payload, 0, 8);
        rec_head(&payload, "param.enc.0.w", cases[i].dtype, cases[i].ndim, cases[i].dims);
        for (int k = 0; k < 64; k++)
            b_le(&payload, 0x3f800000u, 4);
        bytes f = ckpt_file(&payload, 2);
        write_tmp(p, sizeof p, "1tb.ckpt", &f);
        char what[64];
        snprintf(what, sizeof what, "checkpoint huge tensor case %zu", i);
        expect_refused(call_load_model, p, VAE_ERR_FORMAT, VAE_ERR_LIMIT, "param.enc.0.w",
                       what);
        free(payload.p);
        free(f.p);
    }
    remove(p);
}
END_TEST

/* Header fields claiming huge sizes: payload_bytes and tensor_count. */
START_TEST(test_ckpt_huge_header_claims)
{
    char p[4096];
    bytes payload = {0};
    const uint64_t none[1] = {0};
    rec_head(&payload, "model.kind", VIO_I64, 0, none);
    b_le(&payload, 0, 8);
    const uint64_t claims[][2] = {
        /* tensor_count, payload_bytes */
        {1, (uint64_t)1 << 40},
        {1, UINT64_MAX},
        {1, UINT64_MAX - 35},
        {(uint64_t)1 << 40, 17},
        {UINT64_MAX, 17},
    };
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        bytes f = ckpt_file(&payload, claims[i][0]);
        for (int k = 0; k < 8; k++)
            f.p[24 + k] = (unsigned char)(claims[i][1] >> (8 * k));
        write_tmp(p, sizeof p, "hdr.ckpt", &f);
        char what[64];
        snprintf(what, sizeof what, "checkpoint header claim case %zu", i);
        expect_refused(call_load_model, p, VAE_ERR_FORMAT, VAE_ERR_LIMIT, NULL, what);
        free(f.p);
    }
    free(payload.p);
    remove(p);
}
END_TEST

/* One replaced tensor: an i64 scalar, or (with array) the 8 i64 of model.hidden. */
typedef struct override {
    const char *name;
    int64_t value;
    const int64_t *array;
} override;

/* Copy the checkpoint at src to dst with the tensors named in ov[]
 * replaced (same dtype and shape) and everything else as it was. */
static void rewrite_ckpt(const char *src, const char *dst, const override *ov, int n)
{
    char msg[VAE_ERRMSG_LEN];
    vio_file *f = NULL;
    ck_assert_int_eq(vio_file_read(src, &f, msg), VAE_OK);
    vio_writer *w = vio_writer_new();
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        const void *data = t->data;
        for (int k = 0; k < n; k++)
            if (strcmp(t->name, ov[k].name) == 0)
                data = ov[k].array ? (const void *)ov[k].array : (const void *)&ov[k].value;
        ck_assert_int_eq(vio_writer_add(w, t->name, t->dtype, t->ndim, t->dims, data, msg),
                         VAE_OK);
    }
    ck_assert_int_eq(vio_writer_commit(w, dst, msg), VAE_OK);
    vio_writer_free(w);
    vio_file_free(f);
}

static void save_small_model(const char *path, int with_opt)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 6;
    c.hidden[0] = 4;
    c.latent_dim = 2;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    if (with_opt) {
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
        ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
        float x[12] = {0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0};
        ck_assert_int_eq(vae_model_train_step(m, o, x, 2, NULL), VAE_OK);
    }
    ck_assert_int_eq(vae_model_save(m, o, path), VAE_OK);
    vae_optimizer_free(o);
    vae_model_free(m);
}

/* A checkpoint of about 1 KB whose configuration claims a large model
 * that the configuration check allows, up to just under 2^31 parameters
 * (8 GB of floats). The file holds the parameters of the small model, so
 * the load must fail on the missing or misshaped tensors, not by
 * allocating (and initialising) the claimed model first. */
START_TEST(test_ckpt_config_claims_huge_model)
{
    char src[4096], dst[4096];
    tu_tmp_path(src, sizeof src, "small.ckpt");
    tu_tmp_path(dst, sizeof dst, "bigcfg.ckpt");
    save_small_model(src, 0);
    static const int64_t h40[VAE_MAX_HIDDEN] = {40}, h64[VAE_MAX_HIDDEN] = {64},
                         h512[VAE_MAX_HIDDEN] = {512, 512}, h4[VAE_MAX_HIDDEN] = {4};
    /* Parameter counts of the model each configuration describes. */
    const struct {
        int64_t input_dim, latent_dim, n_hidden;
        const int64_t *hidden;
        const char *what;
    } cases[] = {
        {1 << 24, 2, 1, h40, "config 2^24-40-2: 1.4e9 parameters (5.4 GB)"},
        {1 << 22, 2, 1, h64, "config 2^22-64-2: 5.4e8 parameters (2.1 GB)"},
        {1 << 20, 512, 2, h512, "config 2^20-512-512-512: 1.1e9 parameters (4.3 GB)"},
        {1 << 13, 1 << 16, 0, h4, "config 2^13-2^16 (no hidden): 1.6e9 parameters (6.4 GB)"},
        {6, 1 << 16, 1, h4, "config 6-4-2^16: 1.3e6 parameters (5 MB)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const override ov[4] = {{"model.input_dim", cases[i].input_dim, NULL},
                                {"model.latent_dim", cases[i].latent_dim, NULL},
                                {"model.n_hidden", cases[i].n_hidden, NULL},
                                {"model.hidden", 0, cases[i].hidden}};
        rewrite_ckpt(src, dst, ov, 4);
        expect_refused(call_load_model, dst, VAE_ERR_FORMAT, VAE_ERR_LIMIT, NULL,
                       cases[i].what);
    }
    remove(src);
    remove(dst);
}
END_TEST

/* Optimizer state claiming 2^31 .. 2^60 entries for a model of 50. */
START_TEST(test_ckpt_optimizer_claims_huge_state)
{
    char src[4096], dst[4096];
    tu_tmp_path(src, sizeof src, "opt.ckpt");
    tu_tmp_path(dst, sizeof dst, "bigopt.ckpt");
    save_small_model(src, 1);
    const int64_t claims[] = {(int64_t)1 << 28, (int64_t)1 << 31, (int64_t)1 << 40,
                              (int64_t)1 << 60, INT64_MAX};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        const override ov[1] = {{"optim.n", claims[i], NULL}};
        rewrite_ckpt(src, dst, ov, 1);
        char what[96];
        snprintf(what, sizeof what, "checkpoint optim.n = %lld", (long long)claims[i]);
        expect_refused(call_load_model, dst, VAE_ERR_FORMAT, VAE_ERR_LIMIT, "optim", what);
    }
    remove(src);
    remove(dst);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* CSV                                                                       */
/* ------------------------------------------------------------------------ */

static void write_row(const char *path, size_t cols, int final_newline)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t j = 0; j < cols; j++) {
        fputc('0' + (int)(j % 10), f);
        if (j + 1 < cols)
            fputc(',', f);
    }
    if (final_newline)
        fputc('\n', f);
    ck_assert_int_eq(fclose(f), 0);
}

/* A row of a million columns: refused while the line is read. */
START_TEST(test_csv_million_columns)
{
    char p[4096];
    tu_tmp_path(p, sizeof p, "million.csv");
    write_row(p, 1000000, 1);
    expect_refused(call_load_csv, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "more than 262144 columns",
                   "CSV, 10^6 columns");
    /* Only commas, no newline at the end: still refused. */
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    for (int j = 0; j < 1000000; j++)
        fputc(',', f);
    ck_assert_int_eq(fclose(f), 0);
    expect_refused(call_load_csv, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "columns",
                   "CSV, 10^6 commas");
    remove(p);
}
END_TEST

/* The limit itself: 2^18 columns are accepted, 2^18 + 1 refused. */
START_TEST(test_csv_column_limit_edge)
{
    char p[4096];
    tu_tmp_path(p, sizeof p, "edge.csv");
    const size_t limit = (size_t)1 << 18;
    write_row(p, limit, 0);
    rel_result r = rel_measure(call_load_csv, p);
    ck_assert_msg(!r.died, "2^18 columns: %s", r.msg);
    ck_assert_msg(r.status == VAE_OK, "2^18 columns: %d %s", r.status, r.msg);
    ck_assert_str_eq(r.msg, "1 x 262144");
    write_row(p, limit + 1, 1);
    expect_refused(call_load_csv, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "line 1 has more than 262144",
                   "CSV, 2^18 + 1 columns");
    /* A wide row after a narrow one is refused as too wide, not mis-shaped. */
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("1,2\n", f);
    for (size_t j = 0; j <= limit; j++)
        fputs("0,", f);
    fputs("0\n", f);
    ck_assert_int_eq(fclose(f), 0);
    expect_refused(call_load_csv, p, VAE_ERR_LIMIT, VAE_ERR_LIMIT, "line 2 has more than",
                   "CSV, wide second row");
    remove(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Arrays and models                                                         */
/* ------------------------------------------------------------------------ */

/* Sizes that cannot be honest are refused before x is read. */
START_TEST(test_array_and_model_limits)
{
    float x[4] = {0};
    vae_dataset *ds = NULL;
    vae_error err;
    ck_assert_int_eq(vae_dataset_from_array(x, (size_t)1 << 31, 1, NULL, VAE_ARRAY_BORROW, NULL,
                                            &ds, &err), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_dataset_from_array(x, 1, ((size_t)1 << 24) + 1, NULL, VAE_ARRAY_COPY,
                                            NULL, &ds, &err), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_dataset_from_array(x, SIZE_MAX, SIZE_MAX, NULL, VAE_ARRAY_COPY, NULL,
                                            &ds, &err), VAE_ERR_LIMIT);
    ck_assert_ptr_null(ds);

    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 1 << 24;
    c.hidden[0] = 1 << 20;
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_LIMIT);
    ck_assert_ptr_null(m);

    vae_model_config_init(&c);
    c.input_dim = 4;
    c.hidden[0] = 4;
    c.latent_dim = 2;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    float out[4];
    ck_assert_int_eq(vae_model_sample(m, (size_t)1 << 40, out), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_model_reconstruct(m, x, SIZE_MAX, out), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_model_decode(m, x, (size_t)1 << 40, out), VAE_ERR_LIMIT);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("limits");
    TCase *idx = tcase_create("idx");
    tcase_set_timeout(idx, 300);
    tcase_add_test(idx, test_idx_2e31_images);
    tcase_add_test(idx, test_idx_huge_dims);
    tcase_add_test(idx, test_idx_lying_header);
    suite_add_tcase(s, idx);

    TCase *ck = tcase_create("ckpt");
    tcase_set_timeout(ck, 300);
    tcase_add_test(ck, test_ckpt_1tb_tensor);
    tcase_add_test(ck, test_ckpt_huge_header_claims);
    tcase_add_test(ck, test_ckpt_config_claims_huge_model);
    tcase_add_test(ck, test_ckpt_optimizer_claims_huge_state);
    suite_add_tcase(s, ck);

    TCase *csv = tcase_create("csv");
    tcase_set_timeout(csv, 300);
    tcase_add_test(csv, test_csv_million_columns);
    tcase_add_test(csv, test_csv_column_limit_edge);
    suite_add_tcase(s, csv);

    TCase *api = tcase_create("api");
    tcase_add_test(api, test_array_and_model_limits);
    suite_add_tcase(s, api);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
