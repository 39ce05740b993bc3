/* Argument checks the api layer makes for every family, with their
 * messages ("<what>: ..."); each returns VAE_OK or the status, msg filled. */
#ifndef VAE_CORE_ARGS_H
#define VAE_CORE_ARGS_H

#include <stddef.h>

#include "core/trainer.h"
#include "data/dataset.h"
#include "libvae/vae.h"

/* Rows a single call accepts (keeps n * dim products far from overflow). */
#define VC_MAX_ROWS ((size_t)1 << 28)

/* 1 <= n <= max rows. */
int vc_check_rows(char *msg, size_t n, size_t max, const char *what);

/* n x d values all finite; with unit (a Bernoulli likelihood) also in [0, 1]. */
int vc_check_data(char *msg, const float *x, size_t n, size_t d, int unit, const char *what);

/* n x C finite conditions (the _cond calls: "<what>_cond: c[i][j] ..."). */
int vc_check_cond(char *msg, const float *c, size_t n, size_t C, const char *what);

/* What a training or evaluating call needs of a dataset. */
typedef struct vc_data_needs {
    size_t dim;                /* features per example */
    int unit;                  /* values in [0, 1] (a Bernoulli likelihood) */
    size_t cond_dim;           /* conditions per example (0: none needed) */
} vc_data_needs;

/* ds not NULL, not empty, of the right width, range and conditions; a
 * batch size of 1..2^28. */
int vc_check_dataset(char *msg, const vae_dataset *ds, size_t batch, const vc_data_needs *need,
                     const char *what);

/* A save call: a path that is not empty, an optimizer (may be NULL) of
 * this model's n_params parameters. */
int vc_check_save(char *msg, const vae_optimizer *opt, size_t n_params, const char *path);

/* The public train_epoch and evaluate calls of any family: opt / stats not
 * NULL, the dataset checked, then the core's loop. */
int vc_call_train_epoch(vc_core *k, const vc_data_needs *need, const vc_step *step,
                        vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                        vae_progress_fn progress, void *user, void *stats);
int vc_call_evaluate(vc_core *k, const vc_data_needs *need, const vae_dataset *ds, size_t batch,
                     void *stats);

/* Configuration checks every family makes of its networks' fields. */
int vc_check_layers(char *msg, int input_dim, int n_hidden, const int *hidden);
int vc_check_input_shape(char *msg, int input_dim, const int *shape);
int vc_check_param_total(char *msg, double params);
int vc_check_activation(char *msg, int activation, float leaky_slope);
int vc_check_sigma(char *msg, float gaussian_sigma);

/* The defaults every family's configuration shares, set by field name on
 * any config struct that has them (vae_model_config, vae_vqvae_config): a
 * 784-input MLP with one hidden layer of 400 ReLU units, a Bernoulli
 * likelihood (sigma 1 when Gaussian), seed 1, one thread. */
#define VC_SHARED_DEFAULTS(cfg)                                                            \
    ((cfg)->input_dim = 784, (cfg)->n_hidden = 1, (cfg)->hidden[0] = 400,                \
     (cfg)->activation = VAE_ACT_RELU, (cfg)->leaky_slope = 0.01f,                        \
     (cfg)->likelihood = VAE_LIK_BERNOULLI, (cfg)->gaussian_sigma = 1.0f, (cfg)->seed = 1, \
     (cfg)->threads = 1)

#endif
