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
VT_CLONES static size_t find_bad(const float *x, size_t n, int unit)
{
    const size_t block = 1024;
    for (size_t s = 0; s < n; s += block) {
        size_t e = n - s < block ? n : s + block;
        uint32_t bad = 0;
        for (size_t i = s; i < e; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
            if (unit)
                bad |= (uint32_t)!(x[i] >= 0.0f && x[i] <= 1.0f);
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
double vt_sum_squares(const float *x, size_t n) { return sum_squares(x, n); }

size_t vt_find_bad(const float *x, size_t n, int unit) { return find_bad(x, n, unit); }
