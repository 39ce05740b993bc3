/* Internal view of vae_model: the Gaussian VAE built from the layers below.
 *
 * Functions here assume valid arguments (the api layer checks them) and
 * report failures through the returned status and m->errmsg.
 */
#ifndef VAE_MODELS_MODEL_H
#define VAE_MODELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/checkpoint.h"
#include "core/trainer.h"
#include "graph/graph.h"
#include "libvae/vae.h"
#include "models/hvae.h"
#include "nn/net.h"
#include "objectives/elbo.h"
#include "tensor/rng.h"

/* Stream ids for vt_rng_seed: one generator per purpose, all from cfg.seed. */
#define VM_STREAM_TRAIN 1u
#define VM_STREAM_EVAL 2u

/* The VAE's networks and parameters (models/vae_arch.c): parse or build the
 * encoder, decoder and prior networks of a configuration, infer their shapes
 * and declare every parameter in P, in the order of the flat vector (encoder,
 * heads, decoder, log sigma, prior). Texts of the networks as built go to
 * the three buffers (VN_MAX_TEXT + 1 bytes each; NULL: not wanted).
 * VAE_OK, or an error with msg naming the network and layer. */
typedef struct vm_arch {
    vn_net enc, dec, pri;
    int w_mu, w_lv, p_logsigma, w_pmu, w_plv;
    vh_arch hier;             /* latent_layers >= 2: the networks between the layers (models/hvae.c) */
} vm_arch;
struct vae_model {
    vae_model_config cfg;
    vn_params P;              /* all parameters, one flat buffer */
    vm_arch arch;             /* networks (encoder body, decoder, prior) and head parameter indices */
    char enc_text[VN_MAX_TEXT + 1], dec_text[VN_MAX_TEXT + 1], pri_text[VN_MAX_TEXT + 1];
                              /* canonical text forms; cfg.encoder etc. point here */
    vg_graph *pri_g;          /* c -> prior mean and log-variance (learned prior only) */
    int pri_c, pri_mu, pri_lv;
    int dec_c;                /* condition input of dec_g, or -1 */

    vt_pool *pool;            /* thread team of cfg.threads (NULL for 1), shared by all graphs */
    vg_scratch scratch;       /* the ops' work space, shared by all graphs (they run one at a time) */

    vt_rng rng;               /* training stream: init, eps, shuffles, binarisation, sampling */

    vg_graph *train_g;        /* L samples, cfg.kl_mode, gradients */
    vo_graph train_e;
    vg_graph *eval_g;         /* 1 sample, analytic KL, no gradients */
    vo_graph eval_e;
    vg_graph *iw_g;           /* log importance weights, VM_IW_CHUNK samples per example, no gradients */
    vo_graph iw_e;
    vg_graph *dec_g;          /* z -> probabilities or means */
    int dec_z, dec_out;

    vc_core core;             /* the training core: epoch buffers, parameter groups */

    /* Since 0.3.0: schedules and aggressive training (saved in checkpoints). */
    uint64_t step;            /* schedule steps t taken (updates that included the decoder) */
    uint64_t enc_steps;       /* encoder-only updates of aggressive training */
    int agg_active;           /* aggressive training still on */
    double agg_mi;            /* held-out MI at the last vae_model_aggressive_update (NaN: none yet) */

    /* Since 0.4.0: denoising (models/ae.c). */
    float *noisy;             /* the corrupted copy of a training batch, for the encoder */
    size_t noisy_cap;         /* floats in noisy: grows with the batch, then stays */

    char errmsg[VAE_ERRMSG_LEN];
};

/* The parameter groups (core.group, in the flat vector's order): the
 * encoder with its heads, the decoder (with log sigma), and with a learned
 * prior its network. A training update changes a set of groups (bit i:
 * group i); aggressive training updates the encoder alone, or the
 * generative side (decoder and prior) alone, each group counting its own
 * optimizer steps for Adam's bias correction. */
enum { VM_GROUP_ENCODER = 0, VM_GROUP_DECODER = 1, VM_GROUP_PRIOR = 2 };
#define VM_UPDATE_ALL VOPT_ALL_GROUPS
#define VM_UPDATE_ENCODER (1u << VM_GROUP_ENCODER)
#define VM_UPDATE_DECODER ((1u << VM_GROUP_DECODER) | (1u << VM_GROUP_PRIOR))

/* The VAE as a family of the training core (models/model.c); its checkpoint
 * section (models/checkpoint.c): vc_save / vc_load with vm_format. */
extern const vc_family vm_family;
extern const vc_format vm_format;
/* Its per-batch steps: the plain one, and aggressive training's (aggressive.c). */
extern const vc_step vm_plain_step;
extern const vc_step vm_aggressive_step;

int vm_arch_declare(const vae_model_config *c, vm_arch *a, vn_params *P, char *msg);
/* The parameters of that architecture initialised from rng (PyTorch's defaults;
 * prior heads zero, so training starts from N(0, I); log sigma from gaussian_sigma). */
void vm_arch_init(const vae_model_config *c, const vm_arch *a, vn_params *P, vt_rng *rng);
/* The canonical text of a network given in a config (NULL: the shorthand's). */
int vm_arch_texts(const vm_arch *a, char *enc, char *dec, char *pri);

/* The number of parameters a configuration declares (as a double: no
 * overflow), by a dry run of vm_arch_declare; its status and message. */
int vm_param_count(const vae_model_config *c, double *count, char *msg);

/* Check a configuration; VAE_OK or an error with msg (VAE_ERRMSG_LEN) filled. */
int vm_config_check(const vae_model_config *cfg, char *msg);

/* Build a model for a checked configuration; parameters initialised from cfg->seed. */
int vm_create(const vae_model_config *cfg, vae_model **out, char *msg);

void vm_free(vae_model *m);

/* Change cfg.threads: a new thread team for all the model's graphs.
 * VAE_OK, or VAE_ERR_NOMEM (msg filled; the model keeps its team). */
int vm_set_threads(vae_model *m, int threads, char *msg);

/* The operations behind the public calls (arguments already checked).
 * Conditions c (n x cond_dim, row-major) go with x row by row; they are
 * NULL for an unconditional model and non-NULL for a conditional one. */
int vm_train_step(vae_model *m, vae_optimizer *opt, const float *x, const float *c, size_t n,
                  vae_elbo_stats *st);
/* A training step updating only the groups in mask (VM_UPDATE_*).
 * Encoder-only steps leave the schedule step counter alone. */
int vm_train_part(vae_model *m, vae_optimizer *opt, const float *x, const float *c, size_t n,
                  unsigned groups, vae_elbo_stats *st);
int vm_train_epoch(vae_model *m, vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                   vae_progress_fn progress, void *user, vae_elbo_stats *st);
int vm_evaluate(vae_model *m, const vae_dataset *ds, size_t batch, vae_elbo_stats *st);
int vm_elbo(vae_model *m, const float *x, const float *c, size_t n, float *per_example,
            vae_elbo_stats *st);
/* VAE_ERR_NONFINITE with a message naming how many of n examples had a
 * non-finite ELBO and the first of them (evaluation of a diverged model). */
int vm_bad_rows_fail(char *msg, const char *who, size_t first, size_t count, size_t n);
int vm_encode(vae_model *m, const float *x, const float *c, size_t n, float *mu, float *lv);
int vm_decode(vae_model *m, const float *z, const float *c, size_t n, float *out);
int vm_reconstruct(vae_model *m, const float *x, const float *c, size_t n, float *out);
int vm_sample(vae_model *m, const float *c, size_t n, float *out);
/* Parameters of p(z|c) for n conditions: the prior network's outputs, or 0 and 0. */
int vm_prior(vae_model *m, const float *c, size_t n, float *mu, float *lv);

/* The largest batch one graph call processes; larger requests run in chunks. */
#define VM_CHUNK 1024

/* Importance samples per example in one pass of the log-likelihood graph,
 * and examples per pass: the decoder sees VM_IW_ROWS x VM_IW_CHUNK rows. */
#define VM_IW_CHUNK 100
#define VM_IW_ROWS 10

/* Build (or rebuild) the training graph from m->cfg. 0 or -1 (no memory; old graph kept). */
int vm_build_train_graph(vae_model *m);

/* Check the training fields of cfg (samples, kl_mode, estimator, ...) against the architecture. */
int vm_training_check(const vae_model_config *c, char *msg);
int vm_beta_check(const vae_model_config *c, char *msg);

int vm_log_likelihood(vae_model *m, const float *x, const float *c, size_t n, int k,
                      float *per_example, double *mean);
/* c: n x cond_dim conditions of a conditional model, NULL for an unconditional one. */
int vm_gradient_stats(vae_model *m, const float *x, const float *c, size_t n,
                      const vae_model_config *training, int draws, vae_grad_stats *per_tensor,
                      vae_grad_stats *encoder, vae_grad_stats *overall, float *mean_grad);

/* Aggressive training (models/aggressive.c): the per-epoch MI check on
 * held-out x (with their conditions c for a conditional model, else NULL). */
int vm_aggressive_update(vae_model *m, const float *x, const float *c, size_t n, double *mi,
                         int *active);

/* Collapse diagnostics (models/diagnostics.c); for a conditional model
 * (c: n x cond_dim) the KL is to p(z|c) and q is q(z|x,c). */
int vm_diagnostics(vae_model *m, const float *x, const float *c, size_t n, vae_diagnostics *out,
                   float *kl_per_dim, float *mu_variance);

/* Set the schedule-driven constants (KL weight, capacity target) of the
 * training graph for the model's current step. */
void vm_apply_schedule(vae_model *m);

/* A training step in two halves (models/gradients.c). The noise of the
 * reparameterisation comes from the training stream (noise NULL or not
 * keyed) or, keyed, example i's from vt_rng_seed_keyed(seed, key, first + i). */
typedef struct vm_noise {
    int keyed;
    uint64_t key, first;
} vm_noise;

/* Forward and backward on n rows: P.grad = gradient of the batch-mean loss,
 * *st the batch averages, *norm2 = sum of squared gradients (not checked). */
int vm_compute_gradients(vae_model *m, const float *x, const float *c, size_t n,
                         const vm_noise *noise,
                         vae_elbo_stats *st, double *norm2);

/* One optimizer step with P.grad, whose squared norm is norm2; VAE_ERR_DIVERGED
 * (nothing changed) when it is not finite or the update would not be. */
int vm_apply_gradients(vae_model *m, vae_optimizer *opt, double norm2);

/* The same for the groups in mask (VM_UPDATE_*; norm2 is then recomputed
 * over them, core/trainer.c's vc_apply); counts the step (m->enc_steps for
 * the encoder alone, else m->step). */
int vm_apply_gradients_part(vae_model *m, vae_optimizer *opt, unsigned groups, double norm2);

/* The evaluation ELBO of n rows with keyed noise (row i: key, first + i);
 * c: their conditions (NULL for an unconditional model). */
int vm_elbo_keyed(vae_model *m, const float *x, const float *c, size_t n, uint64_t key,
                  uint64_t first, float *per_example, vae_elbo_stats *st);

/* ---- autoencoders and denoising (models/ae.c) ---- */

/* The family's fields: family, code_l2 (0 for a VAE), the settings an AE
 * cannot use (score estimator, IWAE, aggressive training, learned prior,
 * free bits, capacity), corruption and its level. VAE_OK or VAE_ERR_INVALID. */
int vm_ae_check(const vae_model_config *c, char *msg);

/* VAE_ERR_UNSUPPORTED with a message when m is an autoencoder: `what` needs
 * a posterior or a prior. VAE_OK for a VAE. */
int vm_ae_unsupported(vae_model *m, const char *what);

/* The encoder's input for a training batch of n rows: x itself, or, with a
 * corruption, corrupt(x) into m->noisy (grown only when n exceeds every batch
 * before), drawn from the training stream or, with keyed noise (noise->keyed),
 * row i's from generator (seed ^ VDS_CORRUPT_STREAM, key, first + i), so that
 * shards of a batch corrupt their rows as the whole batch would. NULL: out of
 * memory (message set). */
const float *vm_encoder_input(vae_model *m, const float *x, size_t n, const vm_noise *noise);

/* The family's checkpoint records (written only when not the defaults, so
 * VAE files are as before; absent records load as the defaults). */
int vm_ae_save_config(vio_writer *w, const vae_model_config *c, char *msg);
int vm_ae_load_config(const vio_file *f, vae_model_config *c, char *msg);

/* sum of g_i^2 in double. */
double vm_grad_norm2(vt_pool *pool, const float *g, size_t n);

#endif
