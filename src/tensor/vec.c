/* Reductions and scans with a fixed lane order (see vec.h, simd.h). */
#include "tensor/vec.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/simd.h"

/* s = sum_k lane_k, lane_k = sum_{i = k mod VT_LANES} x_i^2. */
VT_CLONES static double sum_squares(const float *x, size_t n)
{
    double lane[VT_LANES] = {0};
    size_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++)
            lane[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; i + (size_t)k < n; k++)
        lane[k] += (double)x[i + k] * x[i + k];
    double s = 0.0;
    for (int k = 0; k < VT_LANES; k++)
        s += lane[k];
    return s;
}

/* A float is not finite iff its exponent bits are all ones; outside [0, 1]
 * (or NaN) iff !(0 <= x <= 1). The flags are OR-ed over a block, which
 * vectorises; only a block with a flag set is scanned again for the index. */
VT_CLONES static size_t find_bad(const float *x, size_t n, int unit_flag)
{
    uint32_t unit = unit_flag != 0;
    const size_t block = 1024;
    for (size_t s = 0; s < n; s += block) {
        size_t e = n - s < block ? n : s + block;
        uint32_t bad = 0;
        for (size_t i = s; i < e; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
            /* In [0, 1] iff the bits are at most those of 1.0f (sign clear),
             * or -0.0f; NaN's bits are above 1.0f's. Integer compares, so the
             * loop has no branch (a float && here kept it scalar). */
            bad |= unit & (uint32_t)(b > 0x3f800000u) & (uint32_t)(b != 0x80000000u);
        }
        if (bad)
            for (size_t i = s; i < e; i++)
                if (!isfinite(x[i]) || (unit && !(x[i] >= 0.0f && x[i] <= 1.0f)))
                    return i;
    }
    return n;
}

/* The clones stay static: GCC gives the ifunc symbols of an extern cloned
 * function default visibility, which would export them from libvae.so. */

size_t vt_sum_block(size_t n)
{
    size_t b = (n + VT_SUM_BLOCKS - 1) / VT_SUM_BLOCKS;
    b = (b + VT_LANES - 1) / VT_LANES * VT_LANES;
    return b < 65536 ? 65536 : b;
}

typedef struct sum_task {
    const float *x;
    size_t n, block, nb;
    double sums[VT_SUM_BLOCKS];
} sum_task;

static void sum_part(void *ctx, int part, int parts)
{
    sum_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->nb, 1, part, parts, &lo, &hi);
    for (size_t b = lo; b < hi; b++) {
        size_t a = b * t->block, e = a + t->block < t->n ? a + t->block : t->n;
        t->sums[b] = sum_squares(t->x + a, e - a);
    }
}

double vt_sum_squares_on(vt_pool *pool, const float *x, size_t n)
{
    sum_task t;
    t.x = x;
    t.n = n;
    t.block = vt_sum_block(n);
    t.nb = (n + t.block - 1) / t.block;
    if (t.nb <= 1)
        return sum_squares(x, n);
    vt_pool_run(pool, sum_part, &t);
    double s = 0.0;
    for (size_t b = 0; b < t.nb; b++)
        s += t.sums[b];
    return s;
}

double vt_sum_squares(const float *x, size_t n) { return vt_sum_squares_on(NULL, x, n); }

/* max |x_i| over the bits of |x| as integers (see the optimizer's abs_bits):
 * NaN compares above every other value, so it shows in the max. */
VT_CLONES static uint32_t abs_max_bits(const float *restrict x, size_t n)
{
    uint32_t lane[VT_LANES] = {0};
    size_t i0 = 0;
    for (; i0 + VT_LANES <= n; i0 += VT_LANES)
        for (size_t k = 0; k < VT_LANES; k++) {
            uint32_t b;
            memcpy(&b, &x[i0 + k], sizeof b);
            b &= 0x7fffffffu;
            lane[k] = b > lane[k] ? b : lane[k];
        }
    for (size_t i = i0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        b &= 0x7fffffffu;
        lane[0] = b > lane[0] ? b : lane[0];
    }
    uint32_t m = 0;
    for (size_t k = 0; k < VT_LANES; k++)
        m = lane[k] > m ? lane[k] : m;
    return m;
}

typedef struct max_task {
    const float *x;
    size_t n;
    uint32_t m[VT_MAX_PARTS];
} max_task;

static void max_part(void *ctx, int part, int parts)
{
    max_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->n, 64, part, parts, &lo, &hi);
    t->m[part] = abs_max_bits(t->x + lo, hi - lo);
}

float vt_abs_max_on(vt_pool *pool, const float *x, size_t n)
{
    max_task t;
    t.x = x;
    t.n = n;
    int parts = vt_pool_parts(pool);
    uint32_t m = 0;
    if (parts == 1 || n < 65536) {
        m = abs_max_bits(x, n);
    } else {
        vt_pool_run(pool, max_part, &t);
        for (int i = 0; i < parts; i++)
            m = t.m[i] > m ? t.m[i] : m;
    }
    float f;
    memcpy(&f, &m, sizeof f);
    return f;
}

size_t vt_find_bad(const float *x, size_t n, int unit) { return find_bad(x, n, unit); }
