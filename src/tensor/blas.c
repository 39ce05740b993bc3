#include "tensor/blas.h"

#include <cblas.h>

#if defined(VAE_HAVE_OPENBLAS)
/* Declared by OpenBLAS's cblas.h; repeated so a cblas.h without it still compiles. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif

void vt_gemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void vt_blas_set_threads(int n)
{
#if defined(VAE_HAVE_OPENBLAS)
    if (openblas_get_num_threads() != n)
        openblas_set_num_threads(n);
#else
    (void)n;
#endif
}
