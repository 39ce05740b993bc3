/* The one door to BLAS. Every matrix product in libvae is a call to
 * vt_gemm, i.e. cblas_sgemm on row-major data with transpose flags (a
 * transpose is never materialised). */
#ifndef VAE_TENSOR_BLAS_H
#define VAE_TENSOR_BLAS_H

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N.
 * transa/transb: 0 = as stored, 1 = transposed. beta == 0 means C need not be set. */
void vt_gemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

/* Ask the BLAS for n threads. OpenBLAS keeps this setting process-wide, so
 * every model call sets its own count before computing; the reference
 * CBLAS is single-threaded and ignores it. */
void vt_blas_set_threads(int n);

#endif
