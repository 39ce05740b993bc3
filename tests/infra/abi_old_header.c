/* ABI test: a program compiled against an older <libvae/vae.h> must keep
 * working with the current library, and no call may write past the size its
 * structs had when it was compiled.
 *
 * Built twice (tests/infra/meson.build) and linked with the current library:
 *  - against tests/fixtures/0.3.0/libvae/vae.h (release 0.3.0): every
 *    *_init there is a plain call to the 0.3.0 symbol;
 *  - against the current include/libvae/vae.h (ABI_NEW_HEADER): the *_init
 *    names are macros over the sized initialisers.
 * Every struct the library writes sits at the start of a larger buffer
 * filled with a canary byte; after each call the bytes past sizeof (as this
 * program sees it) must still be the canary. The program also creates
 * models, trains, evaluates, reads configs, state and statistics back.
 *
 * Checked once that it can fail: against the unfixed 0.3.0 library it
 * reported vae_optimizer_get_config accepting struct_size 0 and writing past
 * it; and with vae_model_config grown by 16 bytes (a scratch copy), an old
 * vae_model_config_init writing the current sizeof was reported as "wrote
 * byte 184, past its 184-byte struct", while the pinned 0.3.0 size passed. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "common/abi_0_3_0.h"

#ifndef ABI_NEW_HEADER
/* The fixture header is release 0.3.0: its sizes are the pinned ones. */
_Static_assert(sizeof(vae_dataset_options) == VAE_0_3_0_SIZEOF_DATASET_OPTIONS, "0.3.0 size");
_Static_assert(sizeof(vae_optimizer_config) == VAE_0_3_0_SIZEOF_OPTIMIZER_CONFIG, "0.3.0 size");
_Static_assert(sizeof(vae_model_config) == VAE_0_3_0_SIZEOF_MODEL_CONFIG, "0.3.0 size");
_Static_assert(sizeof(vae_vqvae_config) == VAE_0_3_0_SIZEOF_VQVAE_CONFIG, "0.3.0 size");
_Static_assert(sizeof(vae_training_state) == VAE_0_3_0_SIZEOF_TRAINING_STATE, "0.3.0 size");
_Static_assert(sizeof(vae_diagnostics) == VAE_0_3_0_SIZEOF_DIAGNOSTICS, "0.3.0 size");
#  define HEADER "0.3.0 header"
#else
#  define HEADER "current header"
#endif

#define CANARY 0xA5
#define SLACK 512

static int failures;

#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) {                                                  \
            printf("FAIL (%s) line %d: ", HEADER, __LINE__);            \
            printf(__VA_ARGS__);                                        \
            printf("\n");                                               \
            failures++;                                                 \
        }                                                               \
    } while (0)

/* A struct at the start of a canary-filled buffer. */
typedef struct {
    _Alignas(16) unsigned char b[1024 + SLACK];
} cbuf;

static void *canary(cbuf *c)
{
    memset(c->b, CANARY, sizeof c->b);
    return c->b;
}

/* Bytes [from, from + SLACK) of the buffer must be untouched. */
static void untouched(const cbuf *c, size_t from, const char *what)
{
    for (size_t i = from; i < from + SLACK; i++)
        if (c->b[i] != CANARY) {
            CHECK(0, "%s wrote byte %zu, past its %zu-byte struct", what, i, from);
            return;
        }
}

#define OK(call)                                                        \
    do {                                                                \
        int rc_ = (call);                                               \
        CHECK(rc_ == VAE_OK, "%s -> %s", #call, vae_status_str(rc_));   \
    } while (0)

static float data_x(size_t i, size_t j)
{
    return (float)((i * 13 + j * 7) % 17) / 16.0f;
}

enum { D = 16, N = 8 };

int main(void)
{
    float x[N * D];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++)
            x[i * D + j] = data_x(i, j);
    cbuf b1, b2, b3, b4, b5;

    /* vae_error: a fixed struct (frozen). */
    vae_error *err = canary(&b4);

    /* Datasets. */
    vae_dataset_options *dopt = canary(&b1);
    vae_dataset_options_init(dopt);
    untouched(&b1, sizeof *dopt, "vae_dataset_options_init");
    CHECK(dopt->struct_size == sizeof *dopt, "dataset options struct_size %zu", dopt->struct_size);
    CHECK(dopt->csv_label_column == -1, "dataset defaults");
    vae_dataset *ds = NULL;
    OK(vae_dataset_from_array(x, N, D, NULL, VAE_ARRAY_COPY, dopt, &ds, err));
    untouched(&b4, sizeof *err, "vae_dataset_from_array (vae_error)");

    /* Optimizers. */
    vae_optimizer_config *oc = canary(&b5); /* kept for the VQ-VAE's optimizer */
    vae_optimizer_config_init(oc, VAE_OPT_ADAM);
    untouched(&b5, sizeof *oc, "vae_optimizer_config_init");
    CHECK(oc->struct_size == sizeof *oc, "optimizer config struct_size %zu", oc->struct_size);
    vae_optimizer *opt = NULL;
    OK(vae_optimizer_create(oc, &opt, err));
    vae_optimizer_config *og = canary(&b2);
    og->struct_size = sizeof *og;
    OK(vae_optimizer_get_config(opt, og));
    untouched(&b2, sizeof *og, "vae_optimizer_get_config");
    CHECK(og->struct_size == sizeof *og && og->beta2 == oc->beta2, "optimizer get_config");
    /* An unset struct_size (0) is refused and nothing is written. */
    og = canary(&b2);
    og->struct_size = 0;
    CHECK(vae_optimizer_get_config(opt, og) == VAE_ERR_INVALID,
          "vae_optimizer_get_config accepted struct_size 0");
    untouched(&b2, sizeof og->struct_size, "vae_optimizer_get_config(struct_size 0)");
    /* A smaller (older) struct receives only its bytes. */
    og = canary(&b2);
    og->struct_size = offsetof(vae_optimizer_config, momentum);
    OK(vae_optimizer_get_config(opt, og));
    untouched(&b2, offsetof(vae_optimizer_config, momentum), "vae_optimizer_get_config(small)");
    OK(vae_optimizer_set_config(opt, oc));

    /* Models. */
    vae_model_config *mc = canary(&b1);
    vae_model_config_init(mc);
    untouched(&b1, sizeof *mc, "vae_model_config_init");
    CHECK(mc->struct_size == sizeof *mc, "model config struct_size %zu", mc->struct_size);
    mc->input_dim = D;
    mc->latent_dim = 3;
    mc->hidden[0] = 8;
    vae_model *m = NULL;
    OK(vae_model_create(mc, &m, err));
    untouched(&b4, sizeof *err, "vae_model_create (vae_error)");
    vae_model_config *mg = canary(&b2);
    mg->struct_size = sizeof *mg;
    OK(vae_model_get_config(m, mg));
    untouched(&b2, sizeof *mg, "vae_model_get_config");
    CHECK(mg->input_dim == D && mg->prior_hidden == 64, "model get_config values");
    mg = canary(&b2);
    mg->struct_size = 0;
    CHECK(vae_model_get_config(m, mg) == VAE_ERR_INVALID, "get_config accepted struct_size 0");
    untouched(&b2, sizeof mg->struct_size, "vae_model_get_config(struct_size 0)");
    mg = canary(&b2);
    mg->struct_size = offsetof(vae_model_config, posterior); /* a 0.1.0-sized caller */
    OK(vae_model_get_config(m, mg));
    untouched(&b2, offsetof(vae_model_config, posterior), "vae_model_get_config(0.1.0 size)");
    CHECK(mg->latent_dim == 3, "model get_config (0.1.0 size) values");
    mc->beta = 0.5f;
    OK(vae_model_set_training(m, mc));

    vae_elbo_stats *es = canary(&b3);
    OK(vae_model_train_step(m, opt, x, N, es));
    untouched(&b3, sizeof *es, "vae_model_train_step (vae_elbo_stats)");
    CHECK(es->n == N && es->loss > 0, "train_step stats");
    es = canary(&b3);
    OK(vae_model_train_epoch(m, opt, ds, 4, NULL, NULL, es));
    untouched(&b3, sizeof *es, "vae_model_train_epoch (vae_elbo_stats)");
    es = canary(&b3);
    OK(vae_model_evaluate(m, ds, 4, es));
    untouched(&b3, sizeof *es, "vae_model_evaluate (vae_elbo_stats)");
    float per[N];
    es = canary(&b3);
    OK(vae_model_elbo(m, x, N, per, es));
    untouched(&b3, sizeof *es, "vae_model_elbo (vae_elbo_stats)");
    es = canary(&b3);
    OK(vae_model_compute_gradients(m, x, N, es));
    untouched(&b3, sizeof *es, "vae_model_compute_gradients (vae_elbo_stats)");
    OK(vae_model_apply_gradients(m, opt));

    vae_grad_stats *gs = canary(&b3);
    OK(vae_model_gradient_stats(m, x, N, mc, 3, NULL, gs, NULL, NULL));
    untouched(&b3, sizeof *gs, "vae_model_gradient_stats (vae_grad_stats)");

    vae_training_state *ts = canary(&b3);
    ts->struct_size = sizeof *ts;
    OK(vae_model_training_state(m, ts));
    untouched(&b3, sizeof *ts, "vae_model_training_state");
    CHECK(ts->step > 0 && ts->beta == 0.5, "training state values");
    ts = canary(&b3);
    ts->struct_size = 0;
    CHECK(vae_model_training_state(m, ts) == VAE_ERR_INVALID, "training_state: struct_size 0");
    untouched(&b3, sizeof ts->struct_size, "vae_model_training_state(struct_size 0)");
    ts = canary(&b3);
    ts->struct_size = offsetof(vae_training_state, beta_norm);
    OK(vae_model_training_state(m, ts));
    untouched(&b3, offsetof(vae_training_state, beta_norm), "vae_model_training_state(small)");

    vae_diagnostics *dg = canary(&b3);
    dg->struct_size = sizeof *dg;
    OK(vae_model_diagnostics(m, x, N, dg, NULL, NULL));
    untouched(&b3, sizeof *dg, "vae_model_diagnostics");
    CHECK(dg->n == N, "diagnostics values");
    dg = canary(&b3);
    dg->struct_size = 0;
    CHECK(vae_model_diagnostics(m, x, N, dg, NULL, NULL) == VAE_ERR_INVALID,
          "diagnostics: struct_size 0");
    untouched(&b3, sizeof dg->struct_size, "vae_model_diagnostics(struct_size 0)");

    /* Save and load: the loaded model reports the same config. */
    char path[4096];
    const char *tmp = getenv("VAE_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/abi-old-header-%ld.ckpt", tmp ? tmp : "/tmp", (long)sizeof *mc);
    OK(vae_model_save(m, opt, path));
    vae_model *lm = NULL;
    vae_optimizer *lo = NULL;
    OK(vae_model_load(path, &lm, &lo, err));
    untouched(&b4, sizeof *err, "vae_model_load (vae_error)");
    remove(path);
    mg = canary(&b2);
    mg->struct_size = sizeof *mg;
    OK(vae_model_get_config(lm, mg));
    untouched(&b2, sizeof *mg, "vae_model_get_config (loaded)");
    CHECK(mg->input_dim == D && mg->beta == 0.5f, "loaded config");
    es = canary(&b3);
    OK(vae_model_train_step(lm, lo, x, N, es));
    untouched(&b3, sizeof *es, "vae_model_train_step (loaded)");
    vae_model_free(lm);
    vae_optimizer_free(lo);

    /* VQ-VAE. */
    vae_vqvae_config *vc = canary(&b1);
    vae_vqvae_config_init(vc);
    untouched(&b1, sizeof *vc, "vae_vqvae_config_init");
    CHECK(vc->struct_size == sizeof *vc, "vqvae config struct_size %zu", vc->struct_size);
    vc->input_dim = D;
    vc->hidden[0] = 8;
    vc->n_latents = 2;
    vc->code_dim = 3;
    vc->codebook_size = 5;
    vae_vqvae *vq = NULL;
    OK(vae_vqvae_create(vc, &vq, err));
    vae_vqvae_config *vg = canary(&b2);
    vg->struct_size = sizeof *vg;
    OK(vae_vqvae_get_config(vq, vg));
    untouched(&b2, sizeof *vg, "vae_vqvae_get_config");
    CHECK(vg->codebook_size == 5, "vqvae get_config values");
    vg = canary(&b2);
    vg->struct_size = 0;
    CHECK(vae_vqvae_get_config(vq, vg) == VAE_ERR_INVALID, "vqvae get_config: struct_size 0");
    untouched(&b2, sizeof vg->struct_size, "vae_vqvae_get_config(struct_size 0)");
    vae_optimizer *vopt = NULL;
    OK(vae_optimizer_create(oc, &vopt, err));
    vae_vqvae_stats *vs = canary(&b3);
    OK(vae_vqvae_train_step(vq, vopt, x, N, vs));
    untouched(&b3, sizeof *vs, "vae_vqvae_train_step (vae_vqvae_stats)");
    CHECK(vs->n == N, "vqvae stats");
    vs = canary(&b3);
    OK(vae_vqvae_train_epoch(vq, vopt, ds, 4, NULL, NULL, vs));
    untouched(&b3, sizeof *vs, "vae_vqvae_train_epoch (vae_vqvae_stats)");
    vs = canary(&b3);
    OK(vae_vqvae_evaluate(vq, ds, 4, vs));
    untouched(&b3, sizeof *vs, "vae_vqvae_evaluate (vae_vqvae_stats)");

#ifdef ABI_NEW_HEADER
    /* The sized initialisers called directly with an older (smaller) size
     * write that many bytes only. */
    vae_model_config *sm = canary(&b1);
    vae_model_config_init_size(sm, VAE_0_3_0_SIZEOF_MODEL_CONFIG);
    untouched(&b1, VAE_0_3_0_SIZEOF_MODEL_CONFIG, "vae_model_config_init_size(0.3.0 size)");
    CHECK(sm->struct_size == VAE_0_3_0_SIZEOF_MODEL_CONFIG, "init_size struct_size");
    sm = canary(&b1);
    vae_model_config_init_size(sm, offsetof(vae_model_config, posterior));
    untouched(&b1, offsetof(vae_model_config, posterior), "vae_model_config_init_size(0.1.0)");
    sm->input_dim = D;
    sm->latent_dim = 3;
    sm->hidden[0] = 8;
    vae_model *m1 = NULL;
    OK(vae_model_create(sm, &m1, err)); /* the newer fields take their defaults */
    vae_model_free(m1);
    vae_optimizer_config *so = canary(&b1);
    vae_optimizer_config_init_size(so, VAE_OPT_SGD, offsetof(vae_optimizer_config, eps));
    untouched(&b1, offsetof(vae_optimizer_config, eps), "vae_optimizer_config_init_size(small)");
    vae_dataset_options *sd = canary(&b1);
    vae_dataset_options_init_size(sd, offsetof(vae_dataset_options, csv_header));
    untouched(&b1, offsetof(vae_dataset_options, csv_header), "vae_dataset_options_init_size");
    vae_vqvae_config *sv = canary(&b1);
    vae_vqvae_config_init_size(sv, offsetof(vae_vqvae_config, seed));
    untouched(&b1, offsetof(vae_vqvae_config, seed), "vae_vqvae_config_init_size(small)");
    /* A size too small to hold struct_size writes nothing. */
    sm = canary(&b1);
    vae_model_config_init_size(sm, 4);
    untouched(&b1, 0, "vae_model_config_init_size(4)");
#endif

    vae_vqvae_free(vq);
    vae_optimizer_free(vopt);
    vae_model_free(m);
    vae_optimizer_free(opt);
    vae_dataset_free(ds);
    if (failures) {
        printf("%d failure(s) with the %s against libvae %s\n", failures, HEADER,
               vae_version_string());
        return 1;
    }
    printf("ok: a program built against the %s works with libvae %s and no call wrote past "
           "its structs\n", HEADER, vae_version_string());
    return 0;
}
