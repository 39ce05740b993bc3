/* Graph construction, buffer management and the forward/backward drivers. */
#include "graph/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"

static int rows_for(const vg_graph *g, const vg_node *v, int batch);

/* Grow the ops' work space for the graph's current team and batch (best
 * effort: an op finding too little space uses fewer threads). */
static void reserve_for_team(vg_graph *g)
{
    for (int i = 0; g->cap_batch > 0 && i < g->n_nodes; i++) {
        vg_node *v = &g->nodes[i];
        if (vg_ops[v->op].reserve)
            (void)vg_ops[v->op].reserve(g, v, rows_for(g, v, g->cap_batch));
    }
}

int vg_set_team(vt_pool **team, int threads, vg_graph *const *graphs, size_t n,
                vg_scratch *shared)
{
    if (threads != vt_pool_parts(*team)) {
        vt_pool *p = NULL;
        if (threads > 1 && !(p = vt_pool_new(threads)))
            return -1;
        vt_pool_free(*team);
        *team = p;
    }
    for (size_t i = 0; i < n; i++)
        if (graphs[i]) {
            vg_use(graphs[i], *team, shared);
            reserve_for_team(graphs[i]);
        }
    return 0;
}

int vg_scratch_reserve(vg_graph *g, size_t floats)
{
    vg_scratch *s = vg_scratch_of(g);
    if (floats <= s->cap)
        return 0;
    if (s->limit && floats > s->limit)
        return -1;
    float *b = malloc(floats * sizeof(float));
    if (!b)
        return -1;
    free(s->buf);
    s->buf = b;
    s->cap = floats;
    return 0;
}

void vg_scratch_free(vg_scratch *s)
{
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

vg_graph *vg_new(int samples)
{
    vg_graph *g = calloc(1, sizeof *g);
    if (g) {
        g->samples = samples < 1 ? 1 : samples;
    }
    return g;
}

void vg_free(vg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        vg_node *v = &g->nodes[i];
        if (!v->external) {
            free(v->val);
            free(v->grad);
        }
        free(v->aux);
    }
    vg_scratch_free(&g->own_scratch);
    free(g->nodes);
    free(g);
}

static int rows_for(const vg_graph *g, const vg_node *v, int batch)
{
    switch (v->rows_kind) {
    case VG_ROWS_BATCH: return batch;
    case VG_ROWS_SAMPLES: return batch * g->samples;
    default: return v->fixed_rows;
    }
}

/* Append a node; its buffers are allocated by vg_set_batch (or now, when fixed). */
static int add_node(vg_graph *g, int op, int rows_kind, int fixed_rows, int cols, int n_in,
                    const int *in)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
        vg_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return -1;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    vg_node *v = &g->nodes[g->n_nodes];
    memset(v, 0, sizeof *v);
    v->op = op;
    v->rows_kind = rows_kind;
    v->fixed_rows = fixed_rows;
    v->rows = rows_kind == VG_ROWS_FIXED ? fixed_rows : 0;
    v->cols = cols;
    v->shape[0] = cols;
    v->shape[1] = 1;
    v->shape[2] = 1;
    v->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        v->in[i] = in[i];
        if (g->nodes[in[i]].need_grad)
            v->need_grad = 1;
    }
    if (rows_kind == VG_ROWS_FIXED && op != VG_OP_PARAM) {
        size_t cap = (size_t)fixed_rows * (size_t)cols;
        v->val = calloc(cap ? cap : 1, sizeof(float));
        v->grad = calloc(cap ? cap : 1, sizeof(float));
        if (!v->val || !v->grad) {
            free(v->val);
            free(v->grad);
            return -1;
        }
        v->cap = cap;
    }
    return g->n_nodes++;
}

int vg_input(vg_graph *g, int rows_kind, int fixed_rows, int cols)
{
    return add_node(g, VG_OP_INPUT, rows_kind, fixed_rows, cols, 0, NULL);
}

int vg_param(vg_graph *g, int rows, int cols, float *val, float *grad)
{
    int id = add_node(g, VG_OP_PARAM, VG_ROWS_FIXED, rows, cols, 0, NULL);
    if (id >= 0) {
        vg_node *v = &g->nodes[id];
        v->val = val;
        v->grad = grad;
        v->external = 1;
        v->need_grad = grad != NULL;
        v->cap = (size_t)rows * (size_t)cols;
    }
    return id;
}

int vg_dense(vg_graph *g, int x, int w, int b)
{
    int in[3] = {x, w, b};
    return add_node(g, VG_OP_DENSE, g->nodes[x].rows_kind, g->nodes[x].fixed_rows,
                    g->nodes[w].cols, 3, in);
}

int vg_unary(vg_graph *g, int op, int x, float p0, float p1)
{
    int id = add_node(g, op, g->nodes[x].rows_kind, g->nodes[x].fixed_rows, g->nodes[x].cols, 1,
                      &x);
    if (id >= 0) {
        g->nodes[id].fparam[0] = p0;
        g->nodes[id].fparam[1] = p1;
        memcpy(g->nodes[id].shape, g->nodes[x].shape, sizeof g->nodes[id].shape);
    }
    return id;
}

void vg_set_shape(vg_graph *g, int node, int c, int h, int w)
{
    vg_node *v = &g->nodes[node];
    v->shape[0] = c;
    v->shape[1] = h;
    v->shape[2] = w;
}

int vg_reparam(vg_graph *g, int mu, int lv, int eps, int stop)
{
    int in[3] = {mu, lv, eps};
    int id = add_node(g, VG_OP_REPARAM, VG_ROWS_SAMPLES, 0, g->nodes[mu].cols, 3, in);
    if (id >= 0) {
        g->nodes[id].aux_cols = g->nodes[mu].cols; /* sigma per z entry */
        g->nodes[id].iparam[1] = stop;
        if (stop)
            g->nodes[id].need_grad = 0;
    }
    return id;
}

int vg_kl_stdnormal(vg_graph *g, int mu, int lv)
{
    int in[2] = {mu, lv};
    return add_node(g, VG_OP_KL_STDNORMAL, VG_ROWS_BATCH, 0, 1, 2, in);
}

int vg_logq(vg_graph *g, int family, int mu, int lv, int z)
{
    int in[3] = {mu, lv, z};
    int id = add_node(g, VG_OP_LOGQ, VG_ROWS_SAMPLES, 0, 1, 3, in);
    if (id >= 0)
        g->nodes[id].iparam[0] = family;
    return id;
}

int vg_logp_std(vg_graph *g, int z)
{
    return add_node(g, VG_OP_LOGP_STD, g->nodes[z].rows_kind, g->nodes[z].fixed_rows, 1, 1, &z);
}

int vg_stopgrad(vg_graph *g, int x)
{
    int id = add_node(g, VG_OP_STOPGRAD, g->nodes[x].rows_kind, g->nodes[x].fixed_rows,
                      g->nodes[x].cols, 1, &x);
    if (id >= 0)
        g->nodes[id].need_grad = 0;
    return id;
}

int vg_sum3(vg_graph *g, float c0, int x0, float c1, int x1, float c2, int x2)
{
    int in[3] = {x0, x1, x2};
    int id = add_node(g, VG_OP_SUM3, g->nodes[x0].rows_kind, g->nodes[x0].fixed_rows,
                      g->nodes[x0].cols, x2 >= 0 ? 3 : 2, in);
    if (id >= 0) {
        g->nodes[id].fparam[0] = c0;
        g->nodes[id].fparam[1] = c1;
        g->nodes[id].fparam[2] = c2;
    }
    return id;
}

int vg_score(vg_graph *g, int logq, int reward, int baseline, float decay)
{
    int in[2] = {logq, reward};
    int id = add_node(g, VG_OP_SCORE, VG_ROWS_SAMPLES, 0, 1, 2, in);
    if (id >= 0) {
        vg_node *v = &g->nodes[id];
        v->iparam[0] = baseline;
        v->iparam[1] = 0; /* EMA not yet initialised */
        v->fparam[0] = decay;
        v->fparam[1] = 0.0f; /* EMA value */
        v->aux_cols = 1;     /* R - b per row */
        v->need_grad = g->nodes[logq].need_grad;
    }
    return id;
}

int vg_logmeanexp(vg_graph *g, int w)
{
    int id = add_node(g, VG_OP_LOGMEANEXP, VG_ROWS_BATCH, 0, 1, 1, &w);
    if (id >= 0)
        g->nodes[id].aux_cols = g->samples; /* softmax weights, L per example */
    return id;
}

int vg_bernoulli_ll(vg_graph *g, int logits, int x)
{
    int in[2] = {logits, x};
    int id = add_node(g, VG_OP_BERNOULLI_LL, VG_ROWS_SAMPLES, 0, 1, 2, in);
    if (id >= 0)
        g->nodes[id].aux_cols = g->nodes[logits].cols; /* sigmoid(logit) per entry */
    return id;
}

int vg_gauss_ll(vg_graph *g, int mean, int logsigma, int x)
{
    int in[3] = {mean, logsigma, x};
    return add_node(g, VG_OP_GAUSS_LL, VG_ROWS_SAMPLES, 0, 1, 3, in);
}

int vg_mean(vg_graph *g, int x)
{
    return add_node(g, VG_OP_MEAN, VG_ROWS_FIXED, 1, 1, 1, &x);
}

int vg_axpby(vg_graph *g, float a, int x1, float b, int x2)
{
    int in[2] = {x1, x2};
    int id = add_node(g, VG_OP_AXPBY, VG_ROWS_FIXED, 1, 1, 2, in);
    if (id >= 0) {
        g->nodes[id].fparam[0] = a;
        g->nodes[id].fparam[1] = b;
    }
    return id;
}

int vg_freebits(vg_graph *g, int mu, int lv, float lambda)
{
    int in[2] = {mu, lv};
    int K = g->nodes[mu].cols;
    int id = add_node(g, VG_OP_FREEBITS, VG_ROWS_FIXED, 1, 1, 2, in);
    if (id >= 0) {
        vg_node *v = &g->nodes[id];
        v->fparam[0] = lambda;
        v->aux = calloc((size_t)K, sizeof(float)); /* kbar per dimension */
        if (!v->aux)
            return -1; /* the node's buffers are freed with the graph */
    }
    return id;
}

int vg_absdev(vg_graph *g, int x, float c)
{
    int id = add_node(g, VG_OP_ABSDEV, VG_ROWS_FIXED, 1, 1, 1, &x);
    if (id >= 0)
        g->nodes[id].fparam[0] = c;
    return id;
}

int vg_rowsumsq(vg_graph *g, int x, float a)
{
    int id = add_node(g, VG_OP_ROWSUMSQ, g->nodes[x].rows_kind, g->nodes[x].fixed_rows, 1, 1, &x);
    if (id >= 0)
        g->nodes[id].fparam[0] = a;
    return id;
}

int vg_concat(vg_graph *g, int a, int b)
{
    int in[2] = {a, b};
    return add_node(g, VG_OP_CONCAT, g->nodes[a].rows_kind, g->nodes[a].fixed_rows,
                    g->nodes[a].cols + g->nodes[b].cols, 2, in);
}

int vg_kl_gauss(vg_graph *g, int mq, int lq, int mp, int lp)
{
    int in[4] = {mq, lq, mp, lp};
    return add_node(g, VG_OP_KL_GAUSS, VG_ROWS_BATCH, 0, 1, 4, in);
}

/* Grow one batch-dependent node's buffers to hold `cap` floats. A bound
 * input's view is dropped (the caller binds again before the next run). */
static int grow_node(vg_node *v, size_t cap)
{
    size_t aux_cap = v->cols ? cap / (size_t)v->cols * (size_t)v->aux_cols : 0;
    float *val = malloc(cap * sizeof(float));
    float *grad = v->need_grad ? malloc(cap * sizeof(float)) : NULL;
    float *aux = aux_cap ? malloc(aux_cap * sizeof(float)) : NULL;
    if (!val || (v->need_grad && !grad) || (aux_cap && !aux)) {
        free(val);
        free(grad);
        free(aux);
        return -1;
    }
    if (!v->external)
        free(v->val);
    free(v->grad);
    free(v->aux);
    v->val = val;
    v->grad = grad;
    v->aux = aux;
    v->cap = cap;
    v->external = 0;
    return 0;
}

/* ---- memory plan --------------------------------------------------------
 * An activation (relu, tanh, sigmoid, leaky relu with a > 0) or a reshape
 * whose input has no other consumer works in its input's buffers (value and
 * gradient) instead of its own: the activation in place (y = f(x) over x;
 * dx = dy f' over dy, f' written from y: [y > 0] for relu, 1 - y^2 for
 * tanh, ...), the reshape as a view (nothing to copy either way). The input
 * must be an op output of the same rows, not a parameter or a bound input,
 * and for an activation a dense or convolution, whose backward passes read
 * their inputs and their gradient but never their own value (which the
 * activation overwrites). Same arithmetic, same bits; the convolutional
 * VAE's graphs need a quarter less memory. */

/* Ops that may work in their input's buffers: a reshape (a view), and the
 * activations whose derivative can be written from their output (ops.c,
 * UNARY_INPLACE); leaky relu only with a positive slope, where y has x's sign. */
static int shareable_op(const vg_node *y)
{
    switch (y->op) {
    case VG_OP_RESHAPE:
    case VG_OP_RELU:
    case VG_OP_TANH:
    case VG_OP_SIGMOID:
        return 1;
    case VG_OP_LEAKY_RELU:
        return y->fparam[0] > 0.0f;
    default:
        return 0;
    }
}

static int can_share(const vg_graph *g, const vg_node *y, const int *uses)
{
    if (!shareable_op(y) || y->n_in != 1 || uses[y->in[0]] != 1)
        return 0;
    const vg_node *x = &g->nodes[y->in[0]];
    /* an op's output: inputs are bound to the caller's rows after vg_set_batch */
    int own_buffers = x->op != VG_OP_INPUT && x->op != VG_OP_PARAM && (!x->external || x->shared);
    int same_rows = x->rows_kind == y->rows_kind && x->rows_kind != VG_ROWS_FIXED &&
                    x->cols == y->cols && x->need_grad == y->need_grad;
    int writable = x->op == VG_OP_DENSE || x->op == VG_OP_CONV2D || x->op == VG_OP_CONVT2D;
    return own_buffers && same_rows && (y->op == VG_OP_RESHAPE || writable);
}

/* Decide the shared flags for the graph's nodes; a node that stops sharing
 * gets its own buffers at the next growth (forced). 0, or -1 on no memory. */
static int plan_memory(vg_graph *g)
{
    int *uses = calloc((size_t)g->n_nodes + 1, sizeof *uses);
    if (!uses)
        return -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            uses[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->n_nodes; i++) {
        vg_node *v = &g->nodes[i];
        int want = can_share(g, v, uses);
        if (want == v->shared)
            continue;
        if (want && !v->external) {
            free(v->val);
            free(v->grad);
        }
        v->val = v->grad = NULL;
        v->cap = 0;
        v->shared = want;
        v->external = want;
        if (!want)
            g->cap_batch = 0; /* it needs buffers of its own now */
    }
    free(uses);
    g->planned = g->n_nodes;
    return 0;
}

int vg_set_batch(vg_graph *g, int n)
{
    if (g->planned != g->n_nodes && plan_memory(g) != 0)
        return -1;
    if (n > g->cap_batch) {
        for (int i = 0; i < g->n_nodes; i++) {
            vg_node *v = &g->nodes[i];
            if (vg_ops[v->op].reserve && vg_ops[v->op].reserve(g, v, rows_for(g, v, n)) != 0)
                return -1;
            if (v->rows_kind == VG_ROWS_FIXED || v->shared)
                continue;
            size_t cap = (size_t)rows_for(g, v, n) * (size_t)v->cols;
            if (cap > v->cap && grow_node(v, cap) != 0)
                return -1; /* nodes grown so far keep larger buffers: still consistent */
        }
        g->cap_batch = n;
    }
    g->batch = n;
    for (int i = 0; i < g->n_nodes; i++) {
        vg_node *v = &g->nodes[i];
        v->rows = rows_for(g, v, n);
        if (v->shared) { /* inputs come first: x's pointers are final here */
            const vg_node *x = &g->nodes[v->in[0]];
            v->val = x->val;
            v->grad = x->grad;
            v->cap = x->cap;
        }
    }
    return 0;
}

void vg_bind(vg_graph *g, int node, const float *data)
{
    vg_node *v = &g->nodes[node];
    if (!v->external)
        free(v->val);
    /* A bound input is a read-only view; the cast is safe because inputs are never written. */
    v->val = (float *)data;
    v->external = 1;
    v->cap = 0; /* forces a fresh buffer if the batch ever grows */
}

void vg_forward(vg_graph *g, int upto)
{
    int last = upto < 0 ? g->n_nodes - 1 : upto;
    for (int i = 0; i <= last; i++) {
        vg_node *v = &g->nodes[i];
        if (vg_ops[v->op].forward)
            vg_ops[v->op].forward(g, v);
    }
}

void vg_backward(vg_graph *g, int loss)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].grad_ready = 0;
    vg_node *l = &g->nodes[loss];
    l->grad[0] = 1.0f;
    l->grad_ready = 1;
    for (int i = loss; i >= 0; i--) {
        vg_node *v = &g->nodes[i];
        if (v->need_grad && v->grad_ready && vg_ops[v->op].backward)
            vg_ops[v->op].backward(g, v);
    }
    /* A parameter the loss does not reach has gradient zero, not last step's value. */
    for (int i = 0; i < g->n_nodes; i++) {
        vg_node *v = &g->nodes[i];
        if (v->op == VG_OP_PARAM && v->need_grad && !v->grad_ready)
            memset(v->grad, 0, (size_t)v->rows * (size_t)v->cols * sizeof(float));
    }
}

void vg_family_sample(int family, vt_rng *rng, float *out, size_t n)
{
    switch (family) {
    case VG_FAMILY_LAPLACE:
        /* inverse CDF: eps = -sign(u) log(1 - 2|u|), u ~ U(-1/2, 1/2) */
        for (size_t i = 0; i < n; i++) {
            double u = vt_rng_uniform(rng) - 0.5;
            double a = 1.0 - 2.0 * fabs(u);
            if (a <= 0.0)
                a = 0x1.0p-53;
            out[i] = (float)(u < 0 ? log(a) : -log(a));
        }
        break;
    case VG_FAMILY_LOGISTIC:
        /* inverse CDF: eps = log(u / (1 - u)), u ~ U(0, 1) */
        for (size_t i = 0; i < n; i++) {
            double u = vt_rng_uniform(rng);
            if (u <= 0.0)
                u = 0x1.0p-53;
            out[i] = (float)log(u / (1.0 - u));
        }
        break;
    default:
        vt_rng_normal(rng, out, n);
    }
}

/* Draws below this many stay on the caller (the hand-off costs more). */
#define SAMPLE_SPLIT_MIN 512

/* Draws of a family that take whole uniforms of their own: one each for the
 * inverse CDFs, a pair of normals from a pair of uniforms (Box-Muller), so
 * a part of the draws may start only at a multiple of this. */
static size_t family_group(int family)
{
    return family == VG_FAMILY_LAPLACE || family == VG_FAMILY_LOGISTIC ? 1 : 2;
}

/* The uniforms vg_family_sample takes for n draws: a last odd normal still
 * takes its pair's two. */
static size_t family_uniforms(int family, size_t n)
{
    size_t k = family_group(family);
    return (n + k - 1) / k * k;
}

typedef struct sample_task {
    int family;
    float *out;
    size_t n, align;
    vt_rng start[VT_MAX_PARTS]; /* the generator where each part's draws begin */
} sample_task;

static void sample_part(void *ctx, int part, int parts)
{
    sample_task *t = ctx;
    size_t lo, hi;
    vt_pool_range(t->n, t->align, part, parts, &lo, &hi);
    if (lo < hi) {
        vt_rng r = t->start[part];
        vg_family_sample(t->family, &r, t->out + lo, hi - lo);
    }
}

void vg_family_sample_on(vt_pool *pool, int family, vt_rng *rng, float *out, size_t n)
{
    int parts = vt_pool_parts(pool);
    if (parts == 1 || n < SAMPLE_SPLIT_MIN) {
        vg_family_sample(family, rng, out, n);
        return;
    }
    /* The caller walks the generator past each part's uniforms (one 64-bit
     * step each, a few nanoseconds) and keeps where every part begins; the
     * parts then turn their uniforms into draws (the logarithms and sines,
     * the cost) from there (family_group, family_uniforms). */
    sample_task task;
    task.family = family;
    task.out = out;
    task.n = n;
    task.align = family_group(family);
    for (int i = 0; i < parts; i++) {
        size_t lo, hi;
        vt_pool_range(n, task.align, i, parts, &lo, &hi);
        task.start[i] = *rng;
        for (size_t k = family_uniforms(family, hi - lo); k > 0; k--)
            (void)vt_rng_u64(rng);
    }
    vt_pool_run(pool, sample_part, &task);
}

int vg_add_op(vg_graph *g, int op, int rows_kind, int fixed_rows, int cols, int n_in,
              const int *in)
{
    return add_node(g, op, rows_kind, fixed_rows, cols, n_in, in);
}
