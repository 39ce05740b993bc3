/* Principal component analysis of a dataset (the vae_pca handle).
 *
 * Fit: mean in double; covariance C = Xc^T Xc / n from float32 products
 * (vt_gemm) of blocks of VPCA_BLOCK rows, summed in double; eigenpairs of
 * C by pca/symeig (tred2 + implicit QL, double). The api layer checks
 * arguments; these functions assume them valid. */
#ifndef VAE_PCA_PCA_H
#define VAE_PCA_PCA_H

#include <stddef.h>

#include "libvae/vae.h"

/* Rows per covariance block: each float32 sum has at most this many terms. */
#define VPCA_BLOCK 256
/* The largest d accepted (C is d x d doubles: 128 MiB at 4096). */
#define VPCA_MAX_DIM 4096

struct vae_pca {
    size_t d;
    int k;
    float *mean;        /* d values (zeros when not centred) */
    float *components;  /* k x d, row j the unit eigenvector of variance[j] */
    double *variance;   /* k eigenvalues, descending, clamped at >= 0 */
    double total;       /* trace of C */
    char errmsg[VAE_ERRMSG_LEN];
};

/* Fit k components of ds's stored values (not binarised). center: subtract
 * the mean; max_iter: QL iterations per eigenvalue. Status and msg. */
int vpca_fit(const vae_dataset *ds, int k, int center, int max_iter, vae_pca **out, char *msg);

void vpca_free(vae_pca *p);

/* codes = (x - m) W^T for n rows. VAE_OK or VAE_ERR_NOMEM (scratch). */
int vpca_project(const vae_pca *p, const float *x, size_t n, float *codes);

/* out = m + codes W for n rows (no allocation). */
void vpca_decode(const vae_pca *p, const float *codes, size_t n, float *out);

/* out = m + (x - m) W^T W; out may equal x. VAE_OK or VAE_ERR_NOMEM. */
int vpca_reconstruct(const vae_pca *p, const float *x, size_t n, float *out);

/* (1/n) sum_i ||x_i - r_i||^2 over ds's stored values. VAE_OK or NOMEM. */
int vpca_reconstruction_error(const vae_pca *p, const vae_dataset *ds, double *mse);

#endif
