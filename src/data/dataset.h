/* Internal view of vae_dataset, used by the model layer to draw batches.
 *
 * A dataset is immutable after creation apart from its binarisation
 * setting and conditions: n rows of d values (row-major), scaled as asked
 * at creation, checked finite, with optional integer labels.
 *
 * The values are stored in one of two ways (invisible in the public API):
 *  - floats: x, owned or borrowed (CSV, vae_dataset_from_array, IDX f32);
 *  - bytes: u8 holds the raw bytes of an IDX u8 file (1 byte per value
 *    instead of 4) and value = lut[byte], the scaled float of each of the
 *    256 byte values, computed at load with the very operations the float
 *    path applied to the whole array, so every value is bit-identical to
 *    it. vds_gather converts rows as it copies them; vae_dataset_data makes
 *    a float copy of the whole set (lazy) on its first call only.
 */
#ifndef VAE_DATA_DATASET_H
#define VAE_DATA_DATASET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "libvae/vae.h"
#include "tensor/pool.h"
#include "tensor/rng.h"

struct vae_dataset {
    size_t n, d;
    int shape[3];       /* a sample's (C, H, W), product d: (1, H, W) for IDX images, else (d, 1, 1) */
    /* Exactly one of x (float storage) and u8 (byte storage) is set. */
    const float *x;     /* n*d values: points to owned or to the caller's borrowed array */
    float *owned;       /* NULL when borrowed or byte-backed */
    unsigned char *u8;  /* n*d bytes (owned), or NULL for float storage */
    float lut[256];     /* byte storage: the value of byte b is lut[b] */
    _Atomic(float *) lazy;     /* byte storage: float copy made by vae_dataset_data, or NULL */
    pthread_mutex_t lazy_lock; /* makes the lazy copy once when threads race for it */
    int *labels;        /* n labels or NULL (always owned) */
    float *cond;        /* n x cdim condition vectors or NULL (always owned; data/conditions.c) */
    size_t cdim;        /* 0 when there are none */
    float xmin, xmax;   /* smallest and largest stored value (0,0 when n*d == 0) */
    int binarize;       /* enum vae_binarize */
    float threshold;
    char errmsg[VAE_ERRMSG_LEN];
};

/* Copy rows idx[0..n) into dst (n*d floats, row-major), converting stored
 * bytes to their float values and binarising as the dataset says;
 * VAE_BINARIZE_DYNAMIC draws one uniform per value from rng. Never
 * allocates; only reads ds. */
void vds_gather(const vae_dataset *ds, const size_t *idx, size_t n, float *dst, vt_rng *rng);

/* vds_gather with the rows split over a thread team (NULL: the caller),
 * except for dynamic binarisation, whose draws come from rng in order:
 * the same values either way. */
void vds_gather_on(vt_pool *pool, const vae_dataset *ds, const size_t *idx, size_t n, float *dst,
                   vt_rng *rng);

/* Copy the conditions of rows idx[0..n) into dst (n*cdim floats). */
void vds_gather_cond(const vae_dataset *ds, const size_t *idx, size_t n, float *dst);

/* Give ds a copy of rows [first, first + count) of src's conditions (if any).
 * 0, or -1 when out of memory (ds unchanged). */
int vds_copy_cond(vae_dataset *ds, const vae_dataset *src, size_t first, size_t count);

#endif
