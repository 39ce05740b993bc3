/* The op table: one forward and one backward function per op.
 *
 * Conventions. y is the op's output node; X(k) its k-th input. Backward
 * functions read y->grad (dL/dy) and deliver dL/dinput into the inputs that
 * need gradients. An input's grad buffer is overwritten by the first op that
 * delivers into it during a pass and added to by later ones (grad_ready), so
 * no pass has to clear gradient buffers first. Nodes of VG_ROWS_SAMPLES
 * have L rows per example: row r belongs to example r / L.
 */
#include <math.h>
#include <string.h>

#include "graph/graph.h"
#include "tensor/blas.h"
#include "tensor/simd.h"
#include "tensor/vec.h"
#include "tensor/vmath.h"

#define X(k) (&g->nodes[y->in[(k)]])

static size_t size_of(const vg_node *v) { return (size_t)v->rows * (size_t)v->cols; }

/* dst (n floats) = src, or += src when dst already holds a gradient. */
static void deliver(vg_node *x, size_t n, const float *src)
{
    if (x->grad_ready) {
        for (size_t i = 0; i < n; i++)
            x->grad[i] += src[i];
    } else {
        memcpy(x->grad, src, n * sizeof(float));
        x->grad_ready = 1;
    }
}

/* Add to x's grad at i, or set it on the first delivery (caller handles the flag). */
#define ACC(first, dst, v) ((first) ? (void)((dst) = (v)) : (void)((dst) += (v)))

/* ---- splitting an op over the model's thread team -------------------------
 * An op whose output elements (or rows) are independent computes a range
 * [lo, hi) at a time; for_range cuts [0, n) into the team's parts (at
 * multiples of align) when there is enough work to pay for the hand-off.
 * Each element is computed by the same code whichever part it falls in,
 * so the bits do not depend on the team. grad_ready flags are read before
 * and set after the split (the parts must not race on them). */

typedef vg_range_fn range_fn;

typedef struct range_task {
    vg_graph *g;
    vg_node *y;
    range_fn fn;
    size_t n, align;
    int first;
} range_task;

static void range_part(void *ctx, int part, int parts)
{
    const range_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->n, t->align, part, parts, &lo, &hi);
    if (lo < hi)
        t->fn(t->g, t->y, lo, hi, t->first);
}

/* Below this many element operations an op runs on the caller alone. */
#define PAR_MIN_WORK 8192

/* fn over [0, n), split when work (about n times the cost per item) is large. */
void vg_for_range(vg_graph *g, vg_node *y, size_t n, size_t align, size_t work, int first,
                  vg_range_fn fn)
{
    range_task t = {g, y, fn, n, align, first};
    if (vt_pool_parts(g->pool) > 1 && work >= PAR_MIN_WORK)
        vt_pool_run(g->pool, range_part, &t);
    else
        fn(g, y, 0, n, first);
}

#define for_range vg_for_range

/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
static inline float softplusf(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

static inline float sigmoidf(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* ---- dense: y = x W + 1 b^T; x [n, in], W [in, out], b [1, out] ---------- */

static void dense_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *x = X(0), *w = X(1), *b = X(2);
    vt_gemm_bias(g->pool, y->rows, y->cols, x->cols, x->val, x->cols, w->val, w->cols, b->val, y->val,
                 y->cols);
}

/* db_c = sum_r dy_rc for the columns c in [lo, hi), rows added in order. */
VT_CLONES static void bias_grad_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    float *restrict db = X(2)->grad;
    const float *restrict dy = y->grad;
    size_t cols = (size_t)y->cols;
    for (size_t c = lo; c < hi; c++)
        ACC(first, db[c], dy[c]);
    for (size_t r = 1; r < (size_t)y->rows; r++)
        for (size_t c = lo; c < hi; c++)
            db[c] += dy[r * cols + c];
}

/* dW = x^T dy, db = 1^T dy, dx = dy W^T. */
static void dense_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0), *w = X(1), *b = X(2);
    if (w->need_grad) {
        vt_gemm(g->pool, 1, 0, x->cols, y->cols, y->rows, 1.0f, x->val, x->cols, y->grad, y->cols,
                w->grad_ready ? 1.0f : 0.0f, w->grad, w->cols);
        w->grad_ready = 1;
    }
    if (b->need_grad) {
        for_range(g, y, (size_t)y->cols, 16, size_of(y), !b->grad_ready, bias_grad_range);
        b->grad_ready = 1;
    }
    if (x->need_grad) {
        vt_gemm(g->pool, 0, 1, y->rows, x->cols, y->cols, 1.0f, y->grad, y->cols, w->val, w->cols,
                x->grad_ready ? 1.0f : 0.0f, x->grad, x->cols);
        x->grad_ready = 1;
    }
}

/* ---- element-wise activations -------------------------------------------- */

/* Element-wise backward: dx = dy * f'(x), f' from x, y and the op's constants. */
#define UNARY_BWD(fname, DERIV)                                                                  \
    VT_CLONES static void fname##_range(vg_graph *g, vg_node *y, size_t lo, size_t hi,          \
                                        int first)                                                \
    {                                                                                             \
        vg_node *xn = X(0);                                                                      \
        const float *restrict xv = xn->val, *restrict yv = y->val, *restrict dy = y->grad;       \
        float *restrict dx = xn->grad; /* restrict: distinct buffers, so the loops vectorise */  \
        float p0 = y->fparam[0], p1 = y->fparam[1];                                              \
        (void)xv; (void)yv; (void)p0; (void)p1;                                                  \
        if (!first) {                                                                             \
            for (size_t i = lo; i < hi; i++)                                                      \
                dx[i] += dy[i] * (DERIV);                                                         \
        } else {                                                                                  \
            for (size_t i = lo; i < hi; i++)                                                      \
                dx[i] = dy[i] * (DERIV);                                                          \
        }                                                                                         \
    }                                                                                             \
    static void fname(vg_graph *g, vg_node *y)                                                   \
    {                                                                                             \
        vg_node *xn = X(0);                                                                      \
        for_range(g, y, size_of(y), 16, size_of(y), !xn->grad_ready, fname##_range);             \
        xn->grad_ready = 1;                                                                       \
    }

#define UNARY_FWD(fname, EXPR)                                                                   \
    VT_CLONES static void fname##_range(vg_graph *g, vg_node *y, size_t lo, size_t hi,          \
                                        int first)                                                \
    {                                                                                             \
        const float *restrict xv = X(0)->val;                                                    \
        float *restrict yv = y->val;                                                              \
        float p0 = y->fparam[0], p1 = y->fparam[1];                                              \
        (void)p0; (void)p1; (void)first;                                                          \
        for (size_t i = lo; i < hi; i++) {                                                        \
            float x = xv[i];                                                                      \
            yv[i] = (EXPR);                                                                       \
        }                                                                                         \
    }                                                                                             \
    static void fname(vg_graph *g, vg_node *y)                                                   \
    {                                                                                             \
        for_range(g, y, size_of(y), 16, size_of(y), 0, fname##_range);                           \
    }

/* An activation that can also run in place, when y shares x's buffers
 * (graph.c, the memory plan: x is a dense or convolution output whose only
 * consumer is y): v = f(v) forward, dv = dv f'(y) backward, with the
 * derivative written from y alone (DERIV_Y reads yv[i]) and the same
 * arithmetic as the copying version, so both give the same bits. x's only
 * consumer is y, so dx is always overwritten (first). name##_fwd and
 * name##_bwd pick the version by y->shared. */
#define UNARY_INPLACE(name, EXPR, DERIV_Y)                                                       \
    UNARY_FWD(name##_copy_fwd, EXPR)                                                            \
    VT_CLONES static void name##_inplace_fwd_range(vg_graph *g, vg_node *y, size_t lo,          \
                                                   size_t hi, int first)                         \
    {                                                                                             \
        (void)g, (void)first;                                                                     \
        float *restrict v = y->val;                                                               \
        float p0 = y->fparam[0], p1 = y->fparam[1];                                              \
        (void)p0; (void)p1;                                                                       \
        for (size_t i = lo; i < hi; i++) {                                                        \
            float x = v[i];                                                                       \
            v[i] = (EXPR);                                                                        \
        }                                                                                         \
    }                                                                                             \
    VT_CLONES static void name##_inplace_bwd_range(vg_graph *g, vg_node *y, size_t lo,          \
                                                   size_t hi, int first)                         \
    {                                                                                             \
        (void)g, (void)first;                                                                     \
        const float *restrict yv = y->val;                                                        \
        float *restrict d = y->grad;                                                              \
        float p0 = y->fparam[0], p1 = y->fparam[1];                                              \
        (void)p0; (void)p1;                                                                       \
        for (size_t i = lo; i < hi; i++)                                                          \
            d[i] = d[i] * (DERIV_Y);                                                              \
    }                                                                                             \
    static void name##_fwd(vg_graph *g, vg_node *y)                                              \
    {                                                                                             \
        if (y->shared)                                                                            \
            for_range(g, y, size_of(y), 16, size_of(y), 0, name##_inplace_fwd_range);           \
        else                                                                                      \
            name##_copy_fwd(g, y);                                                                \
    }                                                                                             \
    static void name##_bwd(vg_graph *g, vg_node *y)                                              \
    {                                                                                             \
        if (y->shared) {                                                                          \
            for_range(g, y, size_of(y), 16, size_of(y), 1, name##_inplace_bwd_range);           \
            X(0)->grad_ready = 1;                                                                 \
        } else                                                                                    \
            name##_copy_bwd(g, y);                                                                \
    }

/* relu: y = max(x, 0); dy/dx = [x > 0] = [y > 0]. A NaN stays NaN (as in
 * PyTorch): written `x <= 0 ? 0 : x`, not `x > 0 ? x : 0`, which would turn
 * it into 0 and hide a failure upstream (a convolution without work space
 * writes NaN, an overflow) from every check after the activation. */
UNARY_BWD(relu_copy_bwd, (float)(xv[i] > 0.0f)) /* (float)(bool): 1 or 0, no branch, vectorises */
UNARY_INPLACE(relu, x <= 0.0f ? 0.0f : x, (float)(yv[i] > 0.0f))
/* leaky relu: y = x > 0 ? x : a x; dy/dx = x > 0 ? 1 : a, which is
 * y > 0 ? 1 : a when a > 0 (the plan shares only then: y has x's sign) */
UNARY_BWD(leaky_copy_bwd, xv[i] > 0.0f ? 1.0f : p0)
UNARY_INPLACE(leaky, x > 0.0f ? x : p0 * x, yv[i] > 0.0f ? 1.0f : p0)
/* tanh: dy/dx = 1 - y^2 */
UNARY_BWD(tanh_copy_bwd, 1.0f - yv[i] * yv[i])
UNARY_INPLACE(tanh, tanhf(x), 1.0f - yv[i] * yv[i])
/* sigmoid: dy/dx = y (1 - y) */
UNARY_BWD(sigmoid_copy_bwd, yv[i] * (1.0f - yv[i]))
UNARY_INPLACE(sigmoid, sigmoidf(x), yv[i] * (1.0f - yv[i]))
/* softplus: y = log(1 + e^x); dy/dx = sigmoid(x) */
UNARY_FWD(softplus_fwd, softplusf(x))
UNARY_BWD(softplus_bwd, sigmoidf(xv[i]))
/* clamp to [lo, hi] = [p0, p1]: dy/dx = [lo < x < hi] (zero where the clamp bites).
 * NaN stays NaN (fmaxf(NaN, lo) would give lo). */
UNARY_FWD(clamp_fwd, x < p0 ? p0 : (x > p1 ? p1 : x))
UNARY_BWD(clamp_bwd, (float)((xv[i] > p0) & (xv[i] < p1)))

/* ---- reparameterisation: z = mu + exp(lv/2) * eps ------------------------- */
/* mu, lv: [n, K]; eps, z: [nL, K]. aux keeps sigma = exp(lv/2) per z row. */

static void reparam_fwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    const vg_node *mu = X(0), *lv = X(1), *eps = X(2);
    int L = g->samples, K = y->cols;
    for (size_t r = lo; r < hi; r++) {
        const float *m = mu->val + (r / (size_t)L) * K, *l = lv->val + (r / (size_t)L) * K;
        const float *e = eps->val + r * K;
        float *z = y->val + r * K, *s = y->aux + r * K;
        for (int j = 0; j < K; j++) {
            s[j] = expf(0.5f * l[j]);
            z[j] = m[j] + s[j] * e[j];
        }
    }
}

/* The latent ops call expf (or more) per element, or sum over the samples
 * (reparam_bwd): each element weighs this many element operations when
 * deciding whether to split (for_range). */
#define LATENT_ELEMENT_WORK 16

static void reparam_fwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)y->rows, 1, size_of(y) * LATENT_ELEMENT_WORK, 0, reparam_fwd_range);
}

/* Flags of which inputs' gradients a split backward op sets rather than
 * adds to (bit k: input k), read before the split. */
static int first_flags(vg_graph *g, const vg_node *y, int inputs)
{
    int f = 0;
    for (int k = 0; k < inputs; k++)
        f |= !X(k)->grad_ready << k;
    return f;
}

static void set_ready(vg_graph *g, const vg_node *y, int inputs)
{
    for (int k = 0; k < inputs; k++)
        if (X(k)->need_grad)
            X(k)->grad_ready = 1;
}

/* dmu_i = sum_l dz_il; dlv_i = sum_l dz_il * eps_il * sigma_i / 2, for
 * examples [lo, hi). */
static void reparam_bwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *mu = X(0), *lv = X(1);
    const vg_node *eps = X(2);
    int L = g->samples, K = y->cols;
    int first_mu = first & 1, first_lv = first >> 1 & 1;
    for (size_t i = lo; i < hi; i++) {
        float *dm = mu->grad + i * K, *dl = lv->grad + i * K;
        for (int j = 0; j < K; j++) {
            float am = 0.0f, al = 0.0f;
            for (int l = 0; l < L; l++) {
                size_t o = (i * L + l) * K + j;
                am += y->grad[o];
                al += y->grad[o] * eps->val[o] * 0.5f * y->aux[o];
            }
            if (mu->need_grad)
                ACC(first_mu, dm[j], am);
            if (lv->need_grad)
                ACC(first_lv, dl[j], al);
        }
    }
}

/* Nothing with the stop flag (iparam[1]). */
static void reparam_bwd(vg_graph *g, vg_node *y)
{
    if (y->iparam[1])
        return;
    for_range(g, y, (size_t)(y->rows / g->samples), 1, size_of(y) * LATENT_ELEMENT_WORK,
              first_flags(g, y, 2), reparam_bwd_range);
    set_ready(g, y, 2);
}

/* ---- KL(N(mu, e^lv) || N(0, I)) = 1/2 sum_j (mu^2 + e^lv - 1 - lv) -------- */

static void kl_std_fwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    const vg_node *mu = X(0), *lv = X(1);
    int K = mu->cols;
    for (size_t i = lo; i < hi; i++) {
        const float *m = mu->val + i * K, *l = lv->val + i * K;
        double s = 0.0;
        for (int j = 0; j < K; j++)
            s += (double)m[j] * m[j] + expf(l[j]) - 1.0 - l[j];
        y->val[i] = (float)(0.5 * s);
    }
}

static void kl_std_fwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)y->rows, 1, size_of(X(0)) * LATENT_ELEMENT_WORK, 0, kl_std_fwd_range);
}

/* dkl/dmu = mu; dkl/dlv = (e^lv - 1) / 2. */
static void kl_std_bwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *mu = X(0), *lv = X(1);
    int K = mu->cols;
    int first_mu = first & 1, first_lv = first >> 1 & 1;
    for (size_t i = lo; i < hi; i++) {
        float d = y->grad[i];
        size_t o = i * K;
        for (int j = 0; j < K; j++) {
            if (mu->need_grad)
                ACC(first_mu, mu->grad[o + j], d * mu->val[o + j]);
            if (lv->need_grad)
                ACC(first_lv, lv->grad[o + j], d * 0.5f * (expf(lv->val[o + j]) - 1.0f));
        }
    }
}

static void kl_std_bwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)y->rows, 1, size_of(X(0)) * LATENT_ELEMENT_WORK,
              first_flags(g, y, 2), kl_std_bwd_range);
    set_ready(g, y, 2);
}

/* ---- log q(z|x) for a location-scale family --------------------------------
 * With s = e^(lv/2), u = (z - mu)/s and base log-density log phi(u):
 *   log q = log phi(u) - log s;  g(u) = d log phi / du
 *   d/dz = g/s,  d/dmu = -g/s,  d/dlv = (-1 - u g) / 2
 * Gaussian: log phi = -log(2 pi)/2 - u^2/2,       g = -u
 * Laplace:  log phi = -log 2 - |u|,               g = -sign(u)
 * logistic: log phi = -u - 2 log(1 + e^-u),       g = -tanh(u/2)
 */

static inline void base_logpdf(int family, float u, float *lp, float *gu)
{
    switch (family) {
    case VG_FAMILY_LAPLACE:
        *lp = -0.69314718056f - fabsf(u);
        *gu = u > 0 ? -1.0f : (u < 0 ? 1.0f : 0.0f);
        break;
    case VG_FAMILY_LOGISTIC:
        *lp = -u - 2.0f * softplusf(-u);
        *gu = -tanhf(0.5f * u);
        break;
    default:
        *lp = -0.91893853320f - 0.5f * u * u;
        *gu = -u;
    }
}

static void logq_fwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    const vg_node *mu = X(0), *lv = X(1), *z = X(2);
    int L = g->samples, K = z->cols, fam = y->iparam[0];
    for (size_t r = lo; r < hi; r++) {
        const float *m = mu->val + (r / (size_t)L) * K, *l = lv->val + (r / (size_t)L) * K;
        const float *zz = z->val + r * K;
        double acc = 0.0;
        for (int j = 0; j < K; j++) {
            float s = expf(0.5f * l[j]), u = (zz[j] - m[j]) / s, lp, gu;
            base_logpdf(fam, u, &lp, &gu);
            acc += lp - 0.5f * l[j];
        }
        y->val[r] = (float)acc;
    }
}

static void logq_fwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)y->rows, 1, size_of(X(2)) * LATENT_ELEMENT_WORK, 0, logq_fwd_range);
}

/* For examples [lo, hi): their L rows of z, their rows of mu and lv. */
static void logq_bwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *mu = X(0), *lv = X(1), *z = X(2);
    int L = g->samples, K = z->cols, fam = y->iparam[0];
    int first_mu = first & 1, first_lv = first >> 1 & 1, first_z = first >> 2 & 1;
    for (size_t i = lo; i < hi; i++) {
        const float *m = mu->val + i * K, *l = lv->val + i * K;
        for (int j = 0; j < K; j++) {
            float s = expf(0.5f * l[j]), am = 0.0f, al = 0.0f;
            for (int k = 0; k < L; k++) {
                size_t r = i * L + k;
                size_t o = r * K + j;
                float u = (z->val[o] - m[j]) / s, lp, gu, d = y->grad[r];
                base_logpdf(fam, u, &lp, &gu);
                am += -d * gu / s;
                al += d * 0.5f * (-1.0f - u * gu);
                if (z->need_grad)
                    ACC(first_z, z->grad[o], d * gu / s);
            }
            if (mu->need_grad)
                ACC(first_mu, mu->grad[i * K + j], am);
            if (lv->need_grad)
                ACC(first_lv, lv->grad[i * K + j], al);
        }
    }
}

static void logq_bwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)(y->rows / g->samples), 1, size_of(X(2)) * LATENT_ELEMENT_WORK,
              first_flags(g, y, 3), logq_bwd_range);
    set_ready(g, y, 3);
}

/* ---- log N(z; 0, I) = sum_j -log(2 pi)/2 - z_j^2/2; d/dz = -z --------------- */

static void logp_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *z = X(0);
    for (int r = 0; r < y->rows; r++) {
        const float *zz = z->val + (size_t)r * z->cols;
        double acc = 0.0;
        for (int j = 0; j < z->cols; j++)
            acc += -0.91893853320467274178 - 0.5 * (double)zz[j] * zz[j];
        y->val[r] = (float)acc;
    }
}

static void logp_bwd(vg_graph *g, vg_node *y)
{
    vg_node *z = X(0);
    int first = !z->grad_ready;
    for (int r = 0; r < y->rows; r++)
        for (int j = 0; j < z->cols; j++) {
            size_t o = (size_t)r * z->cols + j;
            ACC(first, z->grad[o], -y->grad[r] * z->val[o]);
        }
    z->grad_ready = 1;
}

/* ---- stop-gradient: y = x, and nothing flows back ------------------------------ */

static void stopgrad_fwd(vg_graph *g, vg_node *y)
{
    memcpy(y->val, X(0)->val, size_of(y) * sizeof(float));
}

/* ---- y = c0 x0 + c1 x1 (+ c2 x2) element-wise ------------------------------ */

static void sum3_fwd(vg_graph *g, vg_node *y)
{
    size_t n = size_of(y);
    const float *a = X(0)->val, *b = X(1)->val, *c = y->n_in > 2 ? X(2)->val : NULL;
    float c0 = y->fparam[0], c1 = y->fparam[1], c2 = y->fparam[2];
    for (size_t i = 0; i < n; i++)
        y->val[i] = c0 * a[i] + c1 * b[i] + (c ? c2 * c[i] : 0.0f);
}

static void sum3_bwd(vg_graph *g, vg_node *y)
{
    size_t n = size_of(y);
    for (int k = 0; k < y->n_in; k++) {
        vg_node *x = X(k);
        if (!x->need_grad)
            continue;
        float c = y->fparam[k];
        int first = !x->grad_ready;
        for (size_t i = 0; i < n; i++)
            ACC(first, x->grad[i], c * y->grad[i]);
        x->grad_ready = 1;
    }
}

/* ---- score-function surrogate -------------------------------------------------
 * Forward: y_r = 0 (a surrogate has no value of its own); aux_r = R_r - b_r.
 * Backward: dlogq_r = dy_r (R_r - b_r): minimising -mean(y) gives the
 * estimator -(R - b) grad log q. Baselines b (constants for the gradient):
 *   none: 0;  EMA: b = m, then m <- decay m + (1 - decay) mean(R) (m = mean(R)
 *   on the first step, with b = 0 there);  leave-one-out over the L samples of
 *   an example: b_il = (sum_l' R_il' - R_il) / (L - 1). */

static void score_fwd(vg_graph *g, vg_node *y)
{
    const float *R = X(1)->val;
    int L = g->samples, rows = y->rows;
    float *adv = y->aux;
    if (y->iparam[0] == VG_BASELINE_LOO && L > 1) {
        for (int i = 0; i < rows / L; i++) {
            double s = 0.0;
            for (int k = 0; k < L; k++)
                s += R[i * L + k];
            for (int k = 0; k < L; k++)
                adv[i * L + k] = R[i * L + k] - (float)((s - R[i * L + k]) / (L - 1));
        }
    } else {
        float b = 0.0f;
        if (y->iparam[0] == VG_BASELINE_EMA) {
            double mean = 0.0;
            for (int r = 0; r < rows; r++)
                mean += R[r];
            mean /= rows;
            if (y->iparam[1]) {
                b = y->fparam[1];
                y->fparam[1] = (float)(y->fparam[0] * y->fparam[1] + (1.0 - y->fparam[0]) * mean);
            } else {
                y->fparam[1] = (float)mean;
                y->iparam[1] = 1;
            }
        }
        for (int r = 0; r < rows; r++)
            adv[r] = R[r] - b;
    }
    memset(y->val, 0, (size_t)rows * sizeof(float));
}

static void score_bwd(vg_graph *g, vg_node *y)
{
    vg_node *lq = X(0);
    int first = !lq->grad_ready;
    for (int r = 0; r < y->rows; r++)
        ACC(first, lq->grad[r], y->grad[r] * y->aux[r]);
    lq->grad_ready = 1;
}

/* ---- log-mean-exp over the L samples of each example ---------------------------
 * y_i = max_l w_il + log( (1/L) sum_l exp(w_il - max) );  dw_il = dy_i softmax_l(w_i)_l */

static void lme_fwd(vg_graph *g, vg_node *y)
{
    const float *w = X(0)->val;
    int L = g->samples;
    for (int i = 0; i < y->rows; i++) {
        const float *wi = w + (size_t)i * L;
        float mx = wi[0];
        for (int k = 1; k < L; k++)
            mx = fmaxf(mx, wi[k]);
        double s = 0.0;
        for (int k = 0; k < L; k++)
            s += exp((double)wi[k] - mx);
        for (int k = 0; k < L; k++)
            y->aux[(size_t)i * L + k] = (float)(exp((double)wi[k] - mx) / s);
        y->val[i] = (float)(mx + log(s / L));
    }
}

static void lme_bwd(vg_graph *g, vg_node *y)
{
    vg_node *w = X(0);
    int L = g->samples, first = !w->grad_ready;
    for (int i = 0; i < y->rows; i++)
        for (int k = 0; k < L; k++) {
            size_t o = (size_t)i * L + k;
            ACC(first, w->grad[o], y->grad[i] * y->aux[o]);
        }
    w->grad_ready = 1;
}

/* ---- Bernoulli log-likelihood with logits --------------------------------
 * log p(x|l) = x log sigmoid(l) + (1-x) log(1 - sigmoid(l)) = x l - softplus(l);
 * d/dl = x - sigmoid(l). aux keeps sigmoid(l). */

/* One row: s_j = sigmoid(l_j) and returns sum_j x_j l_j - softplus(l_j),
 * with e = e^-|l| from vm_exp_nonpos, softplus(l) = max(l, 0) + log1p(e)
 * and sigmoid(l) = 1 / (1 + e) for l >= 0, e / (1 + e) below. The terms are
 * added in double in VT_LANES fixed partial sums (lane k takes j = k mod
 * VT_LANES, lanes added in order), so the vector width does not change the
 * bits. max(l, 0) is a compare: a NaN logit gives a NaN term through x l. */
static inline float bern_term(float l, float x, float *s)
{
    float e = vm_exp_nonpos(vm_select(l >= 0.0f, -l, l));
    float sp = vm_select(l > 0.0f, l, 0.0f) + vm_log1p_unit(e);
    *s = vm_select(l >= 0.0f, 1.0f, e) / (1.0f + e);
    return x * l - sp;
}

VT_CLONES static double bern_row(const float *restrict l, const float *restrict xv, float *restrict s,
                                 size_t D)
{
    double lane[VT_LANES] = {0};
    size_t j = 0;
    for (; j + VT_LANES <= D; j += VT_LANES)
        for (int k = 0; k < VT_LANES; k++)
            lane[k] += (double)bern_term(l[j + k], xv[j + k], &s[j + k]);
    for (int k = 0; j + (size_t)k < D; k++)
        lane[k] += (double)bern_term(l[j + k], xv[j + k], &s[j + k]);
    double acc = 0.0;
    for (int k = 0; k < VT_LANES; k++)
        acc += lane[k];
    return acc;
}

/* Rows [lo, hi) of the forward pass. */
static void bern_fwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    const vg_node *lg = X(0), *x = X(1);
    size_t L = (size_t)g->samples, D = (size_t)lg->cols;
    for (size_t r = lo; r < hi; r++)
        y->val[r] = (float)bern_row(lg->val + r * D, x->val + (r / L) * D, y->aux + r * D, D);
}

static void bern_fwd(vg_graph *g, vg_node *y)
{
    for_range(g, y, (size_t)y->rows, 1, (size_t)y->rows * (size_t)X(0)->cols * 8, 0, bern_fwd_range);
}

VT_CLONES static void bern_bwd_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *lg = X(0);
    const vg_node *x = X(1);
    size_t L = (size_t)g->samples, D = (size_t)lg->cols;
    for (size_t r = lo; r < hi; r++) {
        const float *restrict xv = x->val + (r / L) * D, *restrict s = y->aux + r * D;
        float *restrict dl = lg->grad + r * D;
        float d = y->grad[r];
        if (first)
            for (size_t j = 0; j < D; j++)
                dl[j] = d * (xv[j] - s[j]);
        else
            for (size_t j = 0; j < D; j++)
                dl[j] += d * (xv[j] - s[j]);
    }
}

static void bern_bwd(vg_graph *g, vg_node *y)
{
    vg_node *lg = X(0);
    for_range(g, y, (size_t)y->rows, 1, (size_t)y->rows * (size_t)lg->cols, !lg->grad_ready,
              bern_bwd_range);
    lg->grad_ready = 1;
}

/* ---- Gaussian log-likelihood, per-dimension log sigma s ------------------
 * log N(x; m, e^(2s)) = -log(2 pi)/2 - s - (x - m)^2 e^(-2s) / 2;
 * d/dm = (x - m) e^(-2s); d/ds = -1 + (x - m)^2 e^(-2s). */

static void gauss_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *mean = X(0), *ls = X(1), *x = X(2);
    int L = g->samples, D = mean->cols;
    const double half_log_2pi = 0.91893853320467274178;
    for (int r = 0; r < y->rows; r++) {
        const float *m = mean->val + (size_t)r * D, *xv = x->val + (size_t)(r / L) * D;
        double acc = 0.0;
        for (int j = 0; j < D; j++) {
            float d = xv[j] - m[j];
            acc += -half_log_2pi - ls->val[j] - 0.5f * d * d * expf(-2.0f * ls->val[j]);
        }
        y->val[r] = (float)acc;
    }
}

static void gauss_bwd(vg_graph *g, vg_node *y)
{
    vg_node *mean = X(0), *ls = X(1);
    const vg_node *x = X(2);
    int L = g->samples, D = mean->cols;
    int first_m = !mean->grad_ready, first_s = !ls->grad_ready;
    if (ls->need_grad && first_s)
        memset(ls->grad, 0, (size_t)D * sizeof(float));
    for (int r = 0; r < y->rows; r++) {
        const float *m = mean->val + (size_t)r * D, *xv = x->val + (size_t)(r / L) * D;
        float dy = y->grad[r];
        for (int j = 0; j < D; j++) {
            float d = xv[j] - m[j], prec = expf(-2.0f * ls->val[j]);
            if (mean->need_grad)
                ACC(first_m, mean->grad[(size_t)r * D + j], dy * d * prec);
            if (ls->need_grad)
                ls->grad[j] += dy * (-1.0f + d * d * prec);
        }
    }
    if (mean->need_grad)
        mean->grad_ready = 1;
    if (ls->need_grad)
        ls->grad_ready = 1;
}

/* ---- reductions ------------------------------------------------------------ */

/* y = (1/rows) sum_r x_r over a column vector; dx_r = dy / rows. */
static void mean_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *x = X(0);
    double s = 0.0;
    for (int r = 0; r < x->rows; r++)
        s += x->val[r];
    y->val[0] = (float)(s / x->rows);
}

static void mean_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0);
    float d = y->grad[0] / (float)x->rows;
    int first = !x->grad_ready;
    for (int r = 0; r < x->rows; r++)
        ACC(first, x->grad[r], d);
    x->grad_ready = 1;
}

/* y = a x1 + b x2 on scalars. */
static void axpby_fwd(vg_graph *g, vg_node *y)
{
    y->val[0] = y->fparam[0] * X(0)->val[0] + y->fparam[1] * X(1)->val[0];
}

static void axpby_bwd(vg_graph *g, vg_node *y)
{
    for (int k = 0; k < 2; k++) {
        vg_node *x = X(k);
        if (x->need_grad) {
            float v = y->fparam[k] * y->grad[0];
            deliver(x, 1, &v);
        }
    }
}

/* ---- free bits (Kingma et al. 2016), one floor per latent dimension --------
 * With the analytic per-dimension KL of each example i,
 *   kl_ij = 1/2 (mu_ij^2 + e^lv_ij - 1 - lv_ij),
 * averaged over the minibatch, kbar_j = (1/n) sum_i kl_ij:
 *   y = sum_j max(lambda, kbar_j)
 *   d/dmu_ij = [kbar_j > lambda] mu_ij / n,  d/dlv_ij = [kbar_j > lambda] (e^lv_ij - 1) / (2n)
 * A dimension at or below its floor gets no gradient. aux keeps kbar (K floats). */

static void freebits_fwd(vg_graph *g, vg_node *y)
{
    (void)g;
    const vg_node *mu = X(0), *lv = X(1);
    int n = mu->rows, K = mu->cols;
    float lambda = y->fparam[0];
    double tot = 0.0;
    for (int j = 0; j < K; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            double m = mu->val[(size_t)i * K + j], l = lv->val[(size_t)i * K + j];
            s += 0.5 * (m * m + exp(l) - 1.0 - l);
        }
        double kbar = s / n;
        y->aux[j] = (float)kbar;
        tot += kbar > lambda ? kbar : lambda;
    }
    y->val[0] = (float)tot;
}

static void freebits_bwd(vg_graph *g, vg_node *y)
{
    (void)g;
    vg_node *mu = X(0), *lv = X(1);
    int n = mu->rows, K = mu->cols;
    float lambda = y->fparam[0], d = y->grad[0] / (float)n;
    int fm = !mu->grad_ready, fl = !lv->grad_ready;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < K; j++) {
            size_t o = (size_t)i * K + j;
            int on = y->aux[j] > lambda;
            if (mu->need_grad)
                ACC(fm, mu->grad[o], on ? d * mu->val[o] : 0.0f);
            if (lv->need_grad)
                ACC(fl, lv->grad[o], on ? d * 0.5f * (expf(lv->val[o]) - 1.0f) : 0.0f);
        }
    if (mu->need_grad)
        mu->grad_ready = 1;
    if (lv->need_grad)
        lv->grad_ready = 1;
}

/* ---- absolute deviation from a target (the capacity objective) -------------
 * y = |x - c| on a scalar, c = fparam[0] (set before each run);
 * dy/dx = sign(x - c), 0 where x == c. */

static void absdev_fwd(vg_graph *g, vg_node *y)
{
    (void)g;
    y->val[0] = fabsf(X(0)->val[0] - y->fparam[0]);
}

static void absdev_bwd(vg_graph *g, vg_node *y)
{
    (void)g;
    vg_node *x = X(0);
    float d = x->val[0] - y->fparam[0];
    float v = y->grad[0] * (d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f));
    deliver(x, 1, &v);
}

/* ---- row sum of squares (the autoencoder's code penalty) --------------------
 * y_r = a sum_j x_rj^2,  a = fparam[0];  dx_rj = 2 a x_rj dy_r. */

static void rowsumsq_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *x = X(0);
    double a = y->fparam[0];
    for (int r = 0; r < y->rows; r++) {
        const float *xr = x->val + (size_t)r * x->cols;
        double acc = 0.0;
        for (int j = 0; j < x->cols; j++)
            acc += (double)xr[j] * xr[j];
        y->val[r] = (float)(a * acc);
    }
}

static void rowsumsq_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0);
    if (!x->need_grad)
        return;
    int first = !x->grad_ready;
    float a2 = 2.0f * y->fparam[0];
    for (int r = 0; r < y->rows; r++)
        for (int j = 0; j < x->cols; j++) {
            size_t o = (size_t)r * x->cols + j;
            ACC(first, x->grad[o], a2 * x->val[o] * y->grad[r]);
        }
    x->grad_ready = 1;
}

/* ---- concat: y_r = [a_r, b_(r/q)], q = rows_a / rows_b ----------------------
 * b has one row per example while a may have L per example (z and c).
 * da_r = dy_r[:ca];  db_i = sum_(r/q = i) dy_r[ca:]. */
static void concat_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *a = X(0), *b = X(1);
    int ca = a->cols, cb = b->cols, q = y->rows / b->rows;
    for (int r = 0; r < y->rows; r++) {
        float *dst = y->val + (size_t)r * y->cols;
        memcpy(dst, a->val + (size_t)r * ca, (size_t)ca * sizeof(float));
        memcpy(dst + ca, b->val + (size_t)(r / q) * cb, (size_t)cb * sizeof(float));
    }
}

static void concat_bwd(vg_graph *g, vg_node *y)
{
    vg_node *a = X(0), *b = X(1);
    int ca = a->cols, cb = b->cols, q = y->rows / b->rows;
    if (a->need_grad) {
        int first = !a->grad_ready;
        for (int r = 0; r < y->rows; r++)
            for (int j = 0; j < ca; j++)
                ACC(first, a->grad[(size_t)r * ca + j], y->grad[(size_t)r * y->cols + j]);
        a->grad_ready = 1;
    }
    if (b->need_grad) {
        if (!b->grad_ready)
            memset(b->grad, 0, size_of(b) * sizeof(float));
        for (int r = 0; r < y->rows; r++)
            for (int j = 0; j < cb; j++)
                b->grad[(size_t)(r / q) * cb + j] += y->grad[(size_t)r * y->cols + ca + j];
        b->grad_ready = 1;
    }
}

/* ---- KL between diagonal Gaussians, q = N(mq, e^lq), p = N(mp, e^lp) -------
 *   kl_i = 1/2 sum_j (lp - lq + (e^lq + (mq - mp)^2) e^-lp - 1)
 *   d/dmq = (mq - mp) e^-lp = -d/dmp
 *   d/dlq = (e^(lq - lp) - 1) / 2
 *   d/dlp = (1 - (e^lq + (mq - mp)^2) e^-lp) / 2
 * With mp = 0 and lp = 0 this is kl_stdnormal. */
static void kl_gauss_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *mq = X(0), *lq = X(1), *mp = X(2), *lp = X(3);
    int K = mq->cols;
    for (int i = 0; i < y->rows; i++) {
        size_t o = (size_t)i * K;
        double s = 0.0;
        for (int j = 0; j < K; j++) {
            double d = (double)mq->val[o + j] - mp->val[o + j];
            s += (double)lp->val[o + j] - lq->val[o + j] +
                 (exp((double)lq->val[o + j]) + d * d) * exp(-(double)lp->val[o + j]) - 1.0;
        }
        y->val[i] = (float)(0.5 * s);
    }
}

static void kl_gauss_bwd(vg_graph *g, vg_node *y)
{
    vg_node *mq = X(0), *lq = X(1), *mp = X(2), *lp = X(3);
    int K = mq->cols;
    int f0 = !mq->grad_ready, f1 = !lq->grad_ready, f2 = !mp->grad_ready, f3 = !lp->grad_ready;
    for (int i = 0; i < y->rows; i++) {
        float dy = y->grad[i];
        size_t o = (size_t)i * K;
        for (int j = 0; j < K; j++) {
            size_t k = o + j;
            float ip = expf(-lp->val[k]), d = mq->val[k] - mp->val[k];
            float gm = dy * d * ip;
            if (mq->need_grad)
                ACC(f0, mq->grad[k], gm);
            if (lq->need_grad)
                ACC(f1, lq->grad[k], dy * 0.5f * (expf(lq->val[k] - lp->val[k]) - 1.0f));
            if (mp->need_grad)
                ACC(f2, mp->grad[k], -gm);
            if (lp->need_grad)
                ACC(f3, lp->grad[k], dy * 0.5f * (1.0f - (expf(lq->val[k]) + d * d) * ip));
        }
    }
    vg_node *all[4] = {mq, lq, mp, lp};
    for (int t = 0; t < 4; t++)
        if (all[t]->need_grad)
            all[t]->grad_ready = 1;
}

const vg_op vg_ops[VG_OP_COUNT] = {
    [VG_OP_INPUT] = {"input", NULL, NULL},
    [VG_OP_PARAM] = {"param", NULL, NULL},
    [VG_OP_DENSE] = {"dense", dense_fwd, dense_bwd},
    [VG_OP_RELU] = {"relu", relu_fwd, relu_bwd},
    [VG_OP_LEAKY_RELU] = {"leaky_relu", leaky_fwd, leaky_bwd},
    [VG_OP_TANH] = {"tanh", tanh_fwd, tanh_bwd},
    [VG_OP_SIGMOID] = {"sigmoid", sigmoid_fwd, sigmoid_bwd},
    [VG_OP_SOFTPLUS] = {"softplus", softplus_fwd, softplus_bwd},
    [VG_OP_CLAMP] = {"clamp", clamp_fwd, clamp_bwd},
    [VG_OP_REPARAM] = {"reparam", reparam_fwd, reparam_bwd},
    [VG_OP_KL_STDNORMAL] = {"kl_stdnormal", kl_std_fwd, kl_std_bwd},
    [VG_OP_LOGQ] = {"logq", logq_fwd, logq_bwd},
    [VG_OP_LOGP_STD] = {"logp_std", logp_fwd, logp_bwd},
    [VG_OP_STOPGRAD] = {"stopgrad", stopgrad_fwd, NULL},
    [VG_OP_SUM3] = {"sum3", sum3_fwd, sum3_bwd},
    [VG_OP_SCORE] = {"score", score_fwd, score_bwd},
    [VG_OP_LOGMEANEXP] = {"logmeanexp", lme_fwd, lme_bwd},
    [VG_OP_BERNOULLI_LL] = {"bernoulli_ll", bern_fwd, bern_bwd},
    [VG_OP_GAUSS_LL] = {"gauss_ll", gauss_fwd, gauss_bwd},
    [VG_OP_MEAN] = {"mean", mean_fwd, mean_bwd},
    [VG_OP_AXPBY] = {"axpby", axpby_fwd, axpby_bwd},
    [VG_OP_FREEBITS] = {"freebits", freebits_fwd, freebits_bwd},
    [VG_OP_ABSDEV] = {"absdev", absdev_fwd, absdev_bwd},
    [VG_OP_VQ] = {"vq", vg_vq_fwd, vg_vq_bwd},
    [VG_OP_VQ_LOSS] = {"vq_loss", vg_vq_loss_fwd, vg_vq_loss_bwd},
    [VG_OP_CONCAT] = {"concat", concat_fwd, concat_bwd},
    [VG_OP_KL_GAUSS] = {"kl_gauss", kl_gauss_fwd, kl_gauss_bwd},
    [VG_OP_ROWSUMSQ] = {"rowsumsq", rowsumsq_fwd, rowsumsq_bwd, NULL},
#define VG_OP_ENTRY_(id, name, fwd, bwd, reserve) [id] = {name, fwd, bwd, reserve},
    VG_OPS_ELSEWHERE(VG_OP_ENTRY_)
#undef VG_OP_ENTRY_
};
