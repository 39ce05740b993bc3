/* The one door to BLAS. Every matrix product in libvae is a call to
 * vt_gemm on row-major data with transpose flags (a transpose is never
 * materialised): cblas_sgemm, or libvae's own AVX-512 product (sgemm.h)
 * where that is faster, as vt_gemm_kernel_name says. */
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
 * sizes at hand; the cut depends only on the shape and T, never on
 * scheduling. With the kernels vt_gemm_split_exact names the cut does not
 * change any bit; with the others (whose rounding of an element depends on
 * its block) C is cut into two fixed blocks whatever T, the caller alone
 * included, so results do not depend on T either. A product is split only
 * when every part keeps at least 2^20 multiply-adds (2^17 with libvae's
 * own product, which any cut leaves exact).
 *
 * OpenBLAS's own threads are never used: its thread count is a
 * process-wide variable (we measured wrong bits when application threads
 * ran multi-threaded products at once), so libvae sets it to 1 once, and
 * its calls are reentrant at 1. The reference CBLAS is reentrant too. */
void vt_gemm(vt_pool *pool, int transa, int transb, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* 1 when a product split over a team gives the unsplit product's bits with
 * the product running here (libvae's own, OpenBLAS's SkylakeX, Cooperlake
 * or Sandybridge kernels, the reference CBLAS); 0 when a split may change the last bits
 * (e.g. OpenBLAS's Haswell kernels, which valgrind also gets):
 * then vt_gemm cuts products into fixed blocks whatever the team, so
 * results do not depend on the thread count in either case. */
int vt_gemm_split_exact(void);

/* Which product vt_gemm runs, decided once per process:
 *   "libvae-avx512"  libvae's own (tensor/sgemm.h): by default where the CPU
 *                    has AVX-512F and OpenBLAS runs kernels without it
 *                    (e.g. OpenBLAS 0.3.21's Haswell kernels on AMD Zen 5);
 *   otherwise the BLAS: OpenBLAS's core name ("Haswell", "Cooperlake", ...)
 *                    or "cblas" (the reference CBLAS, -Dblas=cblas).
 * The environment variable VAE_GEMM, read once, overrides the default:
 * "blas" always uses the BLAS, "libvae" uses libvae's own wherever the CPU
 * has AVX-512F (also with -Dblas=cblas); other values mean the default.
 * The choice changes results in the last bits, never their thread-count
 * independence. Static string; thread-safe. */
const char *vt_gemm_kernel_name(void);

/* C = 1 bias^T + A B (no transposes): the dense layer's forward product,
 * with the bias rows written by the same part that multiplies into them. */
void vt_gemm_bias(vt_pool *pool, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, const float *bias, float *C, int ldc);

#endif
