/* Internal view of vae_dataset, used by the model layer to draw batches.
 *
 * A dataset is immutable after creation apart from its binarisation
 * setting: n rows of d floats (row-major), scaled as asked at creation,
 * checked finite, with optional integer labels.
 */
#ifndef VAE_DATA_DATASET_H
#define VAE_DATA_DATASET_H

#include <stddef.h>

#include "libvae/vae.h"
#include "tensor/rng.h"

struct vae_dataset {
    size_t n, d;
    const float *x;     /* n*d values: points to owned or to the caller's borrowed array */
    float *owned;       /* NULL when borrowed */
    int *labels;        /* n labels or NULL (always owned) */
    float *cond;        /* n x cdim condition vectors or NULL (always owned; data/conditions.c) */
    size_t cdim;        /* 0 when there are none */
    float xmin, xmax;   /* smallest and largest stored value (0,0 when n*d == 0) */
    int binarize;       /* enum vae_binarize */
    float threshold;
    char errmsg[VAE_ERRMSG_LEN];
};

/* Copy rows idx[0..n) into dst (n*d floats, row-major), binarising as the
 * dataset says; VAE_BINARIZE_DYNAMIC draws one uniform per value from rng.
 * Never allocates. */
void vds_gather(const vae_dataset *ds, const size_t *idx, size_t n, float *dst, vt_rng *rng);

/* Copy the conditions of rows idx[0..n) into dst (n*cdim floats). */
void vds_gather_cond(const vae_dataset *ds, const size_t *idx, size_t n, float *dst);

/* Give ds a copy of rows [first, first + count) of src's conditions (if any).
 * 0, or -1 when out of memory (ds unchanged). */
int vds_copy_cond(vae_dataset *ds, const vae_dataset *src, size_t first, size_t count);

#endif
