/* Image ops: 2-D convolution and transposed convolution, reshape, layer
 * normalisation, and the channel-major <-> position-major permutations.
 *
 * Layout. A row of an image node is one example (or sample) in NCHW order,
 * x[(c*H + h)*W + w] for the node's shape (C, H, W).
 *
 * Convolution is im2col + sgemm (Caffe's and ggml's way). For an image
 * (C, H, W), a k x k kernel, stride s, padding p and Ho x Wo output
 * positions, im2col writes the matrix
 *   cols[(c*k + i)*k + j][oh*Wo + ow] = x[c][oh*s - p + i][ow*s - p + j]   (0 outside)
 * of C*k*k rows and Ho*Wo columns; col2im is its adjoint (adds each entry
 * back to the pixel it came from). With PyTorch's weight layouts:
 *   conv2d  (w [Cout, Cin*k*k]):  y_n = w cols(x_n) + b 1^T            [Cout, Ho*Wo]
 *     dw = sum_n dy_n cols(x_n)^T,  dx_n = col2im(w^T dy_n),  db = sum_{n,pos} dy_n
 *   convt2d (w [Cin, Cout*k*k]):  y_n = col2im(w^T x_n) + b 1^T        [Cout, Ho*Wo]
 *     dw = sum_n x_n cols(dy_n)^T,  dx_n = w cols(dy_n),       db = sum_{n,pos} dy_n
 * (for convt2d, im2col/col2im run on the output image (Cout, Ho, Wo) with
 * the input's H x W positions: the transposed convolution is the adjoint
 * of the convolution mapping (Cout, Ho, Wo) to (Cin, H, W)).
 *
 * Threads and bits. The rows are cut into fixed blocks of at most VG_CONV_BLOCK
 * examples; the team's members claim whole blocks, each example's products are
 * single-threaded sgemm calls of the same shapes on the same buffers
 * whatever the team (one product per block: the block's im2col matrices
 * side by side), and the sum over examples of dw is formed per block (one
 * product with K = B*Ho*Wo into the block's own slot, beta = 0) and then
 * over the slots in block order. So every result is the same bits at
 * any thread count, whatever the sgemm kernel. db (and layernorm's dgamma,
 * dbeta) are split by channels instead: each channel sums its rows in order.
 *
 * Work space (vg_conv_reserve, in the graph's vg_scratch, which a model's
 * graphs share): one slot per thread of the team for the block it is on
 * (its patch rows [B*P, CKK], its images side by side [R, B*P] and one
 * zero-padded image, im2row's source and row2im's target) and, when
 * w is trained, one dw slot [R, CKK] per block. Nothing stays there from one
 * op call to the next, so conv2d's backward pass forms the patches of x
 * again (im2row is cheap next to the products; keeping them cost 37 MB per
 * graph for the reference conv VAE).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "tensor/blas.h"
#include "tensor/simd.h"

#define X(k) (&g->nodes[y->in[(k)]])

/* Examples per block of the dw reduction (fixed: the bits must not depend on the team). */
#define VG_CONV_BLOCK 8

/* ---- shape inference ------------------------------------------------------- */

static int shape_ok(long long c, long long h, long long w, int out[3])
{
    if (c < 1 || h < 1 || w < 1 || c * h * w > INT32_MAX)
        return -1;
    out[0] = (int)c;
    out[1] = (int)h;
    out[2] = (int)w;
    return 0;
}

static int in_ok(const int in[3])
{
    return in[0] >= 1 && in[1] >= 1 && in[2] >= 1 &&
           (long long)in[0] * in[1] * in[2] <= INT32_MAX;
}

int vg_conv2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int out[3])
{
    if (!in_ok(in) || k < 1 || stride < 1 || pad < 0)
        return -1;
    long long h = (long long)in[1] + 2LL * pad - k, w = (long long)in[2] + 2LL * pad - k;
    if (h < 0 || w < 0) /* floor division: a negative numerator is no output */
        return -1;
    if ((long long)in[0] * k * k > INT32_MAX)
        return -1;
    return shape_ok(out_ch, h / stride + 1, w / stride + 1, out);
}

int vg_convt2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int outpad,
                     int out[3])
{
    if (!in_ok(in) || k < 1 || stride < 1 || pad < 0 || outpad < 0 || outpad >= stride)
        return -1;
    long long h = ((long long)in[1] - 1) * stride - 2LL * pad + k + outpad;
    long long w = ((long long)in[2] - 1) * stride - 2LL * pad + k + outpad;
    if ((long long)out_ch * k * k > INT32_MAX)
        return -1;
    return shape_ok(out_ch, h, w, out);
}

/* ---- im2col / col2im ------------------------------------------------------- */

/* An image (C, H, W) seen through a k x k kernel at Ho x Wo positions;
 * Hp x Wp: the image with p zero rows/columns before and as many after as
 * the last window needs (padded(), below). */
typedef struct geom {
    int C, H, W, k, s, p, Ho, Wo;
    int Hp, Wp;
} geom;

static geom make_geom(const int img[3], int k, int s, int p, int Ho, int Wo)
{
    geom q = {img[0], img[1], img[2], k, s, p, Ho, Wo, 0, 0};
    int hw = (Ho - 1) * s + k, ww = (Wo - 1) * s + k; /* rows/columns from -p the windows span */
    q.Hp = hw > q.H + p ? hw : q.H + p;
    q.Wp = ww > q.W + p ? ww : q.W + p;
    return q;
}

/* Floats of a padded image. */
static size_t padded_size(const geom *q) { return (size_t)q->C * q->Hp * q->Wp; }

/* pad = img with its zero border: pad[c][p + h][p + w] = img[c][h][w], 0
 * elsewhere (every float of pad is written). Patches are then taken from
 * pad without a bounds test: about half the output positions of a stride-2,
 * padding-1 layer touch the border, and testing each of them (a zeroed
 * row, then clipped copies) cost more than the copies themselves. */
static void padded(const geom *q, const float *restrict img, float *restrict pad)
{
    size_t Wp = (size_t)q->Wp, W = (size_t)q->W;
    for (int c = 0; c < q->C; c++) {
        float *restrict d = pad + (size_t)c * q->Hp * Wp;
        const float *restrict src = img + (size_t)c * q->H * W;
        memset(d, 0, (size_t)q->p * Wp * sizeof(float));
        for (int h = 0; h < q->H; h++) {
            float *restrict row = d + ((size_t)q->p + h) * Wp;
            for (int j = 0; j < q->p; j++) /* a few floats: no memset call */
                row[j] = 0.0f;
            memcpy(row + q->p, src + h * W, W * sizeof(float));
            for (size_t j = (size_t)q->p + W; j < Wp; j++)
                row[j] = 0.0f;
        }
        memset(d + ((size_t)q->p + q->H) * Wp, 0,
               ((size_t)q->Hp - q->p - q->H) * Wp * sizeof(float));
    }
}

/* img[c][h][w] = pad[c][p + h][p + w]: the inside of pad back. */
static void unpadded(const geom *q, const float *restrict pad, float *restrict img)
{
    size_t Wp = (size_t)q->Wp, W = (size_t)q->W;
    for (int c = 0; c < q->C; c++)
        for (int h = 0; h < q->H; h++)
            memcpy(img + ((size_t)c * q->H + h) * W,
                   pad + ((size_t)c * q->Hp + q->p + h) * Wp + q->p, W * sizeof(float));
}

/* The patches of one image, one row of C*k*k values per output position:
 *   rows[oh*Wo + ow][(c*k + i)*k + j] = img[c][oh*s - p + i][ow*s - p + j]   (0 outside)
 * i.e. cols(img)^T, taken from the padded image `pad` (padded(), filled by
 * the caller): for each (c, i) the k values are k neighbours, whatever the
 * stride, so every position is the same short contiguous copies. Inlined
 * with k a constant for the common kernel widths (the copies of a channel
 * then stay in registers: with k a variable GCC kept the loop counters on
 * the stack and the loop ran at a fraction of the store rate). */
static inline void im2row_k(const geom *q, const float *restrict pad, float *restrict rows,
                            const int k)
{
    int C = q->C;
    size_t CKK = (size_t)C * k * k, HWp = (size_t)q->Hp * q->Wp, Wp = (size_t)q->Wp;
    for (int oh = 0; oh < q->Ho; oh++)
        for (int ow = 0; ow < q->Wo; ow++) {
            float *restrict row = rows + ((size_t)oh * q->Wo + ow) * CKK;
            const float *src = pad + (size_t)oh * q->s * Wp + (size_t)ow * q->s;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                        row[((size_t)c * k + i) * k + j] = src[c * HWp + (size_t)i * Wp + j];
        }
}

static void im2row(const geom *q, const float *restrict img, float *restrict rows,
                   float *restrict pad)
{
    padded(q, img, pad);
    switch (q->k) {
    case 3: im2row_k(q, pad, rows, 3); break;
    case 4: im2row_k(q, pad, rows, 4); break;
    default: im2row_k(q, pad, rows, q->k);
    }
}

/* The adjoint: img[c][oh*s - p + i][ow*s - p + j] += rows[oh*Wo + ow][(c*k + i)*k + j]
 * (positions in order, so each pixel receives its terms in (oh, ow) order,
 * added to its value before: the padded copy starts from img, and the terms
 * that fall on the border are dropped with it); add = 0: img = the sum of
 * its terms alone. */
static inline void row2pad_k(const geom *q, const float *restrict rows, float *restrict pad,
                             const int k)
{
    int C = q->C;
    size_t CKK = (size_t)C * k * k, HWp = (size_t)q->Hp * q->Wp, Wp = (size_t)q->Wp;
    for (int oh = 0; oh < q->Ho; oh++)
        for (int ow = 0; ow < q->Wo; ow++) {
            const float *restrict row = rows + ((size_t)oh * q->Wo + ow) * CKK;
            float *dst = pad + (size_t)oh * q->s * Wp + (size_t)ow * q->s;
            for (int c = 0; c < C; c++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                        dst[c * HWp + (size_t)i * Wp + j] += row[((size_t)c * k + i) * k + j];
        }
}

static void row2im_add(const geom *q, const float *restrict rows, float *restrict img,
                       float *restrict pad, int add)
{
    if (add)
        padded(q, img, pad);
    else /* img = the terms alone: start from zeros (the same sums: 0 + t1 + ...) */
        memset(pad, 0, padded_size(q) * sizeof(float));
    switch (q->k) {
    case 3: row2pad_k(q, rows, pad, 3); break;
    case 4: row2pad_k(q, rows, pad, 4); break;
    default: row2pad_k(q, rows, pad, q->k);
    }
    unpadded(q, pad, img);
}

/* A block's B images side by side: stage[c][b*P + i] = src_b[c*P + i], src_b = src + b*stride. */
static void gather_block(const float *restrict src, size_t stride, int B, int C, size_t P,
                         float *restrict stage)
{
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++)
            memcpy(stage + ((size_t)c * B + b) * P, src + b * stride + (size_t)c * P,
                   P * sizeof(float));
}

/* The inverse: dst_b[c*P + i] = stage[c][b*P + i] (+ bias[c]), or += when add. */
static void scatter_block(const float *restrict stage, float *restrict dst, size_t stride, int B,
                          int C, size_t P, const float *bias, int add)
{
    for (int c = 0; c < C; c++)
        for (int b = 0; b < B; b++) {
            const float *s = stage + ((size_t)c * B + b) * P;
            float *d = dst + b * stride + (size_t)c * P, v = bias ? bias[c] : 0.0f;
            if (add)
                for (size_t i = 0; i < P; i++)
                    d[i] += s[i];
            else
                for (size_t i = 0; i < P; i++)
                    d[i] = s[i] + v;
        }
}

/* ---- convolution nodes ------------------------------------------------------
 * iparam = {k, stride, pad, outpad}; the input's shape is X(0)->shape, the
 * output's y->shape. in: {x, w[, b]}.
 *
 * A block of B examples is one product: its im2col matrices side by side
 * (cols [CKK, B*P], CKK = w's cols, P = q.Ho*q.Wo the positions im2col
 * runs over) and its images on w's rows side by side (stage [R, B*P], R =
 * w's rows: conv2d's y or dy, convt2d's x or dx). */

static int is_convt(const vg_node *y) { return y->op == VG_OP_CONVT2D; }

/* The geometry im2col/col2im use: x's image for conv2d, y's for convt2d. */
static geom conv_geom(const vg_graph *g, const vg_node *y)
{
    const int *img = is_convt(y) ? y->shape : g->nodes[y->in[0]].shape;
    const int *pos = is_convt(y) ? g->nodes[y->in[0]].shape : y->shape;
    return make_geom(img, y->iparam[0], y->iparam[1], y->iparam[2], pos[1], pos[2]);
}

/* Blocks of a batch: ceil(rows / 8), made even (when rows allow) so that two
 * threads get the same number of examples (batch 100: 14 blocks of 7 or 8,
 * not 13 of 8 and one of 4). Depends on rows only, never on the team. */
static size_t n_blocks(int rows)
{
    size_t nb = ((size_t)rows + VG_CONV_BLOCK - 1) / VG_CONV_BLOCK;
    return nb % 2 && nb < (size_t)rows ? nb + 1 : nb;
}

/* Block blk covers rows [floor(blk*rows/nb), floor((blk+1)*rows/nb)): at most 8. */
static size_t block_start(int rows, size_t blk)
{
    return blk * (size_t)rows / n_blocks(rows);
}

/* A block's work space: rows [8P, CKK], stage [R, 8P] and a padded image
 * in the slot of the thread working on it, and the block's own dw slot
 * [R, CKK]. */
typedef struct conv_block {
    float *rows, *stage, *pad, *dw;
    size_t n0;   /* first example */
    int B;       /* examples in the block */
    size_t P;    /* positions per example */
    size_t ld;   /* B*P: the block's positions, stage's row length */
} conv_block;

/* Floats of one thread's slot: rows [8P, CKK], stage [R, 8P], a padded image. */
static size_t slot_size(const vg_graph *g, const vg_node *y)
{
    geom q = conv_geom(g, y);
    const vg_node *w = &g->nodes[y->in[1]];
    return ((size_t)w->cols + (size_t)w->rows) * (size_t)q.Ho * q.Wo * VG_CONV_BLOCK +
           padded_size(&q);
}

/* Floats of the dw slots: one [R, CKK] per block when w is trained (the
 * sum over blocks is formed in block order after the blocks are done). */
static size_t dw_size(const vg_graph *g, const vg_node *y, int rows)
{
    const vg_node *w = &g->nodes[y->in[1]];
    return w->need_grad ? n_blocks(rows) * (size_t)w->rows * w->cols : 0;
}

/* Threads' slots a pass over `rows` rows can use: one per part of the team,
 * at most one per block. */
static size_t slots_wanted(const vg_graph *g, int rows)
{
    size_t parts = (size_t)vt_pool_parts(g->pool), nb = n_blocks(rows);
    return parts < nb ? parts : nb;
}

/* The graph's work space (vg_scratch, shared by a model's graphs) must hold
 * the dw slots and one slot per thread. Nothing is kept in it between op
 * calls: conv2d's backward pass recomputes the patches of x (an im2row per
 * example) instead of keeping every block's patches from the forward pass,
 * which for the reference conv VAE were 37 MB per graph. */
int vg_conv_reserve(vg_graph *g, vg_node *y, int rows)
{
    if (rows < 1)
        return 0;
    return vg_scratch_reserve(g, dw_size(g, y, rows) + slots_wanted(g, rows) * slot_size(g, y));
}

static conv_block get_block(vg_graph *g, const vg_node *y, size_t blk, size_t slot)
{
    geom q = conv_geom(g, y);
    const vg_node *w = &g->nodes[y->in[1]];
    float *base = vg_scratch_of(g)->buf;
    conv_block c;
    c.P = (size_t)q.Ho * q.Wo;
    c.n0 = block_start(y->rows, blk);
    c.B = (int)(block_start(y->rows, blk + 1) - c.n0);
    c.ld = (size_t)c.B * c.P;
    c.dw = w->need_grad ? base + blk * (size_t)w->rows * w->cols : NULL;
    c.rows = base + dw_size(g, y, y->rows) + slot * slot_size(g, y);
    c.stage = c.rows + (size_t)w->cols * c.P * VG_CONV_BLOCK;
    c.pad = c.stage + (size_t)w->rows * c.P * VG_CONV_BLOCK;
    return c;
}

/* ---- the team over blocks -----------------------------------------------
 * The team's members claim blocks one at a time (vt_pool_run_each); the
 * member running a block works in its own slot. Which member computes a
 * block does not change its bits (the same single-threaded calls on the
 * same values), and claiming block by block instead of a fixed half each
 * keeps both threads busy to the end: with 14 blocks of 7 or 8 examples a
 * fixed split waited for the slower half, and a member the OS took away
 * held up all of its blocks. */

typedef void (*block_fn)(vg_graph *g, vg_node *y, const conv_block *c, int first);

typedef struct block_task {
    vg_graph *g;
    vg_node *y;
    block_fn fn;
    int first;
} block_task;

static void block_item(void *ctx, size_t blk, int self)
{
    const block_task *t = ctx;
    conv_block c = get_block(t->g, t->y, blk, (size_t)self);
    t->fn(t->g, t->y, &c, t->first);
}

/* Below this many multiply-adds a pass runs on the caller alone. */
#define CONV_PAR_MIN_WORK 8192

/* fn on every block of y's rows, over the team's members that have a slot.
 * The space was reserved for the rows and the team (vg_set_batch,
 * vg_set_team); should it not be, it is reserved here, and if that fails
 * the caller makes its results NaN, which every caller of a pass reports as
 * non-finite, instead of writing past the end. 0, or -1 then. */
static int for_blocks(vg_graph *g, vg_node *y, block_fn fn, int first, size_t work)
{
    if (y->rows < 1)
        return 0;
    size_t dw = dw_size(g, y, y->rows), slot = slot_size(g, y);
    if (vg_scratch_of(g)->cap < dw + slot && vg_conv_reserve(g, y, y->rows) != 0)
        return -1;
    size_t fit = (vg_scratch_of(g)->cap - dw) / slot, want = slots_wanted(g, y->rows);
    size_t slots = fit < want ? fit : want;
    block_task t = {g, y, fn, first};
    vt_pool_run_each(g->pool, block_item, &t, n_blocks(y->rows),
                     work >= CONV_PAR_MIN_WORK ? (int)slots : 1);
    return 0;
}

/* The patches of the block's images (B rows of `img` from row n0, `stride`
 * floats apart), example after example: rows [B*P, CKK]. */
static void im2row_block(const geom *q, const conv_block *c, const float *img, size_t stride,
                         size_t CKK)
{
    for (int b = 0; b < c->B; b++)
        im2row(q, img + (c->n0 + b) * stride, c->rows + b * c->P * CKK, c->pad);
}

/* conv2d forward, one block:  y_n = w cols(x_n) + b 1^T = w rows(x_n)^T + b 1^T. */
static void conv_fwd_block(vg_graph *g, vg_node *y, const conv_block *c, int first)
{
    (void)first;
    const vg_node *x = X(0), *w = X(1), *b = y->n_in > 2 ? X(2) : NULL;
    geom q = conv_geom(g, y);
    int R = w->rows, CKK = w->cols, N = (int)c->ld;
    im2row_block(&q, c, x->val, (size_t)x->cols, (size_t)CKK);
    vt_gemm(NULL, 0, 1, R, N, CKK, 1.0f, w->val, CKK, c->rows, CKK, 0.0f, c->stage, N);
    scatter_block(c->stage, y->val + c->n0 * y->cols, (size_t)y->cols, c->B, R, c->P,
                  b ? b->val : NULL, 0);
}

/* y_n's channels set to the bias (or 0), P positions each. */
static void fill_bias(const vg_node *b, int C, size_t P, float *yn)
{
    for (int c = 0; c < C; c++) {
        float v = b ? b->val[c] : 0.0f;
        for (size_t i = 0; i < P; i++)
            yn[(size_t)c * P + i] = v;
    }
}

/* convt2d forward, one block:  y_n = col2im(w^T x_n) + b 1^T, the patches
 * x_n^T w [P, CKK] added back with row2im_add. */
static void convt_fwd_block(vg_graph *g, vg_node *y, const conv_block *c, int first)
{
    (void)first;
    const vg_node *x = X(0), *w = X(1), *b = y->n_in > 2 ? X(2) : NULL;
    geom q = conv_geom(g, y);
    int R = w->rows, CKK = w->cols, N = (int)c->ld;
    size_t Pout = (size_t)y->shape[1] * y->shape[2];
    gather_block(x->val + c->n0 * x->cols, (size_t)x->cols, c->B, R, c->P, c->stage);
    vt_gemm(NULL, 1, 0, N, CKK, R, 1.0f, c->stage, N, w->val, CKK, 0.0f, c->rows, CKK);
    for (int e = 0; e < c->B; e++) {
        float *yn = y->val + (c->n0 + e) * y->cols;
        fill_bias(b, y->shape[0], Pout, yn);
        row2im_add(&q, c->rows + e * c->P * CKK, yn, c->pad, 1);
    }
}

static size_t conv_work(const vg_graph *g, const vg_node *y)
{
    const vg_node *w = &g->nodes[y->in[1]];
    geom q = conv_geom(g, y);
    return (size_t)y->rows * (size_t)w->rows * w->cols * (size_t)q.Ho * q.Wo;
}

static void poison(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = NAN;
}

void vg_conv2d_fwd(vg_graph *g, vg_node *y)
{
    if (for_blocks(g, y, conv_fwd_block, 0, conv_work(g, y)) != 0)
        poison(y->val, (size_t)y->rows * y->cols);
}

void vg_convt2d_fwd(vg_graph *g, vg_node *y)
{
    if (for_blocks(g, y, convt_fwd_block, 0, conv_work(g, y)) != 0)
        poison(y->val, (size_t)y->rows * y->cols);
}

/* conv2d backward, one block; first: dx is overwritten, not added to.
 *   slot_blk = sum_{n in blk} dy_n rows(x_n) (one product over the block);
 *   dx_n (+)= col2im(w^T dy_n), from the patches dy_n^T w [P, CKK] */
static void conv_bwd_block(vg_graph *g, vg_node *y, const conv_block *c, int first)
{
    vg_node *x = X(0), *w = X(1);
    geom q = conv_geom(g, y);
    int R = w->rows, CKK = w->cols, N = (int)c->ld;
    gather_block(y->grad + c->n0 * y->cols, (size_t)y->cols, c->B, R, c->P, c->stage);
    if (w->need_grad) {
        im2row_block(&q, c, x->val, (size_t)x->cols, (size_t)CKK);
        vt_gemm(NULL, 0, 0, R, CKK, N, 1.0f, c->stage, N, c->rows, CKK, 0.0f, c->dw, CKK);
    }
    if (!x->need_grad)
        return;
    vt_gemm(NULL, 1, 0, N, CKK, R, 1.0f, c->stage, N, w->val, CKK, 0.0f, c->rows, CKK);
    for (int e = 0; e < c->B; e++) {
        float *dxn = x->grad + (c->n0 + e) * x->cols;
        row2im_add(&q, c->rows + e * c->P * CKK, dxn, c->pad, !first);
    }
}

/* convt2d backward, one block:
 *   slot_blk = sum_{n in blk} x_n rows(dy_n);  dx_n (+)= w rows(dy_n)^T */
static void convt_bwd_block(vg_graph *g, vg_node *y, const conv_block *c, int first)
{
    vg_node *x = X(0), *w = X(1);
    geom q = conv_geom(g, y);
    int R = w->rows, CKK = w->cols, N = (int)c->ld;
    im2row_block(&q, c, y->grad, (size_t)y->cols, (size_t)CKK);
    if (w->need_grad) {
        gather_block(x->val + c->n0 * x->cols, (size_t)x->cols, c->B, R, c->P, c->stage);
        vt_gemm(NULL, 0, 0, R, CKK, N, 1.0f, c->stage, N, c->rows, CKK, 0.0f, c->dw, CKK);
    }
    if (!x->need_grad)
        return;
    vt_gemm(NULL, 0, 1, R, N, CKK, 1.0f, w->val, CKK, c->rows, CKK, 0.0f, c->stage, N);
    scatter_block(c->stage, x->grad + c->n0 * x->cols, (size_t)x->cols, c->B, R, c->P, NULL,
                  !first);
}

/* dw[i] (+)= sum over blocks, in block order, of slot_blk[i], for i in [lo, hi). */
static void sum_dw_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *w = X(1);
    size_t nb = n_blocks(y->rows);
    for (size_t blk = 0; blk < nb; blk++) {
        const float *restrict s = get_block(g, y, blk, 0).dw;
        float *restrict d = w->grad;
        if (blk == 0 && first)
            memcpy(d + lo, s + lo, (hi - lo) * sizeof(float));
        else
            for (size_t i = lo; i < hi; i++)
                d[i] += s[i];
    }
}

#define SUM_LANES 16

/* sum_i d[i], i < n: lane l sums i = l (mod 16) in order, then the lanes in
 * order (a fixed order whatever the vector width: the clones agree). */
VT_CLONES static float sum_lanes(const float *restrict d, size_t n)
{
    float lane[SUM_LANES] = {0};
    size_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (size_t l = 0; l < SUM_LANES; l++)
            lane[l] += d[i + l];
    for (size_t l = 0; i < n; i++, l++)
        lane[l] += d[i];
    float s = 0.0f;
    for (size_t l = 0; l < SUM_LANES; l++)
        s += lane[l];
    return s;
}

/* db[c] (+)= sum_n sum_pos dy_n[c][pos] for channels c in [lo, hi), rows in order. */
static void bias_grad_channels(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *b = X(2);
    size_t P = (size_t)y->cols / (size_t)y->shape[0];
    for (size_t c = lo; c < hi; c++) {
        double acc = first ? 0.0 : b->grad[c];
        for (size_t n = 0; n < (size_t)y->rows; n++)
            acc += sum_lanes(y->grad + n * (size_t)y->cols + c * P, P);
        b->grad[c] = (float)acc;
    }
}

static void conv_backward(vg_graph *g, vg_node *y, block_fn block)
{
    vg_node *x = X(0), *w = X(1), *b = y->n_in > 2 ? X(2) : NULL;
    if (x->need_grad || w->need_grad) {
        if (for_blocks(g, y, block, !x->grad_ready, 2 * conv_work(g, y)) != 0) {
            /* no space (see for_blocks): gradients NaN, the step refuses them */
            if (x->need_grad)
                poison(x->grad, (size_t)x->rows * x->cols);
            if (w->need_grad)
                poison(w->grad, (size_t)w->rows * w->cols);
            x->grad_ready = x->grad_ready || x->need_grad;
            w->grad_ready = w->grad_ready || w->need_grad;
            w = NULL;
        } else if (x->need_grad)
            x->grad_ready = 1;
    }
    if (w && w->need_grad) {
        size_t nw = (size_t)w->rows * w->cols;
        vg_for_range(g, y, nw, 16, nw * n_blocks(y->rows), !w->grad_ready, sum_dw_range);
        w->grad_ready = 1;
    }
    if (b && b->need_grad) {
        vg_for_range(g, y, (size_t)y->shape[0], 1, (size_t)y->rows * y->cols, !b->grad_ready,
                     bias_grad_channels);
        b->grad_ready = 1;
    }
}

void vg_conv2d_bwd(vg_graph *g, vg_node *y) { conv_backward(g, y, conv_bwd_block); }

void vg_convt2d_bwd(vg_graph *g, vg_node *y) { conv_backward(g, y, convt_bwd_block); }

/* A convolution node (op conv2d or convt2d) after its sizes were checked. */
static int add_conv(vg_graph *g, int op, int x, int w, int b, const int out[3], const int ip[4])
{
    int in[3] = {x, w, b};
    const vg_node *xn = &g->nodes[x];
    int id = vg_add_op(g, op, xn->rows_kind, xn->fixed_rows, out[0] * out[1] * out[2],
                       b >= 0 ? 3 : 2, in);
    if (id < 0)
        return -1;
    vg_node *y = &g->nodes[id];
    memcpy(y->iparam, ip, 4 * sizeof(int));
    memcpy(y->shape, out, 3 * sizeof(int));
    if (y->rows_kind == VG_ROWS_FIXED && vg_conv_reserve(g, y, y->rows) != 0)
        return -1; /* the node's buffers are freed with the graph */
    return id;
}

static int node_is(const vg_graph *g, int node, int rows, int cols)
{
    return g->nodes[node].rows == rows && g->nodes[node].cols == cols;
}

static int shape_matches(const vg_node *x)
{
    return (long long)x->shape[0] * x->shape[1] * x->shape[2] == x->cols;
}

int vg_conv2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad)
{
    const vg_node *xn = &g->nodes[x];
    int out[3], ip[4] = {k, stride, pad, 0};
    if (!shape_matches(xn) || vg_conv2d_shape(xn->shape, out_ch, k, stride, pad, out) != 0)
        return -1;
    if (!node_is(g, w, out_ch, xn->shape[0] * k * k) || (b >= 0 && !node_is(g, b, 1, out_ch)))
        return -1;
    return add_conv(g, VG_OP_CONV2D, x, w, b, out, ip);
}

int vg_convt2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad,
               int outpad)
{
    const vg_node *xn = &g->nodes[x];
    int out[3], ip[4] = {k, stride, pad, outpad};
    if (!shape_matches(xn) || vg_convt2d_shape(xn->shape, out_ch, k, stride, pad, outpad, out))
        return -1;
    if (!node_is(g, w, xn->shape[0], out_ch * k * k) || (b >= 0 && !node_is(g, b, 1, out_ch)))
        return -1;
    return add_conv(g, VG_OP_CONVT2D, x, w, b, out, ip);
}

/* ---- reshape: y = x, another shape; dx = dy ------------------------------------ */

int vg_reshape(vg_graph *g, int x, int c, int h, int w)
{
    const vg_node *xn = &g->nodes[x];
    if (c < 1 || h < 1 || w < 1 || (long long)c * h * w != xn->cols)
        return -1;
    int id = vg_add_op(g, VG_OP_RESHAPE, xn->rows_kind, xn->fixed_rows, xn->cols, 1, &x);
    if (id >= 0)
        vg_set_shape(g, id, c, h, w);
    return id;
}

void vg_reshape_fwd(vg_graph *g, vg_node *y)
{
    if (!y->shared) /* else y is a view of x (graph.c, memory plan) */
        memcpy(y->val, X(0)->val, (size_t)y->rows * y->cols * sizeof(float));
}

static void copy_range(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    float *restrict dx = X(0)->grad;
    const float *restrict dy = y->grad;
    if (first)
        memcpy(dx + lo, dy + lo, (hi - lo) * sizeof(float));
    else
        for (size_t i = lo; i < hi; i++)
            dx[i] += dy[i];
}

void vg_reshape_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0);
    size_t n = (size_t)y->rows * y->cols;
    if (!y->shared) /* a view: dy already is dx */
        vg_for_range(g, y, n, 16, n, !x->grad_ready, copy_range);
    x->grad_ready = 1;
}

/* ---- layer normalisation over a row, per-channel affine ---------------------------
 * D = C*H*W features per row, c(i) the channel of feature i:
 *   m = (1/D) sum_i x_i,  v = (1/D) sum_i (x_i - m)^2,  r = 1/sqrt(v + eps)
 *   xhat_i = (x_i - m) r,  y_i = gamma_c(i) xhat_i + beta_c(i)
 * backward, with g_i = dy_i gamma_c(i):
 *   dx_i = r (g_i - mean_j(g_j) - xhat_i mean_j(g_j xhat_j))
 *   dgamma_c = sum_rows sum_{i in c} dy_i xhat_i,  dbeta_c = sum_rows sum_{i in c} dy_i
 * aux per row: xhat (D floats), then r. fparam[0] = eps. */

int vg_layernorm(vg_graph *g, int x, int gamma, int beta, float eps)
{
    const vg_node *xn = &g->nodes[x];
    int C = xn->shape[0];
    if (!shape_matches(xn) || !node_is(g, gamma, 1, C) || !node_is(g, beta, 1, C))
        return -1;
    int in[3] = {x, gamma, beta};
    int id = vg_add_op(g, VG_OP_LAYERNORM, xn->rows_kind, xn->fixed_rows, xn->cols, 3, in);
    if (id < 0)
        return -1;
    vg_node *y = &g->nodes[id];
    memcpy(y->shape, g->nodes[x].shape, sizeof y->shape);
    y->fparam[0] = eps;
    y->aux_cols = y->cols + 1;
    if (y->rows_kind == VG_ROWS_FIXED) {
        y->aux = malloc((size_t)y->rows * y->aux_cols * sizeof(float));
        if (!y->aux)
            return -1;
    }
    return id;
}

static void layernorm_fwd_rows(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    const vg_node *x = X(0), *gm = X(1), *bt = X(2);
    size_t D = (size_t)y->cols, C = (size_t)y->shape[0], P = D / C;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = x->val + r * D;
        float *yr = y->val + r * D, *xh = y->aux + r * (D + 1);
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < D; i++)
            m += xr[i];
        m /= (double)D;
        for (size_t i = 0; i < D; i++)
            v += ((double)xr[i] - m) * ((double)xr[i] - m);
        v /= (double)D;
        float rs = (float)(1.0 / sqrt(v + y->fparam[0]));
        for (size_t c = 0; c < C; c++)
            for (size_t i = c * P; i < (c + 1) * P; i++) {
                xh[i] = (float)(((double)xr[i] - m) * rs);
                yr[i] = gm->val[c] * xh[i] + bt->val[c];
            }
        xh[D] = rs;
    }
}

void vg_layernorm_fwd(vg_graph *g, vg_node *y)
{
    vg_for_range(g, y, (size_t)y->rows, 1, (size_t)y->rows * y->cols * 4, 0, layernorm_fwd_rows);
}

static void layernorm_dx_rows(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *x = X(0);
    const vg_node *gm = X(1);
    size_t D = (size_t)y->cols, C = (size_t)y->shape[0], P = D / C;
    for (size_t r = lo; r < hi; r++) {
        const float *dy = y->grad + r * D, *xh = y->aux + r * (D + 1);
        float *dx = x->grad + r * D, rs = xh[D];
        double sg = 0.0, sgx = 0.0;
        for (size_t c = 0; c < C; c++)
            for (size_t i = c * P; i < (c + 1) * P; i++) {
                double gi = (double)dy[i] * gm->val[c];
                sg += gi;
                sgx += gi * xh[i];
            }
        float mg = (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
        for (size_t c = 0; c < C; c++)
            for (size_t i = c * P; i < (c + 1) * P; i++) {
                float v = rs * (dy[i] * gm->val[c] - mg - xh[i] * mgx);
                dx[i] = first ? v : dx[i] + v;
            }
    }
}

/* dgamma_c, dbeta_c for channels c in [lo, hi); first: bit 0 gamma, bit 1 beta overwrite. */
static void layernorm_affine_channels(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    vg_node *gm = X(1), *bt = X(2);
    size_t D = (size_t)y->cols, C = (size_t)y->shape[0], P = D / C;
    for (size_t c = lo; c < hi; c++) {
        double sgm = 0.0, sbt = 0.0;
        for (size_t r = 0; r < (size_t)y->rows; r++) {
            const float *dy = y->grad + r * D + c * P, *xh = y->aux + r * (D + 1) + c * P;
            for (size_t i = 0; i < P; i++) {
                sgm += (double)dy[i] * xh[i];
                sbt += dy[i];
            }
        }
        if (gm->need_grad)
            gm->grad[c] = (first & 1) ? (float)sgm : gm->grad[c] + (float)sgm;
        if (bt->need_grad)
            bt->grad[c] = (first & 2) ? (float)sbt : bt->grad[c] + (float)sbt;
    }
}

void vg_layernorm_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0), *gm = X(1), *bt = X(2);
    size_t work = (size_t)y->rows * y->cols * 4;
    if (x->need_grad) {
        vg_for_range(g, y, (size_t)y->rows, 1, work, !x->grad_ready, layernorm_dx_rows);
        x->grad_ready = 1;
    }
    if (gm->need_grad || bt->need_grad) {
        int first = (!gm->grad_ready ? 1 : 0) | (!bt->grad_ready ? 2 : 0);
        vg_for_range(g, y, (size_t)y->shape[0], 1, work, first, layernorm_affine_channels);
        gm->grad_ready |= gm->need_grad;
        bt->grad_ready |= bt->need_grad;
    }
}

/* ---- channel-major <-> position-major -------------------------------------------
 * iparam = {C, P = H*W}.  chw_to_hwc: y[p*C + c] = x[c*P + p];  dx[c*P + p] = dy[p*C + c].
 * hwc_to_chw is the inverse: y[c*P + p] = x[p*C + c];  dx[p*C + c] = dy[c*P + p]. */

static int add_permute(vg_graph *g, int op, int x, int c, int h, int w)
{
    const vg_node *xn = &g->nodes[x];
    if (c < 1 || h < 1 || w < 1 || (long long)c * h * w != xn->cols)
        return -1;
    int id = vg_add_op(g, op, xn->rows_kind, xn->fixed_rows, xn->cols, 1, &x);
    if (id < 0)
        return -1;
    vg_node *y = &g->nodes[id];
    y->iparam[0] = c;
    y->iparam[1] = h * w;
    if (op == VG_OP_HWC_TO_CHW)
        vg_set_shape(g, id, c, h, w);
    return id;
}

int vg_chw_to_hwc(vg_graph *g, int x)
{
    const int *s = g->nodes[x].shape;
    return add_permute(g, VG_OP_CHW_TO_HWC, x, s[0], s[1], s[2]);
}

int vg_hwc_to_chw(vg_graph *g, int x, int c, int h, int w)
{
    return add_permute(g, VG_OP_HWC_TO_CHW, x, c, h, w);
}

/* dst row = src row with [a][b] -> [b][a] (a rows of b), or added when !overwrite. */
static void transpose_rows(const float *src, float *dst, size_t rows, size_t a, size_t b,
                           int overwrite)
{
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * a * b;
        float *d = dst + r * a * b;
        for (size_t i = 0; i < a; i++)
            for (size_t j = 0; j < b; j++) {
                if (overwrite)
                    d[j * a + i] = s[i * b + j];
                else
                    d[j * a + i] += s[i * b + j];
            }
    }
}

/* The row range of one direction: from x into y (forward) or dy into dx (backward). */
static void permute_rows(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first, int backward)
{
    size_t C = (size_t)y->iparam[0], P = (size_t)y->iparam[1], D = (size_t)y->cols;
    int to_hwc = (y->op == VG_OP_CHW_TO_HWC) != backward; /* the map this pass applies */
    size_t a = to_hwc ? C : P, b = to_hwc ? P : C;
    const float *src = backward ? y->grad : X(0)->val;
    float *dst = backward ? X(0)->grad : y->val;
    transpose_rows(src + lo * D, dst + lo * D, hi - lo, a, b, first);
}

static void permute_fwd_rows(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    (void)first;
    permute_rows(g, y, lo, hi, 1, 0);
}

static void permute_bwd_rows(vg_graph *g, vg_node *y, size_t lo, size_t hi, int first)
{
    permute_rows(g, y, lo, hi, first, 1);
}

static void permute_fwd(vg_graph *g, vg_node *y)
{
    size_t n = (size_t)y->rows * y->cols;
    vg_for_range(g, y, (size_t)y->rows, 1, n, 1, permute_fwd_rows);
}

static void permute_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0);
    size_t n = (size_t)y->rows * y->cols;
    vg_for_range(g, y, (size_t)y->rows, 1, n, !x->grad_ready, permute_bwd_rows);
    x->grad_ready = 1;
}

void vg_chw_to_hwc_fwd(vg_graph *g, vg_node *y) { permute_fwd(g, y); }
void vg_chw_to_hwc_bwd(vg_graph *g, vg_node *y) { permute_bwd(g, y); }
void vg_hwc_to_chw_fwd(vg_graph *g, vg_node *y) { permute_fwd(g, y); }
void vg_hwc_to_chw_bwd(vg_graph *g, vg_node *y) { permute_bwd(g, y); }
