/* Optimizers: the public vae_optimizer_* calls (configuration, validation,
 * learning rate, step count), the update rules over flat float arrays (SGD,
 * momentum, Adagrad, Adam) and the optimizer's part of a checkpoint.
 *
 * The update rules follow PyTorch 1.13's torch.optim (with
 * torch.nn.utils.clip_grad_norm_ before the step) in float32, in the same
 * operation order, so a run here tracks the same run in PyTorch closely.
 * vopt_update never allocates: vopt_bind sizes the state once.
 */
#include "optim/optimizer.h"

#include <float.h>
#include <math.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
typedef unsigned int fpmode_t;
static fpmode_t fpmode_flush(void)
{
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return csr;
}
static void fpmode_restore(fpmode_t csr) { _mm_setcsr(csr); }
#else
typedef int fpmode_t;
static fpmode_t fpmode_flush(void) { return 0; }
static void fpmode_restore(fpmode_t m) { (void)m; }
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "tensor/pool.h"
#include "tensor/simd.h"
#include "tensor/vec.h"

/* Config structs larger than this are taken as garbage, not a newer version. */
#define OPT_MAX_STRUCT_SIZE 4096

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

static int type_known(int type)
{
    return type >= VAE_OPT_SGD && type <= VAE_OPT_ADAM;
}

/* The defaults of every field for `type`, into a full-size struct. */
static void config_defaults(vae_optimizer_config *cfg, int type)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    /* An unknown type keeps its value (so create rejects it) over Adam's
     * defaults, so every field is still well defined. */
    cfg->type = type;
    cfg->lr = (type == VAE_OPT_SGD || type == VAE_OPT_MOMENTUM || type == VAE_OPT_ADAGRAD)
                  ? 1e-2f
                  : 1e-3f;
    cfg->momentum = 0.9f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = type == VAE_OPT_ADAGRAD ? 1e-10f : 1e-8f; /* PyTorch's defaults */
    cfg->weight_decay = 0.0f;
    cfg->clip_norm = 0.0f;
}

VAE_API void vae_optimizer_config_init_size(vae_optimizer_config *cfg, int type, size_t size)
{
    vae_optimizer_config d;
    config_defaults(&d, type);
    vae_abi_put(cfg, &d, sizeof d, size);
}

/* The 0.3.0 entry point: writes exactly the 0.3.0 struct size. */
VAE_ABI_PIN(vae_optimizer_config, clip_norm, VAE_0_3_0_SIZEOF_OPTIMIZER_CONFIG);
VAE_API void (vae_optimizer_config_init)(vae_optimizer_config *cfg, int type)
{
    vae_optimizer_config_init_size(cfg, type, VAE_0_3_0_SIZEOF_OPTIMIZER_CONFIG);
}

/* Check every field of a full-size config. `who` prefixes the field names
 * in messages ("cfg->" for callers, "optim." for checkpoint tensors). The
 * comparisons are written so that NaN fails each of them. */
static int config_check(const vae_optimizer_config *c, const char *who, char *msg)
{
    if (!type_known(c->type))
        return vae_fail(msg, VAE_ERR_INVALID, "%stype = %d is not a known optimizer type", who,
                        c->type);
    if (!(isfinite(c->lr) && c->lr > 0.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%slr = %g must be finite and > 0", who,
                        (double)c->lr);
    if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%smomentum = %g must be in [0, 1)", who,
                        (double)c->momentum);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%sbeta1 = %g must be in [0, 1)", who,
                        (double)c->beta1);
    if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%sbeta2 = %g must be in [0, 1)", who,
                        (double)c->beta2);
    if (!(isfinite(c->eps) && c->eps > 0.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%seps = %g must be finite and > 0", who,
                        (double)c->eps);
    if (!(isfinite(c->weight_decay) && c->weight_decay >= 0.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%sweight_decay = %g must be finite and >= 0",
                        who, (double)c->weight_decay);
    if (!(isfinite(c->clip_norm) && c->clip_norm >= 0.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "%sclip_norm = %g must be finite and >= 0", who,
                        (double)c->clip_norm);
    return VAE_OK;
}

/* Read a caller's config into a full-size *out and validate it. A smaller
 * struct_size is an older caller: its bytes are laid over the defaults of
 * its type, so fields it does not know keep their defaults. A larger one is
 * a newer caller: the fields this library knows are taken. The struct must
 * at least reach the type, or the defaults are unknown. */
static int config_read(const vae_optimizer_config *in, vae_optimizer_config *out, char *msg)
{
    size_t size = in->struct_size;
    size_t need = offsetof(vae_optimizer_config, type) + sizeof in->type;
    if (size == 0 || size > OPT_MAX_STRUCT_SIZE)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "cfg->struct_size = %zu is not a config size (use "
                        "vae_optimizer_config_init)",
                        size);
    if (size < need)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "cfg->struct_size = %zu is too small to hold the type (need >= %zu)", size,
                        need);
    int type;
    memcpy(&type, (const char *)in + offsetof(vae_optimizer_config, type), sizeof type);
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, type);
    memcpy(&c, in, size < sizeof c ? size : sizeof c);
    c.struct_size = sizeof c;
    int st = config_check(&c, "cfg->", msg);
    if (st == VAE_OK)
        *out = c;
    return st;
}

/* Write an error into a handle's message buffer. Handles are always heap
 * objects made by vae_optimizer_create, never const-defined, so a const
 * call may still record why it failed (as the API promises). */
static char *errbuf(const vae_optimizer *o)
{
    return (char *)o->errmsg;
}

/* ------------------------------------------------------------------------ */
/* Public lifecycle and accessors                                            */
/* ------------------------------------------------------------------------ */

/* A new unbound optimizer holding a validated config; NULL when out of memory. */
static vae_optimizer *opt_new(const vae_optimizer_config *c)
{
    vae_optimizer *o = calloc(1, sizeof *o);
    if (o)
        o->cfg = *c;
    return o;
}

VAE_API int vae_optimizer_create(const vae_optimizer_config *cfg, vae_optimizer **out,
                                 vae_error *err)
{
    char msg[VAE_ERRMSG_LEN];
    if (out)
        *out = NULL;
    if (!cfg || !out)
        return vae_error_set(err, VAE_ERR_NULL,
                             !cfg ? "vae_optimizer_create: cfg is NULL"
                                  : "vae_optimizer_create: out is NULL");
    vae_optimizer_config c;
    int st = config_read(cfg, &c, msg);
    if (st != VAE_OK) {
        char full[VAE_ERRMSG_LEN];
        vae_fail(full, st, "vae_optimizer_create: %s", msg);
        return vae_error_set(err, st, full);
    }
    vae_optimizer *o = opt_new(&c);
    if (!o)
        return vae_error_set(err, VAE_ERR_NOMEM, "vae_optimizer_create: out of memory");
    *out = o;
    return vae_error_set(err, VAE_OK, "");
}

VAE_API void vae_optimizer_free(vae_optimizer *opt)
{
    if (!opt)
        return;
    free(opt->m);
    free(opt->v);
    free(opt);
}

/* Copies min(cfg->struct_size, sizeof) bytes and sets struct_size to that
 * count, so an older caller gets its fields only and a newer one can tell
 * which fields were filled. An unset (0) or absurd struct_size is refused:
 * the caller's size is unknown, so nothing may be written. */
VAE_API int vae_optimizer_get_config(const vae_optimizer *opt, vae_optimizer_config *cfg)
{
    if (!opt)
        return VAE_ERR_NULL;
    if (!cfg)
        return vae_fail(errbuf(opt), VAE_ERR_NULL, "vae_optimizer_get_config: cfg is NULL");
    size_t size = cfg->struct_size;
    if (size < sizeof cfg->struct_size || size > OPT_MAX_STRUCT_SIZE)
        return vae_fail(errbuf(opt), VAE_ERR_INVALID,
                        "vae_optimizer_get_config: cfg->struct_size = %zu: set it to "
                        "sizeof(vae_optimizer_config)",
                        size);
    vae_abi_put(cfg, &opt->cfg, sizeof opt->cfg, size);
    return VAE_OK;
}

VAE_API int vae_optimizer_set_config(vae_optimizer *opt, const vae_optimizer_config *cfg)
{
    if (!opt)
        return VAE_ERR_NULL;
    if (!cfg)
        return vae_fail(opt->errmsg, VAE_ERR_NULL, "vae_optimizer_set_config: cfg is NULL");
    char msg[VAE_ERRMSG_LEN];
    vae_optimizer_config c;
    int st = config_read(cfg, &c, msg);
    if (st != VAE_OK)
        return vae_fail(opt->errmsg, st, "vae_optimizer_set_config: %s", msg);
    /* The state (moments, Adagrad sums) only means something for its type. */
    if (c.type != opt->cfg.type)
        return vae_fail(opt->errmsg, VAE_ERR_INVALID,
                        "vae_optimizer_set_config: cfg->type = %d differs from the "
                        "optimizer's type %d (create a new optimizer instead)",
                        c.type, opt->cfg.type);
    opt->cfg = c;
    return VAE_OK;
}

VAE_API int vae_optimizer_set_lr(vae_optimizer *opt, float lr)
{
    if (!opt)
        return VAE_ERR_NULL;
    if (!(isfinite(lr) && lr > 0.0f))
        return vae_fail(opt->errmsg, VAE_ERR_INVALID,
                        "vae_optimizer_set_lr: lr = %g must be finite and > 0", (double)lr);
    opt->cfg.lr = lr;
    return VAE_OK;
}

VAE_API uint64_t vae_optimizer_steps(const vae_optimizer *opt)
{
    return opt ? opt->steps : 0;
}

VAE_API const char *vae_optimizer_errmsg(const vae_optimizer *opt)
{
    return opt ? opt->errmsg : "";
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

/* Which state arrays a type keeps: SGD none, momentum and Adagrad m, Adam m and v. */
static int type_has_m(int type)
{
    return type != VAE_OPT_SGD;
}

static int type_has_v(int type)
{
    return type == VAE_OPT_ADAM;
}

int vopt_bind(vae_optimizer *o, size_t n)
{
    if (o->n != 0) {
        if (o->n == n)
            return VAE_OK;
        return vae_fail(o->errmsg, VAE_ERR_SHAPE,
                        "optimizer state is bound to %zu parameters, not %zu (use a new "
                        "optimizer for another model)",
                        o->n, n);
    }
    if (n == 0)
        return vae_fail(o->errmsg, VAE_ERR_INVALID, "cannot bind an optimizer to 0 parameters");
    if (n > SIZE_MAX / sizeof(float))
        return vae_fail(o->errmsg, VAE_ERR_LIMIT, "%zu parameters are too many", n);
    /* Zero is the initial state of every rule (PyTorch's zeros_like; the
     * momentum buffer is replaced by g on the first step anyway). */
    float *m = NULL, *v = NULL;
    if (type_has_m(o->cfg.type) && !(m = calloc(n, sizeof *m)))
        return vae_fail(o->errmsg, VAE_ERR_NOMEM, "out of memory for optimizer state (%zu floats)",
                        n);
    if (type_has_v(o->cfg.type) && !(v = calloc(n, sizeof *v))) {
        free(m);
        return vae_fail(o->errmsg, VAE_ERR_NOMEM, "out of memory for optimizer state (%zu floats)",
                        n);
    }
    o->m = m;
    o->v = v;
    o->n = n;
    /* One group until the model declares its own (vopt_set_groups). */
    memset(o->group, 0, sizeof o->group);
    snprintf(o->group[0].name, sizeof o->group[0].name, "all");
    o->group[0].count = n;
    o->group_steps[0] = o->steps;
    o->n_groups = 1;
    o->bounds_known = 1; /* all zero */
    o->m_absmax = o->v_max = 0.0f;
    o->ratio_known = 1; /* |0| <= 0 * sqrt(0 + slack) */
    o->ratio = 0.0;
    return VAE_OK;
}

int vopt_check_for_save(const vae_optimizer *o, size_t n, char *msg)
{
    if (o->n == 0 || o->n == n)
        return VAE_OK;
    return vae_fail(msg, VAE_ERR_SHAPE,
                    "save: the optimizer's state is bound to %zu parameters, the model has %zu "
                    "(an optimizer of another model); nothing was written",
                    o->n, n);
}

/* ------------------------------------------------------------------------ */
/* Update rules                                                              */
/* ------------------------------------------------------------------------ */

/* The factor clip_grad_norm_ multiplies every gradient by:
 *     coef = min(1, clip / (norm + 1e-6)),
 * in float32 as PyTorch evaluates it (the norm is a float32 tensor, and
 * `max_norm / tensor` is computed as reciprocal(tensor) * max_norm). PyTorch
 * multiplies by the clamped coefficient unconditionally; 1 is exact. */
static float clip_coef(double grad_norm, float clip)
{
    if (!(clip > 0.0f))
        return 1.0f;
    float norm = (float)grad_norm;
    float coef = (1.0f / (norm + 1e-6f)) * clip;
    return coef < 1.0f ? coef : 1.0f;
}

/* The gradient an update rule sees, per element:
 *     d = g * coef            (clipping; coef = 1 when off, exact)
 *     d = d + wd * p          (weight decay, PyTorch's grad.add(p, alpha=wd))
 * `decay` is loop-invariant: the select vectorises, and with wd = 0 the
 * parameter never enters d (so 0 * p cannot turn an inf p into NaN). */
static inline float grad_eff(float g, float p, float coef, float wd, int decay)
{
    float d = g * coef;
    return decay ? d + wd * p : d;
}

/* Preprocessing shared by all rules. */
typedef struct grad_prep {
    float coef;
    float wd;
    int decay;
} grad_prep;

/* SGD:  p = p - lr * d */
VT_CLONES static void sgd_step(float *restrict p, const float *restrict g, size_t n, float lr,
                     grad_prep gp)
{
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * grad_eff(g[i], p[i], gp.coef, gp.wd, gp.decay);
}

/* Momentum (PyTorch SGD, dampening 0, no Nesterov):
 *     buf = d                  on the first step (PyTorch clones the gradient)
 *     buf = mu * buf + d       afterwards
 *     p   = p - lr * buf */
VT_CLONES static void momentum_step(float *restrict p, float *restrict buf, const float *restrict g,
                          size_t n, float lr, float mu, int first, grad_prep gp)
{
    for (size_t i = 0; i < n; i++) {
        float d = grad_eff(g[i], p[i], gp.coef, gp.wd, gp.decay);
        float b = first ? d : buf[i] * mu + d;
        buf[i] = b;
        p[i] -= lr * b;
    }
}

/* Adagrad (PyTorch, lr_decay 0, initial accumulator 0):
 *     s = s + d * d
 *     p = p - lr * d / (sqrt(s) + eps) */
VT_CLONES static void adagrad_step(float *restrict p, float *restrict s, const float *restrict g,
                         size_t n, float lr, float eps, grad_prep gp)
{
    for (size_t i = 0; i < n; i++) {
        float d = grad_eff(g[i], p[i], gp.coef, gp.wd, gp.decay);
        float si = s[i] + d * d;
        s[i] = si;
        p[i] -= lr * d / (sqrtf(si) + eps);
    }
}

/* Adam's per-step scalars, computed once per step. */
typedef struct adam_scalars {
    float b1, c1;       /* beta1 and 1 - beta1 */
    float b2, c2;       /* beta2 and 1 - beta2 */
    float step_size;    /* lr / (1 - beta1^t) */
    float bc2_sqrt;     /* sqrt(1 - beta2^t) */
    float eps;
} adam_scalars;

/* Adam (PyTorch, not AMSGrad), at step t = steps + 1:
 *     m = b1 * m + (1 - b1) * d
 *     v = b2 * v + (1 - b2) * d * d
 *     p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
static inline float adam_one(float *restrict p, float *restrict m, float *restrict v,
                             const float *restrict g, size_t i, const adam_scalars *a,
                             grad_prep gp)
{
    float d = grad_eff(g[i], p[i], gp.coef, gp.wd, gp.decay);
    float mi = m[i] * a->b1 + a->c1 * d;
    float vi = v[i] * a->b2 + a->c2 * d * d;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / a->bc2_sqrt + a->eps;
    p[i] -= a->step_size * mi / denom;
    return mi;
}

/* The bits of |x| as an unsigned integer: for floats that are not NaN,
 * integer order is the order of magnitudes, and an integer max vectorises
 * where a float max (with its NaN and signed-zero rules) does not. A NaN
 * compares above every finite value and infinity, so it shows in a max. */
static inline uint32_t abs_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b & 0x7fffffffu;
}

static inline float from_bits(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* The update, also returning max |m| and max v of the new state. */
VT_CLONES static void adam_step(float *restrict p, float *restrict m, float *restrict v,
                                const float *restrict g, size_t n, adam_scalars a, grad_prep gp,
                                float *m_absmax, float *v_max)
{
    uint32_t mm[VT_LANES] = {0}, vm[VT_LANES] = {0};
    size_t i0 = 0;
    for (; i0 + VT_LANES <= n; i0 += VT_LANES)
        for (size_t k = 0; k < VT_LANES; k++) {
            uint32_t am = abs_bits(adam_one(p, m, v, g, i0 + k, &a, gp)), av = abs_bits(v[i0 + k]);
            mm[k] = am > mm[k] ? am : mm[k];
            vm[k] = av > vm[k] ? av : vm[k];
        }
    for (size_t i = i0; i < n; i++) {
        uint32_t am = abs_bits(adam_one(p, m, v, g, i, &a, gp)), av = abs_bits(v[i]);
        mm[0] = am > mm[0] ? am : mm[0];
        vm[0] = av > vm[0] ? av : vm[0];
    }
    uint32_t ma = 0, va = 0;
    for (size_t k = 0; k < VT_LANES; k++) {
        ma = mm[k] > ma ? mm[k] : ma;
        va = vm[k] > va ? vm[k] : va;
    }
    *m_absmax = from_bits(ma);
    *v_max = from_bits(va);
}

/* Would an update leave every parameter and state value finite? The same
 * arithmetic as the rules above without storing anything; 0 * x is NaN
 * exactly when x is not finite, so a branch-free sum of such terms is 0
 * iff all are finite. The sum is kept in VT_LANES independent partial sums
 * (a single running float sum is a serial chain of additions that does
 * not vectorise and cost as much as the update itself); the answer does
 * not depend on the order anyway. EACH(i) is the term of element i. */
#define FINITE_SCAN(EACH)                                                                     \
    do {                                                                                      \
        float lane_[VT_LANES] = {0};                                                          \
        size_t i0_ = 0;                                                                       \
        for (; i0_ + VT_LANES <= n; i0_ += VT_LANES)                                          \
            for (size_t k_ = 0; k_ < VT_LANES; k_++) {                                        \
                size_t i = i0_ + k_;                                                          \
                lane_[k_] += (EACH);                                                          \
            }                                                                                 \
        for (size_t i = i0_; i < n; i++)                                                      \
            lane_[0] += (EACH);                                                               \
        for (size_t k_ = 0; k_ < VT_LANES; k_++)                                              \
            acc += lane_[k_];                                                                 \
    } while (0)

static inline float adam_d(const float *p, const float *g, size_t i, grad_prep gp)
{
    return grad_eff(g[i], p[i], gp.coef, gp.wd, gp.decay);
}

VT_CLONES static float sgd_scan(const float *restrict p, const float *restrict g, size_t n,
                                float lr, grad_prep gp)
{
    float acc = 0.0f;
    FINITE_SCAN(0.0f * (p[i] - lr * adam_d(p, g, i, gp)));
    return acc;
}

VT_CLONES static float momentum_scan(const float *restrict p, const float *restrict m,
                                     const float *restrict g, size_t n, float lr, float mu,
                                     int first, grad_prep gp)
{
    float acc = 0.0f;
    FINITE_SCAN(0.0f * (p[i] - lr * (first ? adam_d(p, g, i, gp) : m[i] * mu + adam_d(p, g, i, gp))) +
                0.0f * (first ? adam_d(p, g, i, gp) : m[i] * mu + adam_d(p, g, i, gp)));
    return acc;
}

static inline float adagrad_term(const float *p, const float *s, const float *g, size_t i,
                                 float lr, float eps, grad_prep gp)
{
    float d = adam_d(p, g, i, gp);
    float si = s[i] + d * d;
    return 0.0f * (p[i] - lr * d / (sqrtf(si) + eps)) + 0.0f * si;
}

VT_CLONES static float adagrad_scan(const float *restrict p, const float *restrict s,
                                    const float *restrict g, size_t n, float lr, float eps,
                                    grad_prep gp)
{
    float acc = 0.0f;
    FINITE_SCAN(adagrad_term(p, s, g, i, lr, eps, gp));
    return acc;
}

typedef struct adam_scalars adam_scalars;
static inline float adam_term(const float *p, const float *m, const float *v, const float *g,
                              size_t i, const adam_scalars *a, grad_prep gp);

VT_CLONES static float adam_scan(const float *restrict p, const float *restrict m,
                                 const float *restrict v, const float *restrict g, size_t n,
                                 const adam_scalars *a, grad_prep gp)
{
    float acc = 0.0f;
    FINITE_SCAN(adam_term(p, m, v, g, i, a, gp));
    return acc;
}

static adam_scalars adam_prepare(const vae_optimizer_config *c, uint64_t steps);

static int update_stays_finite(const vae_optimizer *o, const float *restrict p,
                               const float *restrict g, size_t n, grad_prep gp,
                               const float *om, const float *ov, uint64_t steps)
{
    const vae_optimizer_config *c = &o->cfg;
    float acc;
    switch (c->type) {
    case VAE_OPT_SGD:
        acc = sgd_scan(p, g, n, c->lr, gp);
        break;
    case VAE_OPT_MOMENTUM:
        acc = momentum_scan(p, om, g, n, c->lr, c->momentum, steps == 0, gp);
        break;
    case VAE_OPT_ADAGRAD:
        acc = adagrad_scan(p, om, g, n, c->lr, c->eps, gp);
        break;
    case VAE_OPT_ADAM: {
        adam_scalars a = adam_prepare(c, steps);
        acc = adam_scan(p, om, ov, g, n, &a, gp);
        break;
    }
    default:
        return 0;
    }
    return acc == 0.0f;
}

/* Adam's term for the scan: the values adam_step would store, times 0. */
static inline float adam_term(const float *p, const float *m, const float *v, const float *g,
                              size_t i, const adam_scalars *a, grad_prep gp)
{
    float d = adam_d(p, g, i, gp);
    float mi = m[i] * a->b1 + a->c1 * d;
    float vi = v[i] * a->b2 + a->c2 * d * d;
    float denom = sqrtf(vi) / a->bc2_sqrt + a->eps;
    return 0.0f * (p[i] - a->step_size * mi / denom) + 0.0f * vi;
}

/* PyTorch computes the bias corrections and step size as Python floats
 * (double) and rounds them to float32 when they meet the tensors; so do we.
 * 1 - beta is also a double rounded to float (exact for beta >= 0.5). */
static adam_scalars adam_prepare(const vae_optimizer_config *c, uint64_t steps)
{
    double t = (double)steps + 1.0;
    double bc1 = 1.0 - pow((double)c->beta1, t);
    double bc2 = 1.0 - pow((double)c->beta2, t);
    adam_scalars a;
    a.b1 = c->beta1;
    a.c1 = (float)(1.0 - (double)c->beta1);
    a.b2 = c->beta2;
    a.c2 = (float)(1.0 - (double)c->beta2);
    a.step_size = (float)((double)c->lr / bc1);
    a.bc2_sqrt = (float)sqrt(bc2);
    a.eps = c->eps;
    return a;
}

/* One update rule over a slice; for Adam, *m_absmax and *v_max receive the
 * new state's max |m| and max v (the bounds of adam_provably_finite). */
static void run_rule(vae_optimizer *o, float *p, const float *g, size_t n, grad_prep gp, float *om,
                     float *ov, uint64_t steps, float *m_absmax, float *v_max)
{
    const vae_optimizer_config *c = &o->cfg;
    switch (c->type) {
    case VAE_OPT_SGD:
        sgd_step(p, g, n, c->lr, gp);
        break;
    case VAE_OPT_MOMENTUM:
        momentum_step(p, om, g, n, c->lr, c->momentum, steps == 0, gp);
        break;
    case VAE_OPT_ADAGRAD:
        adagrad_step(p, om, g, n, c->lr, c->eps, gp);
        break;
    case VAE_OPT_ADAM:
        adam_step(p, om, ov, g, n, adam_prepare(c, steps), gp, m_absmax, v_max);
        break;
    default:
        break; /* unreachable: the type was validated */
    }
}

/* Can an Adam update be shown finite from bounds alone, without the scan?
 * With G = grad_norm >= max |g_i|, P = max |p_i| and the state maxima M =
 * max |m_i|, V = max v_i of the last update:
 *   |d|     <= D  = G coef + |wd| P
 *   |m'|    <= M' = b1 M + c1 D,      0 <= v' <= V' = b2 V + c2 D^2
 *   denom   >= eps > 0,               |step| <= step_size M' / eps
 *   |p'|    <= P + step_size M' / eps
 * If every one of these, and sqrt(V') / bc2_sqrt, stays far below FLT_MAX
 * (1e36, a margin that covers the float rounding of each operation), no
 * operation of the update can overflow, divide 0 by 0 or take the root of
 * a negative: every new value is finite, and the scan (which reads all
 * four arrays, as much memory traffic as the update) is skipped. Reading p
 * once for P costs a quarter of that. Otherwise the scan decides. */
static int adam_provably_finite(const vae_optimizer *o, vt_pool *pool, const float *p, size_t n,
                                double grad_norm, grad_prep gp, uint64_t steps)
{
    const vae_optimizer_config *c = &o->cfg;
    /* eps and the bias correction must be normal floats: the update runs
     * with subnormals read as zero (DAZ), and eps = 0 allows 0 / 0. */
    if (c->type != VAE_OPT_ADAM || !o->bounds_known || !(c->eps >= FLT_MIN) ||
        !(grad_norm >= 0.0) || !isfinite(grad_norm))
        return 0;
    const double big = 1e36;
    adam_scalars a = adam_prepare(c, steps);
    double P = vt_abs_max_on(pool, p, n);
    double D = grad_norm * (1.0 + 1e-6) * gp.coef + fabs((double)gp.wd) * P;
    double M = (double)a.b1 * o->m_absmax + (double)a.c1 * D;
    double V = (double)a.b2 * o->v_max + (double)a.c2 * D * D;
    double step = fabs((double)a.step_size) * M / (double)a.eps;
    return P < big && D < 1e18 && M < big && V < big && step < big && P + step < big &&
           a.bc2_sqrt >= FLT_MIN && sqrt(V) / a.bc2_sqrt < big && fabs((double)a.step_size) * M < big;
}

/* The update's size against the parameters' (issue 19): an update is
 * refused (as if it overflowed) when
 *     ||delta||_2 > VOPT_MAX_UPDATE_RATIO * (||p||_2 + VOPT_UPDATE_FLOOR * sqrt(n)),
 * i.e. when it would more than double the parameter vector's length (plus
 * a floor of 0.1 RMS per parameter, so a slice starting at or near 0 can
 * still move). Adam at lr 1e10 (every element moves by ~lr) or SGD at lr 10
 * on a gradient of norm 100 is refused at its first step, before the
 * parameters are wrecked, so lowering the learning rate afterwards resumes
 * training from the last good state. Sane steps are far below it: Adam at
 * lr 1e-3 moves a 784-400-20 model by 3% of its length. */
#define VOPT_MAX_UPDATE_RATIO 1.0
#define VOPT_UPDATE_FLOOR 0.1

/* Adam's ratio bound (o->ratio), which lets the guard above skip its scan
 * (it read the four arrays once more per step: 8% of an MNIST step).
 * Every state keeps, for each element,
 *     |m_i| <= R sqrt(v_i + S),        S = VOPT_RATIO_SLACK,
 * with R known. From m = v = 0, R = 0. An update with b1, b2 (c = 1 - b,
 * the float values the update uses) and any d gives, by Cauchy-Schwarz,
 *     |m'| <= b1 |m| + c1 |d| <= b1 R sqrt(v + S) + c1 |d|
 *          <= sqrt(b1^2 R^2 / b2 + c1^2 / c2) sqrt(b2 (v + S) + c2 d^2),
 * and b2 (v + S) + c2 d^2 <= (v' + 3 FLT_MIN) (1 + 1e-6) + b2 S, v' the
 * stored float (its rounding, and subnormals flushed to 0): S absorbs the
 * flushing while (1 - b2) S >= 3 FLT_MIN (every float b2 < 1 does), and a
 * factor 1 + 1e-5 on R the relative roundings of m' and v'. So
 *     R' = sqrt(b1^2 R^2 / b2 + c1^2 / c2) (1 + 1e-5),
 * which tends to 7.27 at the default betas 0.9 and 0.999; b2 = 0 keeps R
 * only when b1 = 0 (then R' = c1 / sqrt(c2)). A loaded state measures R.
 * Each step of the next update is then bounded without reading the state,
 *     |delta_i| = step_size |m'_i| / (sqrt(v'_i) / bc2 + eps)
 *              <= step_size R' (bc2 + sqrt(S) / eps),
 * and the guard holds when that is below VOPT_MAX_UPDATE_RATIO *
 * VOPT_UPDATE_FLOOR (the limit without the ||p|| term, per element): at lr
 * 1e-3 it is 0.007 against 0.1. Large learning rates still scan. */
#define VOPT_RATIO_SLACK 1e-30

/* R' after one more Adam update with the current betas, or -1 (unknown). */
static double adam_next_ratio(const vae_optimizer *o)
{
    if (!o->ratio_known)
        return -1.0;
    adam_scalars a = adam_prepare(&o->cfg, 0);
    double b1 = a.b1, c1 = a.c1, b2 = a.b2, c2 = a.c2, r2;
    if (!(c2 > 0.0))
        return -1.0;
    if (b2 > 0.0)
        r2 = b1 * b1 * o->ratio * o->ratio / b2 + c1 * c1 / c2;
    else if (b1 == 0.0)
        r2 = c1 * c1 / c2;
    else
        return -1.0;
    double r = sqrt(r2) * (1.0 + 1e-5);
    return isfinite(r) ? r : -1.0;
}

/* 1 when the ratio bound shows the next Adam update of a slice at step
 * count steps within the guard; 0 when the scan must decide. */
int vopt_adam_provably_small(const vae_optimizer *o, uint64_t steps)
{
    if (o->cfg.type != VAE_OPT_ADAM || !(o->cfg.eps >= FLT_MIN))
        return 0;
    double r = adam_next_ratio(o);
    if (r < 0.0)
        return 0;
    adam_scalars a = adam_prepare(&o->cfg, steps);
    double u = fabs((double)a.step_size) * r * ((double)a.bc2_sqrt + sqrt(VOPT_RATIO_SLACK) / a.eps);
    return u * (1.0 + 1e-5) <= VOPT_MAX_UPDATE_RATIO * VOPT_UPDATE_FLOOR * (1.0 - 1e-6);
}

/* R of a state read from a file: max_i |m_i| / sqrt(v_i + S). */
static void vopt_measure_ratio(vae_optimizer *o)
{
    o->ratio_known = 0;
    if (o->cfg.type != VAE_OPT_ADAM || !o->m || !o->v)
        return;
    double r = 0.0;
    for (size_t i = 0; i < o->n; i++) {
        double q = fabs((double)o->m[i]) / sqrt((double)o->v[i] + VOPT_RATIO_SLACK);
        r = q > r ? q : r;
    }
    if (isfinite(r)) {
        o->ratio = r * (1.0 + 1e-9);
        o->ratio_known = 1;
    }
}

/* Squared norms of the update and of the parameters over a range, in
 * VT_LANES double partial sums added in lane order (a single chain would
 * not pipeline). DELTA(i) is the change the rule makes to p[i] (p - delta),
 * computed as run_rule computes it; state arrays are only read. One loop
 * per rule, without a switch in its body, so that it vectorises (the
 * former per-element switch kept this check scalar: it cost more than the
 * update itself). A non-finite update gives a non-finite sum. */
#define NORM_SCAN(DELTA)                                                                      \
    do {                                                                                      \
        double dl_[VT_LANES] = {0}, pl_[VT_LANES] = {0};                                      \
        size_t i0_ = 0;                                                                       \
        for (; i0_ + VT_LANES <= n; i0_ += VT_LANES)                                          \
            for (size_t k_ = 0; k_ < VT_LANES; k_++) {                                        \
                size_t i = i0_ + k_;                                                          \
                double u_ = (DELTA);                                                          \
                dl_[k_] += u_ * u_;                                                           \
                pl_[k_] += (double)p[i] * p[i];                                               \
            }                                                                                 \
        for (size_t i = i0_; i < n; i++) {                                                    \
            double u_ = (DELTA);                                                              \
            dl_[0] += u_ * u_;                                                                \
            pl_[0] += (double)p[i] * p[i];                                                    \
        }                                                                                     \
        double d_ = 0.0, p_ = 0.0;                                                            \
        for (size_t k_ = 0; k_ < VT_LANES; k_++) {                                            \
            d_ += dl_[k_];                                                                    \
            p_ += pl_[k_];                                                                    \
        }                                                                                     \
        *delta2 = d_;                                                                         \
        *param2 = p_;                                                                         \
    } while (0)

VT_CLONES static void sgd_norms(const float *restrict p, const float *restrict g, size_t n,
                                float lr, grad_prep gp, double *delta2, double *param2)
{
    NORM_SCAN(lr * adam_d(p, g, i, gp));
}

VT_CLONES static void momentum_norms(const float *restrict p, const float *restrict om,
                                     const float *restrict g, size_t n, float lr, float mu,
                                     int first, grad_prep gp, double *delta2, double *param2)
{
    if (first)
        NORM_SCAN(lr * adam_d(p, g, i, gp));
    else
        NORM_SCAN(lr * (om[i] * mu + adam_d(p, g, i, gp)));
}

static inline float adagrad_delta(const float *p, const float *s, const float *g, size_t i,
                                  float lr, float eps, grad_prep gp)
{
    float d = adam_d(p, g, i, gp);
    return lr * d / (sqrtf(s[i] + d * d) + eps);
}

VT_CLONES static void adagrad_norms(const float *restrict p, const float *restrict om,
                                    const float *restrict g, size_t n, float lr, float eps,
                                    grad_prep gp, double *delta2, double *param2)
{
    NORM_SCAN(adagrad_delta(p, om, g, i, lr, eps, gp));
}

static inline float adam_delta(const float *p, const float *m, const float *v, const float *g,
                               size_t i, const adam_scalars *a, grad_prep gp)
{
    float d = adam_d(p, g, i, gp);
    float mi = m[i] * a->b1 + a->c1 * d;
    float vi = v[i] * a->b2 + a->c2 * d * d;
    return a->step_size * mi / (sqrtf(vi) / a->bc2_sqrt + a->eps);
}

VT_CLONES static void adam_norms(const float *restrict p, const float *restrict om,
                                 const float *restrict ov, const float *restrict g, size_t n,
                                 adam_scalars a, grad_prep gp, double *delta2, double *param2)
{
    NORM_SCAN(adam_delta(p, om, ov, g, i, &a, gp));
}

/* Squared norms of the update and of the parameters over a range. */
static void update_norms(const vae_optimizer *o, const float *p, const float *g, size_t n,
                         grad_prep gp, const float *om, const float *ov, uint64_t steps,
                         double *delta2, double *param2)
{
    const vae_optimizer_config *c = &o->cfg;
    switch (c->type) {
    case VAE_OPT_SGD:
        sgd_norms(p, g, n, c->lr, gp, delta2, param2);
        break;
    case VAE_OPT_MOMENTUM:
        momentum_norms(p, om, g, n, c->lr, c->momentum, steps == 0, gp, delta2, param2);
        break;
    case VAE_OPT_ADAGRAD:
        adagrad_norms(p, om, g, n, c->lr, c->eps, gp, delta2, param2);
        break;
    default:
        adam_norms(p, om, ov, g, n, adam_prepare(c, steps), gp, delta2, param2);
        break;
    }
}

/* The norms of a slice in fixed blocks of vt_sum_block(n) elements (the
 * gradient norm's blocks), the team taking whole blocks and the block sums
 * added in block order: the same bits at any thread count. */
typedef struct norms_task {
    const vae_optimizer *o;
    const float *p, *g, *om, *ov;
    size_t n, block, nb;
    grad_prep gp;
    uint64_t steps;
    double d2[VT_SUM_BLOCKS], p2[VT_SUM_BLOCKS];
} norms_task;

static void norms_part(void *ctx, int part, int parts)
{
    norms_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->nb, 1, part, parts, &lo, &hi);
    if (lo >= hi)
        return;
    fpmode_t saved = fpmode_flush(); /* per thread: the update's arithmetic */
    for (size_t b = lo; b < hi; b++) {
        size_t a = b * t->block, e = a + t->block < t->n ? a + t->block : t->n;
        update_norms(t->o, t->p + a, t->g + a, e - a, t->gp, t->om ? t->om + a : NULL,
                     t->ov ? t->ov + a : NULL, t->steps, &t->d2[b], &t->p2[b]);
    }
    fpmode_restore(saved);
}

/* 1 when the update of a slice of n parameters is within the bound above. */
static int update_within_bound(vt_pool *pool, const vae_optimizer *o, const float *p,
                               const float *g, size_t n, grad_prep gp, const float *om,
                               const float *ov, uint64_t steps)
{
    if (vopt_adam_provably_small(o, steps))
        return 1;
    norms_task t = {o, p, g, om, ov, n, vt_sum_block(n), 0, gp, steps, {0}, {0}};
    t.nb = (n + t.block - 1) / t.block;
    if (t.nb <= 1)
        norms_part(&t, 0, 1);
    else
        vt_pool_run(pool, norms_part, &t);
    double delta2 = 0.0, param2 = 0.0;
    for (size_t b = 0; b < t.nb; b++) {
        delta2 += t.d2[b];
        param2 += t.p2[b];
    }
    double limit = VOPT_MAX_UPDATE_RATIO * (sqrt(param2) + VOPT_UPDATE_FLOOR * sqrt((double)n));
    return isfinite(delta2) && sqrt(delta2) <= limit;
}

int vopt_update(vae_optimizer *o, float *p, const float *g, size_t n, double grad_norm)
{
    return vopt_update_groups_on(o, NULL, p, g, n, VOPT_ALL_GROUPS, grad_norm);
}

/* One slice's update cut into the team's parts (at multiples of 64, whole
 * vector blocks): element-wise, so each element gets the same bits in any
 * part; Adam's state maxima are combined after. */
typedef struct rule_task {
    vae_optimizer *o;
    float *p, *om, *ov;
    const float *g;
    size_t n;
    grad_prep gp;
    uint64_t steps;
    float ma[VT_MAX_PARTS], va[VT_MAX_PARTS];
} rule_task;

static void rule_part(void *ctx, int part, int parts)
{
    rule_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->n, 64, part, parts, &lo, &hi);
    t->ma[part] = t->va[part] = 0.0f;
    if (lo >= hi)
        return;
    fpmode_t saved = fpmode_flush(); /* per thread: the worker's own FP mode */
    run_rule(t->o, t->p + lo, t->g + lo, hi - lo, t->gp, t->om ? t->om + lo : NULL,
             t->ov ? t->ov + lo : NULL, t->steps, &t->ma[part], &t->va[part]);
    fpmode_restore(saved);
}

static void run_rule_on(vt_pool *pool, vae_optimizer *o, float *p, const float *g, size_t n,
                        grad_prep gp, float *om, float *ov, uint64_t steps, float *m_absmax,
                        float *v_max)
{
    int parts = vt_pool_parts(pool);
    if (parts == 1 || n < 16384) {
        run_rule(o, p, g, n, gp, om, ov, steps, m_absmax, v_max);
        return;
    }
    rule_task t = {o, p, om, ov, g, n, gp, steps, {0}, {0}};
    vt_pool_run(pool, rule_part, &t);
    float ma = 0.0f, va = 0.0f;
    for (int i = 0; i < parts; i++) {
        ma = t.ma[i] > ma ? t.ma[i] : ma;
        va = t.va[i] > va ? t.va[i] : va;
    }
    *m_absmax = ma;
    *v_max = va;
}

/* The slices one update touches: the selected groups in order, adjacent
 * ones with the same step count merged (so the encoder-and-decoder update
 * of a model that never trained its parts apart is one slice, as is the
 * decoder-and-prior update of aggressive training). */
typedef struct vopt_slices {
    int k, all; /* all: every group selected */
    size_t lo[VOPT_MAX_GROUPS], hi[VOPT_MAX_GROUPS];
    uint64_t t[VOPT_MAX_GROUPS];
} vopt_slices;

static int plan_slices(const vae_optimizer *o, size_t n, unsigned mask, vopt_slices *s)
{
    if (n != o->n || n == 0)
        return -1;
    s->k = 0;
    s->all = 1;
    for (int i = 0; i < o->n_groups; i++) {
        const vopt_group *gr = &o->group[i];
        if (!(mask >> i & 1u)) {
            s->all = 0;
            continue;
        }
        if (gr->count == 0)
            continue;
        uint64_t t = o->group_steps[i];
        if (s->k > 0 && s->hi[s->k - 1] == gr->offset && s->t[s->k - 1] == t) {
            s->hi[s->k - 1] += gr->count;
            continue;
        }
        s->lo[s->k] = gr->offset;
        s->hi[s->k] = gr->offset + gr->count;
        s->t[s->k] = t;
        s->k++;
    }
    return s->k > 0 ? 0 : -1;
}

static grad_prep prep_of(const vae_optimizer *o, double grad_norm)
{
    grad_prep gp;
    gp.coef = clip_coef(grad_norm, o->cfg.clip_norm);
    gp.wd = o->cfg.weight_decay;
    gp.decay = o->cfg.weight_decay != 0.0f;
    return gp;
}

int vopt_groups_within_bound_on(const vae_optimizer *o, vt_pool *pool, const float *p,
                                const float *g, size_t n, unsigned mask, double grad_norm)
{
    vopt_slices s;
    if (plan_slices(o, n, mask, &s) != 0)
        return 0;
    grad_prep gp = prep_of(o, grad_norm);
    int within = 1;
    for (int i = 0; i < s.k && within; i++) {
        size_t a = s.lo[i];
        within = update_within_bound(pool, o, p + a, g + a, s.hi[i] - a, gp,
                                     o->m ? o->m + a : NULL, o->v ? o->v + a : NULL, s.t[i]);
    }
    return within;
}

int vopt_groups_within_bound(const vae_optimizer *o, const float *p, const float *g, size_t n,
                             unsigned mask, double grad_norm)
{
    return vopt_groups_within_bound_on(o, NULL, p, g, n, mask, grad_norm);
}

int vopt_update_groups_on(vae_optimizer *o, vt_pool *pool, float *p, const float *g, size_t n,
                          unsigned mask, double grad_norm)
{
    /* The caller binds first; a mismatch must never write out of bounds. */
    vopt_slices s;
    if (plan_slices(o, n, mask, &s) != 0)
        return -1;
    grad_prep gp = prep_of(o, grad_norm);
    /* Flush subnormals to zero while updating (x86 SSE: FTZ and DAZ, restored
     * after): moments of parameters whose gradient stays 0 decay
     * geometrically into the subnormal range, where every operation costs
     * ~100 cycles and training slowed 3x. Values below 1.2e-38 become 0. */
    fpmode_t saved = fpmode_flush();
    /* The bound shortcut knows the whole state under one step count; after
     * groups were updated apart (aggressive training) the scan decides,
     * slice by slice. */
    int ok = s.all && s.k == 1 && adam_provably_finite(o, pool, p, n, grad_norm, gp, s.t[0]);
    if (!ok) {
        ok = 1;
        for (int i = 0; i < s.k && ok; i++) {
            size_t a = s.lo[i];
            ok = update_stays_finite(o, p + a, g + a, s.hi[i] - a, gp, o->m ? o->m + a : NULL,
                                     o->v ? o->v + a : NULL, s.t[i]);
        }
    }
    if (ok) {
        float m_absmax = 0.0f, v_max = 0.0f; /* Adam's state bounds over the slices */
        for (int i = 0; i < s.k; i++) {
            size_t a = s.lo[i];
            float ma = 0.0f, va = 0.0f;
            run_rule_on(pool, o, p + a, g + a, s.hi[i] - a, gp, o->m ? o->m + a : NULL,
                        o->v ? o->v + a : NULL, s.t[i], &ma, &va);
            m_absmax = ma > m_absmax ? ma : m_absmax;
            v_max = va > v_max ? va : v_max;
        }
        if (o->cfg.type == VAE_OPT_ADAM) {
            /* The updated slices follow the recursion; others keep theirs. */
            double r = adam_next_ratio(o);
            o->ratio_known = r >= 0.0;
            if (!o->ratio_known)
                o->ratio = 0.0;
            else if (s.all || r > o->ratio)
                o->ratio = r;
        }
        /* A partial update leaves the other groups' state unmeasured. */
        o->bounds_known = s.all;
        o->m_absmax = m_absmax;
        o->v_max = v_max;
        o->steps++;
        for (int i = 0; i < o->n_groups; i++)
            o->group_steps[i] += mask >> i & 1u;
    }
    fpmode_restore(saved);
    return ok ? 0 : -1; /* -1: the update would overflow; nothing changed */
}

/* The group of the current layout that holds [off, off + cnt), or -1. */
static int group_holding(const vae_optimizer *o, size_t off, size_t cnt)
{
    for (int i = 0; i < o->n_groups; i++)
        if (o->group[i].offset <= off && off + cnt <= o->group[i].offset + o->group[i].count)
            return i;
    return -1;
}

/* 1 when g has the layout of the optimizer's groups (every step's case). */
static int same_layout(const vae_optimizer *o, const vopt_group *g, int k)
{
    if (k != o->n_groups)
        return 0;
    for (int i = 0; i < k; i++)
        if (g[i].offset != o->group[i].offset || g[i].count != o->group[i].count)
            return 0;
    return 1;
}

int vopt_set_groups(vae_optimizer *o, const vopt_group *g, int k)
{
    if (same_layout(o, g, k)) {
        if (memcmp(o->group, g, (size_t)k * sizeof *g) != 0)
            memcpy(o->group, g, (size_t)k * sizeof *g);
        return VAE_OK;
    }
    if (k < 1 || k > VOPT_MAX_GROUPS)
        return vae_fail(o->errmsg, VAE_ERR_LIMIT, "%d parameter groups: must be 1..%d", k,
                        VOPT_MAX_GROUPS);
    size_t next = 0;
    for (int i = 0; i < k; i++) {
        if (g[i].offset != next)
            return vae_fail(o->errmsg, VAE_ERR_INVALID,
                            "parameter group %s does not start where the previous one ends",
                            g[i].name);
        next += g[i].count;
    }
    if (next != o->n)
        return vae_fail(o->errmsg, VAE_ERR_SHAPE, "parameter groups cover %zu of %zu parameters",
                        next, o->n);
    /* Each new group continues the step count of the group it lies in (a
     * file's or an earlier model's); where none holds it, the counts must
     * all agree, so nothing is lost by regrouping. */
    uint64_t steps[VOPT_MAX_GROUPS];
    int same = 1;
    for (int i = 1; i < o->n_groups; i++)
        same &= o->group_steps[i] == o->group_steps[0];
    for (int i = 0; i < k; i++) {
        int h = group_holding(o, g[i].offset, g[i].count);
        if (h < 0 && !same)
            return vae_fail(o->errmsg, VAE_ERR_SHAPE,
                            "the optimizer's parameter groups were updated apart and do not match "
                            "this model's (use a new optimizer for another model)");
        steps[i] = h >= 0 ? o->group_steps[h] : o->group_steps[0];
    }
    memcpy(o->group, g, (size_t)k * sizeof *g);
    memcpy(o->group_steps, steps, (size_t)k * sizeof *steps);
    o->n_groups = k;
    return VAE_OK;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------ */

/* The float hyperparameters and their tensor names, in file order. */
typedef struct fparam {
    const char *name;
    size_t offset;
} fparam;

static const fparam fparams[] = {
    {"optim.lr", offsetof(vae_optimizer_config, lr)},
    {"optim.momentum", offsetof(vae_optimizer_config, momentum)},
    {"optim.beta1", offsetof(vae_optimizer_config, beta1)},
    {"optim.beta2", offsetof(vae_optimizer_config, beta2)},
    {"optim.eps", offsetof(vae_optimizer_config, eps)},
    {"optim.weight_decay", offsetof(vae_optimizer_config, weight_decay)},
    {"optim.clip_norm", offsetof(vae_optimizer_config, clip_norm)},
};
#define N_FPARAMS (sizeof fparams / sizeof fparams[0])

static float *fparam_ptr(vae_optimizer_config *c, size_t i)
{
    return (float *)(void *)((char *)c + fparams[i].offset);
}

int vopt_save(const vae_optimizer *o, vio_writer *w, char *msg)
{
    vae_optimizer_config c = o->cfg;
    int st = vio_writer_add_i64(w, "optim.type", c.type, msg);
    /* float -> double is exact, so the file holds the values bit for bit. */
    for (size_t i = 0; st == VAE_OK && i < N_FPARAMS; i++)
        st = vio_writer_add_f64(w, fparams[i].name, (double)*fparam_ptr(&c, i), msg);
    if (st == VAE_OK)
        st = vio_writer_add_i64(w, "optim.steps", (int64_t)o->steps, msg);
    if (st == VAE_OK)
        st = vio_writer_add_i64(w, "optim.n", (int64_t)o->n, msg);
    uint64_t dims[1] = {(uint64_t)o->n};
    if (st == VAE_OK && o->m)
        st = vio_writer_add(w, "optim.m", VIO_F32, 1, dims, o->m, msg);
    if (st == VAE_OK && o->v)
        st = vio_writer_add(w, "optim.v", VIO_F32, 1, dims, o->v, msg);
    /* Since 0.5.0, only after groups were updated apart (aggressive
     * training): where each group starts and how many updates it received. */
    int apart = 0;
    for (int i = 1; i < o->n_groups; i++)
        apart |= o->group_steps[i] != o->group_steps[0];
    if (st == VAE_OK && apart) {
        uint64_t off[VOPT_MAX_GROUPS], gdims[1] = {(uint64_t)o->n_groups};
        for (int i = 0; i < o->n_groups; i++)
            off[i] = o->group[i].offset;
        st = vio_writer_add(w, "optim.group_offsets", VIO_U64, 1, gdims, off, msg);
        if (st == VAE_OK)
            st = vio_writer_add(w, "optim.group_steps", VIO_U64, 1, gdims, o->group_steps, msg);
    }
    return st;
}

/* Two groups split at `split`: 0.3.0's partial-update counters, where
 * part_steps counted the updates of only the lower / only the upper part. */
static int load_parts(const vio_file *f, vae_optimizer *o, char *msg)
{
    int64_t split;
    const vio_tensor *t;
    int st = vio_file_i64(f, "optim.split", &split, msg);
    if (st == VAE_OK)
        st = vio_file_expect(f, "optim.part_steps", VIO_U64, 2, &t, msg);
    if (st != VAE_OK)
        return st;
    const uint64_t *ps = t->data;
    if (split <= 0 || (uint64_t)split >= (uint64_t)o->n)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.split = %lld is not inside the %zu parameters",
                        (long long)split, o->n);
    if (ps[0] > o->steps || ps[1] > o->steps - ps[0])
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.part_steps exceed optim.steps");
    o->n_groups = 2;
    o->group[0].count = (size_t)split;
    o->group[1].offset = (size_t)split;
    o->group[1].count = o->n - (size_t)split;
    o->group_steps[0] = o->steps - ps[1];
    o->group_steps[1] = o->steps - ps[0];
    return VAE_OK;
}

/* The groups' step counts where they differ (optional: absent in files
 * whose groups were always updated together): optim.group_offsets and
 * optim.group_steps (0.5.0), or 0.3.0's optim.split and optim.part_steps.
 * The model's own groups take their counts from these (vopt_set_groups). */
static int load_groups(const vio_file *f, vae_optimizer *o, char *msg)
{
    if (vio_file_find(f, "optim.split") || vio_file_find(f, "optim.part_steps")) {
        if (!vio_file_find(f, "optim.split"))
            return vae_fail(msg, VAE_ERR_FORMAT, "optim.part_steps without optim.split");
        return load_parts(f, o, msg);
    }
    const vio_tensor *to = vio_file_find(f, "optim.group_offsets"), *ts;
    if (!to && !vio_file_find(f, "optim.group_steps"))
        return VAE_OK;
    if (!to || to->count < 1 || to->count > VOPT_MAX_GROUPS)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.group_offsets: missing or of a bad size");
    int st = vio_file_expect(f, "optim.group_offsets", VIO_U64, to->count, &to, msg);
    if (st == VAE_OK)
        st = vio_file_expect(f, "optim.group_steps", VIO_U64, to->count, &ts, msg);
    if (st != VAE_OK)
        return st;
    const uint64_t *off = to->data, *steps = ts->data;
    int k = (int)to->count;
    for (int i = 0; i < k; i++) {
        uint64_t end = i + 1 < k ? off[i + 1] : (uint64_t)o->n;
        if ((i == 0 && off[0] != 0) || off[i] >= end)
            return vae_fail(msg, VAE_ERR_FORMAT,
                            "optim.group_offsets[%d] = %llu is out of order", i,
                            (unsigned long long)off[i]);
        if (steps[i] > o->steps)
            return vae_fail(msg, VAE_ERR_FORMAT, "optim.group_steps[%d] exceeds optim.steps", i);
        memset(&o->group[i], 0, sizeof o->group[i]);
        o->group[i].offset = (size_t)off[i];
        o->group[i].count = (size_t)(end - off[i]);
        o->group_steps[i] = steps[i];
    }
    o->n_groups = k;
    return VAE_OK;
}

/* Read the config tensors into *c (not yet validated). A float parameter
 * must be a float32 value stored as float64: anything else was not written
 * by vopt_save. */
static int load_config(const vio_file *f, vae_optimizer_config *c, char *msg)
{
    int64_t type;
    int st = vio_file_i64(f, "optim.type", &type, msg);
    if (st != VAE_OK)
        return st;
    if (type < VAE_OPT_SGD || type > VAE_OPT_ADAM)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.type = %lld is not a known optimizer type",
                        (long long)type);
    vae_optimizer_config_init(c, (int)type);
    for (size_t i = 0; i < N_FPARAMS; i++) {
        double x;
        if ((st = vio_file_f64(f, fparams[i].name, &x, msg)) != VAE_OK)
            return st;
        float xf = (float)x;
        if (isfinite(x) && (double)xf != x)
            return vae_fail(msg, VAE_ERR_FORMAT, "%s = %.17g is not a float32 value",
                            fparams[i].name, x);
        *fparam_ptr(c, i) = xf;
    }
    st = config_check(c, "optim.", msg);
    return st == VAE_OK ? VAE_OK : VAE_ERR_FORMAT; /* a bad value in a file is a bad file */
}

/* Read optim.steps and optim.n and check they fit and agree. */
static int load_counts(const vio_file *f, uint64_t *steps, size_t *n, char *msg)
{
    int64_t s, nn;
    int st = vio_file_i64(f, "optim.steps", &s, msg);
    if (st == VAE_OK)
        st = vio_file_i64(f, "optim.n", &nn, msg);
    if (st != VAE_OK)
        return st;
    if (s < 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.steps = %lld is negative", (long long)s);
    if (nn < 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.n = %lld is negative", (long long)nn);
    if ((uint64_t)nn > SIZE_MAX / sizeof(float))
        return vae_fail(msg, VAE_ERR_LIMIT, "optim.n = %lld is too large", (long long)nn);
    /* Steps are only taken once bound, so a stepped optimizer has state. */
    if (s > 0 && nn == 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "optim.steps = %lld but optim.n = 0 (unbound)",
                        (long long)s);
    *steps = (uint64_t)s;
    *n = (size_t)nn;
    return VAE_OK;
}

/* Copy one state tensor (name) of n floats into dst, or check it is absent
 * when not wanted (dst NULL). Sums of squares must be >= 0. */
static int load_state(const vio_file *f, const char *name, float *dst, size_t n, int nonneg,
                      char *msg)
{
    if (!dst) {
        if (vio_file_find(f, name))
            return vae_fail(msg, VAE_ERR_FORMAT,
                            "%s is present but this optimizer (type, optim.n) has no such state",
                            name);
        return VAE_OK;
    }
    const vio_tensor *t;
    int st = vio_file_expect(f, name, VIO_F32, (uint64_t)n, &t, msg);
    if (st != VAE_OK)
        return st;
    const float *src = t->data;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(src[i]) || (nonneg && src[i] < 0.0f))
            return vae_fail(msg, VAE_ERR_FORMAT, "%s[%zu] = %g is not a valid %s", name, i,
                            (double)src[i], nonneg ? "sum of squares" : "moment");
    }
    memcpy(dst, src, n * sizeof *dst);
    return VAE_OK;
}

int vopt_load(const vio_file *f, vae_optimizer **out, char *msg)
{
    *out = NULL;
    if (!vio_file_find(f, "optim.type"))
        return VAE_OK;
    vae_optimizer_config c;
    uint64_t steps = 0;
    size_t n = 0;
    int st = load_config(f, &c, msg);
    if (st == VAE_OK)
        st = load_counts(f, &steps, &n, msg);
    if (st != VAE_OK)
        return st;
    vae_optimizer *o = opt_new(&c);
    if (!o)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory for the optimizer");
    if (n > 0 && (st = vopt_bind(o, n)) != VAE_OK) {
        vae_fail(msg, st, "%s", o->errmsg);
        vae_optimizer_free(o);
        return st;
    }
    int adagrad = c.type == VAE_OPT_ADAGRAD;
    st = load_state(f, "optim.m", o->m, n, adagrad, msg);
    if (st == VAE_OK)
        st = load_state(f, "optim.v", o->v, n, 1, msg);
    if (st != VAE_OK) {
        vae_optimizer_free(o);
        return st;
    }
    o->steps = steps;
    o->group_steps[0] = steps;
    if ((st = load_groups(f, o, msg)) != VAE_OK) {
        vae_optimizer_free(o);
        return st;
    }
    o->bounds_known = 0; /* loaded state: the first update scans */
    vopt_measure_ratio(o);
    *out = o;
    return VAE_OK;
}

int vopt_load_for(const vio_file *f, size_t n_params, vae_optimizer **out, char *msg)
{
    *out = NULL;
    if (vio_file_find(f, "optim.n")) {
        int64_t on = 0;
        int rc = vio_file_i64(f, "optim.n", &on, msg);
        if (rc != VAE_OK)
            return rc;
        if (on != 0 && (uint64_t)on != (uint64_t)n_params)
            return vae_fail(msg, VAE_ERR_FORMAT,
                            "optimizer state has %lld entries, the model %zu parameters",
                            (long long)on, n_params);
    }
    vae_optimizer *o = NULL;
    int rc = vopt_load(f, &o, msg);
    if (rc == VAE_OK && o && o->n != 0 && o->n != n_params) {
        rc = vae_fail(msg, VAE_ERR_FORMAT, "optimizer state has %zu entries, the model %zu parameters",
                      o->n, n_params);
        vae_optimizer_free(o);
        o = NULL;
    }
    *out = o;
    return rc;
}
