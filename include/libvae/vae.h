/*
 * libvae — variational autoencoders in C.
 *
 * This is the umbrella header: it is the whole public API. Include it as
 * `#include <libvae/vae.h>` and link with `pkg-config --libs vae`.
 *
 * Conventions (see docs/design.md):
 *   - Opaque handles (vae_model, vae_optimizer, vae_dataset). Create with
 *     vae_<noun>_create/load, free with vae_<noun>_free; free(NULL) is a no-op.
 *   - Every fallible call returns an int status: VAE_OK (0) or a negative
 *     enum vae_status code. After a failed call on a handle,
 *     vae_<noun>_errmsg(handle) says what was wrong and where, and the
 *     handle is as it was before the call. Calls that create a handle take an
 *     optional vae_error* that receives the status and message.
 *   - Thread rule: a handle may be used by one thread at a time; different
 *     handles may be used from different threads concurrently. The library
 *     has no mutable global state of its own.
 *   - Ownership: the caller owns every buffer it passes in and every buffer
 *     it passes to be filled. Nothing the library returns must be freed by
 *     the caller except handles (with their _free function).
 *   - Units: ELBO, reconstruction and KL figures are in nats, summed over
 *     data/latent dimensions, averaged over examples.
 *   - Configuration structs start with struct_size and are filled by a
 *     *_init function first, so they can grow without breaking callers.
 */
#ifndef LIBVAE_VAE_H
#define LIBVAE_VAE_H

#include <stddef.h>
#include <stdint.h>

#include <libvae/vae_version.h>

#ifndef VAE_API
#  if defined(_WIN32)
#    define VAE_API
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define VAE_API __attribute__((visibility("default")))
#  else
#    define VAE_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status codes and versions                                                 */
/* ------------------------------------------------------------------------ */

/** Status codes. Values are pinned: they never change between versions. */
enum vae_status {
    VAE_OK = 0,                 /**< success */
    VAE_ERR_NULL = -1,          /**< a required pointer argument was NULL */
    VAE_ERR_INVALID = -2,       /**< an argument value is out of range */
    VAE_ERR_SHAPE = -3,         /**< sizes or dimensions do not match */
    VAE_ERR_NOMEM = -4,         /**< memory allocation failed */
    VAE_ERR_IO = -5,            /**< a file could not be opened, read or written */
    VAE_ERR_FORMAT = -6,        /**< a file is corrupt, truncated or of another format */
    VAE_ERR_NONFINITE = -7,     /**< NaN or infinity in input data */
    VAE_ERR_DIVERGED = -8,      /**< a training step produced NaN or infinity; parameters kept */
    VAE_ERR_LIMIT = -9,         /**< a size exceeds what the library accepts */
    VAE_ERR_CANCELLED = -10,    /**< a progress callback asked to stop */
    VAE_ERR_UNSUPPORTED = -11   /**< the operation does not apply to this model */
};

/** Length of every error message buffer, including the terminating NUL. */
#define VAE_ERRMSG_LEN 256

/**
 * The outcome of a call that creates a handle (there is no handle yet to
 * hold the message). Pass NULL where the details are not wanted.
 */
typedef struct vae_error {
    int status;                       /**< the status the call returned */
    char message[256];                /**< what was wrong; "" on success */
} vae_error;

/**
 * A static English description of a status code ("invalid argument", ...).
 * Never NULL; unknown codes give "unknown status". Thread-safe.
 * @since 0.1.0
 */
VAE_API const char *vae_status_str(int status);

/**
 * The runtime library version as "MAJOR.MINOR.PATCH" (static string).
 * Compare with VAE_VERSION_STRING to detect header/library mismatch.
 * Thread-safe. @since 0.1.0
 */
VAE_API const char *vae_version_string(void);

/**
 * The runtime library version as MAJOR*10000 + MINOR*100 + PATCH, the same
 * encoding as VAE_VERSION_NUMBER. Thread-safe. @since 0.1.0
 */
VAE_API unsigned vae_version_number(void);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                  */
/* ------------------------------------------------------------------------ */

/** An immutable table of n examples of d float features, plus optional labels. */
typedef struct vae_dataset vae_dataset;

/** How raw values are mapped before use. */
enum vae_scale {
    VAE_SCALE_AUTO = -1,    /**< the default: VAE_SCALE_255 for IDX uint8 images, VAE_SCALE_NONE otherwise */
    VAE_SCALE_NONE = 0,     /**< use values as given */
    VAE_SCALE_255 = 1,      /**< divide by 255 (8-bit pixels to [0,1]) */
    VAE_SCALE_MINMAX = 2    /**< (v - min) / (max - min) over the whole dataset */
};

/** How examples are binarised when a batch is drawn. */
enum vae_binarize {
    VAE_BINARIZE_NONE = 0,      /**< values as stored */
    VAE_BINARIZE_THRESHOLD = 1, /**< 1 if v > threshold else 0 */
    VAE_BINARIZE_DYNAMIC = 2    /**< 1 with probability v (v in [0,1]), redrawn every time a batch is drawn */
};

/** Whether vae_dataset_from_array copies the caller's array or borrows it. */
enum vae_array_mode {
    VAE_ARRAY_COPY = 0,     /**< the dataset keeps its own copy */
    VAE_ARRAY_BORROW = 1    /**< the caller's array is used in place; it must stay valid and unchanged until vae_dataset_free */
};

/** Options for creating a dataset. Initialise with vae_dataset_options_init. */
typedef struct vae_dataset_options {
    size_t struct_size;     /**< sizeof(vae_dataset_options) */
    int scale;              /**< enum vae_scale, default VAE_SCALE_AUTO */
    int binarize;           /**< enum vae_binarize, default VAE_BINARIZE_NONE */
    float threshold;        /**< for VAE_BINARIZE_THRESHOLD, default 0.5 */
    int csv_header;         /**< CSV: 1 if the first line is a header to skip, default 0 */
    int csv_label_column;   /**< CSV: index of an integer label column, -1 (default) for none */
} vae_dataset_options;

/** Fill *opt with defaults (and set struct_size). @since 0.1.0 */
VAE_API void vae_dataset_options_init(vae_dataset_options *opt);

/**
 * Load images from an IDX file (raw or gzip-compressed; the magic decides),
 * with optional labels from an IDX1 file (labels_path may be NULL).
 * Element types u8 and f32 are accepted; images of any rank >= 2 are
 * flattened per example. uint8 data is scaled by 1/255 unless opt->scale
 * says otherwise. Files claiming more than 2^28 examples or 2^24 values
 * per example are refused (VAE_ERR_LIMIT) before any large allocation.
 * @param opt   may be NULL for defaults.
 * @param out   receives the new dataset; set to NULL on failure.
 * @param err   may be NULL; receives status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_IO, VAE_ERR_FORMAT, VAE_ERR_SHAPE
 *         (label count differs), VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @since 0.1.0
 */
VAE_API int vae_dataset_load_idx(const char *images_path, const char *labels_path,
                                 const vae_dataset_options *opt, vae_dataset **out,
                                 vae_error *err);

/**
 * Load a CSV file of numbers (comma separated, one example per line; blank
 * lines skipped). Every row must have the same number of columns. An
 * optional label column (opt->csv_label_column) is taken out of the
 * features. NaN/Inf values are refused with VAE_ERR_NONFINITE naming the
 * line and column; rows wider than 2^18 (262,144) columns give VAE_ERR_LIMIT.
 * @since 0.1.0
 */
VAE_API int vae_dataset_load_csv(const char *path, const vae_dataset_options *opt,
                                 vae_dataset **out, vae_error *err);

/**
 * Make a dataset from a caller's row-major float array of n rows and d
 * columns. With VAE_ARRAY_COPY the array may be freed right after the call;
 * with VAE_ARRAY_BORROW it must outlive the dataset and stay unchanged, and
 * opt->scale must be VAE_SCALE_NONE or VAE_SCALE_AUTO. labels may be NULL, else n ints.
 * Non-finite values give VAE_ERR_NONFINITE.
 * @since 0.1.0
 */
VAE_API int vae_dataset_from_array(const float *x, size_t n, size_t d, const int *labels,
                                   int mode, const vae_dataset_options *opt,
                                   vae_dataset **out, vae_error *err);

/**
 * A new dataset holding rows [first, first + count) of src (copied, so src
 * may be freed afterwards). Binarisation settings are inherited. For the
 * first n use first = 0; for the last n use first = count(src) - n.
 * @since 0.1.0
 */
VAE_API int vae_dataset_subset(const vae_dataset *src, size_t first, size_t count,
                               vae_dataset **out, vae_error *err);

/** Free a dataset. NULL is a no-op. @since 0.1.0 */
VAE_API void vae_dataset_free(vae_dataset *ds);

/** Number of examples (0 for NULL). @since 0.1.0 */
VAE_API size_t vae_dataset_count(const vae_dataset *ds);

/** Number of features per example (0 for NULL). @since 0.1.0 */
VAE_API size_t vae_dataset_dim(const vae_dataset *ds);

/** 1 if the dataset carries labels, else 0. @since 0.1.0 */
VAE_API int vae_dataset_has_labels(const vae_dataset *ds);

/**
 * Borrow the stored (scaled, not binarised) features: n*d floats, valid
 * until the dataset is freed. NULL for a NULL handle. @since 0.1.0
 */
VAE_API const float *vae_dataset_data(const vae_dataset *ds);

/** Borrow the labels (n ints) or NULL when there are none. @since 0.1.0 */
VAE_API const int *vae_dataset_labels(const vae_dataset *ds);

/**
 * Change how batches are binarised (enum vae_binarize; threshold used by
 * VAE_BINARIZE_THRESHOLD). Dynamic binarisation needs values in [0,1].
 * @since 0.1.0
 */
VAE_API int vae_dataset_set_binarize(vae_dataset *ds, int mode, float threshold);

/** The message of the last failed call on ds ("" if none). @since 0.1.0 */
VAE_API const char *vae_dataset_errmsg(const vae_dataset *ds);

/**
 * Attach condition vectors for a conditional model (cond_dim = dim): n rows
 * of dim floats, row-major, copied (the caller may free c afterwards). They
 * replace any the dataset had, stay aligned with their examples through
 * vae_dataset_subset and the epoch shuffle of vae_model_train_epoch, and are
 * not scaled or binarised.
 * @param n  must equal vae_dataset_count(ds).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (n differs), VAE_ERR_INVALID
 *         (dim = 0), VAE_ERR_LIMIT (dim > 65536), VAE_ERR_NONFINITE (a NaN
 *         or infinite value, named by row and column), VAE_ERR_NOMEM. On
 *         failure the dataset keeps its previous conditions.
 * Thread rule: as for every call on a handle. @since 0.3.0
 */
VAE_API int vae_dataset_set_conditions(vae_dataset *ds, const float *c, size_t n, size_t dim);

/**
 * Attach one-hot conditions from the dataset's integer labels: example i
 * gets the vector of n_classes floats with a 1 at labels[i] and 0 elsewhere
 * (so cond_dim = n_classes). Replaces any earlier conditions.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (no labels, n_classes
 *         outside 1..65536, or a label outside 0..n_classes-1, named),
 *         VAE_ERR_NOMEM. @since 0.3.0
 */
VAE_API int vae_dataset_set_onehot(vae_dataset *ds, int n_classes);

/** Length of each example's condition vector; 0 when there are none (or ds is NULL). @since 0.3.0 */
VAE_API size_t vae_dataset_cond_dim(const vae_dataset *ds);

/**
 * Borrow the condition vectors (count x cond_dim floats, row-major), valid
 * until they are replaced or the dataset is freed; NULL when there are none.
 * @since 0.3.0
 */
VAE_API const float *vae_dataset_conditions(const vae_dataset *ds);

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */
/* ------------------------------------------------------------------------ */

/** An optimizer and its state (moments, step count). */
typedef struct vae_optimizer vae_optimizer;

/** Optimizer algorithms. */
enum vae_optimizer_type {
    VAE_OPT_SGD = 0,        /**< p -= lr * g */
    VAE_OPT_MOMENTUM = 1,   /**< v = mu v + g; p -= lr * v (PyTorch's form) */
    VAE_OPT_ADAGRAD = 2,    /**< s += g^2; p -= lr * g / (sqrt(s) + eps) */
    VAE_OPT_ADAM = 3        /**< Kingma & Ba with bias correction */
};

/** Optimizer hyperparameters. Initialise with vae_optimizer_config_init. */
typedef struct vae_optimizer_config {
    size_t struct_size;     /**< sizeof(vae_optimizer_config) */
    int type;               /**< enum vae_optimizer_type */
    float lr;               /**< learning rate (default 1e-3; 1e-2 for SGD, momentum and Adagrad) */
    float momentum;         /**< VAE_OPT_MOMENTUM: mu, default 0.9 */
    float beta1;            /**< Adam: default 0.9 */
    float beta2;            /**< Adam: default 0.999 */
    float eps;              /**< Adam/Adagrad: default 1e-8 (Adam) and 1e-10 (Adagrad) */
    float weight_decay;     /**< L2 penalty added to the gradient, default 0 */
    float clip_norm;        /**< clip the global gradient norm to this value; 0 (default) = off */
} vae_optimizer_config;

/** Fill *cfg with the defaults of optimizer `type`. @since 0.1.0 */
VAE_API void vae_optimizer_config_init(vae_optimizer_config *cfg, int type);

/**
 * Create an optimizer. Its state is sized on the first step with a model
 * and then stays bound to models of that parameter count.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (bad type, lr <= 0, betas
 *         outside [0,1), eps <= 0, negative clip), VAE_ERR_NOMEM.
 * @since 0.1.0
 */
VAE_API int vae_optimizer_create(const vae_optimizer_config *cfg, vae_optimizer **out,
                                 vae_error *err);

/** Free an optimizer. NULL is a no-op. @since 0.1.0 */
VAE_API void vae_optimizer_free(vae_optimizer *opt);

/** Copy the current hyperparameters into *cfg. @since 0.1.0 */
VAE_API int vae_optimizer_get_config(const vae_optimizer *opt, vae_optimizer_config *cfg);

/**
 * Replace the hyperparameters (the type must stay the same; state is kept).
 * @since 0.1.0
 */
VAE_API int vae_optimizer_set_config(vae_optimizer *opt, const vae_optimizer_config *cfg);

/** Set only the learning rate (> 0, finite). @since 0.1.0 */
VAE_API int vae_optimizer_set_lr(vae_optimizer *opt, float lr);

/** Number of steps taken so far. @since 0.1.0 */
VAE_API uint64_t vae_optimizer_steps(const vae_optimizer *opt);

/** The message of the last failed call on opt ("" if none). @since 0.1.0 */
VAE_API const char *vae_optimizer_errmsg(const vae_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

/** A VAE: encoder, decoder, parameters, random state and workspaces. */
typedef struct vae_model vae_model;

/** The most hidden layers an encoder or decoder may have. */
#define VAE_MAX_HIDDEN 8

/** Activation functions of hidden layers. */
enum vae_activation {
    VAE_ACT_RELU = 0,       /**< max(0, x) */
    VAE_ACT_LEAKY_RELU = 1, /**< x > 0 ? x : slope * x */
    VAE_ACT_TANH = 2,       /**< tanh(x) */
    VAE_ACT_SIGMOID = 3,    /**< 1 / (1 + exp(-x)) */
    VAE_ACT_SOFTPLUS = 4    /**< log(1 + exp(x)) */
};

/** Decoder likelihoods p(x|z). */
enum vae_likelihood {
    VAE_LIK_BERNOULLI = 0,        /**< Bernoulli with logits; x in [0,1] */
    VAE_LIK_GAUSSIAN_FIXED = 1,   /**< N(x; mean, sigma^2 I), sigma fixed by the config */
    VAE_LIK_GAUSSIAN_LEARNED = 2  /**< N(x; mean, diag sigma_j^2), log sigma_j learned per dimension */
};

/** How KL(q(z|x) || p(z)) is computed in the training objective. */
enum vae_kl_mode {
    VAE_KL_ANALYTIC = 0,    /**< closed form for diagonal Gaussians */
    VAE_KL_MONTE_CARLO = 1  /**< log q(z|x) - log p(z) at the sampled z */
};

/** Families of the approximate posterior q(z|x): location mu(x), scale e^(logvar(x)/2). */
enum vae_posterior {
    VAE_POST_GAUSSIAN = 0,  /**< N(mu, s^2); KL to the prior in closed form */
    VAE_POST_LAPLACE = 1,   /**< Laplace(mu, s); Monte Carlo KL */
    VAE_POST_LOGISTIC = 2   /**< logistic(mu, s); Monte Carlo KL */
};

/** How the encoder's gradient is estimated. */
enum vae_estimator {
    VAE_EST_PATHWISE = 0,   /**< reparameterisation: gradients flow through z = mu + s eps */
    VAE_EST_SCORE = 1       /**< score function (REINFORCE): E[(R - b) grad log q(z|x)] */
};

/** Baselines b for the score-function estimator. */
enum vae_baseline {
    VAE_BASELINE_NONE = 0,  /**< b = 0 */
    VAE_BASELINE_EMA = 1,   /**< exponential moving average of the mean reward (ema_decay) */
    VAE_BASELINE_LOO = 2    /**< leave-one-out mean of the other L-1 samples' rewards (needs samples >= 2) */
};

/** The reward R of the score-function estimator. */
enum vae_score_reward {
    VAE_REWARD_ELBO = 0,    /**< R = log p(x|z) + log p(z) - log q(z|x): the whole single-sample ELBO */
    VAE_REWARD_REC = 1      /**< R = log p(x|z), plus the exact gradient of the analytic KL (Gaussian posterior) */
};

/** The training objective. */
enum vae_objective {
    VAE_OBJ_ELBO = 0,       /**< the ELBO (beta-weighted KL), L samples */
    VAE_OBJ_IWAE = 1        /**< the importance-weighted bound with k = samples, pathwise */
};

/**
 * The prior of a conditional model (cond_dim > 0). See docs/cvae.md.
 * @since 0.3.0
 */
enum vae_prior {
    VAE_PRIOR_STANDARD = 0, /**< p(z|c) = p(z) = N(0, I), independent of the condition */
    VAE_PRIOR_LEARNED = 1   /**< p(z|c) = N(mu(c), diag e^logvar(c)) from a prior network on c */
};

/** Model configuration. Initialise with vae_model_config_init. */
typedef struct vae_model_config {
    size_t struct_size;            /**< sizeof(vae_model_config) */
    int input_dim;                 /**< n: features per example (default 784) */
    int latent_dim;                /**< K: latent dimensions (default 20) */
    int n_hidden;                  /**< encoder hidden layers, 0..VAE_MAX_HIDDEN (default 1) */
    int hidden[VAE_MAX_HIDDEN];    /**< their sizes, input side first (default {400}); the decoder mirrors them */
    int activation;                /**< enum vae_activation (default ReLU) */
    float leaky_slope;             /**< slope for VAE_ACT_LEAKY_RELU (default 0.01) */
    int likelihood;                /**< enum vae_likelihood (default Bernoulli) */
    float gaussian_sigma;          /**< fixed sigma, or initial sigma when learned (default 1) */
    int samples;                   /**< L: z samples per example in training (default 1) */
    int kl_mode;                   /**< enum vae_kl_mode (default analytic; only a Gaussian posterior has a closed form, the other families always use Monte Carlo) */
    float logvar_min;              /**< encoder log-variance is clamped to [logvar_min, logvar_max] */
    float logvar_max;              /**< defaults -30 and 20 (sigma from 3e-7 to 2e4) */
    uint64_t seed;                 /**< seeds parameter init, sampling and shuffling (default 1) */
    int threads;                   /**< BLAS threads used by this model's calls (default 1) */
    /* Since 0.2.0: objective and gradient estimator (training settings, see vae_model_set_training). */
    int posterior;                 /**< enum vae_posterior (default Gaussian) */
    int estimator;                 /**< enum vae_estimator (default pathwise) */
    int baseline;                  /**< enum vae_baseline for the score estimator (default none) */
    float ema_decay;               /**< decay of the EMA baseline, in [0, 1) (default 0.9) */
    int score_reward;              /**< enum vae_score_reward (default VAE_REWARD_ELBO) */
    int objective;                 /**< enum vae_objective (default ELBO); for IWAE, samples is k */
    float beta;                    /**< weight of the KL term, >= 0 (default 1: the ELBO) */
    /* Since 0.3.0: conditional VAE (docs/cvae.md). With cond_dim = C > 0 the encoder
     * reads [x, c] and the decoder [z, c]; the array calls then have _cond variants. */
    int cond_dim;                  /**< C: condition features per example, 0..65536; 0 (default) = unconditional */
    int prior;                     /**< enum vae_prior (default VAE_PRIOR_STANDARD); learned needs cond_dim > 0 */
    int prior_hidden;              /**< learned prior: units of the prior network's one hidden layer (activation as the model's), 0 = affine in c (default 64) */
} vae_model_config;

/** Fill *cfg with defaults (784-400-20 Bernoulli VAE). @since 0.1.0 */
VAE_API void vae_model_config_init(vae_model_config *cfg);

/**
 * Create a model with freshly initialised parameters: weights and biases
 * uniform in +-1/sqrt(fan_in) (PyTorch's nn.Linear default), drawn from the
 * model's random generator seeded by cfg->seed.
 * @param out  receives the model; NULL on failure.
 * @param err  may be NULL.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a size <= 0, an unknown
 *         enum, sigma <= 0, ...), VAE_ERR_LIMIT (more than 2^31 parameters),
 *         VAE_ERR_NOMEM.
 * @since 0.1.0
 */
VAE_API int vae_model_create(const vae_model_config *cfg, vae_model **out, vae_error *err);

/** Free a model. NULL is a no-op. @since 0.1.0 */
VAE_API void vae_model_free(vae_model *model);

/** The message of the last failed call on model ("" if none). @since 0.1.0 */
VAE_API const char *vae_model_errmsg(const vae_model *model);

/** Copy the model's configuration into *cfg (cfg->struct_size must be set). @since 0.1.0 */
VAE_API int vae_model_get_config(const vae_model *model, vae_model_config *cfg);

/**
 * Change the training settings of a model: samples, kl_mode, estimator,
 * baseline, ema_decay, score_reward, objective, beta and threads are taken
 * from cfg; every architecture field (sizes, activation, likelihood,
 * posterior, logvar range, seed) must equal the model's, else
 * VAE_ERR_INVALID and nothing changes. Parameters and the random state are
 * kept; the EMA baseline restarts.
 * @since 0.2.0
 */
VAE_API int vae_model_set_training(vae_model *model, const vae_model_config *cfg);

/** Set the number of BLAS threads the model's calls use (1..256). @since 0.1.0 */
VAE_API int vae_model_set_threads(vae_model *model, int threads);

/** Total number of trainable parameters (0 for NULL). @since 0.1.0 */
VAE_API size_t vae_model_param_count(const vae_model *model);

/** Per-example averages of the objective's terms, in nats. */
typedef struct vae_elbo_stats {
    double elbo;    /**< mean over examples of E_q[log p(x|z)] - KL */
    double rec;     /**< mean E_q[log p(x|z)] (Monte Carlo, L samples) */
    double kl;      /**< mean KL(q(z|x) || p(z)) */
    double loss;    /**< the mean objective minimised (-elbo for the plain ELBO) */
    size_t n;       /**< examples covered */
} vae_elbo_stats;

/**
 * Called after each training batch. Return 0 to go on, nonzero to stop the
 * epoch (the call then returns VAE_ERR_CANCELLED; parameters keep the
 * updates done so far).
 * @param batch        0-based index of the batch just done
 * @param n_batches    batches in the epoch
 * @param running_elbo mean ELBO (nats) over the examples of the epoch so far
 */
typedef int (*vae_progress_fn)(void *user, size_t batch, size_t n_batches, double running_elbo);

/**
 * One training step on n examples (row-major n x input_dim): forward,
 * backward, and an optimizer update. Values must be finite; the Bernoulli
 * likelihood needs them in [0,1].
 * @param stats may be NULL; receives the batch's averages (before the update).
 * @return VAE_OK; VAE_ERR_DIVERGED when the loss or a gradient is not
 *         finite (the update is not applied: parameters and optimizer state
 *         stay as before the step); argument errors.
 * @since 0.1.0
 */
VAE_API int vae_model_train_step(vae_model *model, vae_optimizer *opt, const float *x, size_t n,
                                 vae_elbo_stats *stats);

/**
 * One epoch over `data`: shuffle the example order with the model's random
 * generator, then call vae_model_train_step on consecutive batches of
 * batch_size (the last one may be smaller), binarising as the dataset says.
 * @param progress may be NULL.
 * @param stats    may be NULL; receives averages over the whole epoch.
 * @return as vae_model_train_step, plus VAE_ERR_CANCELLED. On
 *         VAE_ERR_DIVERGED the message names the step.
 * @since 0.1.0
 */
VAE_API int vae_model_train_epoch(vae_model *model, vae_optimizer *opt, const vae_dataset *data,
                                  size_t batch_size, vae_progress_fn progress, void *user,
                                  vae_elbo_stats *stats);

/**
 * The ELBO of every example of `data` with the analytic KL and one z sample
 * per example, in batches of batch_size. Evaluation draws from its own
 * random stream, reset from the seed at every call, so it does not disturb
 * training and the same parameters always give the same figure.
 * @since 0.1.0
 */
VAE_API int vae_model_evaluate(vae_model *model, const vae_dataset *data, size_t batch_size,
                               vae_elbo_stats *stats);

/**
 * Like vae_model_evaluate for a caller's array of n examples; per_example
 * (may be NULL) receives the n per-example ELBOs.
 * @since 0.1.0
 */
VAE_API int vae_model_elbo(vae_model *model, const float *x, size_t n, float *per_example,
                           vae_elbo_stats *stats);

/**
 * Encoder outputs for n examples: mu and log sigma^2, each n x latent_dim,
 * written to caller buffers (either may be NULL if not wanted).
 * @since 0.1.0
 */
VAE_API int vae_model_encode(vae_model *model, const float *x, size_t n, float *mu,
                             float *logvar);

/**
 * Decoder output for n latent vectors z (n x latent_dim): Bernoulli
 * probabilities or Gaussian means, n x input_dim, into `out`.
 * @since 0.1.0
 */
VAE_API int vae_model_decode(vae_model *model, const float *z, size_t n, float *out);

/** decode(mu(x)): the reconstruction of n examples, n x input_dim. @since 0.1.0 */
VAE_API int vae_model_reconstruct(vae_model *model, const float *x, size_t n, float *out);

/**
 * n samples from the model: z ~ N(0, I) drawn with the model's generator,
 * then the decoder output (probabilities or means), n x input_dim.
 * @since 0.1.0
 */
VAE_API int vae_model_sample(vae_model *model, size_t n, float *out);

/**
 * log p(x) estimated by importance sampling with q(z|x) as proposal:
 *   log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x),  z_i ~ q(z|x),
 * computed with log-sum-exp, per example, in nats. This is also the IWAE_k
 * bound (k = 1: the single-sample ELBO with Monte Carlo KL). Samples are
 * processed in chunks so memory stays bounded for any k; noise comes from the
 * evaluation stream (reset per call), so the result is a function of the
 * parameters, x and k.
 * @param k            importance samples per example, 1..2^20
 * @param per_example  may be NULL; else n floats
 * @param mean         may be NULL; else the mean over the n examples
 * @since 0.2.0
 */
VAE_API int vae_model_log_likelihood(vae_model *model, const float *x, size_t n, int k,
                                     float *per_example, double *mean);

/** Statistics of S gradient estimates of a set of parameters. */
typedef struct vae_grad_stats {
    double mean_norm;       /**< ||g_bar||, the L2 norm of the mean of the S estimates */
    double total_variance;  /**< sum over coordinates of the sample variance (S - 1 denominator) */
    double snr;             /**< signal-to-noise ratio mean_norm / sqrt(total_variance) */
} vae_grad_stats;

/**
 * Draw S independent estimates of the gradient of the loss with respect to
 * every parameter, on the n examples x, with the training settings of
 * `training` (NULL: the model's own; its architecture fields are ignored),
 * and report their statistics. Parameters are not changed; the model's
 * training random stream advances.
 * @param per_tensor  may be NULL; else vae_model_param_tensor_count() entries
 * @param encoder     may be NULL; else the statistics over all encoder tensors ("enc.*")
 * @param overall     may be NULL; else over all parameters
 * @param mean_grad   may be NULL; else vae_model_param_count() floats: g_bar
 * @since 0.2.0
 */
VAE_API int vae_model_gradient_stats(vae_model *model, const float *x, size_t n,
                                     const vae_model_config *training, int draws,
                                     vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                                     vae_grad_stats *overall, float *mean_grad);

/** Number of parameter tensors (weights and biases of each layer). @since 0.2.0 */
VAE_API size_t vae_model_param_tensor_count(const vae_model *model);

/**
 * Name ("enc.0.W", "dec.out.b", ...), shape and offset in the flat
 * parameter vector of tensor i. Weights are [in, out] (y = x W + b). The name
 * borrows from the model. @since 0.2.0
 */
VAE_API int vae_model_param_tensor_info(const vae_model *model, size_t i, const char **name,
                                        size_t *rows, size_t *cols, size_t *offset);

/** Copy the flat parameter vector (count = vae_model_param_count) into out. @since 0.2.0 */
VAE_API int vae_model_get_params(const vae_model *model, float *out, size_t count);

/** Replace the flat parameter vector (finite values; count must match). @since 0.2.0 */
VAE_API int vae_model_set_params(vae_model *model, const float *in, size_t count);

/**
 * Write a checkpoint of the model (configuration, parameters, random state)
 * and, if opt is not NULL, the optimizer's state. The file is written to a
 * temporary name beside `path`, flushed and renamed, so `path` holds either
 * the old or the new checkpoint, never a partial one. Refuses
 * (VAE_ERR_NONFINITE) to write non-finite parameters.
 * @since 0.1.0
 */
VAE_API int vae_model_save(vae_model *model, const vae_optimizer *opt, const char *path);

/**
 * Load a checkpoint: a new model in *out and, when opt_out is not NULL and
 * the file holds optimizer state, a new optimizer in *opt_out (NULL if the
 * file has none). Training continues exactly as if never interrupted.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_IO, VAE_ERR_FORMAT (bad magic,
 *         version, CRC, truncated, missing or misshaped tensor),
 *         VAE_ERR_LIMIT, VAE_ERR_NOMEM.
 * @since 0.1.0
 */
VAE_API int vae_model_load(const char *path, vae_model **out, vae_optimizer **opt_out,
                           vae_error *err);

/* ------------------------------------------------------------------------ */
/* Conditional models (cond_dim > 0; docs/cvae.md)                           */
/* ------------------------------------------------------------------------ */
/*
 * A model created with cond_dim = C > 0 takes a condition vector c per
 * example: the encoder models q(z|x,c) from [x, c], the decoder p(x|z,c)
 * from [z, c], and the prior is N(0, I) or learned, p(z|c) =
 * N(mu(c), diag e^logvar(c)). Its array calls are the _cond variants below,
 * which take c as n x C floats, row-major, beside the n rows of x or z;
 * condition values must be finite. The plain array calls (train_step, elbo,
 * encode, decode, reconstruct, sample, log_likelihood, gradient_stats) on a
 * conditional model, and the _cond calls on an unconditional one, fail with
 * VAE_ERR_UNSUPPORTED and a message naming the call to use. train_epoch and
 * evaluate take the conditions from the dataset (vae_dataset_set_onehot,
 * vae_dataset_set_conditions); an unconditional model ignores a dataset's
 * conditions. Errors and thread rule as for the plain calls.
 */

/**
 * vae_model_train_step with conditions c (n x cond_dim).
 * @return as vae_model_train_step, plus VAE_ERR_NULL (c NULL),
 *         VAE_ERR_NONFINITE (c not finite), VAE_ERR_UNSUPPORTED (the
 *         model is unconditional). @since 0.3.0
 */
VAE_API int vae_model_train_step_cond(vae_model *model, vae_optimizer *opt, const float *x,
                                      const float *c, size_t n, vae_elbo_stats *stats);

/**
 * vae_model_elbo given the conditions: per-example ELBO of log p(x|c), in
 * nats (KL to p(z|c)). @since 0.3.0
 */
VAE_API int vae_model_elbo_cond(vae_model *model, const float *x, const float *c, size_t n,
                                float *per_example, vae_elbo_stats *stats);

/** vae_model_encode of q(z|x,c): mu and log sigma^2, n x latent_dim each. @since 0.3.0 */
VAE_API int vae_model_encode_cond(vae_model *model, const float *x, const float *c, size_t n,
                                  float *mu, float *logvar);

/**
 * Decoder output of p(x|z,c) for n latent vectors z and conditions c:
 * probabilities or means, n x input_dim, into out. @since 0.3.0
 */
VAE_API int vae_model_decode_cond(vae_model *model, const float *z, const float *c, size_t n,
                                  float *out);

/** decode(mu(x, c), c): the reconstruction of n examples given c. @since 0.3.0 */
VAE_API int vae_model_reconstruct_cond(vae_model *model, const float *x, const float *c, size_t n,
                                       float *out);

/**
 * n samples of x given c: z ~ p(z|c) (N(0, I) for the standard prior) drawn
 * with the model's generator, then the decoder output (probabilities or
 * means), n x input_dim. Row i uses condition row i. @since 0.3.0
 */
VAE_API int vae_model_sample_cond(vae_model *model, const float *c, size_t n, float *out);

/**
 * The prior p(z|c) for n conditions: its mean and log-variance, n x
 * latent_dim each (either may be NULL). For VAE_PRIOR_STANDARD both are 0.
 * @since 0.3.0
 */
VAE_API int vae_model_prior_cond(vae_model *model, const float *c, size_t n, float *mu,
                                 float *logvar);

/**
 * vae_model_log_likelihood given c: importance-sampled log p(x|c) with
 * q(z|x,c) as proposal and p(z|c) as prior, in nats. @since 0.3.0
 */
VAE_API int vae_model_log_likelihood_cond(vae_model *model, const float *x, const float *c,
                                          size_t n, int k, float *per_example, double *mean);

/* ------------------------------------------------------------------------ */
/* Pictures                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Write n grayscale images as one PNG grid: `cols` images per row, rows as
 * many as needed, cells separated by 2 pixels of mid-gray (also filling the
 * unused cells of the last row). Image k is height*width floats, row-major,
 * at pixels + k*height*width; 0 is black, 1 is white, values outside [0,1]
 * are clamped. Useful for decoder means (vae_model_sample,
 * vae_model_reconstruct) of image data. The file is 8-bit grayscale,
 * zlib-compressed, readable by any PNG decoder; it is replaced if it exists
 * and removed again if writing fails.
 * @param path    file to write.
 * @param pixels  n*height*width values in [0,1]; owned by the caller.
 * @param cols    images per grid row (>= 1; more than n is taken as n).
 * @param err     may be NULL; receives the status and message.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (a size is 0),
 *         VAE_ERR_NONFINITE (a NaN or infinite pixel), VAE_ERR_LIMIT (the
 *         grid exceeds 8192 pixels a side), VAE_ERR_NOMEM, VAE_ERR_IO.
 * Thread-safe: no state.
 * @since 0.3.0
 */
VAE_API int vae_png_write_grid(const char *path, const float *pixels, size_t n, size_t height,
                               size_t width, size_t cols, vae_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LIBVAE_VAE_H */
