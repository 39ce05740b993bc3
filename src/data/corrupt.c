/* Input corruption for denoising (data/corrupt.h). */
#include "data/corrupt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "libvae/vae.h"

/* Normals are drawn in chunks of this many into a stack buffer. */
#define NORMAL_CHUNK 256

static void add_gaussian(float sigma, vt_rng *rng, const float *x, size_t m, float *out)
{
    float z[NORMAL_CHUNK];
    for (size_t first = 0; first < m; first += NORMAL_CHUNK) {
        size_t c = m - first < NORMAL_CHUNK ? m - first : NORMAL_CHUNK;
        vt_rng_normal(rng, z, c);
        for (size_t i = 0; i < c; i++)
            out[first + i] = x[first + i] + sigma * z[i];
    }
}

void vds_corrupt(int kind, float param, vt_rng *rng, const float *x, size_t n, size_t d,
                 float *out)
{
    size_t m = n * d;
    double p = param;
    switch (kind) {
    case VAE_CORRUPT_GAUSSIAN:
        add_gaussian(param, rng, x, m, out);
        break;
    case VAE_CORRUPT_MASK:
        for (size_t i = 0; i < m; i++)
            out[i] = vt_rng_uniform(rng) < p ? 0.0f : x[i];
        break;
    case VAE_CORRUPT_SALT_PEPPER:
        for (size_t i = 0; i < m; i++) {
            double u = vt_rng_uniform(rng);
            out[i] = u < p ? (u < 0.5 * p ? 0.0f : 1.0f) : x[i];
        }
        break;
    default: /* VAE_CORRUPT_NONE */
        if (out != x)
            memmove(out, x, m * sizeof *out);
        break;
    }
}

int vds_corruption_check(int kind, float param, char *msg)
{
    switch (kind) {
    case VAE_CORRUPT_NONE:
        return VAE_OK;
    case VAE_CORRUPT_GAUSSIAN:
        if (!isfinite(param) || param < 0.0f)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "gaussian corruption: sigma = %g must be finite and >= 0",
                            (double)param);
        return VAE_OK;
    case VAE_CORRUPT_MASK:
    case VAE_CORRUPT_SALT_PEPPER:
        if (!(param >= 0.0f && param <= 1.0f))
            return vae_fail(msg, VAE_ERR_INVALID, "%s corruption: p = %g must be in [0, 1]",
                            kind == VAE_CORRUPT_MASK ? "mask" : "saltpepper", (double)param);
        return VAE_OK;
    default:
        return vae_fail(msg, VAE_ERR_INVALID,
                        "corruption kind %d is not an enum vae_corruption value", kind);
    }
}

static const struct {
    const char *name;
    int kind;
} corruption_names[] = {
    {"none", VAE_CORRUPT_NONE},
    {"gaussian", VAE_CORRUPT_GAUSSIAN},
    {"mask", VAE_CORRUPT_MASK},
    {"saltpepper", VAE_CORRUPT_SALT_PEPPER},
    {"salt-pepper", VAE_CORRUPT_SALT_PEPPER},
};

int vds_corruption_parse(const char *text, int *kind, float *param, char *msg)
{
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    int k = -1;
    for (size_t i = 0; i < sizeof corruption_names / sizeof corruption_names[0]; i++)
        if (strlen(corruption_names[i].name) == len &&
            strncmp(text, corruption_names[i].name, len) == 0)
            k = corruption_names[i].kind;
    if (k < 0)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "corruption '%.64s': unknown kind (use none, gaussian:SIGMA, mask:P or "
                        "saltpepper:P)", text);
    if (k == VAE_CORRUPT_NONE) {
        if (colon)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "corruption '%.64s': none takes no parameter", text);
        *kind = k;
        *param = 0.0f;
        return VAE_OK;
    }
    if (!colon || colon[1] == '\0')
        return vae_fail(msg, VAE_ERR_INVALID, "corruption '%.64s': missing the number after "
                        "'%.*s:'", text, (int)len, text);
    char *end = NULL;
    double v = strtod(colon + 1, &end);
    if (end == colon + 1 || *end != '\0' || colon[1] == ' ' || colon[1] == '\t')
        return vae_fail(msg, VAE_ERR_INVALID, "corruption '%.64s': '%.32s' is not a number",
                        text, colon + 1);
    if (!isfinite(v) || fabs(v) > 3.0e38)
        return vae_fail(msg, VAE_ERR_INVALID, "corruption '%.64s': the number is not finite",
                        text);
    int st = vds_corruption_check(k, (float)v, msg);
    if (st != VAE_OK)
        return st;
    *kind = k;
    *param = (float)v;
    return VAE_OK;
}
