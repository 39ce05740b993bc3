/* PNG writer (see png.h for the layout). */
#include "image/png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/errors.h"
#include "io/crc32.h"

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: big-endian length, 4-byte type, data, CRC-32 over type + data. */
static int write_chunk(FILE *f, const char type[4], const unsigned char *data, size_t len)
{
    unsigned char head[8], tail[4];
    put_be32(head, (uint32_t)len);
    memcpy(head + 4, type, 4);
    uint32_t crc = vio_crc32(0, head + 4, 4);
    crc = vio_crc32(crc, data, len);
    put_be32(tail, crc);
    if (fwrite(head, 1, 8, f) != 8) return -1;
    if (len > 0 && fwrite(data, 1, len, f) != len) return -1;
    if (fwrite(tail, 1, 4, f) != 4) return -1;
    return 0;
}

/* Scanlines each prefixed with filter byte 0, deflated into one zlib stream. */
static int deflate_scanlines(const uint8_t *pixels, size_t width, size_t height,
                             unsigned char **out, size_t *out_len)
{
    size_t raw_len = (width + 1) * height;
    unsigned char *raw = malloc(raw_len);
    if (raw == NULL) return -1;
    for (size_t y = 0; y < height; y++) {
        raw[y * (width + 1)] = 0;
        memcpy(raw + y * (width + 1) + 1, pixels + y * width, width);
    }
    uLongf bound = compressBound((uLong)raw_len);
    unsigned char *z = malloc(bound);
    if (z == NULL) {
        free(raw);
        return -1;
    }
    int rc = compress2(z, &bound, raw, (uLong)raw_len, Z_BEST_COMPRESSION);
    free(raw);
    if (rc != Z_OK) {
        free(z);
        return -1;
    }
    *out = z;
    *out_len = bound;
    return 0;
}

int vim_png_write_gray(const char *path, const uint8_t *pixels, size_t width, size_t height,
                       char *msg)
{
    if (width == 0 || height == 0 || width > VIM_PNG_MAX_SIDE || height > VIM_PNG_MAX_SIDE)
        return vae_fail(msg, VAE_ERR_INVALID, "PNG size %zux%zu: each side must be 1..%d",
                        width, height, VIM_PNG_MAX_SIDE);
    unsigned char *idat;
    size_t idat_len;
    if (deflate_scanlines(pixels, width, height, &idat, &idat_len) != 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "PNG: out of memory compressing %zux%zu pixels",
                        width, height);

    /* IHDR: width, height, bit depth 8, colour type 0 (grayscale),
     * compression 0, filter method 0, interlace 0. */
    unsigned char ihdr[13];
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;
    ihdr[9] = 0;
    ihdr[10] = 0;
    ihdr[11] = 0;
    ihdr[12] = 0;

    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        int e = errno;
        free(idat);
        return vae_fail(msg, VAE_ERR_IO, "cannot create %s: %s", path, strerror(e));
    }
    int bad = fwrite(png_signature, 1, 8, f) != 8 || write_chunk(f, "IHDR", ihdr, 13) != 0 ||
              write_chunk(f, "IDAT", idat, idat_len) != 0 || write_chunk(f, "IEND", NULL, 0) != 0;
    int e = errno;
    free(idat);
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        remove(path);
        return vae_fail(msg, VAE_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return VAE_OK;
}
