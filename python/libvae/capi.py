"""The raw C API of libvae through ctypes.

This module finds and loads ``libvae.so``, mirrors the public structs of
``<libvae/vae.h>`` with :class:`ctypes.Structure` (same field order and
types) and declares ``argtypes``/``restype`` for every exported function.
The Pythonic classes (:class:`libvae.Model`, ...) are built on it; it is
public for callers who want the C functions themselves::

    from libvae import capi
    cfg = capi.new_model_config()          # filled by vae_model_config_init_size
    capi.lib.vae_version_string()          # b'0.1.0'

Where the library is loaded from, in order:

1. ``$LIBVAE_LIBRARY``: a path to the shared library (or to a directory
   holding ``libvae.so``);
2. ``$LIBVAE_BUILD_DIR/src/libvae.so``;
3. the build tree this package sits in: ``<repo>/build/src/libvae.so``,
   then ``<repo>/build*/src/libvae.so`` (the most recently built first);
4. ``ctypes.util.find_library("vae")`` (an installed libvae).
"""

import ctypes
import ctypes.util
import glob
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float,
                    c_int, c_size_t, c_uint, c_uint64, c_void_p)

__all__ = [
    "lib", "library_path", "DatasetOptions", "OptimizerConfig", "ModelConfig", "ElboStats",
    "GradStats", "TrainingState", "Diagnostics",
    "VaeError", "PcaOptions", "PROGRESS_FN", "new_dataset_options", "new_optimizer_config",
    "new_model_config", "has", "STATUS_NAMES",
]

# ---------------------------------------------------------------------------
# Constants (enum values are pinned by the header)
# ---------------------------------------------------------------------------

VAE_OK = 0
VAE_ERR_NULL = -1
VAE_ERR_INVALID = -2
VAE_ERR_SHAPE = -3
VAE_ERR_NOMEM = -4
VAE_ERR_IO = -5
VAE_ERR_FORMAT = -6
VAE_ERR_NONFINITE = -7
VAE_ERR_DIVERGED = -8
VAE_ERR_LIMIT = -9
VAE_ERR_CANCELLED = -10
VAE_ERR_UNSUPPORTED = -11

STATUS_NAMES = {
    VAE_OK: "VAE_OK",
    VAE_ERR_NULL: "VAE_ERR_NULL",
    VAE_ERR_INVALID: "VAE_ERR_INVALID",
    VAE_ERR_SHAPE: "VAE_ERR_SHAPE",
    VAE_ERR_NOMEM: "VAE_ERR_NOMEM",
    VAE_ERR_IO: "VAE_ERR_IO",
    VAE_ERR_FORMAT: "VAE_ERR_FORMAT",
    VAE_ERR_NONFINITE: "VAE_ERR_NONFINITE",
    VAE_ERR_DIVERGED: "VAE_ERR_DIVERGED",
    VAE_ERR_LIMIT: "VAE_ERR_LIMIT",
    VAE_ERR_CANCELLED: "VAE_ERR_CANCELLED",
    VAE_ERR_UNSUPPORTED: "VAE_ERR_UNSUPPORTED",
}

VAE_ERRMSG_LEN = 256
VAE_MAX_HIDDEN = 8
VAE_MAX_LATENT_LAYERS = 8
VAE_INFER_BOTTOM_UP = 0
VAE_INFER_LADDER = 1

VAE_SCALE_AUTO = -1
VAE_SCALE_NONE = 0
VAE_SCALE_255 = 1
VAE_SCALE_MINMAX = 2

VAE_BINARIZE_NONE = 0
VAE_BINARIZE_THRESHOLD = 1
VAE_BINARIZE_DYNAMIC = 2

VAE_ARRAY_COPY = 0
VAE_ARRAY_BORROW = 1

VAE_OPT_SGD = 0
VAE_OPT_MOMENTUM = 1
VAE_OPT_ADAGRAD = 2
VAE_OPT_ADAM = 3

VAE_ACT_RELU = 0
VAE_ACT_LEAKY_RELU = 1
VAE_ACT_TANH = 2
VAE_ACT_SIGMOID = 3
VAE_ACT_SOFTPLUS = 4

VAE_LIK_BERNOULLI = 0
VAE_LIK_GAUSSIAN_FIXED = 1
VAE_LIK_GAUSSIAN_LEARNED = 2

VAE_KL_ANALYTIC = 0
VAE_KL_MONTE_CARLO = 1

VAE_POST_GAUSSIAN = 0
VAE_POST_LAPLACE = 1
VAE_POST_LOGISTIC = 2

VAE_EST_PATHWISE = 0
VAE_EST_SCORE = 1

VAE_BASELINE_NONE = 0
VAE_BASELINE_EMA = 1
VAE_BASELINE_LOO = 2

VAE_REWARD_ELBO = 0
VAE_REWARD_REC = 1

VAE_OBJ_ELBO = 0
VAE_OBJ_IWAE = 1

VAE_KL_SCHEDULE_CONSTANT = 0
VAE_KL_SCHEDULE_LINEAR = 1
VAE_KL_SCHEDULE_CYCLICAL = 2

VAE_PRIOR_STANDARD = 0
VAE_PRIOR_LEARNED = 1

VAE_ACTIVE_UNIT_THRESHOLD = 0.01

VAE_FAMILY_VAE = 0
VAE_FAMILY_AE = 1
VAE_CORRUPT_NONE = 0
VAE_CORRUPT_GAUSSIAN = 1
VAE_CORRUPT_MASK = 2
VAE_CORRUPT_SALT_PEPPER = 3

# ---------------------------------------------------------------------------
# Structs, exactly as in vae.h
# ---------------------------------------------------------------------------


class VaeError(Structure):
    """``vae_error``: the outcome of a call that creates a handle."""
    _fields_ = [
        ("status", c_int),
        ("message", c_char * VAE_ERRMSG_LEN),
    ]


class DatasetOptions(Structure):
    """``vae_dataset_options``."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("scale", c_int),
        ("binarize", c_int),
        ("threshold", c_float),
        ("csv_header", c_int),
        ("csv_label_column", c_int),
    ]


class OptimizerConfig(Structure):
    """``vae_optimizer_config``."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("type", c_int),
        ("lr", c_float),
        ("momentum", c_float),
        ("beta1", c_float),
        ("beta2", c_float),
        ("eps", c_float),
        ("weight_decay", c_float),
        ("clip_norm", c_float),
    ]


class ModelConfig(Structure):
    """``vae_model_config``."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("input_dim", c_int),
        ("latent_dim", c_int),
        ("n_hidden", c_int),
        ("hidden", c_int * VAE_MAX_HIDDEN),
        ("activation", c_int),
        ("leaky_slope", c_float),
        ("likelihood", c_int),
        ("gaussian_sigma", c_float),
        ("samples", c_int),
        ("kl_mode", c_int),
        ("logvar_min", c_float),
        ("logvar_max", c_float),
        ("seed", c_uint64),
        ("threads", c_int),
        # since 0.2.0: objective and gradient estimator
        ("posterior", c_int),
        ("estimator", c_int),
        ("baseline", c_int),
        ("ema_decay", c_float),
        ("score_reward", c_int),
        ("objective", c_int),
        ("beta", c_float),
        # Since 0.3.0: beta-VAE schedules, capacity, free bits, aggressive training.
        ("kl_schedule", c_int),
        ("kl_warmup_steps", c_int),
        ("kl_cycle_steps", c_int),
        ("kl_cycle_ratio", c_float),
        ("kl_cycles", c_int),
        ("capacity_gamma", c_float),
        ("capacity_max", c_float),
        ("capacity_steps", c_int),
        ("free_bits", c_float),
        ("aggressive", c_int),
        ("aggressive_max_inner", c_int),
        # Since 0.3.0: conditional VAE.
        ("cond_dim", c_int),
        ("prior", c_int),
        ("prior_hidden", c_int),
        # Since 0.4.0: networks as data (text forms) and the sample shape.
        ("encoder", c_char_p),
        ("decoder", c_char_p),
        ("prior_network", c_char_p),
        ("input_shape", c_int * 3),
        # Since 0.4.0: hierarchical VAEs.
        ("latent_layers", c_int),
        ("latent_sizes", c_int * VAE_MAX_LATENT_LAYERS),
        ("inference", c_int),
        ("hier_network", c_char_p),
        # Since 0.4.0: autoencoders and denoising.
        ("family", c_int),
        ("code_l2", c_float),
        ("corruption", c_int),
        ("corruption_level", c_float),
    ]


class LayerStats(Structure):
    """``vae_layer_stats`` (0.4.0); set struct_size before the call."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("layer", c_int),
        ("dims", c_int),
        ("kl", c_double),
        ("kl_dim_mean", c_double),
        ("kl_dim_max", c_double),
        ("kl_dim_min", c_double),
        ("active_units", c_int),
        ("samples", c_int),
        ("n", c_size_t),
    ]


class TrainingState(Structure):
    """``vae_training_state`` (0.3.0); set struct_size before the call."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("step", c_uint64),
        ("beta", c_double),
        ("beta_norm", c_double),
        ("capacity", c_double),
        ("aggressive_active", c_int),
        ("aggressive_mi", c_double),
        ("encoder_steps", c_uint64),
    ]


class Diagnostics(Structure):
    """``vae_diagnostics`` (0.3.0); set struct_size before the call."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("active_units", c_int),
        ("mi", c_double),
        ("kl", c_double),
        ("n", c_size_t),
    ]


class ElboStats(Structure):
    """``vae_elbo_stats``."""
    _fields_ = [
        ("elbo", c_double),
        ("rec", c_double),
        ("kl", c_double),
        ("loss", c_double),
        ("n", c_size_t),
    ]


class GradStats(Structure):
    """``vae_grad_stats``."""
    _fields_ = [
        ("mean_norm", c_double),
        ("total_variance", c_double),
        ("snr", c_double),
    ]


VAE_VQ_CODEBOOK_LOSS = 0
VAE_VQ_CODEBOOK_EMA = 1


class VqvaeConfig(Structure):
    """``vae_vqvae_config`` (since 0.3.0)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("input_dim", c_int),
        ("n_hidden", c_int),
        ("hidden", c_int * VAE_MAX_HIDDEN),
        ("activation", c_int),
        ("leaky_slope", c_float),
        ("likelihood", c_int),
        ("gaussian_sigma", c_float),
        ("n_latents", c_int),
        ("code_dim", c_int),
        ("codebook_size", c_int),
        ("beta", c_float),
        ("codebook_update", c_int),
        ("ema_decay", c_float),
        ("ema_eps", c_float),
        ("restart_after", c_int),
        ("seed", c_uint64),
        ("threads", c_int),
        # Since 0.4.0: networks as data (text forms) and the sample shape.
        ("encoder", c_char_p),
        ("decoder", c_char_p),
        ("input_shape", c_int * 3),
    ]


class VqvaeStats(Structure):
    """``vae_vqvae_stats`` (since 0.3.0)."""
    _fields_ = [
        ("rec", c_double),
        ("commit", c_double),
        ("loss", c_double),
        ("perplexity", c_double),
        ("codes_used", c_size_t),
        ("n", c_size_t),
    ]


class PcaOptions(Structure):
    """``vae_pca_options`` (since 0.4.0)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("center", c_int),
        ("max_iterations", c_int),
    ]


#: ``vae_progress_fn``: int (*)(void *user, size_t batch, size_t n_batches, double running_elbo)
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, c_size_t, c_double)
#: A NULL vae_progress_fn (ctypes does not accept None for a function pointer argument).
NULL_PROGRESS = PROGRESS_FN()

# ---------------------------------------------------------------------------
# Finding and loading the library
# ---------------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))   # python/libvae -> <repo>


def _candidates():
    """Paths to try, in order (see the module docstring)."""
    env = os.environ.get("LIBVAE_LIBRARY")
    if env:
        if os.path.isdir(env):
            return [os.path.join(env, "libvae.so")], True
        return [env], True
    out = []
    build = os.environ.get("LIBVAE_BUILD_DIR")
    if build:
        out.append(os.path.join(build, "src", "libvae.so"))
    default = os.path.join(_REPO, "build", "src", "libvae.so")
    others = [p for p in glob.glob(os.path.join(_REPO, "build*", "src", "libvae.so"))
              if os.path.abspath(p) != default]
    others.sort(key=lambda p: os.path.getmtime(p), reverse=True)
    out.append(default)
    out.extend(others)
    return out, False


def _load():
    paths, explicit = _candidates()
    tried = []
    for p in paths:
        if explicit or os.path.exists(p):
            try:
                return ctypes.CDLL(p), p
            except OSError as e:
                tried.append("%s (%s)" % (p, e))
                if explicit:
                    break
    if not explicit:
        name = ctypes.util.find_library("vae")
        if name:
            try:
                return ctypes.CDLL(name), name
            except OSError as e:
                tried.append("%s (%s)" % (name, e))
        else:
            tried.append('find_library("vae") found nothing')
    raise ImportError(
        "libvae: cannot load libvae.so; tried: " + "; ".join(tried or paths) +
        ". Build it with meson (see docs/python.md) or set LIBVAE_LIBRARY to its path.")


lib, library_path = _load()

# ---------------------------------------------------------------------------
# Prototypes: every function of vae.h
# ---------------------------------------------------------------------------

_F = POINTER(c_float)
_I = POINTER(c_int)
_P = c_void_p            # opaque handles: vae_model *, vae_optimizer *, vae_dataset *
_PP = POINTER(c_void_p)  # vae_x **out

_PROTOTYPES = {
    # status and versions
    "vae_status_str": (c_char_p, [c_int]),
    "vae_version_string": (c_char_p, []),
    "vae_version_number": (c_uint, []),
    # pictures (0.3.0)
    "vae_png_write_grid": (c_int, [c_char_p, _F, c_size_t, c_size_t, c_size_t, c_size_t,
                                   POINTER(VaeError)]),
    # datasets
    "vae_dataset_options_init": (None, [POINTER(DatasetOptions)]),
    "vae_dataset_load_idx": (c_int, [c_char_p, c_char_p, POINTER(DatasetOptions), _PP,
                                     POINTER(VaeError)]),
    "vae_dataset_load_csv": (c_int, [c_char_p, POINTER(DatasetOptions), _PP,
                                     POINTER(VaeError)]),
    "vae_dataset_from_array": (c_int, [_F, c_size_t, c_size_t, _I, c_int,
                                       POINTER(DatasetOptions), _PP, POINTER(VaeError)]),
    "vae_dataset_subset": (c_int, [_P, c_size_t, c_size_t, _PP, POINTER(VaeError)]),
    "vae_dataset_free": (None, [_P]),
    "vae_dataset_count": (c_size_t, [_P]),
    "vae_dataset_dim": (c_size_t, [_P]),
    "vae_dataset_has_labels": (c_int, [_P]),
    "vae_dataset_data": (_F, [_P]),
    "vae_dataset_labels": (_I, [_P]),
    "vae_dataset_set_binarize": (c_int, [_P, c_int, c_float]),
    "vae_dataset_errmsg": (c_char_p, [_P]),
    # optimizers
    "vae_optimizer_config_init": (None, [POINTER(OptimizerConfig), c_int]),
    "vae_optimizer_create": (c_int, [POINTER(OptimizerConfig), _PP, POINTER(VaeError)]),
    "vae_optimizer_free": (None, [_P]),
    "vae_optimizer_get_config": (c_int, [_P, POINTER(OptimizerConfig)]),
    "vae_optimizer_set_config": (c_int, [_P, POINTER(OptimizerConfig)]),
    "vae_optimizer_set_lr": (c_int, [_P, c_float]),
    "vae_optimizer_steps": (c_uint64, [_P]),
    "vae_optimizer_errmsg": (c_char_p, [_P]),
    # models
    "vae_model_config_init": (None, [POINTER(ModelConfig)]),
    "vae_model_create": (c_int, [POINTER(ModelConfig), _PP, POINTER(VaeError)]),
    "vae_model_free": (None, [_P]),
    "vae_model_errmsg": (c_char_p, [_P]),
    "vae_model_get_config": (c_int, [_P, POINTER(ModelConfig)]),
    "vae_model_set_threads": (c_int, [_P, c_int]),
    "vae_model_param_count": (c_size_t, [_P]),
    "vae_model_train_step": (c_int, [_P, _P, _F, c_size_t, POINTER(ElboStats)]),
    "vae_model_train_epoch": (c_int, [_P, _P, _P, c_size_t, PROGRESS_FN, c_void_p,
                                      POINTER(ElboStats)]),
    "vae_model_evaluate": (c_int, [_P, _P, c_size_t, POINTER(ElboStats)]),
    "vae_model_elbo": (c_int, [_P, _F, c_size_t, _F, POINTER(ElboStats)]),
    "vae_model_encode": (c_int, [_P, _F, c_size_t, _F, _F]),
    "vae_model_decode": (c_int, [_P, _F, c_size_t, _F]),
    "vae_model_reconstruct": (c_int, [_P, _F, c_size_t, _F]),
    "vae_model_denoise": (c_int, [_P, _F, c_size_t, _F]),
    "vae_model_sample": (c_int, [_P, c_size_t, _F]),
    "vae_model_save": (c_int, [_P, _P, c_char_p]),
    "vae_model_load": (c_int, [c_char_p, _PP, _PP, POINTER(VaeError)]),
}

# Functions added after 0.1.0: declared when the loaded library has them; the
# methods that need them raise NotImplementedError otherwise.
_OPTIONAL_PROTOTYPES = {
    "vae_model_set_training": (c_int, [_P, POINTER(ModelConfig)]),
    "vae_model_log_likelihood": (c_int, [_P, _F, c_size_t, c_int, _F, POINTER(c_double)]),
    "vae_model_gradient_stats": (c_int, [_P, _F, c_size_t, POINTER(ModelConfig), c_int,
                                         POINTER(GradStats), POINTER(GradStats),
                                         POINTER(GradStats), _F]),
    "vae_model_param_tensor_count": (c_size_t, [_P]),
    "vae_model_param_tensor_info": (c_int, [_P, c_size_t, POINTER(c_char_p),
                                            POINTER(c_size_t), POINTER(c_size_t),
                                            POINTER(c_size_t)]),
    "vae_model_get_params": (c_int, [_P, _F, c_size_t]),
    "vae_model_training_state": (c_int, [_P, POINTER(TrainingState)]),
    "vae_model_aggressive_update": (c_int, [_P, _F, c_size_t, POINTER(c_double), POINTER(c_int)]),
    "vae_model_diagnostics": (c_int, [_P, _F, c_size_t, POINTER(Diagnostics), _F, _F]),
    "vae_model_layer_stats": (c_int, [_P, _F, c_size_t, POINTER(LayerStats), c_int]),
    "vae_model_set_params": (c_int, [_P, _F, c_size_t]),
    # 0.3.0: conditional models and dataset conditions
    "vae_dataset_set_conditions": (c_int, [_P, _F, c_size_t, c_size_t]),
    "vae_dataset_set_onehot": (c_int, [_P, c_int]),
    "vae_dataset_cond_dim": (c_size_t, [_P]),
    "vae_dataset_conditions": (_F, [_P]),
    "vae_model_train_step_cond": (c_int, [_P, _P, _F, _F, c_size_t, POINTER(ElboStats)]),
    "vae_model_elbo_cond": (c_int, [_P, _F, _F, c_size_t, _F, POINTER(ElboStats)]),
    "vae_model_encode_cond": (c_int, [_P, _F, _F, c_size_t, _F, _F]),
    "vae_model_decode_cond": (c_int, [_P, _F, _F, c_size_t, _F]),
    "vae_model_reconstruct_cond": (c_int, [_P, _F, _F, c_size_t, _F]),
    "vae_model_sample_cond": (c_int, [_P, _F, c_size_t, _F]),
    "vae_model_prior_cond": (c_int, [_P, _F, c_size_t, _F, _F]),
    "vae_model_log_likelihood_cond": (c_int, [_P, _F, _F, c_size_t, c_int, _F,
                                              POINTER(c_double)]),
    # 0.3.0: training in pieces (data parallelism)
    "vae_model_compute_gradients": (c_int, [_P, _F, c_size_t, POINTER(ElboStats)]),
    "vae_model_compute_gradients_keyed": (c_int, [_P, _F, c_size_t, c_uint64, c_uint64,
                                                  POINTER(ElboStats)]),
    "vae_model_elbo_keyed": (c_int, [_P, _F, c_size_t, c_uint64, c_uint64, _F,
                                     POINTER(ElboStats)]),
    "vae_model_gradient_data": (_F, [_P]),
    "vae_model_param_data": (_F, [_P]),
    "vae_model_apply_gradients": (c_int, [_P, _P]),
    "vae_model_reseed": (c_int, [_P, c_uint64, c_uint64]),
    "vae_dataset_gather": (c_int, [_P, POINTER(c_size_t), c_size_t, c_uint64, c_uint64, _F,
                                   POINTER(VaeError)]),
    # 0.4.0: the conditional counterparts of the gradient, keyed, statistics
    # and diagnostics calls
    "vae_model_compute_gradients_cond": (c_int, [_P, _F, _F, c_size_t, POINTER(ElboStats)]),
    "vae_model_compute_gradients_keyed_cond": (c_int, [_P, _F, _F, c_size_t, c_uint64,
                                                       c_uint64, POINTER(ElboStats)]),
    "vae_model_elbo_keyed_cond": (c_int, [_P, _F, _F, c_size_t, c_uint64, c_uint64, _F,
                                          POINTER(ElboStats)]),
    "vae_dataset_gather_cond": (c_int, [_P, POINTER(c_size_t), c_size_t, _F,
                                        POINTER(VaeError)]),
    "vae_model_gradient_stats_cond": (c_int, [_P, _F, _F, c_size_t, POINTER(ModelConfig),
                                              c_int, POINTER(GradStats), POINTER(GradStats),
                                              POINTER(GradStats), _F]),
    "vae_model_diagnostics_cond": (c_int, [_P, _F, _F, c_size_t, POINTER(Diagnostics), _F,
                                           _F]),
    "vae_model_aggressive_update_cond": (c_int, [_P, _F, _F, c_size_t, POINTER(c_double),
                                                 POINTER(c_int)]),
    # the sized initialisers (0.4.0): the *_init names of vae.h are macros
    # over them; the plain *_init symbols write the 0.3.0 struct sizes
    "vae_dataset_options_init_size": (None, [POINTER(DatasetOptions), c_size_t]),
    "vae_optimizer_config_init_size": (None, [POINTER(OptimizerConfig), c_int, c_size_t]),
    "vae_model_config_init_size": (None, [POINTER(ModelConfig), c_size_t]),
    "vae_vqvae_config_init_size": (None, [POINTER(VqvaeConfig), c_size_t]),
    # VQ-VAE (0.3.0)
    "vae_vqvae_config_init": (None, [POINTER(VqvaeConfig)]),
    "vae_vqvae_create": (c_int, [POINTER(VqvaeConfig), _PP, POINTER(VaeError)]),
    "vae_vqvae_free": (None, [_P]),
    "vae_vqvae_errmsg": (c_char_p, [_P]),
    "vae_vqvae_get_config": (c_int, [_P, POINTER(VqvaeConfig)]),
    "vae_vqvae_set_threads": (c_int, [_P, c_int]),
    "vae_vqvae_param_count": (c_size_t, [_P]),
    "vae_vqvae_bits_per_example": (c_double, [_P]),
    "vae_vqvae_train_step": (c_int, [_P, _P, _F, c_size_t, POINTER(VqvaeStats)]),
    "vae_vqvae_train_epoch": (c_int, [_P, _P, _P, c_size_t, PROGRESS_FN, c_void_p,
                                      POINTER(VqvaeStats)]),
    "vae_vqvae_evaluate": (c_int, [_P, _P, c_size_t, POINTER(VqvaeStats)]),
    "vae_vqvae_code_grid": (c_int, [_P, _I]),
    "vae_dataset_shape": (c_int, [_P, _I]),
    "vae_dataset_set_shape": (c_int, [_P, c_int, c_int, c_int]),
    "vae_vqvae_encode": (c_int, [_P, _F, c_size_t, _I]),
    "vae_vqvae_decode": (c_int, [_P, _I, c_size_t, _F]),
    "vae_vqvae_reconstruct": (c_int, [_P, _F, c_size_t, _F]),
    "vae_vqvae_get_codebook": (c_int, [_P, _F, c_size_t]),
    "vae_vqvae_set_codebook": (c_int, [_P, _F, c_size_t]),
    "vae_vqvae_fit_prior": (c_int, [_P, _P, c_size_t, c_float]),
    "vae_vqvae_get_prior": (c_int, [_P, _F, c_size_t]),
    "vae_vqvae_sample": (c_int, [_P, c_size_t, _I, _F]),
    "vae_vqvae_save": (c_int, [_P, _P, c_char_p]),
    "vae_vqvae_load": (c_int, [c_char_p, _PP, _PP, POINTER(VaeError)]),
    # PCA and corruption for denoising (0.4.0)
    "vae_pca_options_init_size": (None, [POINTER(PcaOptions), c_size_t]),
    "vae_pca_fit": (c_int, [_P, c_int, POINTER(PcaOptions), _PP, POINTER(VaeError)]),
    "vae_pca_free": (None, [_P]),
    "vae_pca_errmsg": (c_char_p, [_P]),
    "vae_pca_dim": (c_size_t, [_P]),
    "vae_pca_components_count": (c_size_t, [_P]),
    "vae_pca_mean": (_F, [_P]),
    "vae_pca_components": (_F, [_P]),
    "vae_pca_explained_variance": (POINTER(c_double), [_P]),
    "vae_pca_total_variance": (c_double, [_P]),
    "vae_pca_project": (c_int, [_P, _F, c_size_t, _F]),
    "vae_pca_decode": (c_int, [_P, _F, c_size_t, _F]),
    "vae_pca_reconstruct": (c_int, [_P, _F, c_size_t, _F]),
    "vae_pca_reconstruction_error": (c_int, [_P, _P, POINTER(c_double)]),
    "vae_corrupt": (c_int, [c_int, c_float, c_uint64, _F, c_size_t, c_size_t, _F,
                            POINTER(VaeError)]),
    "vae_corruption_parse": (c_int, [c_char_p, _I, POINTER(c_float), POINTER(VaeError)]),
}

_missing = []
for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        _missing.append(_name)
        continue
    _fn.restype = _res
    _fn.argtypes = _args
if _missing:
    raise ImportError("libvae: %s lacks %s (a library older than this binding?)"
                      % (library_path, ", ".join(_missing)))

for _name, (_res, _args) in _OPTIONAL_PROTOTYPES.items():
    if hasattr(lib, _name):
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args


def has(name):
    """True if the loaded library exports the C function `name`."""
    try:
        getattr(lib, name)
        return True
    except AttributeError:
        return False


# The binding mirrors the 0.x structs; a new major version may change them.
_MAJOR = lib.vae_version_number() // 10000
if _MAJOR != 0:
    raise ImportError("libvae: %s is version %s, this binding is for 0.x"
                      % (library_path, lib.vae_version_string().decode()))

# ---------------------------------------------------------------------------
# Config structs, always filled by the library's *_init first
# ---------------------------------------------------------------------------

# The structs are filled by the sized initialisers (vae_*_init_size) with
# this binding's ctypes size: the library writes min(that, its own size)
# bytes and sets struct_size to the count, so fields this binding knows but
# an older library does not are left alone, and the library never writes
# past the struct. A library older than the sized initialisers (0.3.0 and
# before) only has the plain *_init, which writes the library's own size:
# for it each struct also lives at the start of a larger zeroed buffer.
_SLACK = 1024


def _init(cfg, name, *args):
    """Fill cfg with vae_<name>_init_size(cfg, *args, sizeof cfg), or with
    the plain vae_<name>_init(cfg, *args) of an older library."""
    sized = "vae_%s_init_size" % name
    if has(sized):
        getattr(lib, sized)(ctypes.byref(cfg), *args, ctypes.sizeof(type(cfg)))
    else:
        getattr(lib, "vae_%s_init" % name)(ctypes.byref(cfg), *args)


def _padded(cls):
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + _SLACK)
    return cls.from_buffer(buf)   # keeps buf alive


def new_dataset_options():
    """A :class:`DatasetOptions` filled by ``vae_dataset_options_init_size``."""
    o = _padded(DatasetOptions)
    _init(o, "dataset_options")
    return o


def new_optimizer_config(type_):
    """An :class:`OptimizerConfig` filled by ``vae_optimizer_config_init_size(cfg, type_, size)``."""
    c = _padded(OptimizerConfig)
    _init(c, "optimizer_config", type_)
    return c


def new_model_config():
    """A :class:`ModelConfig` filled by ``vae_model_config_init_size``."""
    c = _padded(ModelConfig)
    _init(c, "model_config")
    return c


def empty_model_config():
    """A :class:`ModelConfig` for vae_model_get_config: struct_size is what
    the sized initialiser set (this binding's size, or the library's if that
    is smaller), so every field both know is copied and nothing beyond."""
    return new_model_config()


# Struct fields added after 0.1.0 -> the version (MAJOR*10000+MINOR*100+PATCH)
# that added them. struct_size alone cannot tell: an older struct's tail
# padding may cover a newer field.
_FIELD_SINCE = {
    "posterior": 200, "estimator": 200, "baseline": 200, "ema_decay": 200,
    "score_reward": 200, "objective": 200, "beta": 200,
    "kl_schedule": 300, "kl_warmup_steps": 300, "kl_cycle_steps": 300, "kl_cycle_ratio": 300,
    "kl_cycles": 300, "capacity_gamma": 300, "capacity_max": 300, "capacity_steps": 300,
    "free_bits": 300, "aggressive": 300, "aggressive_max_inner": 300,
    "cond_dim": 300, "prior": 300, "prior_hidden": 300,
}
_VERSION = lib.vae_version_number()


def field_supported(cfg, name):
    """True if the loaded library knows field `name` of a config struct filled
    by its *_init (an older library's struct ends before later fields)."""
    field = getattr(type(cfg), name)
    return (cfg.struct_size >= field.offset + field.size
            and _VERSION >= _FIELD_SINCE.get(name, 0))


def empty_optimizer_config():
    """A zeroed :class:`OptimizerConfig` with struct_size set, for vae_optimizer_get_config."""
    c = _padded(OptimizerConfig)
    c.struct_size = ctypes.sizeof(OptimizerConfig)
    return c


# ---------------------------------------------------------------------------
# BEGIN safetensors (issue #18 item 6; the integrator regenerates this block)
# ---------------------------------------------------------------------------
_SAFETENSORS_PROTOTYPES = {
    "vae_model_export_safetensors": (c_int, [_P, c_char_p]),
    "vae_model_import_safetensors": (c_int, [_P, c_char_p]),
    "vae_vqvae_export_safetensors": (c_int, [_P, c_char_p]),
    "vae_vqvae_import_safetensors": (c_int, [_P, c_char_p]),
}
_OPTIONAL_PROTOTYPES.update(_SAFETENSORS_PROTOTYPES)
for _name, (_res, _args) in _SAFETENSORS_PROTOTYPES.items():
    if hasattr(lib, _name):
        getattr(lib, _name).restype = _res
        getattr(lib, _name).argtypes = _args
# END safetensors
