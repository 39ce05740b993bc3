/* The two models the safetensors seeds and the fuzz-safetensors target use
 * (fuzz/make_corpus.c, fuzz/fuzz_safetensors.c, tests/reliability/
 * test-regress.c): a 12-8-3 MLP and a small convolutional model on 8 x 8
 * images. Returns NULL if the model cannot be made. */
#ifndef VAE_FUZZ_ST_MODELS_H
#define VAE_FUZZ_ST_MODELS_H

#include "libvae/vae.h"

static vae_model *st_model(int conv)
{
    vae_model_config c;
    vae_model_config_init(&c);
    if (conv) {
        c.input_dim = 64;
        c.input_shape[0] = 1, c.input_shape[1] = 8, c.input_shape[2] = 8;
        c.latent_dim = 2;
        c.encoder = "conv2d(3,3,2,1) relu flatten dense(10) layernorm tanh";
        c.decoder = "dense(32) relu reshape(2,4,4) convT2d(1,4,2,1)";
    } else {
        c.input_dim = 12;
        c.latent_dim = 3;
        c.n_hidden = 1;
        c.hidden[0] = 8;
    }
    c.seed = 7;
    vae_model *m = NULL;
    return vae_model_create(&c, &m, NULL) == VAE_OK ? m : NULL;
}

#endif
