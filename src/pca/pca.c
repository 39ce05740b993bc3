/* PCA: fit (mean, covariance by blocks, eigen-decomposition), projection,
 * reconstruction and the reconstruction error (pca/pca.h). */
#include "pca/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "data/dataset.h"
#include "pca/symeig.h"
#include "tensor/blas.h"

/* Rows [first, first + count) of ds's stored values (scaled, never
 * binarised) into dst: byte storage through the value table. */
static void read_rows(const vae_dataset *ds, size_t first, size_t count, float *dst)
{
    size_t m = count * ds->d, off = first * ds->d;
    if (ds->u8) {
        const unsigned char *b = ds->u8 + off;
        for (size_t i = 0; i < m; i++)
            dst[i] = ds->lut[b[i]];
    } else {
        memcpy(dst, ds->x + off, m * sizeof *dst);
    }
}

void vpca_free(vae_pca *p)
{
    if (!p)
        return;
    free(p->mean);
    free(p->components);
    free(p->variance);
    free(p);
}

static vae_pca *pca_new(size_t d, int k)
{
    vae_pca *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->d = d;
    p->k = k;
    p->mean = calloc(d, sizeof *p->mean);
    p->components = malloc((size_t)k * d * sizeof *p->components);
    p->variance = malloc((size_t)k * sizeof *p->variance);
    if (!p->mean || !p->components || !p->variance) {
        vpca_free(p);
        return NULL;
    }
    return p;
}

/* mean_j = (1/n) sum_i x_ij, summed in double. */
static void data_mean(const vae_dataset *ds, float *blk, double *mean)
{
    size_t n = ds->n, d = ds->d;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        read_rows(ds, first, rows, blk);
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < d; j++)
                mean[j] += blk[r * d + j];
    }
    for (size_t j = 0; j < d; j++)
        mean[j] /= (double)n;
}

/* Lower triangle of C = (1/n) sum_blocks Xc_b^T Xc_b, Xc_b = X_b - 1 m^T
 * rounded to float: each block product is one float32 sgemm over at most
 * VPCA_BLOCK rows (symmetrised, (P + P^T)/2, since a BLAS need not round
 * P_ij and P_ji alike), the blocks summed in double. */
static void covariance(const vae_dataset *ds, const double *mean, float *blk, float *prod,
                       double *cov)
{
    size_t n = ds->n, d = ds->d;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        read_rows(ds, first, rows, blk);
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < d; j++)
                blk[r * d + j] = (float)((double)blk[r * d + j] - mean[j]);
        vt_gemm(NULL, 1, 0, (int)d, (int)d, (int)rows, 1.0f, blk, (int)d, blk, (int)d, 0.0f,
                prod, (int)d);
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j <= i; j++)
                cov[i * d + j] += 0.5 * ((double)prod[i * d + j] + (double)prod[j * d + i]);
    }
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++)
            cov[i * d + j] /= (double)n;
}

typedef struct {
    double w;
    size_t i;
} eigen_index;

/* Descending eigenvalue; equal values keep the solver's order. */
static int by_value_desc(const void *a, const void *b)
{
    const eigen_index *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

/* The k leading eigenpairs into p: vectors (rows of vecs) signed so that
 * their first entry of largest magnitude is positive, eigenvalues clamped
 * at 0. order: d entries of scratch. */
static void take_components(vae_pca *p, const double *vecs, const double *w, eigen_index *order)
{
    size_t d = p->d;
    for (size_t i = 0; i < d; i++)
        order[i] = (eigen_index){w[i], i};
    qsort(order, d, sizeof *order, by_value_desc);
    for (int j = 0; j < p->k; j++) {
        const double *v = vecs + order[j].i * d;
        size_t big = 0;
        for (size_t t = 1; t < d; t++)
            if (fabs(v[t]) > fabs(v[big]))
                big = t;
        double sign = v[big] < 0.0 ? -1.0 : 1.0;
        for (size_t t = 0; t < d; t++)
            p->components[(size_t)j * d + t] = (float)(sign * v[t]);
        p->variance[j] = order[j].w > 0.0 ? order[j].w : 0.0;
    }
}

int vpca_fit(const vae_dataset *ds, int k, int center, int max_iter, vae_pca **out, char *msg)
{
    size_t n = ds->n, d = ds->d;
    vae_pca *p = pca_new(d, k);
    double *mean = calloc(d, sizeof *mean), *cov = calloc(d * d, sizeof *cov);
    double *w = malloc(d * sizeof *w), *e = malloc(d * sizeof *e);
    float *blk = malloc((n < VPCA_BLOCK ? n : VPCA_BLOCK) * d * sizeof *blk);
    float *prod = malloc(d * d * sizeof *prod);
    eigen_index *order = malloc(d * sizeof *order);
    int st = VAE_OK;
    if (!p || !mean || !cov || !w || !e || !blk || !prod || !order) {
        st = vae_fail(msg, VAE_ERR_NOMEM, "pca_fit: out of memory for d = %zu (about %zu MiB)",
                      d, (12 * d * d + 4 * VPCA_BLOCK * d) >> 20);
        goto done;
    }
    if (center)
        data_mean(ds, blk, mean);
    covariance(ds, mean, blk, prod, cov);
    double trace = 0.0;
    for (size_t i = 0; i < d; i++) {
        for (size_t j = 0; j <= i; j++)
            if (!isfinite(cov[i * d + j])) {
                st = vae_fail(msg, VAE_ERR_NONFINITE,
                              "pca_fit: covariance[%zu][%zu] overflows float32 (values of "
                              "magnitude ~1e19 or more; scale the data)", i, j);
                goto done;
            }
        trace += cov[i * d + i];
    }
    if (vpca_symeig(cov, d, w, e, max_iter) != 0) {
        st = vae_fail(msg, VAE_ERR_DIVERGED,
                      "pca_fit: the QL eigensolver needed more than max_iterations = %d "
                      "iterations for an eigenvalue", max_iter);
        goto done;
    }
    take_components(p, cov, w, order);
    for (size_t j = 0; j < d; j++)
        p->mean[j] = (float)mean[j];
    p->total = trace;
    *out = p;
    p = NULL;
done:
    vpca_free(p);
    free(mean);
    free(cov);
    free(w);
    free(e);
    free(blk);
    free(prod);
    free(order);
    return st;
}

/* xc = x - m for `rows` rows. */
static void centre_rows(const vae_pca *p, const float *x, size_t rows, float *xc)
{
    size_t d = p->d;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < d; j++)
            xc[r * d + j] = x[r * d + j] - p->mean[j];
}

/* codes = xc W^T (rows x k). */
static void codes_of(const vae_pca *p, const float *xc, size_t rows, float *codes)
{
    int d = (int)p->d;
    vt_gemm(NULL, 0, 1, (int)rows, p->k, d, 1.0f, xc, d, p->components, d, 0.0f, codes, p->k);
}

/* out = m + codes W (rows x d). */
static void decode_rows(const vae_pca *p, const float *codes, size_t rows, float *out)
{
    size_t d = p->d;
    for (size_t r = 0; r < rows; r++)
        memcpy(out + r * d, p->mean, d * sizeof *out);
    vt_gemm(NULL, 0, 0, (int)rows, (int)d, p->k, 1.0f, codes, p->k, p->components, (int)d, 1.0f,
            out, (int)d);
}

int vpca_project(const vae_pca *p, const float *x, size_t n, float *codes)
{
    size_t d = p->d, k = (size_t)p->k;
    float *xc = malloc((n < VPCA_BLOCK ? n : VPCA_BLOCK) * d * sizeof *xc);
    if (!xc)
        return VAE_ERR_NOMEM;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        centre_rows(p, x + first * d, rows, xc);
        codes_of(p, xc, rows, codes + first * k);
    }
    free(xc);
    return VAE_OK;
}

void vpca_decode(const vae_pca *p, const float *codes, size_t n, float *out)
{
    size_t d = p->d, k = (size_t)p->k;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        decode_rows(p, codes + first * k, rows, out + first * d);
    }
}

int vpca_reconstruct(const vae_pca *p, const float *x, size_t n, float *out)
{
    size_t d = p->d, k = (size_t)p->k, b = n < VPCA_BLOCK ? n : VPCA_BLOCK;
    float *xc = malloc(b * (d + k) * sizeof *xc);
    if (!xc)
        return VAE_ERR_NOMEM;
    float *codes = xc + b * d;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        centre_rows(p, x + first * d, rows, xc); /* x is read before out is written */
        codes_of(p, xc, rows, codes);
        decode_rows(p, codes, rows, out + first * d);
    }
    free(xc);
    return VAE_OK;
}

/* (1/n) sum_i ||xc_i - xc_i W^T W||^2: the mean is added to both sides of
 * x - r, so it is left out (fewer roundings). */
int vpca_reconstruction_error(const vae_pca *p, const vae_dataset *ds, double *mse)
{
    size_t n = ds->n, d = p->d, k = (size_t)p->k, b = n < VPCA_BLOCK ? n : VPCA_BLOCK;
    float *xc = malloc(b * (2 * d + k) * sizeof *xc);
    if (!xc)
        return VAE_ERR_NOMEM;
    float *rec = xc + b * d, *codes = rec + b * d;
    double sum = 0.0;
    for (size_t first = 0; first < n; first += VPCA_BLOCK) {
        size_t rows = n - first < VPCA_BLOCK ? n - first : VPCA_BLOCK;
        read_rows(ds, first, rows, xc);
        centre_rows(p, xc, rows, xc);
        codes_of(p, xc, rows, codes);
        vt_gemm(NULL, 0, 0, (int)rows, (int)d, p->k, 1.0f, codes, p->k, p->components, (int)d,
                0.0f, rec, (int)d);
        for (size_t i = 0; i < rows * d; i++) {
            double diff = (double)xc[i] - (double)rec[i];
            sum += diff * diff;
        }
    }
    free(xc);
    *mse = sum / (double)n;
    return VAE_OK;
}
