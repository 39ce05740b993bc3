#include "tensor/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void vt_rng_seed(vt_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void vt_rng_seed_keyed(vt_rng *r, uint64_t seed, uint64_t key, uint64_t index)
{
    /* stream = splitmix(splitmix(key) ^ index): a different 64-bit stream id
     * for every (key, index); the fixed offset keeps the ids apart from the
     * small stream numbers the model uses (1, 2). */
    uint64_t k = key ^ 0x6b657965645f6e7aULL;
    uint64_t h = splitmix64(&k) ^ index;
    uint64_t stream = splitmix64(&h);
    vt_rng_seed(r, seed, stream);
}

uint64_t vt_rng_u64(vt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double vt_rng_uniform(vt_rng *r) { return (double)(vt_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t vt_rng_below(vt_rng *r, uint64_t n)
{
    /* Rejection keeps every value equally likely: drop the top partial range. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = vt_rng_u64(r);
    while (v >= limit);
    return v % n;
}

void vt_rng_normal(vt_rng *r, float *out, size_t n)
{
    /* Box-Muller: for u1 in (0,1], u2 in [0,1),
     * z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2). */
    const double two_pi = 6.283185307179586476925286766559;
    size_t i = 0;
    while (i < n) {
        double u1 = 1.0 - vt_rng_uniform(r);
        double u2 = vt_rng_uniform(r);
        double rad = sqrt(-2.0 * log(u1));
        out[i++] = (float)(rad * cos(two_pi * u2));
        if (i < n)
            out[i++] = (float)(rad * sin(two_pi * u2));
    }
}

void vt_rng_shuffle(vt_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)vt_rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
