/* Corruption of inputs for denoising autoencoders (enum vae_corruption).
 * The training target stays the clean x; the encoder sees vds_corrupt's
 * output. */
#ifndef VAE_DATA_CORRUPT_H
#define VAE_DATA_CORRUPT_H

#include <stddef.h>

#include "tensor/rng.h"

/* The stream id vae_corrupt seeds its generator with ("corrupt" in ASCII). */
#define VDS_CORRUPT_STREAM 0x636f7272757074ULL

/* out = corrupt(x) for n rows of d values, one draw from rng per value in
 * row-major order (so a seed fixes the result; the generator advances):
 *   NONE:        out = x (no draws);
 *   GAUSSIAN:    out = x + param * z, z ~ N(0,1) (vt_rng_normal);
 *   MASK:        u ~ U[0,1); out = u < param ? 0 : x;
 *   SALT_PEPPER: u ~ U[0,1); out = u < param ? (u < param/2 ? 0 : 1) : x
 *                (given u < p, u/p is uniform: a fair choice of 0 or 1).
 * out may equal x. Arguments are assumed valid (see vds_corruption_check).
 * Never allocates. */
void vds_corrupt(int kind, float param, vt_rng *rng, const float *x, size_t n, size_t d,
                 float *out);

/* VAE_OK, or VAE_ERR_INVALID with a message when kind is not an enum
 * vae_corruption value or param is out of its range (sigma finite >= 0,
 * p in [0,1]; ignored for NONE). */
int vds_corruption_check(int kind, float param, char *msg);

/* Parse "none", "gaussian:S", "mask:P", "saltpepper:P" / "salt-pepper:P"
 * (checked as vds_corruption_check). VAE_OK or VAE_ERR_INVALID with msg. */
int vds_corruption_parse(const char *text, int *kind, float *param, char *msg);

#endif
