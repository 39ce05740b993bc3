/* Hierarchical VAEs (docs/hierarchical.md): the networks between stochastic
 * layers, the graphs, top-down sampling, per-layer statistics and the
 * checkpoint records. Layer index i = 0..L-1 in code is z_{i+1} in the
 * formulas (z_1 next to x).
 *
 *   generative: z_L ~ N(0, I), z_l ~ p(z_l|z_{l+1}) = N(mu_p, e^lv_p) from
 *               down[l-1] on z_{l+1}, x ~ p(x|z_1) (the VAE's decoder);
 *   bottom-up:  q(z_1|x) the VAE's encoder and heads; q(z_l|z_{l-1}) from
 *               up[l-1] on z_{l-1};
 *   ladder:     d_1 = the VAE's encoder body, d_l = up[l-1](d_{l-1}), each
 *               with heads (mu_hat_l, lv_hat_l); q(z_L|x) = N(mu_hat_L,
 *               e^lv_hat_L); q(z_l|.) = the precision-weighted combination of
 *               N(mu_hat_l, e^lv_hat_l) and p(z_l|z_{l+1}) (vg_ladder_merge).
 *
 * Parameters: "enc.l<l>.*" (l = 2..L, after the encoder heads) and
 * "prior.l<l>.*" (l = 1..L-1, after the decoder and log sigma).
 */
#ifndef VAE_MODELS_HVAE_H
#define VAE_MODELS_HVAE_H

#include "io/ckpt.h"
#include "libvae/vae.h"
#include "nn/net.h"
#include "nn/params.h"
#include "objectives/elbo.h"

typedef struct vh_arch {
    int layers;                          /* L; 1: a plain VAE (nothing below is used) */
    int sizes[VAE_MAX_LATENT_LAYERS];    /* K_1 .. K_L */
    vn_net up[VAE_MAX_LATENT_LAYERS];    /* up[i], i >= 1: layer i's inference network */
    int w_mu[VAE_MAX_LATENT_LAYERS], w_lv[VAE_MAX_LATENT_LAYERS];
    vn_net down[VAE_MAX_LATENT_LAYERS];  /* down[i], i < L-1: p(z_{i+1}|z_{i+2})'s network */
    int w_pmu[VAE_MAX_LATENT_LAYERS], w_plv[VAE_MAX_LATENT_LAYERS];
    char text[VN_MAX_TEXT + 1];          /* canonical text of the step network */
} vh_arch;

/* The architecture fields (latent_layers, latent_sizes, inference,
 * hier_network, and what a hierarchical model does not support). */
int vh_config_check(const vae_model_config *c, char *msg);
/* The training fields a hierarchical model refuses (score estimator, free
 * bits, capacity, aggressive training), each named. */
int vh_training_check(const vae_model_config *c, char *msg);

/* Declare the inference networks (after the encoder heads; enc_top = the
 * encoder body's output size, the ladder's d_1) and the priors (after the
 * decoder); init them in the same order. No-ops for L = 1. */
int vh_declare_encoders(const vae_model_config *c, vh_arch *h, vn_params *P, int enc_top,
                        char *msg);
int vh_declare_priors(const vae_model_config *c, vh_arch *h, vn_params *P, char *msg);
void vh_init_encoders(const vh_arch *h, vn_params *P, vt_rng *rng);
void vh_init_priors(const vh_arch *h, vn_params *P, vt_rng *rng);

/* A graph of the model with `samples` rows per example (the dispatch of
 * models/model.c's build_graph for latent_layers >= 2), filling *e like
 * vo_build does: x, eps (z_1's draws; the other layers' derive from them),
 * mu/lv (q(z_1|x)'s parameters), rec, kl (the KL sum), w, the means, loss. */
vg_graph *vh_build_graph(vae_model *m, vo_graph *e, int samples, vo_options o, int train);

/* n samples x ~ p(x|z_1), z drawn top-down from the prior (the training stream). */
int vh_sample(vae_model *m, size_t n, float *out);

/* Per-layer statistics (vae_model_layer_stats; arguments checked). */
int vh_layer_stats(vae_model *m, const float *x, size_t n, vae_layer_stats *out, int n_layers);

/* Checkpoint records "model.latent_layers", "model.latent_sizes",
 * "model.inference", "model.hier_network" (written for L >= 2; absent: L = 1).
 * load copies the text into text (VN_MAX_TEXT + 1 bytes). */
int vh_save_config(const vae_model_config *c, vio_writer *w, char *msg);
int vh_load_config(const vio_file *f, vae_model_config *c, char *text, char *msg);

#endif
