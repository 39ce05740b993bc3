/* cblas_sgemm behind a thread-count policy (see blas.h). */
#define _POSIX_C_SOURCE 200809L
#include "tensor/blas.h"

#include <cblas.h>

#if defined(VAE_HAVE_OPENBLAS)
#include <pthread.h>

/* Declared by OpenBLAS's cblas.h; repeated so the file compiles with any cblas.h. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

static pthread_rwlock_t blas_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* OpenBLAS starts with one thread per core; our resting state is 1. */
static void blas_init(void) { openblas_set_num_threads(1); }
#endif

static void sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void vt_gemm(int threads, int transa, int transb, int M, int N, int K, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
#if defined(VAE_HAVE_OPENBLAS)
    pthread_once(&blas_once, blas_init);
    if (threads <= 1) {
        pthread_rwlock_rdlock(&blas_lock);
        sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        pthread_rwlock_wrlock(&blas_lock);
        openblas_set_num_threads(threads);
        sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        openblas_set_num_threads(1);
    }
    pthread_rwlock_unlock(&blas_lock);
#else
    (void)threads;
    sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}
