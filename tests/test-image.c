/* PNG grid writer: files decode (with zlib's own CRC and inflate, not the
 * library's code) to exactly the pixels, layout and gaps promised; bad
 * input is refused with a message and leaves no file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "libvae/vae.h"
#include "testutil.h"

typedef struct decoded {
    unsigned width, height;
    unsigned char *pixels; /* width*height bytes */
} decoded;

static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

/* A strict decoder for what the writer promises: signature, IHDR (8-bit
 * gray, no interlace), IDAT chunks, IEND; every chunk CRC checked with zlib;
 * every scanline filter 0. Fails the test on any deviation. */
static decoded decode_png(const char *path)
{
    size_t len;
    unsigned char *f = tu_read_file(path, &len);
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    ck_assert(len > 8 && memcmp(f, sig, 8) == 0);
    decoded d = {0, 0, NULL};
    unsigned char *z = NULL;
    size_t zlen = 0, pos = 8;
    int seen_end = 0, chunk = 0;
    while (pos < len) {
        ck_assert(len - pos >= 12);
        unsigned clen = be32(f + pos);
        ck_assert(clen <= len - pos - 12);
        const unsigned char *type = f + pos + 4, *data = f + pos + 8;
        uLong crc = crc32(0L, type, 4 + clen);
        ck_assert_msg(crc == be32(data + clen), "bad CRC in chunk %.4s", (const char *)type);
        if (chunk == 0) {
            ck_assert(memcmp(type, "IHDR", 4) == 0 && clen == 13);
            d.width = be32(data);
            d.height = be32(data + 4);
            ck_assert(data[8] == 8 && data[9] == 0 && data[10] == 0 && data[11] == 0 &&
                      data[12] == 0);
        } else if (memcmp(type, "IDAT", 4) == 0) {
            z = realloc(z, zlen + clen);
            memcpy(z + zlen, data, clen);
            zlen += clen;
        } else if (memcmp(type, "IEND", 4) == 0) {
            ck_assert(clen == 0 && pos + 12 == len);
            seen_end = 1;
        }
        pos += 12 + clen;
        chunk++;
    }
    ck_assert(seen_end);
    uLongf rawlen = (uLongf)(d.width + 1) * d.height;
    unsigned char *raw = malloc(rawlen + 1);
    uLongf got = rawlen + 1;
    ck_assert(uncompress(raw, &got, z, zlen) == Z_OK);
    ck_assert(got == rawlen);
    d.pixels = malloc((size_t)d.width * d.height);
    for (unsigned y = 0; y < d.height; y++) {
        ck_assert(raw[y * (d.width + 1)] == 0);
        memcpy(d.pixels + (size_t)y * d.width, raw + y * (d.width + 1) + 1, d.width);
    }
    free(raw);
    free(z);
    free(f);
    return d;
}

START_TEST(one_image_is_written_exactly)
{
    char buf[4096];
    const char *path = tu_tmp_path(buf, sizeof buf, "one.png");
    float px[3 * 5];
    for (int i = 0; i < 15; i++) px[i] = (float)i / 14.0f;
    px[0] = -3.0f; /* clamped to 0 */
    px[14] = 7.0f; /* clamped to 1 */
    vae_error err;
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, 3, 5, 1, &err), VAE_OK);
    ck_assert_int_eq(err.status, VAE_OK);
    decoded d = decode_png(path);
    ck_assert_uint_eq(d.width, 5);
    ck_assert_uint_eq(d.height, 3);
    for (int i = 0; i < 15; i++) {
        float v = px[i] < 0 ? 0 : px[i] > 1 ? 1 : px[i];
        ck_assert_int_eq(d.pixels[i], (int)lrintf(v * 255.0f));
    }
    free(d.pixels);
    unlink(path);
}
END_TEST

/* 5 images of 2x3 in rows of 2: a 3x2 grid with 2-pixel gaps; the sixth cell is gap gray. */
START_TEST(grid_layout_and_gaps)
{
    char buf[4096];
    const char *path = tu_tmp_path(buf, sizeof buf, "grid.png");
    enum { N = 5, H = 2, W = 3, C = 2 };
    float px[N * H * W];
    for (int k = 0; k < N; k++)
        for (int i = 0; i < H * W; i++) px[k * H * W + i] = (float)(k * 40 + i) / 255.0f;
    ck_assert_int_eq(vae_png_write_grid(path, px, N, H, W, C, NULL), VAE_OK);
    decoded d = decode_png(path);
    ck_assert_uint_eq(d.width, C * W + (C - 1) * 2);
    ck_assert_uint_eq(d.height, 3 * H + 2 * 2);
    for (unsigned y = 0; y < d.height; y++)
        for (unsigned x = 0; x < d.width; x++) {
            unsigned cy = y / (H + 2), cx = x / (W + 2), iy = y % (H + 2), ix = x % (W + 2);
            unsigned k = cy * C + cx;
            int want = (iy >= H || ix >= W || k >= N) ? 128 : (int)(k * 40 + iy * W + ix);
            ck_assert_msg(d.pixels[y * d.width + x] == want, "pixel (%u,%u) is %d, want %d", x, y,
                          d.pixels[y * d.width + x], want);
        }
    free(d.pixels);
    unlink(path);
}
END_TEST

/* A 28x28 MNIST-sized 10x10 grid compresses and decodes (large IDAT). */
START_TEST(large_grid_round_trips)
{
    char buf[4096];
    const char *path = tu_tmp_path(buf, sizeof buf, "big.png");
    size_t n = 100, hw = 28 * 28;
    float *px = malloc(n * hw * sizeof *px);
    uint64_t s = 12345;
    for (size_t i = 0; i < n * hw; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        px[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    ck_assert_int_eq(vae_png_write_grid(path, px, n, 28, 28, 10, NULL), VAE_OK);
    decoded d = decode_png(path);
    ck_assert_uint_eq(d.width, 10 * 28 + 9 * 2);
    ck_assert_uint_eq(d.height, d.width);
    for (size_t k = 0; k < n; k += 37)
        for (size_t i = 0; i < hw; i += 13) {
            size_t y = (k / 10) * 30 + i / 28, x = (k % 10) * 30 + i % 28;
            ck_assert_int_eq(d.pixels[y * d.width + x], (int)lrintf(px[k * hw + i] * 255.0f));
        }
    free(d.pixels);
    free(px);
    unlink(path);
}
END_TEST

START_TEST(bad_input_is_refused_and_leaves_no_file)
{
    char buf[4096];
    const char *path = tu_tmp_path(buf, sizeof buf, "bad.png");
    unlink(path);
    float px[4] = {0, 0.5f, 1, 0.25f};
    vae_error err;
    ck_assert_int_eq(vae_png_write_grid(NULL, px, 1, 2, 2, 1, &err), VAE_ERR_NULL);
    ck_assert(strstr(err.message, "path") != NULL);
    ck_assert_int_eq(vae_png_write_grid(path, NULL, 1, 2, 2, 1, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_png_write_grid(path, px, 0, 2, 2, 1, &err), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, 0, 2, 1, &err), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, 2, 2, 0, &err), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, 9000, 1, 1, &err), VAE_ERR_LIMIT);
    ck_assert(strstr(err.message, "8192") != NULL);
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, (size_t)1 << 62, 4, 1, &err), VAE_ERR_LIMIT);
    px[3] = NAN;
    ck_assert_int_eq(vae_png_write_grid(path, px, 1, 2, 2, 1, &err), VAE_ERR_NONFINITE);
    ck_assert(strstr(err.message, "pixel 3") != NULL);
    ck_assert(access(path, F_OK) != 0);
    px[3] = 0;
    ck_assert_int_eq(vae_png_write_grid("/nonexistent-dir/x.png", px, 1, 2, 2, 1, &err), VAE_ERR_IO);
    ck_assert(strstr(err.message, "/nonexistent-dir/x.png") != NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("png");
    tcase_add_test(tc, one_image_is_written_exactly);
    tcase_add_test(tc, grid_layout_and_gaps);
    tcase_add_test(tc, large_grid_round_trips);
    tcase_add_test(tc, bad_input_is_refused_and_leaves_no_file);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
