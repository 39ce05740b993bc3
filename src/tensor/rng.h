/* Per-handle pseudo-random generator: xoshiro256** (Blackman & Vigna 2018)
 * seeded through splitmix64. Four 64-bit words of state, no hidden cache, so
 * the state saves to and restores from a checkpoint exactly. */
#ifndef VAE_TENSOR_RNG_H
#define VAE_TENSOR_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct vt_rng {
    uint64_t s[4];
} vt_rng;

/* Seed from one 64-bit value and a stream id (different ids give independent streams). */
void vt_rng_seed(vt_rng *r, uint64_t seed, uint64_t stream);

/* Seed the generator of one (key, index) cell of a counter-based family:
 * the stream id is a hash of key and index, so generator (seed, key, i) is the
 * same whoever asks for it and in whatever order (data-parallel training
 * keys noise by step and global example index). */
void vt_rng_seed_keyed(vt_rng *r, uint64_t seed, uint64_t key, uint64_t index);

/* Next 64 random bits. */
uint64_t vt_rng_u64(vt_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double vt_rng_uniform(vt_rng *r);

/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t vt_rng_below(vt_rng *r, uint64_t n);

/* Fill out[0..n) with independent N(0,1) draws (Box-Muller in double precision). */
void vt_rng_normal(vt_rng *r, float *out, size_t n);

/* Fisher-Yates shuffle of idx[0..n). */
void vt_rng_shuffle(vt_rng *r, size_t *idx, size_t n);

#endif
