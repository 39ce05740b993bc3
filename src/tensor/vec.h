/* Vectorisable reductions and scans over float arrays, in a fixed order
 * that does not depend on the vector width (see simd.h). */
#ifndef VAE_TENSOR_VEC_H
#define VAE_TENSOR_VEC_H

#include <stddef.h>

/* Independent partial sums the reductions below keep (a multiple of every
 * vector width in floats and doubles up to 512 bits). */
#define VT_LANES 16

/* sum_i x_i^2 in double: lane k sums the elements i = k (mod VT_LANES) in
 * order, then the lanes are added 0..VT_LANES-1. Not finite iff some x_i is
 * not finite (or the sum overflows). */
double vt_sum_squares(const float *x, size_t n);

/* Index of the first x_i that is not finite, or, with unit != 0, outside
 * [0, 1]; n when there is none. One branch-free pass when all are fine. */
size_t vt_find_bad(const float *x, size_t n, int unit);

#endif
