/* Reliability, round two (issue 19): hostile input files.
 *
 * - A FIFO without a writer, a directory and a character device are refused
 *   with VAE_ERR_IO by every loader (IDX images and labels, CSV, model and
 *   VQ-VAE checkpoints) without blocking; alarm() turns a regression (a
 *   blocking open) into a failure instead of a hang.
 * - Memory follows the data a file can hold: a 3 MB gzip bomb whose header
 *   claims 2^28 x 32 x 32 bytes and which inflates to 3 GiB is refused
 *   within 2 s and 100 MB of resident growth (under RLIMIT_AS, rel_measure);
 *   a labels file claiming 2^28 labels for 10 images is refused at its
 *   header; a CSV line without commas or newlines stops at 16 MiB.
 * - A CSV field with a NUL byte is an error naming line and column.
 * - gzip errors name the path once.
 * The bombs are generated at run time (concatenated gzip members of a
 * once-compressed block of zeros), never committed. */
#include "relutil.h"

#include <sys/stat.h>
#include <zlib.h>

#include "libvae/vae.h"

/* Compress len zero bytes (after `head`, hlen bytes) into one gzip member. */
static unsigned char *gzip_member(const unsigned char *head, size_t hlen, size_t len,
                                  size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = len / 1000 + hlen + 4096;
    unsigned char *out = malloc(cap);
    static unsigned char zeros[1 << 16];
    ck_assert_ptr_nonnull(out);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (hlen) {
        z.next_in = (unsigned char *)head;
        z.avail_in = (uInt)hlen;
        ck_assert_int_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
    }
    for (size_t done = 0; done < len;) {
        size_t k = len - done < sizeof zeros ? len - done : sizeof zeros;
        z.next_in = zeros;
        z.avail_in = (uInt)k;
        ck_assert_int_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
        done += k;
    }
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* A gzip file: a member holding head + first zeros, then `copies` members
 * of `each` zero bytes (a gzip reader inflates concatenated members). */
static void write_bomb(const char *path, const unsigned char *head, size_t hlen, size_t first,
                       size_t each, int copies)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    size_t n;
    unsigned char *m = gzip_member(head, hlen, first, &n);
    ck_assert_uint_eq(fwrite(m, 1, n, f), n);
    free(m);
    if (copies > 0) {
        m = gzip_member(NULL, 0, each, &n);
        for (int i = 0; i < copies; i++)
            ck_assert_uint_eq(fwrite(m, 1, n, f), n);
        free(m);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

typedef struct load_args {
    const char *images, *labels;
} load_args;

static int call_load_idx(void *arg, char *msg)
{
    load_args *a = arg;
    vae_dataset *ds = NULL;
    vae_error err;
    int rc = vae_dataset_load_idx(a->images, a->labels, NULL, &ds, &err);
    snprintf(msg, 256, "%s", rc == VAE_OK ? "" : err.message);
    vae_dataset_free(ds);
    return rc;
}

static int call_load_csv(void *arg, char *msg)
{
    load_args *a = arg;
    vae_dataset *ds = NULL;
    vae_error err;
    int rc = vae_dataset_load_csv(a->images, NULL, &ds, &err);
    snprintf(msg, 256, "%s", rc == VAE_OK ? "" : err.message);
    vae_dataset_free(ds);
    return rc;
}

/* Refused with `status` within `seconds` and `mb` of peak RSS growth. */
static void expect_cheap_refusal(rel_fn fn, load_args *a, int status, const char *needle,
                                 double seconds, long mb)
{
    rel_result r = rel_measure(fn, a);
    ck_assert_msg(!r.died, "%s: %s", a->images, r.msg);
    ck_assert_msg(r.status == status, "%s: status %d, want %d: %s", a->images, r.status, status,
                  r.msg);
    ck_assert_msg(strstr(r.msg, needle), "%s: message \"%s\" lacks \"%s\"", a->images, r.msg,
                  needle);
    double limit = rel_under_valgrind() ? seconds * 60 : REL_ASAN ? seconds * 5 : seconds;
    ck_assert_msg(r.seconds < limit, "%s: took %.2f s (limit %.1f)", a->images, r.seconds,
                  limit);
    if (r.peak_growth_kb >= 0)
        ck_assert_msg(r.peak_growth_kb < mb * 1024, "%s: peak RSS grew by %ld kB", a->images,
                      r.peak_growth_kb);
}

START_TEST(test_gzip_bomb_images)
{
    /* Header: u8, rank 3, 2^28 x 32 x 32 (2^38 bytes claimed); then 3 GiB
     * of zeros in 48 members of 64 MiB: about 3.1 MB on disk. */
    unsigned char head[16] = {0, 0, 0x08, 3};
    put_be32(head + 4, 1u << 28);
    put_be32(head + 8, 32);
    put_be32(head + 12, 32);
    char path[512];
    tu_tmp_path(path, sizeof path, "bomb-images.gz");
    int copies = tu_quick() ? 4 : 48;
    write_bomb(path, head, sizeof head, (size_t)64 << 20, (size_t)64 << 20, copies);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    load_args a = {path, NULL};
    expect_cheap_refusal(call_load_idx, &a, VAE_ERR_FORMAT, "more than a gzip file", 2.0, 100);
    remove(path);
}
END_TEST

START_TEST(test_labels_count_checked_at_header)
{
    /* 10 real images of 28x28 (raw), labels claiming 2^28 in a 256 MiB
     * gzip of zeros (~261 KB): refused at the labels header. */
    char images[512], labels[512];
    tu_tmp_path(images, sizeof images, "ten-images.idx");
    tu_tmp_path(labels, sizeof labels, "bomb-labels.gz");
    size_t n = 16 + 10 * 784;
    unsigned char *img = calloc(1, n);
    ck_assert_ptr_nonnull(img);
    img[2] = 0x08;
    img[3] = 3;
    put_be32(img + 4, 10);
    put_be32(img + 8, 28);
    put_be32(img + 12, 28);
    ck_assert_int_eq(tu_write_file(images, img, n), 0);
    free(img);
    unsigned char head[8] = {0, 0, 0x08, 1};
    put_be32(head + 4, 1u << 28);
    write_bomb(labels, head, sizeof head, (size_t)16 << 20, (size_t)16 << 20, 15);
    load_args a = {images, labels};
    expect_cheap_refusal(call_load_idx, &a, VAE_ERR_SHAPE, "268435456 labels for 10 images",
                         0.5, 16);
    remove(images);
    remove(labels);
}
END_TEST

START_TEST(test_csv_line_limit)
{
    /* 20 MiB of digits without a comma or newline: refused at 16 MiB. */
    char path[512];
    tu_tmp_path(path, sizeof path, "long-line.csv");
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    static char digits[1 << 16];
    memset(digits, '1', sizeof digits);
    for (int i = 0; i < 320; i++)
        ck_assert_uint_eq(fwrite(digits, 1, sizeof digits, f), sizeof digits);
    ck_assert_int_eq(fclose(f), 0);
    load_args a = {path, NULL};
    expect_cheap_refusal(call_load_csv, &a, VAE_ERR_LIMIT, "line 1 is longer than 16777216",
                         2.0, 64);
    /* The same with NUL bytes (what /dev/zero gives): the first NUL is named. */
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    memset(digits, 0, sizeof digits);
    for (int i = 0; i < 320; i++)
        ck_assert_uint_eq(fwrite(digits, 1, sizeof digits, f), sizeof digits);
    ck_assert_int_eq(fclose(f), 0);
    expect_cheap_refusal(call_load_csv, &a, VAE_ERR_FORMAT, "line 1, column 1: a NUL byte", 2.0,
                         64);
    remove(path);
}
END_TEST

static void csv_refused(const char *text, size_t len, int status, const char *needle)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "nul.csv");
    ck_assert_int_eq(tu_write_file(path, text, len), 0);
    vae_dataset *ds = NULL;
    vae_error err;
    int rc = vae_dataset_load_csv(path, NULL, &ds, &err);
    ck_assert_msg(rc == status, "status %d: %s", rc, err.message);
    ck_assert_msg(strstr(err.message, needle), "message \"%s\" lacks \"%s\"", err.message,
                  needle);
    vae_dataset_free(ds);
    remove(path);
}

START_TEST(test_csv_nul_byte)
{
    static const char a[] = "1\0junk,2\n";
    csv_refused(a, sizeof a - 1, VAE_ERR_FORMAT, "line 1, column 1: a NUL byte");
    static const char b[] = "3,4\n5,6\0x\n";
    csv_refused(b, sizeof b - 1, VAE_ERR_FORMAT, "line 2, column 2: a NUL byte");
    static const char c[] = "1,2,3\n4,5,\0\n";
    csv_refused(c, sizeof c - 1, VAE_ERR_FORMAT, "line 2, column 3: a NUL byte");
}
END_TEST

/* Every loader on `path` must return VAE_ERR_IO saying "not a regular file". */
static void all_loaders_refuse(const char *path, const char *good_images)
{
    vae_error err;
    vae_dataset *ds = NULL;
    int rc = vae_dataset_load_idx(path, NULL, NULL, &ds, &err);
    ck_assert_msg(rc == VAE_ERR_IO && strstr(err.message, "not a regular file"),
                  "idx %s: %d %s", path, rc, err.message);
    rc = vae_dataset_load_idx(good_images, path, NULL, &ds, &err);
    ck_assert_msg(rc == VAE_ERR_IO && strstr(err.message, "not a regular file"),
                  "idx labels %s: %d %s", path, rc, err.message);
    rc = vae_dataset_load_csv(path, NULL, &ds, &err);
    ck_assert_msg(rc == VAE_ERR_IO && strstr(err.message, "not a regular file"),
                  "csv %s: %d %s", path, rc, err.message);
    vae_model *m = NULL;
    rc = vae_model_load(path, &m, NULL, &err);
    ck_assert_msg(rc == VAE_ERR_IO && strstr(err.message, "not a regular file"),
                  "model %s: %d %s", path, rc, err.message);
    vae_vqvae *q = NULL;
    rc = vae_vqvae_load(path, &q, NULL, &err);
    ck_assert_msg(rc == VAE_ERR_IO && strstr(err.message, "not a regular file"),
                  "vqvae %s: %d %s", path, rc, err.message);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(q);
}

START_TEST(test_non_regular_files_refused_without_blocking)
{
    char fifo[512], dir[512], images[512];
    tu_tmp_path(fifo, sizeof fifo, "loader.fifo");
    tu_tmp_path(dir, sizeof dir, "loader.dir");
    tu_tmp_path(images, sizeof images, "one-image.idx");
    unsigned char img[16 + 4] = {0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4};
    ck_assert_int_eq(tu_write_file(images, img, sizeof img), 0);
    remove(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    rmdir(dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    /* A blocking open would wait forever for a writer: fail instead. */
    alarm(rel_under_valgrind() ? 120 : 10);
    all_loaders_refuse(fifo, images);
    all_loaders_refuse(dir, images);
    all_loaders_refuse("/dev/null", images);
    alarm(0);
    remove(fifo);
    rmdir(dir);
    remove(images);
}
END_TEST

START_TEST(test_gzip_error_names_path_once)
{
    /* A valid gzip IDX whose CRC trailer is damaged. */
    unsigned char head[16] = {0, 0, 0x08, 3};
    put_be32(head + 4, 4);
    put_be32(head + 8, 2);
    put_be32(head + 12, 2);
    size_t n;
    unsigned char *m = gzip_member(head, sizeof head, 16, &n);
    m[n - 8] ^= 0xff; /* the CRC-32 */
    char path[512];
    tu_tmp_path(path, sizeof path, "bad-crc.gz");
    ck_assert_int_eq(tu_write_file(path, m, n), 0);
    free(m);
    vae_dataset *ds = NULL;
    vae_error err;
    int rc = vae_dataset_load_idx(path, NULL, NULL, &ds, &err);
    ck_assert_msg(rc == VAE_ERR_FORMAT, "%d %s", rc, err.message);
    const char *first = strstr(err.message, path);
    ck_assert_msg(first && !strstr(first + 1, path), "path not named exactly once: %s",
                  err.message);
    ck_assert_msg(!strstr(err.message, "<fd:"), "%s", err.message);
    ck_assert_msg(strstr(err.message, "after 32 bytes"), "%s", err.message);
    remove(path);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_non_regular_files_refused_without_blocking);
    tcase_add_test(tc, test_gzip_bomb_images);
    tcase_add_test(tc, test_labels_count_checked_at_header);
    tcase_add_test(tc, test_csv_line_limit);
    tcase_add_test(tc, test_csv_nul_byte);
    tcase_add_test(tc, test_gzip_error_names_path_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(files_suite());
}
