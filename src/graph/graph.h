/* A small static reverse-mode autodiff graph (after KANN).
 *
 * A graph is built once and then run many times. Every node holds a matrix
 * of rows x cols floats, row-major. A node's rows are either fixed
 * (parameters, constants, scalars) or follow the batch: VG_ROWS_BATCH nodes
 * have n rows (one per example), VG_ROWS_SAMPLES nodes have n*L rows (L
 * latent samples per example, example-major: row r belongs to example r/L).
 *
 * Buffers are sized for the largest batch seen so far: vg_set_batch
 * allocates only when n grows past it, so a training loop allocates on its
 * first batch and never again.
 *
 * Nodes are stored in creation order, which is a topological order: the
 * forward pass runs them first to last, the backward pass last to first.
 * Each op is one entry of the static table vg_ops (graph/ops.c): its name,
 * forward and backward functions, and a comment with the formula.
 */
#ifndef VAE_GRAPH_GRAPH_H
#define VAE_GRAPH_GRAPH_H

#include <stddef.h>

#include "tensor/pool.h"

enum vg_rows_kind { VG_ROWS_FIXED = 0, VG_ROWS_BATCH = 1, VG_ROWS_SAMPLES = 2 };

/* Ops defined outside ops.c, listed once: X(id, name, forward, backward,
 * reserve) makes each one's enum value (after the ones below), the
 * prototypes of its table functions and its vg_ops[] entry (docs/design.md,
 * "Adding a layer"). */
#define VG_OPS_ELSEWHERE(X)                                                                      \
    /* Images: convolution, reshapes, normalisation (graph/ops_conv.c). */                      \
    X(VG_OP_CONV2D, "conv2d", vg_conv2d_fwd, vg_conv2d_bwd, vg_conv_reserve)                    \
    X(VG_OP_CONVT2D, "convt2d", vg_convt2d_fwd, vg_convt2d_bwd, vg_conv_reserve)                \
    X(VG_OP_RESHAPE, "reshape", vg_reshape_fwd, vg_reshape_bwd, NULL)                            \
    X(VG_OP_LAYERNORM, "layernorm", vg_layernorm_fwd, vg_layernorm_bwd, NULL)                    \
    X(VG_OP_CHW_TO_HWC, "chw_to_hwc", vg_chw_to_hwc_fwd, vg_chw_to_hwc_bwd, NULL)                \
    X(VG_OP_HWC_TO_CHW, "hwc_to_chw", vg_hwc_to_chw_fwd, vg_hwc_to_chw_bwd, NULL)                \
    /* Hierarchical latent layers (graph/ops_ladder.c). */                                      \
    X(VG_OP_LADDER_MERGE, "ladder_merge", vg_ladder_merge_fwd, vg_ladder_merge_bwd, NULL)       \
    X(VG_OP_GAUSS_SAMPLE, "gauss_sample", vg_gauss_sample_fwd, vg_gauss_sample_bwd, NULL)       \
    X(VG_OP_GAUSS_LOGPDF, "gauss_logpdf", vg_gauss_logpdf_fwd, vg_gauss_logpdf_bwd, NULL)       \
    X(VG_OP_GAUSS_KL, "gauss_kl", vg_gauss_kl_fwd, vg_gauss_kl_bwd, NULL)                       \
    X(VG_OP_DERIVED_NOISE, "derived_noise", vg_derived_noise_fwd, vg_derived_noise_bwd, NULL)  \
    X(VG_OP_ROWS_LIKE, "rows_like", vg_rows_like_fwd, vg_rows_like_bwd, NULL)

enum vg_op_id {
    VG_OP_INPUT = 0,      /* leaf: data bound or copied in by the caller */
    VG_OP_PARAM,          /* leaf: a view into the model's flat parameter buffer */
    VG_OP_DENSE,          /* y = x W + 1 b^T */
    VG_OP_RELU,           /* y = max(x, 0) */
    VG_OP_LEAKY_RELU,     /* y = x > 0 ? x : a x */
    VG_OP_TANH,           /* y = tanh(x) */
    VG_OP_SIGMOID,        /* y = 1 / (1 + e^-x) */
    VG_OP_SOFTPLUS,       /* y = log(1 + e^x) */
    VG_OP_CLAMP,          /* y = min(max(x, lo), hi) */
    VG_OP_REPARAM,        /* z = mu + exp(lv / 2) * eps */
    VG_OP_KL_STDNORMAL,   /* kl_i = 1/2 sum_j (mu^2 + e^lv - 1 - lv) */
    VG_OP_LOGQ,           /* lq_r = sum_j log q_f(z_j; mu_j, s_j), s = e^(lv/2), f a location-scale family */
    VG_OP_LOGP_STD,       /* lp_r = sum_j -log(2 pi)/2 - z_j^2/2 (the N(0, I) prior) */
    VG_OP_STOPGRAD,       /* y = x; no gradient flows back */
    VG_OP_SUM3,           /* y = c0 x0 + c1 x1 + c2 x2, element-wise (x2 optional) */
    VG_OP_SCORE,          /* y = 0; dL/dlogq_r = dy_r (R_r - b_r): the score-function surrogate */
    VG_OP_LOGMEANEXP,     /* y_i = log (1/L) sum_l exp(w_il) */
    VG_OP_BERNOULLI_LL,   /* ll_r = sum_j x l - softplus(l) */
    VG_OP_GAUSS_LL,       /* ll_r = sum_j -log(2 pi)/2 - s_j - (x - m)^2 e^(-2 s_j) / 2 */
    VG_OP_MEAN,           /* y = (1/rows) sum_r x_r */
    VG_OP_AXPBY,          /* y = a x1 + b x2 (scalars) */
    VG_OP_FREEBITS,       /* y = sum_j max(lambda, (1/n) sum_i kl_ij): free bits per latent dimension */
    VG_OP_ABSDEV,         /* y = |x - c| on a scalar, c = fparam[0] */
    /* Vector quantisation (VQ-VAE; graph/ops_vq.c). */
    VG_OP_VQ,             /* z_q = e_k, k = argmin_k ||z - e_k||^2 per latent vector; straight-through */
    VG_OP_VQ_LOSS,        /* l_i = (c + beta) sum_m ||z_im - e_k(im)||^2; dz = 2 beta (z - e), de = 2 c (e - z) */
    VG_OP_CONCAT,         /* y_r = [a_r, b_(r / (rows_y / rows_b))]: columns of a, then b (b's rows repeated) */
    VG_OP_KL_GAUSS,       /* kl_i = 1/2 sum_j (lp - lq + (e^lq + (mq - mp)^2) e^-lp - 1) */
    /* Autoencoders (graph/ops.c). */
    VG_OP_ROWSUMSQ,       /* y_r = a sum_j x_rj^2, a = fparam[0]; dx_rj = 2 a x_rj dy_r */
#define VG_OP_ENUM_(id, name, fwd, bwd, reserve) id,
    VG_OPS_ELSEWHERE(VG_OP_ENUM_)
#undef VG_OP_ENUM_
    VG_OP_COUNT
};

typedef struct vg_node {
    int op;               /* enum vg_op_id */
    int n_in;
    int in[4];            /* input node indices */
    int iparam[4];        /* op integer constants and state (family, stop flag, kernel...) */
    int rows_kind;        /* enum vg_rows_kind */
    int rows, cols;       /* current shape */
    int shape[3];         /* one row's sample shape (C, H, W), C*H*W == cols; flat: {cols, 1, 1} */
    int fixed_rows;       /* rows for VG_ROWS_FIXED */
    float fparam[4];      /* op constants and state (slope, clamp range, coefficients, EMA) */
    int need_grad;        /* gradients flow into this node */
    int grad_ready;       /* backward pass: grad holds data (else it is overwritten, not added to) */
    int external;         /* val/grad are views (parameters, bound inputs, shared), not owned */
    int shared;           /* val/grad are input 0's (vg_set_batch's memory plan; external too) */
    float *val;
    float *grad;
    float *aux;           /* per-op saved values for the backward pass, or NULL */
    int aux_cols;         /* aux holds rows x aux_cols floats (0: no aux) */
    size_t cap;           /* floats allocated in val/grad */
} vg_node;

/* Work space of the ops that need one (the convolutions): used within one
 * op call only, never kept from the forward to the backward pass, so every
 * graph of a model (they run one at a time) can share one. */
typedef struct vg_scratch {
    float *buf;
    size_t cap;           /* floats in buf */
    size_t limit;         /* most floats buf may grow to, 0: no limit (a memory cap;
                           * the tests use it to make growth fail) */
} vg_scratch;

typedef struct vg_graph {
    vg_node *nodes;
    int n_nodes, cap_nodes;
    int batch;            /* n: examples in the current batch */
    int samples;          /* L: rows per example in VG_ROWS_SAMPLES nodes */
    int cap_batch;        /* largest batch the buffers hold */
    int planned;          /* nodes the memory plan (shared flags) was made for */
    vt_pool *pool;        /* the model's thread team for products and element-wise ops (borrowed; NULL: one thread) */
    vg_scratch *scratch;  /* the model's shared work space (borrowed), or NULL: own_scratch */
    vg_scratch own_scratch;
} vg_graph;

typedef struct vg_op {
    const char *name;
    void (*forward)(vg_graph *g, vg_node *y);
    void (*backward)(vg_graph *g, vg_node *y);
    /* NULL, or: make the graph's scratch (vg_scratch_reserve) hold what a
     * pass over `rows` rows needs with the graph's team (called when the
     * node's rows grow and when the team changes; 0, or -1 on no memory). */
    int (*reserve)(vg_graph *g, vg_node *y, int rows);
} vg_op;

extern const vg_op vg_ops[VG_OP_COUNT];

/* The table functions of the ops listed in VG_OPS_ELSEWHERE. */
#define VG_OP_PROTO_(id, name, fwd, bwd, reserve)                                                \
    void fwd(vg_graph *g, vg_node *y);                                                           \
    void bwd(vg_graph *g, vg_node *y);
VG_OPS_ELSEWHERE(VG_OP_PROTO_)
#undef VG_OP_PROTO_

/* Give *team the size `threads` (a new team, NULL for 1; kept when it has
 * that size already) and point the n graphs at it and at `shared` (the
 * model's work space, or NULL: each graph its own; NULL entries skipped).
 * The ops' work space is then grown for the new team where it can be (if
 * not, those ops use fewer of the team's threads: same results).
 * 0, or -1 when the threads cannot be started (nothing changed). */
int vg_set_team(vt_pool **team, int threads, vg_graph *const *graphs, size_t n,
                vg_scratch *shared);

/* Run g on a model's execution context: its thread team (NULL: one thread)
 * and its shared work space (NULL: g's own). Both are borrowed. */
static inline void vg_use(vg_graph *g, vt_pool *pool, vg_scratch *scratch)
{
    g->pool = pool;
    g->scratch = scratch;
}

/* The work space g's ops use: the shared one, or g's own. */
static inline vg_scratch *vg_scratch_of(vg_graph *g)
{
    return g->scratch ? g->scratch : &g->own_scratch;
}

/* Make g's work space hold at least `floats` floats (its contents are not
 * kept). 0, or -1 on no memory or past the space's limit (the old space is
 * kept). */
int vg_scratch_reserve(vg_graph *g, size_t floats);

/* Frees a shared work space's buffer (the struct is the owner's). */
void vg_scratch_free(vg_scratch *s);

/* A new empty graph with L samples per example (L >= 1). NULL on no memory. */
vg_graph *vg_new(int samples);
void vg_free(vg_graph *g);

/* Node constructors. Each returns the new node's index, or -1 when out of
 * memory. Shapes are checked by the caller (the model builds valid graphs). */
int vg_input(vg_graph *g, int rows_kind, int fixed_rows, int cols);
int vg_param(vg_graph *g, int rows, int cols, float *val, float *grad);
int vg_dense(vg_graph *g, int x, int w, int b);
int vg_unary(vg_graph *g, int op, int x, float p0, float p1);
/* Location-scale families of q(z|x); z = mu + s eps with eps from the base
 * density phi_f: N(0,1), Laplace(0,1) or logistic(0,1). */
enum vg_family { VG_FAMILY_GAUSSIAN = 0, VG_FAMILY_LAPLACE = 1, VG_FAMILY_LOGISTIC = 2 };

/* Score-function baselines. */
enum vg_baseline { VG_BASELINE_NONE = 0, VG_BASELINE_EMA = 1, VG_BASELINE_LOO = 2 };

/* z = mu + exp(lv/2) * eps; with stop != 0 no gradient reaches mu and lv
 * (a plain sample, for the score-function estimator). */
int vg_reparam(vg_graph *g, int mu, int lv, int eps, int stop);
int vg_kl_stdnormal(vg_graph *g, int mu, int lv);
int vg_logq(vg_graph *g, int family, int mu, int lv, int z);
int vg_logp_std(vg_graph *g, int z);
int vg_stopgrad(vg_graph *g, int x);
int vg_sum3(vg_graph *g, float c0, int x0, float c1, int x1, float c2, int x2);
/* Score surrogate for log q (rows nL) with reward R (rows nL, treated as a
 * constant). baseline: enum vg_baseline; decay for the EMA. */
int vg_score(vg_graph *g, int logq, int reward, int baseline, float decay);
int vg_logmeanexp(vg_graph *g, int w);
int vg_bernoulli_ll(vg_graph *g, int logits, int x);
int vg_gauss_ll(vg_graph *g, int mean, int logsigma, int x);
int vg_mean(vg_graph *g, int x);
int vg_axpby(vg_graph *g, float a, int x1, float b, int x2);
/* Free-bits KL term: scalar sum_j max(lambda, minibatch-mean analytic KL of
 * dimension j) from mu and lv [n, K] (Gaussian posterior). */
int vg_freebits(vg_graph *g, int mu, int lv, float lambda);
/* y = |x - c| for scalar x; c is fparam[0] of the returned node (settable). */
int vg_absdev(vg_graph *g, int x, float c);
/* y_r = a sum_j x_rj^2 per row: [rows of x, 1] (the autoencoder's code penalty). */
int vg_rowsumsq(vg_graph *g, int x, float a);
/* Columns of a followed by the columns of b; y has a's rows, and b has the
 * same rows or one row per example while a has one per sample (row r of y
 * takes row r / (rows_a / rows_b) of b). Used to feed conditions c to the
 * encoder ([x, c]) and the decoder ([z, c]). */
int vg_concat(vg_graph *g, int a, int b);
/* KL(N(mq, e^lq) || N(mp, e^lp)) per example, all four inputs [n, K]. */
int vg_kl_gauss(vg_graph *g, int mq, int lq, int mp, int lp);

/* Fill n base-density draws of a family (enum vg_family) from rng. */
struct vt_rng;
void vg_family_sample(int family, struct vt_rng *rng, float *out, size_t n);
/* The same draws, bits and final state of rng, with the transforms split
 * over a team (NULL, or fewer than 512 draws: the caller alone; a team busy
 * with another caller's task: its parts one after the other on this one).
 * rng and out are the caller's; one caller per rng at a time. */
void vg_family_sample_on(vt_pool *pool, int family, struct vt_rng *rng, float *out, size_t n);

/* Set the batch size n (>= 1) and resize buffers if n exceeds every
 * earlier batch. Returns 0, or -1 when out of memory (graph unchanged). */
int vg_set_batch(vg_graph *g, int n);

/* Point an input node at caller data (rows*cols floats, not copied). */
void vg_bind(vg_graph *g, int node, const float *data);

/* Run nodes [0, upto] forward (upto = -1: all). */
void vg_forward(vg_graph *g, int upto);

/* Backward from scalar node `loss` (seeded with dloss = 1). Parameter
 * gradients are overwritten, not accumulated across calls. */
void vg_backward(vg_graph *g, int loss);

/* Any op node: the generic constructor behind the ones above (for ops
 * defined in other files). Returns the node index or -1 (no memory). */
int vg_add_op(vg_graph *g, int op, int rows_kind, int fixed_rows, int cols, int n_in,
              const int *in);

/* Set a node's per-row sample shape (C, H, W); the caller guarantees
 * c*h*w == cols. Constructors set {cols, 1, 1}; vg_unary copies its input's. */
void vg_set_shape(vg_graph *g, int node, int c, int h, int w);

/* An op over [0, n) in ranges: fn(g, y, lo, hi, first) on the team's parts
 * (cut at multiples of align) when work (element operations) is large
 * enough to pay for the hand-off, else on the caller in one range. */
typedef void (*vg_range_fn)(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first);
void vg_for_range(vg_graph *g, vg_node *y, size_t n, size_t align, size_t work, int first,
                  vg_range_fn fn);

/* ---- images (graph/ops_conv.c) ----------------------------------------------
 * Each row of an image node is one example (or sample) in NCHW order:
 * x[(c*H + h)*W + w] for the node's shape (C, H, W). Rows follow the input
 * (fixed, VG_ROWS_BATCH or VG_ROWS_SAMPLES). Square kernels k, the same
 * stride s and padding p on both axes; H and W may differ.
 *
 * Shape inference without a graph: 0 and out[] = (C, H, W) of the result,
 * or -1 when impossible (an output side < 1, k or s < 1, p < 0, outpad < 0
 * or >= s, a count < 1, more than 2^31 - 1 elements per row).
 *   conv2d:  Ho = floor((H + 2p - k) / s) + 1              (PyTorch Conv2d)
 *   convt2d: Ho = (H - 1) s - 2p + k + outpad               (PyTorch ConvTranspose2d) */
int vg_conv2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int out[3]);
int vg_convt2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int outpad,
                     int out[3]);

/* Convolution of x (shape (Cin, H, W)) with w, a node [Cout, Cin*k*k] (PyTorch's
 * Conv2d weight [Cout, Cin, k, k] row-major), plus b [1, Cout] (or -1: no bias):
 *   y[co][oh][ow] = b[co] + sum_{ci,i,j} w[co][ci][i][j] x[ci][oh*s - p + i][ow*s - p + j]
 * (x outside the image is 0). y has shape (Cout, Ho, Wo). -1 on no memory, an
 * impossible shape, or w/b/x sizes that do not match. */
int vg_conv2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad);

/* Transposed convolution (the adjoint of conv2d's map x -> w x): x (Cin, H, W),
 * w [Cin, Cout*k*k] (PyTorch's ConvTranspose2d weight [Cin, Cout, k, k]), b [1, Cout] or -1:
 *   y[co][ih*s - p + i][iw*s - p + j] += w[ci][co][i][j] x[ci][ih][iw]  (+ b[co] everywhere)
 * y has shape (Cout, Ho, Wo) with Ho = (H - 1)s - 2p + k + outpad. -1 as for vg_conv2d. */
int vg_convt2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad,
               int outpad);

/* y = x with the shape (c, h, w) (c*h*w == x's cols, else -1); dx = dy.
 * vg_reshape(g, x, cols, 1, 1) flattens. */
int vg_reshape(vg_graph *g, int x, int c, int h, int w);

/* Per row over all D = C*H*W features of x (shape (C, H, W)):
 *   m = mean(x), v = mean((x - m)^2), xhat = (x - m) / sqrt(v + eps),
 *   y[c][h][w] = gamma[c] xhat[c][h][w] + beta[c]
 * gamma, beta: nodes [1, C] (for a flat node C = cols: PyTorch's LayerNorm(D);
 * for an image GroupNorm(1, C)). Gradients reach x, gamma and beta. */
int vg_layernorm(vg_graph *g, int x, int gamma, int beta, float eps);

/* Per-row permutations between channel-major (C, H, W) and position-major
 * layouts (H*W vectors of C contiguous floats, e.g. for vg_vq with m = H*W
 * and D = C). chw_to_hwc's result has shape (H*W*C, 1, 1) and remembers C
 * and H*W in iparam[0..1]; hwc_to_chw gives x (cols c*h*w, else -1) the
 * shape (c, h, w). Gradients are the inverse permutations. */
int vg_chw_to_hwc(vg_graph *g, int x);
int vg_hwc_to_chw(vg_graph *g, int x, int c, int h, int w);

/* The image ops' table entries (graph/ops_conv.c). */
int vg_conv_reserve(vg_graph *g, vg_node *y, int rows);

/* ---- vector quantisation (graph/ops_vq.c) ----
 * z: [n, M*D] (M latent vectors of size D per example), codebook: [K, D].
 * vg_vq: the quantised vectors z_q [n, M*D]; the chosen indices are read with
 * vg_vq_codes. Gradient: straight-through (dz += dz_q); none to the codebook.
 * vg_vq_loss: per example (c + beta) sum_m ||z_m - e_k(m)||^2 with the
 * stop-gradients of the VQ-VAE loss: codebook term c ||sg[z] - e||^2 and
 * commitment term beta ||z - sg[e]||^2. */
int vg_vq(vg_graph *g, int z, int codebook, int m);
int vg_vq_loss(vg_graph *g, int z, int codebook, int vq, float beta, float c);
/* The n*M chosen indices (as floats, exact) of a forwarded vg_vq node, example-major. */
const float *vg_vq_codes(const vg_graph *g, int vq);
/* The distances d[r][k] = ||z_r - e_k||^2 (n*M rows of K) of the last forward pass. */
const float *vg_vq_dists(const vg_graph *g, int vq);
void vg_vq_fwd(vg_graph *g, vg_node *y);
void vg_vq_bwd(vg_graph *g, vg_node *y);
void vg_vq_loss_fwd(vg_graph *g, vg_node *y);
void vg_vq_loss_bwd(vg_graph *g, vg_node *y);

/* ---- hierarchical latent layers (graph/ops_ladder.c) --------------------------
 * Inputs may have one row per example while the output has one per sample
 * (row r reads row r / (rows_y / rows_x)); the output follows the samples
 * when any input does. */

/* The ladder's precision-weighted combination of a bottom-up Gaussian
 * N(mh, e^lh) and a top-down prior N(mp, e^lp) (Sønderby et al. 2016):
 *   var_q = 1 / (1/var_h + 1/var_p),  mu_q = (mh/var_h + mp/var_p) var_q;
 * which = 0 gives mu_q, 1 gives lv_q = log var_q. */
int vg_ladder_merge(vg_graph *g, int mh, int lh, int mp, int lp, int which);
/* z = mu + e^(lv/2) eps with mu, lv per example or per sample, eps per sample. */
int vg_gauss_sample(vg_graph *g, int mu, int lv, int eps);
/* log N(z; mu, diag e^lv) per row (summed over columns). */
int vg_gauss_logpdf(vg_graph *g, int mu, int lv, int z);
/* KL(N(mq, e^lq) || N(mp, e^lp)) per row; mp = lp = -1: against N(0, I). */
int vg_gauss_kl(vg_graph *g, int mq, int lq, int mp, int lp);
/* cols N(0, 1) draws per row of eps, a deterministic function of that row's
 * bits and salt (the upper layers' noise from the base draws). No gradient. */
int vg_derived_noise(vg_graph *g, int eps, int cols, int salt);
/* x with the rows of `like` (x has as many rows or one per example): y_r =
 * x_(r / (rows_y / rows_x)); the gradient sums over the copies. */
int vg_rows_like(vg_graph *g, int x, int like);

#endif
