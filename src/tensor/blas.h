/* The one door to BLAS. Every matrix product in libvae is a call to
 * vt_gemm, i.e. cblas_sgemm on row-major data with transpose flags (a
 * transpose is never materialised). */
#ifndef VAE_TENSOR_BLAS_H
#define VAE_TENSOR_BLAS_H

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N.
 * transa/transb: 0 = as stored, 1 = transposed. beta == 0 means C need not be set.
 * threads: how many BLAS threads this call may use (the calling model's setting).
 *
 * OpenBLAS keeps its thread count in a process-wide variable and is not safe
 * when several application threads run multi-threaded products at once (we
 * measured wrong-bit results). So under OpenBLAS: single-threaded products
 * run concurrently under a shared lock, with the global count held at 1; a
 * multi-threaded product takes the lock exclusively, raises the count for
 * its call and restores 1. This lock is libvae's only process-wide state,
 * and it guards OpenBLAS's, not ours. The reference CBLAS is single-threaded
 * and reentrant: no lock, threads ignored. */
void vt_gemm(int threads, int transa, int transb, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
