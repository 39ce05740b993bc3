/* libFuzzer target: the checkpoint reader and the model validation behind
 * it, through vae_model_load and vae_vqvae_load.
 *
 * Each input is tried twice: as it is (exercising the header, length and
 * CRC checks) and, when it starts with the checkpoint magic, with its
 * header's payload length and its CRC recomputed to match its bytes, so
 * that mutations get past the CRC into the record parser, the tensor
 * lookups and the model and optimizer validation.
 *
 * Every input must give either a model that works on a small input, or a
 * clean error status with a message and NULL handles. */
#include "fuzz_common.h"

#include <math.h>

#include "io/crc32.h"
#include "libvae/vae.h"

static const unsigned char magic[8] = {0x89, 'V', 'A', 'E', '\r', '\n', 0x1A, '\n'};

static int ckpt_status_ok(int st)
{
    return st == VAE_ERR_IO || st == VAE_ERR_FORMAT || st == VAE_ERR_LIMIT ||
           st == VAE_ERR_NOMEM;
}

/* Use a loaded model a little: reconstruct one example, sample one, and
 * take one training step when an optimizer came with it. Bounded in size
 * so one input cannot take seconds. */
static void exercise(vae_model *m, vae_optimizer *o)
{
    vae_model_config c;
    c.struct_size = sizeof c;
    FUZZ_CHECK(vae_model_get_config(m, &c) == VAE_OK);
    FUZZ_CHECK(vae_model_param_count(m) > 0);
    if (vae_model_param_count(m) > ((size_t)1 << 20) || c.samples > 16)
        return;
    size_t d = (size_t)c.input_dim, cd = (size_t)c.cond_dim;
    float *x = calloc(d, sizeof *x), *out = calloc(d, sizeof *out);
    float *cv = calloc(cd + 1, sizeof *cv); /* a conditional model's condition row */
    FUZZ_CHECK(x && out && cv);
    for (size_t i = 0; i < d; i++)
        x[i] = (float)(i & 1);
    if (cd > 0)
        cv[0] = 1.0f;
    FUZZ_CHECK((cd ? vae_model_reconstruct_cond(m, x, cv, 1, out)
                   : vae_model_reconstruct(m, x, 1, out)) == VAE_OK);
    FUZZ_CHECK((cd ? vae_model_sample_cond(m, cv, 1, out) : vae_model_sample(m, 1, out)) == VAE_OK);
    if (o) {
        uint64_t steps = vae_optimizer_steps(o);
        int st = cd ? vae_model_train_step_cond(m, o, x, cv, 1, NULL)
                    : vae_model_train_step(m, o, x, 1, NULL);
        FUZZ_CHECK(st == VAE_OK || st == VAE_ERR_DIVERGED || st == VAE_ERR_INVALID);
        FUZZ_CHECK(vae_optimizer_steps(o) == steps + (st == VAE_OK));
    }
    free(x);
    free(out);
    free(cv);
}

/* The same for a VQ-VAE checkpoint: reconstruct one example, one step. */
static void exercise_vq(vae_vqvae *m, vae_optimizer *o)
{
    vae_vqvae_config c;
    c.struct_size = sizeof c;
    FUZZ_CHECK(vae_vqvae_get_config(m, &c) == VAE_OK);
    if (vae_vqvae_param_count(m) > ((size_t)1 << 20))
        return;
    size_t d = (size_t)c.input_dim;
    float *x = calloc(d, sizeof *x), *out = calloc(d, sizeof *out);
    FUZZ_CHECK(x && out);
    for (size_t i = 0; i < d; i++)
        x[i] = (float)(i & 1);
    FUZZ_CHECK(vae_vqvae_reconstruct(m, x, 1, out) == VAE_OK);
    if (o) {
        int st = vae_vqvae_train_step(m, o, x, 1, NULL);
        FUZZ_CHECK(st == VAE_OK || st == VAE_ERR_DIVERGED || st == VAE_ERR_INVALID);
    }
    free(x);
    free(out);
}

static void load_vq(const char *path)
{
    vae_vqvae *m = (vae_vqvae *)&m;        /* must be overwritten */
    vae_optimizer *o = (vae_optimizer *)&o;
    vae_error err;
    int st = vae_vqvae_load(path, &m, &o, &err);
    FUZZ_CHECK(err.status == st);
    if (st != VAE_OK) {
        FUZZ_CHECK(m == NULL && o == NULL);
        FUZZ_CHECK(ckpt_status_ok(st));
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    FUZZ_CHECK(m != NULL);
    exercise_vq(m, o);
    vae_optimizer_free(o);
    vae_vqvae_free(m);
}

static void load(const char *path)
{
    vae_model *m = (vae_model *)&m;        /* must be overwritten */
    vae_optimizer *o = (vae_optimizer *)&o;
    vae_error err;
    int st = vae_model_load(path, &m, &o, &err);
    FUZZ_CHECK(err.status == st);
    if (st != VAE_OK) {
        FUZZ_CHECK(m == NULL && o == NULL);
        FUZZ_CHECK(ckpt_status_ok(st));
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    FUZZ_CHECK(m != NULL);
    exercise(m, o);
    vae_optimizer_free(o);
    vae_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_file f;
    static int ready;
    if (!ready) {
        fuzz_file_open(&f, "ckpt");
        ready = 1;
    }
    fuzz_file_set(&f, data, size);
    load(f.path);
    load_vq(f.path);

    /* The same bytes with a consistent payload length and CRC. */
    if (size >= 36 && memcmp(data, magic, sizeof magic) == 0) {
        uint8_t *fixed = malloc(size);
        FUZZ_CHECK(fixed != NULL);
        memcpy(fixed, data, size);
        uint64_t payload = (uint64_t)size - 36;
        for (int i = 0; i < 8; i++)
            fixed[24 + i] = (uint8_t)(payload >> (8 * i));
        uint32_t crc = vio_crc32(0, fixed + 32, (size_t)payload);
        for (int i = 0; i < 4; i++)
            fixed[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        if (memcmp(fixed, data, size) != 0) {
            fuzz_file_set(&f, fixed, size);
            load(f.path);
            load_vq(f.path);
        }
        free(fixed);
    }
    return 0;
}
