/* libFuzzer target: the safetensors reader (src/io/safetensors.c) through
 * vae_model_import_safetensors, into a small MLP model and a small
 * convolutional one (each input is tried on both: a file matches at most
 * one architecture, and the seeds hold both, in F32, F16, BF16 and F64).
 *
 * Every input must give either VAE_OK with finite parameters, or a clean
 * error status with a message and the parameters exactly as they were
 * (import reads into scratch memory and copies only when all passed). */
#include "fuzz_common.h"

#include <math.h>

#include "libvae/vae.h"
#include "st_models.h"

static int st_status_ok(int st)
{
    return st == VAE_ERR_IO || st == VAE_ERR_FORMAT || st == VAE_ERR_LIMIT ||
           st == VAE_ERR_NONFINITE || st == VAE_ERR_NOMEM;
}

static void import_into(vae_model *m, const char *path, float *before, float *after)
{
    size_t n = vae_model_param_count(m);
    FUZZ_CHECK(vae_model_get_params(m, before, n) == VAE_OK);
    int st = vae_model_import_safetensors(m, path);
    FUZZ_CHECK(vae_model_get_params(m, after, n) == VAE_OK);
    if (st == VAE_OK) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(isfinite(after[i]));
        return;
    }
    FUZZ_CHECK(st_status_ok(st));
    FUZZ_CHECK(vae_model_errmsg(m)[0] != '\0');
    FUZZ_CHECK(memcmp(before, after, n * sizeof *after) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_file f;
    static vae_model *m[2];
    static float *before, *after;
    if (!m[0]) {
        fuzz_file_open(&f, "safetensors");
        m[0] = st_model(0);
        m[1] = st_model(1);
        FUZZ_CHECK(m[0] && m[1]);
        size_t n0 = vae_model_param_count(m[0]), n1 = vae_model_param_count(m[1]);
        size_t n = n0 > n1 ? n0 : n1;
        before = malloc(n * sizeof *before);
        after = malloc(n * sizeof *after);
        FUZZ_CHECK(before && after);
    }
    fuzz_file_set(&f, data, size);
    import_into(m[0], f.path, before, after);
    import_into(m[1], f.path, before, after);
    return 0;
}
