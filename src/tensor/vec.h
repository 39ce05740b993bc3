/* Vectorisable reductions and scans over float arrays, in a fixed order
 * that does not depend on the vector width (see simd.h). */
#ifndef VAE_TENSOR_VEC_H
#define VAE_TENSOR_VEC_H

#include <stddef.h>

#include "tensor/pool.h"

/* Independent partial sums the reductions below keep (a multiple of every
 * vector width in floats and doubles up to 512 bits). */
#define VT_LANES 16

/* sum_i x_i^2 in double, in an order fixed by n alone: x is cut into at
 * most VT_SUM_BLOCKS blocks of vt_sum_block(n) elements (at least 65536);
 * in a block, lane k sums the elements i = k (mod VT_LANES) in order and
 * the lanes are added 0..VT_LANES-1; the block sums are added in order.
 * Not finite iff some x_i is not finite (or the sum overflows).
 * vt_sum_squares_on computes the blocks on a thread team (NULL: the
 * caller): the same bits at any team size. */
double vt_sum_squares(const float *x, size_t n);
double vt_sum_squares_on(vt_pool *pool, const float *x, size_t n);

#define VT_SUM_BLOCKS 256
size_t vt_sum_block(size_t n);

/* max_i |x_i| (NaN if some x_i is NaN; 0 for n == 0), on a thread team
 * (NULL: the caller); a max, so the same at any team size. */
float vt_abs_max_on(vt_pool *pool, const float *x, size_t n);

/* Index of the first x_i that is not finite, or, with unit != 0, outside
 * [0, 1]; n when there is none. One branch-free pass when all are fine. */
size_t vt_find_bad(const float *x, size_t n, int unit);

#endif
