"""libvae.Model: vae_model (a Gaussian VAE with MLP encoder and decoder)."""

import ctypes
from typing import NamedTuple

import numpy as np

from . import capi
from ._errors import (ArgumentTypeError, Error, check_handle, raise_from_error, status_str,
                      type_error)
from ._util import (Busy, Handle, as_array, as_float, as_int, as_path, as_rows, as_size,
                    enum_name, enum_value, f32, fit_epochs, fptr, set_shape)
from .dataset import Dataset
from .layers import network_text
from .optimizer import Optimizer

lib = capi.lib

LIKELIHOODS = {"bernoulli": capi.VAE_LIK_BERNOULLI,
               "gaussian": capi.VAE_LIK_GAUSSIAN_FIXED,
               "gaussian-learned": capi.VAE_LIK_GAUSSIAN_LEARNED}
ACTIVATIONS = {"relu": capi.VAE_ACT_RELU, "leaky-relu": capi.VAE_ACT_LEAKY_RELU,
               "tanh": capi.VAE_ACT_TANH, "sigmoid": capi.VAE_ACT_SIGMOID,
               "softplus": capi.VAE_ACT_SOFTPLUS}
KL_MODES = {"analytic": capi.VAE_KL_ANALYTIC, "mc": capi.VAE_KL_MONTE_CARLO,
            "monte-carlo": capi.VAE_KL_MONTE_CARLO}
POSTERIORS = {"gaussian": capi.VAE_POST_GAUSSIAN, "laplace": capi.VAE_POST_LAPLACE,
              "logistic": capi.VAE_POST_LOGISTIC}
ESTIMATORS = {"pathwise": capi.VAE_EST_PATHWISE, "score": capi.VAE_EST_SCORE}
BASELINES = {"none": capi.VAE_BASELINE_NONE, "ema": capi.VAE_BASELINE_EMA,
             "loo": capi.VAE_BASELINE_LOO}
REWARDS = {"elbo": capi.VAE_REWARD_ELBO, "rec": capi.VAE_REWARD_REC}
OBJECTIVES = {"elbo": capi.VAE_OBJ_ELBO, "iwae": capi.VAE_OBJ_IWAE}
KL_SCHEDULES = {"constant": capi.VAE_KL_SCHEDULE_CONSTANT, "linear": capi.VAE_KL_SCHEDULE_LINEAR,
                "cyclical": capi.VAE_KL_SCHEDULE_CYCLICAL}
PRIORS = {"standard": capi.VAE_PRIOR_STANDARD, "learned": capi.VAE_PRIOR_LEARNED}
INFERENCES = {"bottom-up": capi.VAE_INFER_BOTTOM_UP, "ladder": capi.VAE_INFER_LADDER}
FAMILIES = {"vae": capi.VAE_FAMILY_VAE, "ae": capi.VAE_FAMILY_AE}
CORRUPTIONS = {"none": capi.VAE_CORRUPT_NONE, "gaussian": capi.VAE_CORRUPT_GAUSSIAN,
               "mask": capi.VAE_CORRUPT_MASK, "saltpepper": capi.VAE_CORRUPT_SALT_PEPPER,
               "salt-pepper": capi.VAE_CORRUPT_SALT_PEPPER}
# vae-train's shorthands: --estimator score-ema / score-loo
_ESTIMATOR_SHORTHANDS = {"score-ema": "ema", "score-loo": "loo"}

# keyword -> (vae_model_config field, kind, enum table, training setting?)
# Kinds: "int", "u64", "float", "bool", "enum", "hidden". Training settings are the
# ones vae_model_set_training may change; the others fix the architecture.
_OPTIONS = {
    "input_dim": ("input_dim", "int", None, False),
    "hidden": ("hidden", "hidden", None, False),
    "latent": ("latent_dim", "latent", None, False),
    "likelihood": ("likelihood", "enum", LIKELIHOODS, False),
    "activation": ("activation", "enum", ACTIVATIONS, False),
    "leaky_slope": ("leaky_slope", "float", None, False),
    "gaussian_sigma": ("gaussian_sigma", "float", None, False),
    "posterior": ("posterior", "enum", POSTERIORS, False),
    "logvar_min": ("logvar_min", "float", None, False),
    "logvar_max": ("logvar_max", "float", None, False),
    "seed": ("seed", "u64", None, False),
    "samples": ("samples", "int", None, True),
    "kl": ("kl_mode", "enum", KL_MODES, True),
    "estimator": ("estimator", "enum", ESTIMATORS, True),
    "baseline": ("baseline", "enum", BASELINES, True),
    "ema_decay": ("ema_decay", "float", None, True),
    "score_reward": ("score_reward", "enum", REWARDS, True),
    "objective": ("objective", "enum", OBJECTIVES, True),
    "beta": ("beta", "float", None, True),
    "threads": ("threads", "int", None, True),
    # 0.3.0: beta-VAE schedules, capacity, free bits, aggressive training
    "kl_schedule": ("kl_schedule", "enum", KL_SCHEDULES, True),
    "kl_warmup_steps": ("kl_warmup_steps", "int", None, True),
    "kl_cycle_steps": ("kl_cycle_steps", "int", None, True),
    "kl_cycle_ratio": ("kl_cycle_ratio", "float", None, True),
    "kl_cycles": ("kl_cycles", "int", None, True),
    "capacity_gamma": ("capacity_gamma", "float", None, True),
    "capacity_max": ("capacity_max", "float", None, True),
    "capacity_steps": ("capacity_steps", "int", None, True),
    "free_bits": ("free_bits", "float", None, True),
    "aggressive": ("aggressive", "bool", None, True),
    "aggressive_max_inner": ("aggressive_max_inner", "int", None, True),
    # 0.3.0: conditional VAE
    "cond_dim": ("cond_dim", "int", None, False),
    "prior": ("prior", "enum", PRIORS, False),
    "prior_hidden": ("prior_hidden", "int", None, False),
    # 0.4.0: networks as data (text or libvae.layers lists) and the sample shape
    "encoder": ("encoder", "net", None, False),
    "decoder": ("decoder", "net", None, False),
    "prior_network": ("prior_network", "net", None, False),
    "input_shape": ("input_shape", "shape", None, False),
    # 0.4.0: hierarchical VAEs (latent=(32, 16) gives the layers' sizes)
    "inference": ("inference", "enum", INFERENCES, False),
    "hier_network": ("hier_network", "net", None, False),
    # 0.4.0: autoencoders and denoising (docs/autoencoders.md)
    "family": ("family", "enum", FAMILIES, False),
    "code_l2": ("code_l2", "float", None, False),
    "corruption": ("corruption", "enum", CORRUPTIONS, True),
    "corruption_level": ("corruption_level", "float", None, True),
}

#: The keywords vae_model_set_training takes (Model.set_training, gradient_stats).
TRAINING_OPTIONS = tuple(k for k, v in _OPTIONS.items() if v[3])


def _norm(v):
    return v.strip().lower().replace("_", "-") if isinstance(v, str) else v


#: Other spellings of keywords: the attribute and C field names
#: (``Model(latent_dim=4)`` as ``model.latent_dim``; ``kl_mode`` as the C field).
KEYWORD_ALIASES = {"latent_dim": "latent", "kl_mode": "kl"}


def _alias(what, name, value, alias, alias_value):
    """The value of keyword `name` given either as itself or as `alias`."""
    if alias_value is None:
        return value
    if value is not None and value != alias_value:
        raise ArgumentTypeError("%s() got both %s=%r and %s=%r (the same setting)"
                                % (what, name, value, alias, alias_value))
    return alias_value


def _fill_config(cfg, options, what):
    """Write keyword options (None = keep) into a ModelConfig filled by the library."""
    options = {k: v for k, v in options.items() if v is not None}
    for alias, name in KEYWORD_ALIASES.items():
        if alias in options:
            options[name] = _alias(what, name, options.get(name), alias, options.pop(alias))
    est = _norm(options.get("estimator"))
    if est in _ESTIMATOR_SHORTHANDS:
        base = _ESTIMATOR_SHORTHANDS[est]
        if "baseline" in options and _norm(options["baseline"]) != base:
            raise Error(capi.VAE_ERR_INVALID, "%s: estimator %r and baseline %r disagree"
                        % (what, options["estimator"], options["baseline"]))
        options["estimator"], options["baseline"] = "score", base
    # vae-train's rule: a non-Gaussian posterior has no closed-form KL, so
    # unless kl is given it is Monte Carlo (the library uses MC KL for it anyway).
    post = _norm(options.get("posterior"))
    if post not in (None, "gaussian", capi.VAE_POST_GAUSSIAN) and "kl" not in options:
        options["kl"] = "mc"
    for key, value in options.items():
        field, kind, table, _ = _OPTIONS[key]
        if not capi.field_supported(cfg, field):
            raise NotImplementedError(
                "libvae: %s=%r needs vae_model_config.%s, which %s (libvae %s) does not have"
                % (key, value, field, capi.library_path, lib.vae_version_string().decode()))
        if kind == "int":
            setattr(cfg, field, as_int(value, key))
        elif kind == "u64":
            setattr(cfg, field, as_int(value, key, 0, (1 << 64) - 1))
        elif kind == "float":
            setattr(cfg, field, as_float(value, key))
        elif kind == "bool":
            if not isinstance(value, (bool, int, np.integer)) or value not in (0, 1):
                raise Error(capi.VAE_ERR_INVALID, "%s = %r: expected True or False"
                            % (key, value))
            setattr(cfg, field, int(value))
        elif kind == "enum":
            setattr(cfg, field, enum_value(value, table, key))
        elif kind == "net":
            setattr(cfg, field, network_text(value, key).encode("ascii"))
        elif kind == "shape":
            set_shape(cfg, value, key)
        elif kind == "latent":
            _set_latent(cfg, value)
        else:   # hidden
            if isinstance(value, (int, np.integer)):
                value = (value,)
            if isinstance(value, (str, bytes)):
                raise Error(capi.VAE_ERR_INVALID,
                            "hidden = %r: expected a sequence of layer sizes" % (value,))
            try:
                sizes = [as_int(h, "hidden") for h in value]
            except TypeError:
                raise Error(capi.VAE_ERR_INVALID,
                            "hidden = %r: expected a sequence of layer sizes" % (value,)) from None
            if len(sizes) > capi.VAE_MAX_HIDDEN:
                raise Error(capi.VAE_ERR_INVALID, "hidden: %d layers, at most %d are allowed"
                            % (len(sizes), capi.VAE_MAX_HIDDEN))
            cfg.n_hidden = len(sizes)
            for i in range(capi.VAE_MAX_HIDDEN):
                cfg.hidden[i] = sizes[i] if i < len(sizes) else 0


def _set_latent(cfg, value):
    """latent=K, or a sequence (K_1, ..., K_L) of a hierarchical model's layers."""
    if isinstance(value, (int, np.integer)):
        cfg.latent_dim = as_int(value, "latent")
        return
    try:
        sizes = [as_int(k, "latent") for k in value]
    except TypeError:
        raise Error(capi.VAE_ERR_INVALID,
                    "latent = %r: expected a size or a sequence of sizes" % (value,)) from None
    if not 1 <= len(sizes) <= capi.VAE_MAX_LATENT_LAYERS:
        raise Error(capi.VAE_ERR_INVALID, "latent: %d layers, 1..%d are allowed"
                    % (len(sizes), capi.VAE_MAX_LATENT_LAYERS))
    cfg.latent_dim = sizes[0]
    if len(sizes) == 1:
        return
    if not capi.field_supported(cfg, "latent_layers"):
        raise NotImplementedError("libvae: latent=%r needs vae_model_config.latent_layers "
                                  "(libvae 0.4.0)" % (value,))
    cfg.latent_layers = len(sizes)
    for i in range(capi.VAE_MAX_LATENT_LAYERS):
        cfg.latent_sizes[i] = sizes[i] if i < len(sizes) else 0


def _config_dict(c):
    d = {}
    for key, (field, kind, table, _) in _OPTIONS.items():
        if not capi.field_supported(c, field):
            continue
        if kind == "hidden":
            n = max(0, min(c.n_hidden, capi.VAE_MAX_HIDDEN))
            d[key] = tuple(c.hidden[i] for i in range(n))
        elif kind == "float":
            d[key] = f32(getattr(c, field))
        elif kind == "bool":
            d[key] = bool(getattr(c, field))
        elif kind == "enum":
            d[key] = enum_name(getattr(c, field), table)
        elif kind == "net":
            v = getattr(c, field)
            d[key] = v.decode("ascii") if v is not None else None
        elif kind == "shape":
            d[key] = tuple(c.input_shape)
        elif kind == "latent":
            layers = c.latent_layers if capi.field_supported(c, "latent_layers") else 1
            d[key] = c.latent_dim if layers <= 1 else tuple(
                c.latent_dim if i == 0 else c.latent_sizes[i] for i in range(layers))
        else:
            d[key] = getattr(c, field)
    return d


def _require(name, what):
    if not capi.has(name):
        raise NotImplementedError(
            "libvae: %s needs the C function %s, which %s (libvae %s) does not export"
            % (what, name, capi.library_path, lib.vae_version_string().decode()))


class Stats(NamedTuple):
    """Per-example averages of the objective's terms, in nats (vae_elbo_stats)."""
    elbo: float    #: mean of E_q[log p(x|z)] - KL
    rec: float     #: mean E_q[log p(x|z)]
    kl: float      #: mean KL(q(z|x) || p(z))
    loss: float    #: the mean objective minimised (-elbo for the plain ELBO)
    n: int         #: examples covered

    @classmethod
    def _from_c(cls, s):
        return cls(s.elbo, s.rec, s.kl, s.loss, s.n)


class _Progress:
    """A vae_progress_fn around a Python callable; exceptions stay in Python."""

    def __init__(self, fn):
        self.fn = fn
        self.exc = None
        self.stopped = False
        self.cfunc = capi.PROGRESS_FN(self._call)   # referenced for the call's duration

    def _call(self, user, batch, n_batches, running_elbo):
        try:
            if self.fn(batch, n_batches, running_elbo):
                self.stopped = True
                return 1
            return 0
        except BaseException as e:   # incl. KeyboardInterrupt: never unwind through C
            self.exc = e
            return 1


def _check(model_ptr, rc):
    return check_handle(rc, lib.vae_model_errmsg, model_ptr)


class ParamTensor(NamedTuple):
    """One parameter tensor (vae_model_param_tensor_info)."""
    name: str       #: e.g. 'enc.0.W', 'dec.out.b'
    shape: tuple    #: (rows, cols); weights are [in, out] (y = x W + b)
    offset: int     #: start in the flat parameter vector


class GradStats(NamedTuple):
    """Statistics of S gradient estimates (vae_grad_stats)."""
    mean_norm: float        #: L2 norm of the mean estimate
    total_variance: float   #: sum over coordinates of the sample variance
    snr: float              #: mean_norm / sqrt(total_variance)

    @classmethod
    def _from_c(cls, s):
        return cls(s.mean_norm, s.total_variance, s.snr)


class TrainingState(NamedTuple):
    """Where the training schedules stand (vae_training_state)."""
    step: int               #: schedule steps t taken so far
    beta: float             #: the KL weight beta_t the next step uses
    beta_norm: float        #: beta_t * latent / input_dim (Higgins et al.'s normalised beta)
    capacity: float         #: the capacity target C_t in nats (0 when the capacity objective is off)
    aggressive_active: bool  #: aggressive training is on and not yet switched off
    aggressive_mi: float    #: the last MI given to aggressive_update (nats); NaN before the first
    encoder_steps: int      #: encoder-only updates made by aggressive training so far


class Diagnostics(NamedTuple):
    """Posterior-collapse diagnostics over a set of examples (vae_diagnostics)."""
    active_units: int       #: dimensions with mu_variance > 0.01 (VAE_ACTIVE_UNIT_THRESHOLD)
    mi: float               #: I(x; z) estimate of He et al. 2019, nats
    kl: float               #: mean KL(q(z|x) || N(0, I)), nats (the sum of kl_per_dim)
    n: int                  #: examples used
    kl_per_dim: object      #: float32 array (latent,): mean KL of each dimension
    mu_variance: object     #: float32 array (latent,): Var_x(E_q[z_d|x]) (n - 1 denominator)


class LayerStats(NamedTuple):
    """One stochastic layer's statistics (vae_layer_stats); nats per example."""
    layer: int              #: l, 1 next to x
    dims: int               #: K_l
    kl: float               #: E_x E_q[KL(q(z_l|.) || p(z_l|z_{l+1}))], nats per example
    kl_dim_mean: float      #: kl / dims
    kl_dim_max: float       #: the largest dimension's KL
    kl_dim_min: float       #: the smallest dimension's KL
    active_units: int       #: dimensions with Cov_x(E_q[z_lj|x]) > 0.01
    samples: int            #: z samples per example used
    n: int                  #: examples used


class GradientReport(NamedTuple):
    """What Model.gradient_stats returns."""
    overall: GradStats      #: over all parameters
    encoder: GradStats      #: over the encoder tensors ('enc.*')
    tensors: dict           #: tensor name -> GradStats
    mean_grad: object       #: the mean gradient (flat float32 array), or None


class Model(Handle):
    """A variational autoencoder (vae_model).

    ``Model(input_dim=784, hidden=(400,), latent=20, likelihood='bernoulli',
    activation='relu', ...)``; every argument left as None keeps the
    library's default (vae_model_config_init: a 784-400-20 ReLU Bernoulli
    VAE, seed 1, one thread). Arguments:

    - input_dim: features per example
    - hidden: encoder hidden layer sizes, input side first (the decoder
      mirrors them); an int for one layer, () for none; at most 8
    - latent: latent dimensions
    - likelihood: 'bernoulli', 'gaussian' (fixed sigma) or 'gaussian-learned'
    - activation: 'relu', 'leaky-relu', 'tanh', 'sigmoid' or 'softplus'
    - leaky_slope, gaussian_sigma, logvar_min, logvar_max: floats
    - posterior: q(z|x) family, 'gaussian', 'laplace' or 'logistic' (the
      last two imply kl='mc' unless kl is given, as in vae-train)
    - seed: seeds initialisation, sampling and shuffling

    Training settings (also changeable later with :meth:`set_training`):

    - samples: z samples per example in training (k for objective='iwae')
    - kl: 'analytic' or 'mc' (Monte Carlo)
    - estimator: 'pathwise' (reparameterisation) or 'score' (REINFORCE);
      'score-ema' / 'score-loo' also set the baseline
    - baseline: 'none', 'ema' or 'loo' (leave-one-out, samples >= 2)
    - ema_decay: decay of the EMA baseline, in [0, 1)
    - score_reward: 'elbo' or 'rec'
    - objective: 'elbo' or 'iwae'
    - beta: weight of the KL term (1: the ELBO)
    - threads: BLAS threads used by this model's calls
    - kl_schedule: 'constant', 'linear' (warm-up over kl_warmup_steps) or
      'cyclical' (kl_cycle_steps, kl_cycle_ratio, kl_cycles); see
      docs/beta-vae.md
    - capacity_gamma, capacity_max, capacity_steps: the capacity objective
      -rec + gamma |KL - C_t| (off while capacity_gamma is 0)
    - free_bits: lambda in nats per latent dimension (0: off)
    - aggressive, aggressive_max_inner: lagging-inference-network training
      in train_epoch/fit; switch it off with :meth:`aggressive_update`

    Conditional VAE (docs/cvae.md), fixed at creation:

    - cond_dim: condition features per example (0: unconditional). A
      conditional model's array methods then need ``c=``, an (n, cond_dim)
      array of conditions (one row per row of x or z), and its datasets
      need conditions (:meth:`Dataset.set_onehot`, ``set_conditions``)
    - prior: 'standard' (p(z|c) = N(0, I)) or 'learned' (a network on c)
    - prior_hidden: units of the learned prior's hidden layer (0: affine)

    Networks as data (docs/networks.md), fixed at creation:

    - encoder, decoder, prior_network: the text form ("conv2d(32,4,2,1) relu
      flatten dense(256) relu") or a list of :mod:`libvae.layers` objects;
      None keeps the MLP of ``hidden``. The encoder's mean and log-variance
      heads follow automatically; the decoder's last layer gives input_dim values
    - input_shape: (channels, height, width) of a sample, product input_dim

    Autoencoders and denoising (docs/autoencoders.md):

    - family: 'vae' (default) or 'ae', a deterministic autoencoder: the code
      is the mean head, the loss -log p(x|x_hat) + code_l2 sum_j z_j^2; its
      ``kl`` figure is the code penalty, and sample, log_likelihood,
      gradient_stats, diagnostics and aggressive training are unsupported
    - code_l2: the AE's code penalty weight (>= 0; 0 for a VAE)
    - corruption, corruption_level: 'none', 'gaussian' (sigma), 'mask' (p) or
      'saltpepper' (p): in training the encoder sees corrupted inputs and the
      likelihood scores the clean ones (training settings); see :meth:`denoise`
      (needed by convolutions; None: flat)
    - :attr:`encoder` and :attr:`decoder` give the canonical texts back

    Array arguments are converted to C-contiguous float32 (copied only when
    they are not already); results are new numpy arrays filled by the
    library. Failures raise :class:`libvae.Error`.
    """

    _kind = "model"
    _free_fn = lib.vae_model_free

    def __init__(self, input_dim=None, hidden=None, latent=None, likelihood=None,
                 activation=None, leaky_slope=None, gaussian_sigma=None, samples=None,
                 kl=None, logvar_min=None, logvar_max=None, seed=None, threads=None,
                 posterior=None, estimator=None, baseline=None, ema_decay=None,
                 score_reward=None, objective=None, beta=None, kl_schedule=None,
                 kl_warmup_steps=None, kl_cycle_steps=None, kl_cycle_ratio=None,
                 kl_cycles=None, capacity_gamma=None, capacity_max=None, capacity_steps=None,
                 free_bits=None, aggressive=None, aggressive_max_inner=None, cond_dim=None,
                 prior=None, prior_hidden=None, encoder=None, decoder=None,
                 prior_network=None, input_shape=None, inference=None, hier_network=None,
                 family=None, code_l2=None, corruption=None, corruption_level=None,
                 latent_dim=None, kl_mode=None):
        super().__init__()
        self.optimizer = None
        latent = _alias("Model", "latent", latent, "latent_dim", latent_dim)
        kl = _alias("Model", "kl", kl, "kl_mode", kl_mode)
        cfg = capi.new_model_config()
        _fill_config(cfg, dict(
            input_dim=input_dim, hidden=hidden, latent=latent, likelihood=likelihood,
            activation=activation, leaky_slope=leaky_slope, gaussian_sigma=gaussian_sigma,
            samples=samples, kl=kl, logvar_min=logvar_min, logvar_max=logvar_max, seed=seed,
            threads=threads, posterior=posterior, estimator=estimator, baseline=baseline,
            ema_decay=ema_decay, score_reward=score_reward, objective=objective, beta=beta,
            kl_schedule=kl_schedule, kl_warmup_steps=kl_warmup_steps,
            kl_cycle_steps=kl_cycle_steps, kl_cycle_ratio=kl_cycle_ratio, kl_cycles=kl_cycles,
            capacity_gamma=capacity_gamma, capacity_max=capacity_max,
            capacity_steps=capacity_steps, free_bits=free_bits, aggressive=aggressive,
            aggressive_max_inner=aggressive_max_inner, cond_dim=cond_dim, prior=prior,
            prior_hidden=prior_hidden, encoder=encoder, decoder=decoder,
            prior_network=prior_network, input_shape=input_shape, inference=inference,
            hier_network=hier_network, family=family, code_l2=code_l2, corruption=corruption,
            corruption_level=corruption_level),
            "Model")
        out = ctypes.c_void_p()
        err = capi.VaeError()
        rc = lib.vae_model_create(ctypes.byref(cfg), ctypes.byref(out), ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self._ptr = out.value
        self._dims()

    def close(self):
        """Free the model now (idempotent; later calls raise libvae.Error) and
        drop its reference to ``model.optimizer`` (freed too unless referenced
        elsewhere)."""
        super().close()
        self.optimizer = None

    def _dims(self):
        c = self._get_config()
        self._input_dim = c.input_dim
        self._latent_dim = c.latent_dim
        self._cond_dim = c.cond_dim if capi.field_supported(c, "cond_dim") else 0

    # -- checkpoints --------------------------------------------------------

    @classmethod
    def load(cls, path, with_optimizer=False):
        """Load a checkpoint (vae_model_load).

        Returns the model, or with with_optimizer=True a pair (model,
        optimizer) where optimizer is None when the file holds no optimizer
        state. The loaded optimizer is also ``model.optimizer``, the one
        fit() uses by default, so training continues exactly.
        """
        out = ctypes.c_void_p()
        opt = ctypes.c_void_p()
        err = capi.VaeError()
        rc = lib.vae_model_load(as_path(path), ctypes.byref(out), ctypes.byref(opt),
                                ctypes.byref(err))
        if rc != capi.VAE_OK:
            raise_from_error(rc, err)
        self = cls.__new__(cls)
        Handle.__init__(self)
        self._ptr = out.value
        self.optimizer = Optimizer._wrap(opt.value) if opt.value else None
        self._dims()
        return (self, self.optimizer) if with_optimizer else self

    def save(self, path, optimizer=None):
        """Write a checkpoint (vae_model_save), with the optimizer's state if given.

        The file is written under a temporary name and renamed.
        """
        p = as_path(path)
        with self._lock:
            h = self._h()
            if optimizer is None:
                _check(h, lib.vae_model_save(h, None, p))
                return
            with optimizer._lock:
                _check(h, lib.vae_model_save(h, optimizer._h(), p))

    # -- configuration ------------------------------------------------------

    def _get_config(self):
        with self._lock:
            h = self._h()
            cfg = capi.empty_model_config()
            _check(h, lib.vae_model_get_config(h, ctypes.byref(cfg)))
            return cfg

    @property
    def config(self):
        """The configuration as a dict with the constructor's keywords
        (vae_model_get_config): ``Model(**m.config)`` makes the same model."""
        return _config_dict(self._get_config())

    def set_training(self, **settings):
        """Change training settings, keeping parameters and random state
        (vae_model_set_training): samples, kl, estimator, baseline,
        ema_decay, score_reward, objective, beta, threads and (0.3.0)
        kl_schedule, kl_warmup_steps, kl_cycle_steps, kl_cycle_ratio,
        kl_cycles, capacity_gamma, capacity_max, capacity_steps, free_bits,
        aggressive, aggressive_max_inner. The EMA baseline
        restarts. Architecture options cannot change (Error VAE_ERR_INVALID).
        """
        _require("vae_model_set_training", "set_training")
        unknown = set(settings) - set(TRAINING_OPTIONS) - {
            a for a, k in KEYWORD_ALIASES.items() if k in TRAINING_OPTIONS}
        if unknown:
            raise type_error("set_training: %s not a training setting; these are: %s"
                            % (", ".join(sorted(unknown)) + (" is" if len(unknown) == 1
                                                             else " are"),
                               ", ".join(TRAINING_OPTIONS)))
        with self._lock:
            h = self._h()
            cfg = capi.empty_model_config()
            _check(h, lib.vae_model_get_config(h, ctypes.byref(cfg)))
            _fill_config(cfg, settings, "set_training")
            _check(h, lib.vae_model_set_training(h, ctypes.byref(cfg)))

    @property
    def input_dim(self):
        return self._input_dim

    @property
    def encoder(self):
        """The encoder's layers in the canonical text form (before the heads)."""
        return self.config["encoder"]

    @property
    def decoder(self):
        """The decoder's layers in the canonical text form."""
        return self.config["decoder"]

    @property
    def latent_dim(self):
        return self._latent_dim

    @property
    def cond_dim(self):
        """Condition features per example; 0 for an unconditional model."""
        return self._cond_dim

    def _cond(self, c, n, what):
        """c as a C-contiguous float32 (n, cond_dim) array, or None.

        For an unconditional model the width is not checked here: the _cond
        call then fails with the library's VAE_ERR_UNSUPPORTED and message.
        """
        if c is None:
            return None
        _require("vae_model_train_step_cond", what + " with c=")
        c = as_rows(c, self._cond_dim or None, what, "c")
        if n is not None and c.shape[0] != n:
            raise Error(capi.VAE_ERR_SHAPE, "%s: c has %d rows, x has %d; expected one "
                        "condition row per example" % (what, c.shape[0], n))
        return c

    @property
    def param_count(self):
        """Number of trainable parameters (vae_model_param_count)."""
        with self._lock:
            return lib.vae_model_param_count(self._h())

    @property
    def threads(self):
        """BLAS threads the model's calls use; settable (vae_model_set_threads)."""
        return self._get_config().threads

    @threads.setter
    def threads(self, n):
        n = as_int(n, "threads")
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_set_threads(h, n))

    def __repr__(self):
        if self.closed:
            return "<libvae.Model closed>"
        c = self.config
        return "<libvae.Model %s %d-%s-%d %s, %d parameters>" % (
            c["likelihood"], c["input_dim"], "-".join(str(h) for h in c["hidden"]) or "",
            c["latent"], c["activation"], self.param_count)

    # -- training -----------------------------------------------------------

    def _optimizer(self, optimizer):
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                raise Error(capi.VAE_ERR_INVALID, "optimizer = %r: expected a libvae.Optimizer"
                            % (optimizer,))
            return optimizer
        # Under the model's lock: threads sharing a model must not each create
        # (and step) their own default optimizer.
        with self._lock:
            if self.optimizer is None or self.optimizer.closed:
                self.optimizer = Optimizer("adam")
            return self.optimizer

    def train_step(self, x, optimizer=None, c=None):
        """One training step on the rows of x (vae_model_train_step; with
        conditions c, vae_model_train_step_cond).

        Returns the batch's Stats (before the update). optimizer defaults to
        ``model.optimizer`` (an Adam created on first use).
        """
        x = as_rows(x, self._input_dim, "train_step")
        c = self._cond(c, x.shape[0], "train_step")
        opt = self._optimizer(optimizer)
        st = capi.ElboStats()
        with self._lock, opt._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_train_step(h, opt._h(), fptr(x), x.shape[0],
                                              ctypes.byref(st))
            else:
                rc = lib.vae_model_train_step_cond(h, opt._h(), fptr(x), fptr(c), x.shape[0],
                                                   ctypes.byref(st))
            _check(h, rc)
        return Stats._from_c(st)

    @staticmethod
    def _dataset(data, what, c=None):
        """(dataset, temporary?) for a Dataset or an array (with conditions c)."""
        if isinstance(data, Dataset):
            if c is not None:
                raise Error(capi.VAE_ERR_INVALID, "%s: c= goes with an array; a Dataset "
                            "carries its conditions (Dataset.set_conditions, set_onehot)"
                            % what)
            return data, False
        try:
            return Dataset.from_numpy(data, copy=False, conditions=c), True
        except Error as e:
            raise Error(e.status, "%s: %s" % (what, e.message)) from None

    def train_epoch(self, data, optimizer=None, batch_size=100, callback=None, c=None):
        """One epoch over data (vae_model_train_epoch): shuffle, then batches.

        data: a Dataset or an (n, input_dim) array. callback(batch,
        n_batches, running_elbo), called after each batch (``batch`` is the
        0-based index of the batch just done, 0 .. n_batches - 1;
        running_elbo the epoch's mean ELBO so far), may return a true
        value to stop the epoch (Error VAE_ERR_CANCELLED is then raised);
        an exception it raises stops the epoch and is re-raised here.
        Returns the epoch's Stats. A conditional model takes the conditions
        from the Dataset, or from c (n, cond_dim) with an array.
        """
        ds, temp = self._dataset(data, "train_epoch", c)
        try:
            st = self._epoch(ds, self._optimizer(optimizer), batch_size, callback)
        finally:
            if temp:
                ds.close()
        return st

    def _epoch(self, ds, opt, batch_size, callback):
        """One vae_model_train_epoch call; a callback's exception is re-raised here."""
        bs = as_size(batch_size, "batch_size")
        mem = ds._m()
        st = capi.ElboStats()
        prog = _Progress(callback) if callback is not None else None
        with self._lock, opt._lock:
            h, o = self._h(), opt._h()
            with Busy(self, opt):
                rc = lib.vae_model_train_epoch(h, o, mem.ptr, bs,
                                               prog.cfunc if prog else capi.NULL_PROGRESS, None,
                                               ctypes.byref(st))
            if prog is not None and prog.exc is not None:
                raise prog.exc
            _check(h, rc)
        return Stats._from_c(st)

    def fit(self, data, epochs=1, batch_size=100, optimizer=None, callback=None,
            on_epoch=None, c=None):
        """Train for `epochs` epochs (vae_model_train_epoch each) and return
        the list of per-epoch Stats.

        data: a Dataset or an (n, input_dim) array (borrowed for the call).
        optimizer: defaults to ``model.optimizer`` (an Adam with the
        library's defaults, created on first use and kept, so repeated fit()
        calls continue its state). callback(epoch, batch, n_batches,
        running_elbo) runs after every batch (epoch counts from 1, batch is
        0-based: 0 .. n_batches - 1, as in train_epoch) and
        on_epoch(epoch, stats) after every epoch; either may return a true
        value to stop training early: fit() then returns the epochs
        completed. An exception in a callback stops training and propagates.
        c: the conditions (n, cond_dim) of a conditional model when data is
        an array (a Dataset carries its own).
        """
        n_epochs = as_int(epochs, "epochs", 0)
        ds, temp = self._dataset(data, "fit", c)
        opt = self._optimizer(optimizer)
        try:
            return fit_epochs(n_epochs, lambda cb: self._epoch(ds, opt, batch_size, cb),
                              callback, on_epoch)
        finally:
            if temp:
                ds.close()

    # -- evaluation and use -------------------------------------------------

    def evaluate(self, data, batch_size=100, c=None):
        """The ELBO over a Dataset or array (vae_model_evaluate): analytic
        KL, one z sample per example from a stream reset at every call.
        c: conditions for an array, as in :meth:`fit`."""
        ds, temp = self._dataset(data, "evaluate", c)
        bs = as_size(batch_size, "batch_size")
        try:
            mem = ds._m()
            st = capi.ElboStats()
            with self._lock:
                h = self._h()
                _check(h, lib.vae_model_evaluate(h, mem.ptr, bs, ctypes.byref(st)))
        finally:
            if temp:
                ds.close()
        return Stats._from_c(st)

    def elbo(self, x, c=None):
        """(per_example, stats): the ELBO of every row of x as a float32
        array of n, and their Stats (vae_model_elbo; with conditions c, the
        ELBO of log p(x|c), vae_model_elbo_cond)."""
        x = as_rows(x, self._input_dim, "elbo")
        c = self._cond(c, x.shape[0], "elbo")
        per = np.empty(x.shape[0], dtype=np.float32)
        st = capi.ElboStats()
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_elbo(h, fptr(x), x.shape[0], fptr(per), ctypes.byref(st))
            else:
                rc = lib.vae_model_elbo_cond(h, fptr(x), fptr(c), x.shape[0], fptr(per),
                                             ctypes.byref(st))
            _check(h, rc)
        return per, Stats._from_c(st)

    # -- training in pieces (0.3.0) ----------------------------------------

    def compute_gradients(self, x, key=None, first=0, c=None):
        """Forward and backward on the rows of x without an update
        (vae_model_compute_gradients): afterwards :meth:`gradient` is the
        gradient of the batch-mean loss. With key (an int), row i's noise is
        keyed by (seed, key, first + i) (vae_model_compute_gradients_keyed)
        instead of drawn from the training stream. With conditions c (a
        conditional model): the _cond calls (libvae >= 0.4.0). Returns the
        batch's Stats.
        """
        x = as_rows(x, self._input_dim, "compute_gradients")
        c = self._cond(c, x.shape[0], "compute_gradients")
        st = capi.ElboStats()
        keyed = "_keyed" if key is not None else ""
        name = "vae_model_compute_gradients" + keyed + ("_cond" if c is not None else "")
        _require(name, "compute_gradients" + (" with c=" if c is not None else ""))
        with self._lock:
            h = self._h()
            args = (h, fptr(x)) + ((fptr(c),) if c is not None else ()) + (x.shape[0],)
            if key is not None:
                args += (as_size(key, "key"), as_size(first, "first"))
            rc = getattr(lib, name)(*(args + (ctypes.byref(st),)))
            _check(h, rc)
        return Stats._from_c(st)

    def gradient(self):
        """A copy of the flat gradient buffer (vae_model_gradient_data), laid
        out like :meth:`get_params`."""
        _require("vae_model_gradient_data", "gradient")
        with self._lock:
            h = self._h()
            n = lib.vae_model_param_count(h)
            return np.ctypeslib.as_array(lib.vae_model_gradient_data(h), shape=(n,)).copy()

    def set_gradient(self, values):
        """Overwrite the gradient buffer with a flat array of param_count
        values (e.g. an average over processes) before :meth:`apply_gradients`."""
        _require("vae_model_gradient_data", "set_gradient")
        a = as_array(values, "set_gradient", "values").reshape(-1)
        with self._lock:
            h = self._h()
            n = lib.vae_model_param_count(h)
            if a.size != n:
                raise Error(capi.VAE_ERR_SHAPE, "set_gradient: %d values, the model has %d "
                            "parameters" % (a.size, n))
            np.ctypeslib.as_array(lib.vae_model_gradient_data(h), shape=(n,))[:] = a

    def apply_gradients(self, optimizer=None):
        """One optimizer step with the gradient buffer (vae_model_apply_gradients);
        refuses non-finite gradients (Error VAE_ERR_DIVERGED, nothing changed)."""
        _require("vae_model_apply_gradients", "apply_gradients")
        opt = self._optimizer(optimizer)
        with self._lock, opt._lock:
            h = self._h()
            _check(h, lib.vae_model_apply_gradients(h, opt._h()))

    def reseed(self, seed, stream):
        """Restart the training random stream as stream `stream` of `seed`
        (vae_model_reseed), e.g. one stream per process."""
        _require("vae_model_reseed", "reseed")
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_reseed(h, as_size(seed, "seed"), as_size(stream, "stream")))

    def elbo_keyed(self, x, key, first=0, c=None):
        """(per_example, stats) like :meth:`elbo`, with row i's noise keyed by
        (seed, key, first + i) (vae_model_elbo_keyed; with conditions c,
        vae_model_elbo_keyed_cond, libvae >= 0.4.0)."""
        _require("vae_model_elbo_keyed", "elbo_keyed")
        x = as_rows(x, self._input_dim, "elbo_keyed")
        c = self._cond(c, x.shape[0], "elbo_keyed")
        if c is not None:
            _require("vae_model_elbo_keyed_cond", "elbo_keyed with c=")
        per = np.empty(x.shape[0], dtype=np.float32)
        st = capi.ElboStats()
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_elbo_keyed(h, fptr(x), x.shape[0], as_size(key, "key"),
                                              as_size(first, "first"), fptr(per),
                                              ctypes.byref(st))
            else:
                rc = lib.vae_model_elbo_keyed_cond(h, fptr(x), fptr(c), x.shape[0],
                                                   as_size(key, "key"), as_size(first, "first"),
                                                   fptr(per), ctypes.byref(st))
            _check(h, rc)
        return per, Stats._from_c(st)

    def log_likelihood(self, x, k=100, c=None):
        """(per_example, mean): log p(x) of every row of x estimated by
        importance sampling with k samples from q(z|x) (the IWAE_k bound),
        in nats (vae_model_log_likelihood). per_example is a float32 array
        of n; mean is their mean (a double). Noise comes from a stream reset
        at every call. With conditions c: log p(x|c), q(z|x,c) as proposal
        and p(z|c) as prior (vae_model_log_likelihood_cond).

        Raises NotImplementedError when the loaded libvae lacks the function.
        """
        _require("vae_model_log_likelihood", "log_likelihood")
        x = as_rows(x, self._input_dim, "log_likelihood")
        c = self._cond(c, x.shape[0], "log_likelihood")
        kk = as_int(k, "k")
        per = np.empty(x.shape[0], dtype=np.float32)
        mean = ctypes.c_double()
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_log_likelihood(h, fptr(x), x.shape[0], kk, fptr(per),
                                                  ctypes.byref(mean))
            else:
                rc = lib.vae_model_log_likelihood_cond(h, fptr(x), fptr(c), x.shape[0], kk,
                                                       fptr(per), ctypes.byref(mean))
            _check(h, rc)
        return per, mean.value

    def gradient_stats(self, x, draws, training=None, mean_grad=False, c=None):
        """Statistics of `draws` independent gradient estimates of the loss on
        the rows of x (vae_model_gradient_stats; with conditions c,
        vae_model_gradient_stats_cond, libvae >= 0.4.0). Parameters do not
        change; the training random stream advances.

        training: None (the model's own settings) or a dict of training
        settings (as for :meth:`set_training`) to use instead.
        mean_grad=True also returns the mean gradient (a flat float32 array
        laid out like :meth:`get_params`).
        Returns a GradientReport(overall, encoder, tensors, mean_grad).
        """
        _require("vae_model_gradient_stats", "gradient_stats")
        x = as_rows(x, self._input_dim, "gradient_stats")
        c = self._cond(c, x.shape[0], "gradient_stats")
        if c is not None:
            _require("vae_model_gradient_stats_cond", "gradient_stats with c=")
        d = as_int(draws, "draws")
        tcfg = None
        if training is not None:
            unknown = set(training) - set(TRAINING_OPTIONS)
            if unknown:
                raise type_error("gradient_stats: %s not training settings"
                                % ", ".join(sorted(unknown)))
        overall, encoder = capi.GradStats(), capi.GradStats()
        with self._lock:
            h = self._h()
            if training is not None:
                tcfg = capi.empty_model_config()
                _check(h, lib.vae_model_get_config(h, ctypes.byref(tcfg)))
                _fill_config(tcfg, dict(training), "gradient_stats")
            tensors = self._tensors_locked(h)
            per = (capi.GradStats * max(1, len(tensors)))()
            mg = np.empty(lib.vae_model_param_count(h), dtype=np.float32) if mean_grad else None
            tref = ctypes.byref(tcfg) if tcfg is not None else None
            if c is None:
                rc = lib.vae_model_gradient_stats(h, fptr(x), x.shape[0], tref, d, per,
                                                  ctypes.byref(encoder), ctypes.byref(overall),
                                                  fptr(mg))
            else:
                rc = lib.vae_model_gradient_stats_cond(h, fptr(x), fptr(c), x.shape[0], tref, d,
                                                       per, ctypes.byref(encoder),
                                                       ctypes.byref(overall), fptr(mg))
            _check(h, rc)
        return GradientReport(GradStats._from_c(overall), GradStats._from_c(encoder),
                              {t.name: GradStats._from_c(per[i]) for i, t in enumerate(tensors)},
                              mg)

    # -- parameters ---------------------------------------------------------

    @staticmethod
    def _status_error(rc, what):
        """For the const accessors, which return a status without a message."""
        if rc != capi.VAE_OK:
            raise Error(rc, "%s: %s" % (what, status_str(rc)))

    def _tensors_locked(self, h):
        _require("vae_model_param_tensor_info", "param_tensors")
        out = []
        name = ctypes.c_char_p()
        rows, cols, off = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
        for i in range(lib.vae_model_param_tensor_count(h)):
            self._status_error(lib.vae_model_param_tensor_info(
                h, i, ctypes.byref(name), ctypes.byref(rows), ctypes.byref(cols),
                ctypes.byref(off)), "param_tensors: tensor %d" % i)
            out.append(ParamTensor(name.value.decode(), (rows.value, cols.value), off.value))
        return out

    def param_tensors(self):
        """The parameter tensors in order: a list of ParamTensor(name, shape,
        offset) (vae_model_param_tensor_count and _info)."""
        with self._lock:
            return self._tensors_locked(self._h())

    def get_params(self):
        """A copy of the flat parameter vector, float32 (vae_model_get_params)."""
        _require("vae_model_get_params", "get_params")
        with self._lock:
            h = self._h()
            out = np.empty(lib.vae_model_param_count(h), dtype=np.float32)
            self._status_error(lib.vae_model_get_params(h, fptr(out), out.size),
                               "get_params")
        return out

    def params(self):
        """The parameters as a dict name -> (rows, cols) float32 array (copies)."""
        flat = self.get_params()
        return {t.name: flat[t.offset:t.offset + t.shape[0] * t.shape[1]].reshape(t.shape)
                for t in self.param_tensors()}

    def set_params(self, values):
        """Replace the parameters (vae_model_set_params): a flat array of
        param_count values, or a dict name -> array for some tensors (the
        others keep their values). Values must be finite."""
        _require("vae_model_set_params", "set_params")
        if isinstance(values, dict):
            flat = self.get_params()
            tensors = {t.name: t for t in self.param_tensors()}
            for name, v in values.items():
                if name not in tensors:
                    raise Error(capi.VAE_ERR_INVALID, "set_params: no tensor %r; the model has %s"
                                % (name, ", ".join(tensors)))
                t = tensors[name]
                a = as_array(v, "set_params", name)
                if a.shape != t.shape and a.size != t.shape[0] * t.shape[1]:
                    raise Error(capi.VAE_ERR_SHAPE, "set_params: %s has shape %s, expected %s"
                                % (name, tuple(a.shape), t.shape))
                flat[t.offset:t.offset + a.size] = a.reshape(-1)
        else:
            a = as_array(values, "set_params", "values")
            if a.ndim != 1:
                raise Error(capi.VAE_ERR_SHAPE, "set_params: values have shape %s; expected a "
                            "flat vector (param_count,) or a dict" % (tuple(a.shape),))
            flat = np.ascontiguousarray(a, dtype=np.float32)
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_set_params(h, fptr(flat), flat.size))

    def encode(self, x, c=None):
        """(mu, logvar), each (n, latent) float32: the encoder's outputs
        (vae_model_encode; q(z|x,c) with conditions c, vae_model_encode_cond)."""
        x = as_rows(x, self._input_dim, "encode")
        n = x.shape[0]
        c = self._cond(c, n, "encode")
        mu = np.empty((n, self._latent_dim), dtype=np.float32)
        lv = np.empty((n, self._latent_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_encode(h, fptr(x), n, fptr(mu), fptr(lv))
            else:
                rc = lib.vae_model_encode_cond(h, fptr(x), fptr(c), n, fptr(mu), fptr(lv))
            _check(h, rc)
        return mu, lv

    def decode(self, z, c=None):
        """(n, input_dim) float32 decoder outputs for latent rows z: Bernoulli
        probabilities or Gaussian means (vae_model_decode; p(x|z,c) with
        conditions c, vae_model_decode_cond)."""
        z = as_rows(z, self._latent_dim, "decode", "z")
        c = self._cond(c, z.shape[0], "decode")
        out = np.empty((z.shape[0], self._input_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_decode(h, fptr(z), z.shape[0], fptr(out))
            else:
                rc = lib.vae_model_decode_cond(h, fptr(z), fptr(c), z.shape[0], fptr(out))
            _check(h, rc)
        return out

    def reconstruct(self, x, c=None):
        """decode(mu(x)), (n, input_dim) float32 (vae_model_reconstruct; with
        conditions c, decode(mu(x, c), c), vae_model_reconstruct_cond)."""
        x = as_rows(x, self._input_dim, "reconstruct")
        c = self._cond(c, x.shape[0], "reconstruct")
        out = np.empty((x.shape[0], self._input_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_reconstruct(h, fptr(x), x.shape[0], fptr(out))
            else:
                rc = lib.vae_model_reconstruct_cond(h, fptr(x), fptr(c), x.shape[0], fptr(out))
            _check(h, rc)
        return out

    def denoise(self, x_noisy):
        """The decoder's output for the encoder's mean of the given (noisy)
        rows, (n, input_dim) float32 (vae_model_denoise; for family='ae' the
        reconstruction). No corruption is applied here."""
        x = as_rows(x_noisy, self._input_dim, "denoise")
        out = np.empty((x.shape[0], self._input_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_denoise(h, fptr(x), x.shape[0], fptr(out)))
        return out

    def sample(self, n=None, c=None):
        """n samples, (n, input_dim) float32: z ~ N(0, I) from the model's
        generator, then the decoder output (vae_model_sample).

        With conditions c (vae_model_sample_cond): z ~ p(z|c), row i from
        condition row i. c has n rows, or one row used for all n samples;
        n defaults to the rows of c.
        """
        if c is None:
            if n is None:
                raise Error(capi.VAE_ERR_INVALID, "sample: give n (and c for a conditional "
                            "model)")
            nn = as_size(n, "n")
        else:
            c = self._cond(c, None, "sample")
            nn = c.shape[0] if n is None else as_size(n, "n")
            if c.shape[0] == 1 and nn != 1:
                c = np.ascontiguousarray(np.repeat(c, nn, axis=0))
            elif c.shape[0] != nn:
                raise Error(capi.VAE_ERR_SHAPE, "sample: c has %d rows; expected n = %d (or "
                            "one row for all samples)" % (c.shape[0], nn))
        out = np.empty((nn, self._input_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_sample(h, nn, fptr(out))
            else:
                rc = lib.vae_model_sample_cond(h, fptr(c), nn, fptr(out))
            _check(h, rc)
        return out

    def prior(self, c):
        """(mu, logvar), each (n, latent) float32: the prior p(z|c) for the n
        condition rows of c (vae_model_prior_cond); zeros for the standard
        prior."""
        c = self._cond(c, None, "prior")
        n = c.shape[0]
        mu = np.empty((n, self._latent_dim), dtype=np.float32)
        lv = np.empty((n, self._latent_dim), dtype=np.float32)
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_prior_cond(h, fptr(c), n, fptr(mu), fptr(lv)))
        return mu, lv

    # -- schedules, aggressive training, collapse diagnostics (0.3.0) -------

    def training_state(self):
        """Where the training schedules stand: a TrainingState (step, beta,
        beta_norm, capacity, aggressive_active, aggressive_mi, encoder_steps)
        (vae_model_training_state)."""
        _require("vae_model_training_state", "training_state")
        st = capi.TrainingState()
        st.struct_size = ctypes.sizeof(capi.TrainingState)
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_training_state(h, ctypes.byref(st)))
        return TrainingState(st.step, st.beta, st.beta_norm, st.capacity,
                             bool(st.aggressive_active), st.aggressive_mi, st.encoder_steps)

    def aggressive_update(self, x, c=None):
        """The per-epoch check of aggressive training (vae_model_aggressive_update):
        estimate I(x; z) on the held-out rows of x and switch aggressive
        training off for good when it fell since the previous call.
        Returns (mi, active): the estimate in nats and whether aggressive
        training stays on. Call it after each epoch of fit/train_epoch.
        With conditions c (a conditional model):
        vae_model_aggressive_update_cond (libvae >= 0.4.0).
        """
        _require("vae_model_aggressive_update", "aggressive_update")
        x = as_rows(x, self._input_dim, "aggressive_update")
        c = self._cond(c, x.shape[0], "aggressive_update")
        if c is not None:
            _require("vae_model_aggressive_update_cond", "aggressive_update with c=")
        mi = ctypes.c_double()
        active = ctypes.c_int()
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_aggressive_update(h, fptr(x), x.shape[0], ctypes.byref(mi),
                                                     ctypes.byref(active))
            else:
                rc = lib.vae_model_aggressive_update_cond(h, fptr(x), fptr(c), x.shape[0],
                                                          ctypes.byref(mi), ctypes.byref(active))
            _check(h, rc)
        return mi.value, bool(active.value)

    def layer_stats(self, x):
        """Per-layer statistics on the rows of x (n >= 2) (vae_model_layer_stats):
        a list of LayerStats, z_1 (next to x) first; one entry for a plain VAE.
        Noise comes from a stream reset at every call.
        """
        _require("vae_model_layer_stats", "layer_stats")
        x = as_rows(x, self._input_dim, "layer_stats")
        out = (capi.LayerStats * capi.VAE_MAX_LATENT_LAYERS)()
        out[0].struct_size = ctypes.sizeof(capi.LayerStats)
        with self._lock:
            h = self._h()
            _check(h, lib.vae_model_layer_stats(h, fptr(x), x.shape[0], out,
                                                capi.VAE_MAX_LATENT_LAYERS))
        layers = self.config.get("latent")
        count = len(layers) if isinstance(layers, tuple) else 1
        return [LayerStats(s.layer, s.dims, s.kl, s.kl_dim_mean, s.kl_dim_max, s.kl_dim_min,
                           s.active_units, s.samples, s.n) for s in out[:count]]

    def diagnostics(self, x, c=None):
        """Posterior-collapse diagnostics on the rows of x (n >= 2)
        (vae_model_diagnostics): a Diagnostics(active_units, mi, kl, n,
        kl_per_dim, mu_variance). Noise comes from a stream reset at every
        call, so the result is a function of the parameters and x. With
        conditions c (a conditional model): q(z|x,c) and the KL to p(z|c)
        (vae_model_diagnostics_cond, libvae >= 0.4.0).
        """
        _require("vae_model_diagnostics", "diagnostics")
        x = as_rows(x, self._input_dim, "diagnostics")
        c = self._cond(c, x.shape[0], "diagnostics")
        if c is not None:
            _require("vae_model_diagnostics_cond", "diagnostics with c=")
        d = capi.Diagnostics()
        d.struct_size = ctypes.sizeof(capi.Diagnostics)
        kl = np.empty(self._latent_dim, dtype=np.float32)
        var = np.empty(self._latent_dim, dtype=np.float32)
        with self._lock:
            h = self._h()
            if c is None:
                rc = lib.vae_model_diagnostics(h, fptr(x), x.shape[0], ctypes.byref(d), fptr(kl),
                                               fptr(var))
            else:
                rc = lib.vae_model_diagnostics_cond(h, fptr(x), fptr(c), x.shape[0],
                                                    ctypes.byref(d), fptr(kl), fptr(var))
            _check(h, rc)
        return Diagnostics(d.active_units, d.mi, d.kl, d.n, kl, var)
