/* vae_png_write_grid: lay images out in a grid and write it as a PNG. */
#include <math.h>
#include <stdlib.h>

#include "common/errors.h"
#include "image/png.h"

/* Cells are separated by this many pixels of VAE_GRID_GAP_VALUE (mid-gray,
 * visible against both MNIST's black background and white strokes). */
#define VAE_GRID_GAP 2
#define VAE_GRID_GAP_VALUE 128

/* The side of a grid of count cells of size cell: count*cell + (count-1)*gap,
 * or 0 when it exceeds VIM_PNG_MAX_SIDE. */
static size_t grid_side(size_t count, size_t cell)
{
    if (count > VIM_PNG_MAX_SIDE || cell > VIM_PNG_MAX_SIDE) return 0;
    size_t side = count * cell + (count - 1) * VAE_GRID_GAP;
    return side <= VIM_PNG_MAX_SIDE ? side : 0;
}

/* [0,1] -> 0..255, rounded to nearest, clamped. */
static uint8_t to_byte(float v)
{
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

int vae_png_write_grid(const char *path, const float *pixels, size_t n, size_t height,
                       size_t width, size_t cols, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN];
    if (path == NULL || pixels == NULL)
        return vae_error_set(err, VAE_ERR_NULL,
                             path == NULL ? "vae_png_write_grid: path is NULL"
                                          : "vae_png_write_grid: pixels is NULL");
    if (n == 0 || height == 0 || width == 0 || cols == 0)
        return vae_error_set(err, VAE_ERR_INVALID,
                             "vae_png_write_grid: n, height, width and cols must be > 0");
    if (cols > n) cols = n;
    size_t rows = n / cols + (n % cols != 0);
    size_t gw = grid_side(cols, width), gh = grid_side(rows, height);
    if (gw == 0 || gh == 0) {
        vae_fail(msg, VAE_ERR_LIMIT,
                 "vae_png_write_grid: a %zux%zu grid of %zux%zu images exceeds %d pixels a side",
                 rows, cols, height, width, VIM_PNG_MAX_SIDE);
        return vae_error_set(err, VAE_ERR_LIMIT, msg);
    }
    for (size_t i = 0; i < n * height * width; i++)
        if (!isfinite(pixels[i])) {
            vae_fail(msg, VAE_ERR_NONFINITE,
                     "vae_png_write_grid: pixel %zu of image %zu is not finite",
                     i % (height * width), i / (height * width));
            return vae_error_set(err, VAE_ERR_NONFINITE, msg);
        }
    uint8_t *img = malloc(gw * gh);
    if (img == NULL)
        return vae_error_set(err, VAE_ERR_NOMEM, "vae_png_write_grid: out of memory");
    for (size_t i = 0; i < gw * gh; i++) img[i] = VAE_GRID_GAP_VALUE;
    for (size_t k = 0; k < n; k++) {
        size_t y0 = (k / cols) * (height + VAE_GRID_GAP), x0 = (k % cols) * (width + VAE_GRID_GAP);
        const float *src = pixels + k * height * width;
        for (size_t y = 0; y < height; y++)
            for (size_t x = 0; x < width; x++)
                img[(y0 + y) * gw + x0 + x] = to_byte(src[y * width + x]);
    }
    int rc = vim_png_write_gray(path, img, gw, gh, msg);
    free(img);
    if (rc != VAE_OK) return vae_error_set(err, rc, msg);
    return vae_error_set(err, VAE_OK, "");
}
