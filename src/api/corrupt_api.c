/* The public corruption functions: argument checks and messages, then
 * data/corrupt. */
#include <math.h>
#include <stdint.h>

#include "common/errors.h"
#include "data/corrupt.h"

/* n*d values a call accepts (2^40: 4 TiB of floats, far beyond any batch). */
#define MAX_VALUES ((size_t)1 << 40)

VAE_API int vae_corrupt(int kind, float param, uint64_t seed, const float *x, size_t n, size_t d,
                        float *out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (!x || !out)
        return vae_error_set(err, VAE_ERR_NULL, !x ? "corrupt: x is NULL" : "corrupt: out is NULL");
    int st = vds_corruption_check(kind, param, msg);
    if (st != VAE_OK)
        return vae_error_set(err, st, msg);
    if (n == 0 || d == 0)
        return vae_error_set(err, VAE_ERR_INVALID, n == 0 ? "corrupt: n = 0 rows"
                                                          : "corrupt: d = 0 values per row");
    if (n > MAX_VALUES / d) {
        vae_fail(msg, VAE_ERR_LIMIT, "corrupt: n*d = %zu x %zu exceeds 2^40 values", n, d);
        return vae_error_set(err, VAE_ERR_LIMIT, msg);
    }
    size_t m = n * d;
    uintptr_t xa = (uintptr_t)x, oa = (uintptr_t)out, bytes = m * sizeof(float);
    if (xa != oa && xa < oa + bytes && oa < xa + bytes)
        return vae_error_set(err, VAE_ERR_INVALID,
                             "corrupt: out overlaps x without being equal to it");
    for (size_t i = 0; i < m; i++)
        if (!isfinite(x[i])) {
            vae_fail(msg, VAE_ERR_NONFINITE, "corrupt: x[%zu][%zu] = %g is not finite", i / d,
                     i % d, (double)x[i]);
            return vae_error_set(err, VAE_ERR_NONFINITE, msg);
        }
    vt_rng rng;
    vt_rng_seed(&rng, seed, VDS_CORRUPT_STREAM);
    vds_corrupt(kind, param, &rng, x, n, d, out);
    return vae_error_set(err, VAE_OK, "");
}

VAE_API int vae_corruption_parse(const char *text, int *kind, float *param, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (!text || !kind || !param)
        return vae_error_set(err, VAE_ERR_NULL,
                             !text ? "corruption_parse: text is NULL"
                                   : !kind ? "corruption_parse: kind is NULL"
                                           : "corruption_parse: param is NULL");
    int st = vds_corruption_parse(text, kind, param, msg);
    return vae_error_set(err, st, msg);
}
