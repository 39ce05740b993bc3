/* A small PNG encoder: 8-bit grayscale, one IDAT chunk compressed with
 * zlib, no interlacing, filter type 0 ("None") on every scanline.
 *
 * Enough for the pictures examples write (sample grids, reconstructions,
 * latent traversals); any PNG decoder reads the result. The file layout is
 * PNG 1.2 / ISO 15948: signature, IHDR, IDAT, IEND, each chunk
 * length | type | data | CRC-32(type + data).
 */
#ifndef VAE_IMAGE_PNG_H
#define VAE_IMAGE_PNG_H

#include <stddef.h>
#include <stdint.h>

/* Largest side of an image the encoder writes (PNG allows 2^31 - 1; this
 * bounds memory at 64 MiB per image). */
#define VIM_PNG_MAX_SIDE 8192

/* Encode width x height bytes (row-major, 0 = black, 255 = white) into the
 * PNG file at path, replacing it. On failure returns VAE_ERR_INVALID (a
 * side 0 or above VIM_PNG_MAX_SIDE), VAE_ERR_NOMEM or VAE_ERR_IO with msg
 * (VAE_ERRMSG_LEN bytes) filled, and leaves no partial file behind.
 * Thread-safe (no state). */
int vim_png_write_gray(const char *path, const uint8_t *pixels, size_t width, size_t height,
                       char *msg);

#endif
