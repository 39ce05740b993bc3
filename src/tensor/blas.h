/* The one door to BLAS. Every matrix product in libvae is a call to
 * vt_gemm, i.e. cblas_sgemm on row-major data with transpose flags (a
 * transpose is never materialised). */
#ifndef VAE_TENSOR_BLAS_H
#define VAE_TENSOR_BLAS_H

#include "tensor/pool.h"

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N.
 * transa/transb: 0 = as stored, 1 = transposed. beta == 0 means C need not be set.
 *
 * pool: the calling model's thread team (NULL: the caller alone). With a
 * team of T, C is cut into T blocks of rows (or of columns, whichever
 * dimension is larger; cuts at multiples of 16) and each block is one
 * single-threaded cblas_sgemm on the team. Every element of C is still the
 * same K-long dot product, computed by the same kernel path for the block
 * sizes at hand; the cut depends only on the shape and T, so results depend
 * on T at most, never on scheduling; with the kernels vt_gemm_split_exact
 * names, not on T either. Products under 32768 multiply-adds are not split.
 *
 * OpenBLAS's own threads are never used: its thread count is a
 * process-wide variable (we measured wrong bits when application threads
 * ran multi-threaded products at once), so libvae sets it to 1 once, and
 * its calls are reentrant at 1. The reference CBLAS is reentrant too. */
void vt_gemm(vt_pool *pool, int transa, int transb, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* 1 when a product split over a team gives the unsplit product's bits with
 * the BLAS running here (OpenBLAS's SkylakeX or Sandybridge kernels, the
 * reference CBLAS), so results do not depend on the thread count; 0 when
 * they may differ in the last bits (e.g. OpenBLAS's Haswell kernels, which
 * valgrind also gets), as with any threaded BLAS. */
int vt_gemm_split_exact(void);

/* C = 1 bias^T + A B (no transposes): the dense layer's forward product,
 * with the bias rows written by the same part that multiplies into them. */
void vt_gemm_bias(vt_pool *pool, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, const float *bias, float *C, int ldc);

#endif
