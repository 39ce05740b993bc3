/* VQ-VAE: the nearest-code op against brute force (ties to the lowest
 * index), the straight-through and VQ-loss gradients against finite
 * differences, the EMA update against hand-computed values, dead-code
 * restarts, both codebook variants on a toy problem, the prior, bad input,
 * checkpoints (bit-exact continuation) and the MNIST comparison with the
 * Gaussian VAE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "libvae/vae.h"
#include "models/model.h"
#include "models/vqvae.h"
#include "tensor/rng.h"
#include "testutil.h"

/* ---- the nearest-code op ------------------------------------------------------ */

/* Brute force in double: argmin_k sum_j (z_j - e_kj)^2, first minimum wins. */
static int brute_nearest(const float *z, const float *cb, int K, int D)
{
    int best = 0;
    double bd = INFINITY;
    for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (int j = 0; j < D; j++) {
            double d = (double)z[j] - cb[k * D + j];
            s += d * d;
        }
        if (s < bd) {
            bd = s;
            best = k;
        }
    }
    return best;
}

/* A graph z -> vq with z an input [n, M*D] and the codebook a fixed view. */
static void check_nearest(int n, int M, int D, int K, const float *z, float *cb)
{
    vg_graph *g = vg_new(1);
    int zi = vg_input(g, VG_ROWS_BATCH, 0, M * D);
    int ci = vg_param(g, K, D, cb, NULL);
    int vq = vg_vq(g, zi, ci, M);
    ck_assert(vq >= 0);
    ck_assert_int_eq(vg_set_batch(g, n), 0);
    vg_bind(g, zi, z);
    vg_forward(g, -1);
    const float *codes = vg_vq_codes(g, vq);
    for (int r = 0; r < n * M; r++) {
        int want = brute_nearest(z + (size_t)r * D, cb, K, D);
        ck_assert_msg((int)codes[r] == want, "row %d: op chose %d, brute force %d", r,
                      (int)codes[r], want);
        ck_assert(memcmp(g->nodes[vq].val + (size_t)r * D, cb + (size_t)want * D,
                         (size_t)D * sizeof(float)) == 0);
        /* the sgemm distance agrees with the direct one to rounding */
        double direct = 0.0;
        for (int j = 0; j < D; j++) {
            double d = (double)z[r * D + j] - cb[want * D + j];
            direct += d * d;
        }
        ck_assert(fabs(vg_vq_dists(g, vq)[(size_t)r * K + want] - direct) <= 1e-4 * (1.0 + direct));
    }
    vg_free(g);
}

START_TEST(nearest_code_equals_brute_force)
{
    vt_rng rng;
    vt_rng_seed(&rng, 7, 1);
    int n = 40, M = 3, D = 5, K = 37;
    float *z = malloc(sizeof(float) * n * M * D), *cb = malloc(sizeof(float) * K * D);
    vt_rng_normal(&rng, z, (size_t)n * M * D);
    vt_rng_normal(&rng, cb, (size_t)K * D);
    check_nearest(n, M, D, K, z, cb);
    /* the same with many rows, so the BLAS uses its blocked paths */
    free(z);
    n = 300;
    z = malloc(sizeof(float) * n * M * D);
    vt_rng_normal(&rng, z, (size_t)n * M * D);
    check_nearest(n, M, D, K, z, cb);
    free(z);
    free(cb);
}
END_TEST

START_TEST(nearest_code_ties_go_to_the_lowest_index)
{
    /* Codes on the axes of R^4 at +-1 and +-2, with duplicates; latents at
     * the exact midpoints and on duplicates: exact ties in real arithmetic. */
    enum { K = 10, D = 4, N = 6 };
    float cb[K * D] = {
        2, 0, 0, 0,   /* 0 */
        0, 1, 0, 0,   /* 1 */
        0, -1, 0, 0,  /* 2: as far from the origin as 1 */
        0, 1, 0, 0,   /* 3: duplicate of 1 */
        0, 0, 2, 0,   /* 4 */
        0, 0, 0, 2,   /* 5 */
        0, 0, 2, 0,   /* 6: duplicate of 4 */
        0, 0, 0, 2,   /* 7: duplicate of 5 */
        -2, 0, 0, 0,  /* 8 */
        0, 0, 0, 0.5f /* 9 */
    };
    float z[N * D] = {
        0, 0, 0, 0.25f, /* nearest 9 uniquely */
        0, 0, 0, 0,     /* origin: 9 (0.25) beats 1/2/3 (1) */
        0, 0, 2, 0,     /* on 4 and 6: 4 */
        0, 0, 1.5f, 1.5f, /* 4, 5, 6, 7 all at distance 2.5 (9 at 3.25): 4 */
        0, 0.5f, 0, 0.25f, /* 1, 3 and 9: 1 -> 0.25+0.0625, 9 -> 0.25+0.0625: tie 1 vs 9 -> 1 */
        0, 0, 0, 1.25f, /* 5/7 at 0.5625, 9 at 0.5625: 5 */
    };
    check_nearest(2, 3, D, K, z, cb);
    vg_graph *g = vg_new(1);
    int zi = vg_input(g, VG_ROWS_BATCH, 0, D), ci = vg_param(g, K, D, cb, NULL);
    int vq = vg_vq(g, zi, ci, 1);
    vg_set_batch(g, N);
    vg_bind(g, zi, z);
    vg_forward(g, -1);
    int want[N] = {9, 9, 4, 4, 1, 5};
    for (int r = 0; r < N; r++)
        ck_assert_int_eq((int)vg_vq_codes(g, vq)[r], want[r]);
    vg_free(g);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------- */

/* Loss of a decoder: -mean bernoulli_ll(zin W + b, x). Builds the graph with
 * zin either a parameter (for finite differences) or the vq output. */
typedef struct toy {
    vg_graph *g;
    int zin, ze, vq, loss;
} toy;

enum { TN = 3, TM = 2, TD = 3, TK = 5, TX = 4 };

static toy toy_graph(float *zval, float *zgrad, float *cb, float *W, float *Wg, float *b,
                     float *bg, const float *x, int through_vq)
{
    toy t = {0};
    t.g = vg_new(1);
    vg_graph *g = t.g;
    int xi = vg_input(g, VG_ROWS_BATCH, 0, TX);
    int zi;
    if (through_vq) {
        t.ze = vg_input(g, VG_ROWS_BATCH, 0, TM * TD);
        g->nodes[t.ze].need_grad = 1; /* a gradient is wanted at z_e */
        int ci = vg_param(g, TK, TD, cb, NULL);
        zi = t.vq = vg_vq(g, t.ze, ci, TM);
    } else {
        zi = t.zin = vg_param(g, TN, TM * TD, zval, zgrad);
        g->nodes[zi].rows_kind = VG_ROWS_BATCH;
    }
    int wi = vg_param(g, TM * TD, TX, W, Wg), bi = vg_param(g, 1, TX, b, bg);
    int out = vg_dense(g, zi, wi, bi);
    int ll = vg_bernoulli_ll(g, out, xi);
    int mean = vg_mean(g, ll);
    int zero = vg_input(g, VG_ROWS_FIXED, 1, 1);
    t.loss = vg_axpby(g, -1.0f, mean, 0.0f, zero);
    vg_set_batch(g, TN);
    vg_bind(g, xi, x);
    if (through_vq) /* copied, not bound: the node owns a gradient buffer */
        memcpy(g->nodes[t.ze].val, zval, sizeof(float) * TN * TM * TD);
    return t;
}

START_TEST(straight_through_gradient_equals_decoder_input_gradient)
{
    vt_rng rng;
    vt_rng_seed(&rng, 3, 1);
    float ze[TN * TM * TD], cb[TK * TD], W[TM * TD * TX], b[TX], x[TN * TX];
    float Wg[TM * TD * TX], bg[TX], zq[TN * TM * TD], zqg[TN * TM * TD];
    vt_rng_normal(&rng, ze, sizeof ze / sizeof *ze);
    vt_rng_normal(&rng, cb, sizeof cb / sizeof *cb);
    vt_rng_normal(&rng, W, sizeof W / sizeof *W);
    vt_rng_normal(&rng, b, TX);
    for (int i = 0; i < TN * TX; i++)
        x[i] = (float)vt_rng_uniform(&rng);
    /* through the VQ op */
    toy a = toy_graph(ze, NULL, cb, W, Wg, b, bg, x, 1);
    vg_forward(a.g, -1);
    vg_backward(a.g, a.loss);
    memcpy(zq, a.g->nodes[a.vq].val, sizeof zq);
    /* the decoder alone at z = z_q */
    toy d = toy_graph(zq, zqg, cb, W, Wg, b, bg, x, 0);
    vg_forward(d.g, -1);
    vg_backward(d.g, d.loss);
    for (int i = 0; i < TN * TM * TD; i++) {
        ck_assert_msg(a.g->nodes[a.ze].grad[i] == zqg[i], "dz_e[%d] = %g, dz_q = %g", i,
                      (double)a.g->nodes[a.ze].grad[i], (double)zqg[i]);
        /* and dz_q is the true derivative: central differences in double steps */
        float keep = zq[i], h = 1e-2f;
        zq[i] = keep + h;
        vg_forward(d.g, -1);
        double up = d.g->nodes[d.loss].val[0];
        zq[i] = keep - h;
        vg_forward(d.g, -1);
        double dn = d.g->nodes[d.loss].val[0];
        zq[i] = keep;
        double fd = (up - dn) / (2.0 * h);
        ck_assert_msg(fabs(fd - zqg[i]) <= 2e-3 * (1.0 + fabs(fd)), "dz_q[%d]: %g vs fd %g", i,
                      (double)zqg[i], fd);
    }
    vg_free(a.g);
    vg_free(d.g);
}
END_TEST

/* The VQ loss: its value is (c + beta) sum ||z - e_k||^2; with (c, beta) = (0, 1)
 * the z gradient, with (1, 0) the codebook gradient, are true derivatives. */
static void check_vq_loss(float beta, float c)
{
    vt_rng rng;
    vt_rng_seed(&rng, 11, 1);
    float ze[TN * TM * TD], zg[TN * TM * TD], cb[TK * TD], cg[TK * TD];
    vt_rng_normal(&rng, ze, sizeof ze / sizeof *ze);
    vt_rng_normal(&rng, cb, sizeof cb / sizeof *cb);
    vg_graph *g = vg_new(1);
    int zi = vg_param(g, TN, TM * TD, ze, zg);
    g->nodes[zi].rows_kind = VG_ROWS_BATCH;
    int ci = vg_param(g, TK, TD, cb, cg);
    int vq = vg_vq(g, zi, ci, TM);
    int l = vg_vq_loss(g, zi, ci, vq, beta, c);
    int loss = vg_mean(g, l);
    vg_set_batch(g, TN);
    vg_forward(g, -1);
    vg_backward(g, loss);
    /* value */
    double want = 0.0;
    for (int r = 0; r < TN * TM; r++) {
        int k = brute_nearest(ze + r * TD, cb, TK, TD);
        for (int j = 0; j < TD; j++)
            want += ((double)ze[r * TD + j] - cb[k * TD + j]) * ((double)ze[r * TD + j] - cb[k * TD + j]);
    }
    want = (c + beta) * want / TN;
    ck_assert(fabs(g->nodes[loss].val[0] - want) <= 1e-5 * (1.0 + want));
    /* finite differences (small steps keep every assignment) */
    float *vals[2] = {ze, cb}, *grads[2] = {zg, cg};
    int counts[2] = {TN * TM * TD, TK * TD};
    float coef[2] = {beta, c};
    for (int which = 0; which < 2; which++) {
        for (int i = 0; i < counts[which]; i++) {
            float keep = vals[which][i], h = 1e-3f;
            vals[which][i] = keep + h;
            vg_forward(g, -1);
            double up = g->nodes[loss].val[0];
            vals[which][i] = keep - h;
            vg_forward(g, -1);
            double dn = g->nodes[loss].val[0];
            vals[which][i] = keep;
            /* the loss value carries (c + beta); the op passes only its own coefficient */
            double fd = (up - dn) / (2.0 * h) * coef[which] / (c + beta);
            ck_assert_msg(fabs(fd - grads[which][i]) <= 2e-3 * (1.0 + fabs(fd)),
                          "%s[%d]: %g vs fd %g", which ? "de" : "dz", i,
                          (double)grads[which][i], fd);
        }
    }
    vg_free(g);
}

START_TEST(vq_loss_gradients_match_finite_differences)
{
    check_vq_loss(1.0f, 0.0f);  /* commitment only: gradient to z, none to e */
    check_vq_loss(0.0f, 1.0f);  /* codebook only: gradient to e, none to z */
    check_vq_loss(0.25f, 1.0f); /* both: each gets its own coefficient */
}
END_TEST

/* Decoder parameters get true gradients of the model's training loss. */
START_TEST(model_decoder_gradients_match_finite_differences)
{
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    c.input_dim = 6;
    c.hidden[0] = 5;
    c.n_latents = 2;
    c.code_dim = 3;
    c.codebook_size = 4;
    c.codebook_update = VAE_VQ_CODEBOOK_LOSS;
    vae_vqvae *q;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    float x[4 * 6];
    vt_rng rng;
    vt_rng_seed(&rng, 5, 1);
    for (int i = 0; i < 24; i++)
        x[i] = (float)vt_rng_uniform(&rng);
    vg_graph *g = q->train_g;
    vg_set_batch(g, 4);
    vg_bind(g, q->tn.x, x);
    vg_forward(g, -1);
    vg_backward(g, q->tn.loss);
    float *grad = malloc(q->P.total * sizeof *grad);
    memcpy(grad, q->P.grad, q->P.total * sizeof *grad);
    int checked = 0;
    for (int p = 0; p < q->P.n; p++) {
        /* the decoder's: the encoder's go through the straight-through
         * estimator and the codebook's through stop-gradients (tested above) */
        if (strncmp(q->P.p[p].name, "dec.", 4) != 0)
            continue;
        size_t off = q->P.p[p].offset, cnt = (size_t)q->P.p[p].rows * q->P.p[p].cols;
        for (size_t i = off; i < off + cnt; i++) {
            float keep = q->P.val[i], h = 1e-2f;
            q->P.val[i] = keep + h;
            vg_forward(g, -1);
            double up = g->nodes[q->tn.loss].val[0];
            q->P.val[i] = keep - h;
            vg_forward(g, -1);
            double dn = g->nodes[q->tn.loss].val[0];
            q->P.val[i] = keep;
            double fd = (up - dn) / (2.0 * h);
            ck_assert_msg(fabs(fd - grad[i]) <= 3e-3 * (1.0 + fabs(fd)), "%s: %g vs fd %g",
                          q->P.p[p].name, (double)grad[i], fd);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 30);
    free(grad);
    vae_vqvae_free(q);
}
END_TEST

/* ---- codebook learning ------------------------------------------------------------ */

/* A 1-in, 1-latent, 1-dim model with z_e = x exactly (W = 1, b = 0). */
static vae_vqvae *identity_encoder(int K, float decay, int restart, int update)
{
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    c.input_dim = 1;
    c.n_hidden = 0;
    c.n_latents = 1;
    c.code_dim = 1;
    c.codebook_size = K;
    c.ema_decay = decay;
    c.restart_after = restart;
    c.codebook_update = update;
    vae_vqvae *q;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    vn_val(&q->P, q->w_ze)[0] = 1.0f;
    vn_val(&q->P, q->w_ze + 1)[0] = 0.0f;
    return q;
}

START_TEST(ema_update_matches_hand_computed_values)
{
    vae_vqvae *q = identity_encoder(2, 0.5f, 0, VAE_VQ_CODEBOOK_EMA);
    float cb[2] = {0.0f, 1.0f};
    ck_assert_int_eq(vae_vqvae_set_codebook(q, cb, 2), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_SGD);
    vae_optimizer *opt;
    ck_assert_int_eq(vae_optimizer_create(&oc, &opt, NULL), VAE_OK);
    /* step 1: 0.1, 0.2 -> code 0; 0.9 -> code 1. n = (2, 1), s = (0.3, 0.9)
     *   N = 0.5 * 0 + 0.5 * n = (1, 0.5);  m = 0.5 * e + 0.5 * s = (0.15, 0.95)
     *   N~_i = (N_i + eps) / (1.5 + 2 eps) * 1.5;  e = m / N~ */
    float x1[3] = {0.1f, 0.2f, 0.9f};
    vae_vqvae_stats st;
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x1, 3, &st), VAE_OK);
    double eps = 1e-5;
    double N0 = 1.0, N1 = 0.5, m0 = 0.5 * 0.0 + 0.5 * ((double)0.1f + (double)0.2f),
           m1 = 0.5 * 1.0 + 0.5 * (double)0.9f;
    double t = N0 + N1;
    double e0 = m0 / ((N0 + eps) / (t + 2 * eps) * t), e1 = m1 / ((N1 + eps) / (t + 2 * eps) * t);
    ck_assert(fabs(q->ema_n[0] - N0) < 1e-12 && fabs(q->ema_n[1] - N1) < 1e-12);
    ck_assert(fabs(q->ema_m[0] - m0) < 1e-7 && fabs(q->ema_m[1] - m1) < 1e-7);
    ck_assert_msg(fabs(q->codebook[0] - e0) < 1e-6 && fabs(q->codebook[1] - e1) < 1e-6,
                  "codebook (%g, %g), hand (%g, %g)", (double)q->codebook[0],
                  (double)q->codebook[1], e0, e1);
    ck_assert_int_eq((int)st.codes_used, 2);
    /* step 2 with the encoder as it is now (read z_e back from the graph) */
    float x2[2] = {0.05f, 0.3f};
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x2, 2, &st), VAE_OK);
    const float *ze = q->train_g->nodes[q->tn.ze].val;
    int k0 = fabs(ze[0] - e0) <= fabs(ze[0] - e1) ? 0 : 1, k1 = fabs(ze[1] - e0) <= fabs(ze[1] - e1) ? 0 : 1;
    double n[2] = {0, 0}, s[2] = {0, 0};
    n[k0] += 1;
    s[k0] += ze[0];
    n[k1] += 1;
    s[k1] += ze[1];
    N0 = 0.5 * N0 + 0.5 * n[0];
    N1 = 0.5 * N1 + 0.5 * n[1];
    m0 = 0.5 * m0 + 0.5 * s[0];
    m1 = 0.5 * m1 + 0.5 * s[1];
    t = N0 + N1;
    e0 = m0 / ((N0 + eps) / (t + 2 * eps) * t);
    e1 = m1 / ((N1 + eps) / (t + 2 * eps) * t);
    ck_assert(fabs(q->codebook[0] - e0) < 1e-6 && fabs(q->codebook[1] - e1) < 1e-6);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
}
END_TEST

static void check_restarts(int update)
{
    /* Code 0 near the data, codes 1..7 far away: only code 0 is ever chosen. */
    vae_vqvae *q = identity_encoder(8, 0.99f, 2, update);
    float cb[8] = {0.5f, 100, 200, 300, 400, 500, 600, 700};
    ck_assert_int_eq(vae_vqvae_set_codebook(q, cb, 8), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *opt;
    ck_assert_int_eq(vae_optimizer_create(&oc, &opt, NULL), VAE_OK);
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i / 15.0f;
    vae_vqvae_stats st;
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 16, &st), VAE_OK);
    ck_assert_int_eq((int)st.codes_used, 1);
    for (int k = 1; k < 8; k++)
        ck_assert(q->codebook[k] >= 99.0f); /* idle for 1 step: not yet */
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 16, &st), VAE_OK);
    ck_assert_int_eq((int)st.codes_used, 1);
    /* idle for 2 steps: every dead code moved onto an encoder output of this batch */
    const float *ze = q->train_g->nodes[q->tn.ze].val;
    for (int k = 1; k < 8; k++) {
        int found = 0;
        for (int r = 0; r < 16; r++)
            found |= q->codebook[k] == ze[r];
        ck_assert_msg(found, "code %d = %g is not a batch output", k, (double)q->codebook[k]);
        ck_assert_int_eq((int)q->idle[k], 0);
    }
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 16, &st), VAE_OK);
    ck_assert_int_gt((int)st.codes_used, 2);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
    /* restart_after = 0: dead codes stay where they are */
    q = identity_encoder(8, 0.99f, 0, update);
    ck_assert_int_eq(vae_vqvae_set_codebook(q, cb, 8), VAE_OK);
    ck_assert_int_eq(vae_optimizer_create(&oc, &opt, NULL), VAE_OK);
    for (int s = 0; s < 5; s++)
        ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 16, &st), VAE_OK);
    ck_assert_int_eq((int)st.codes_used, 1);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
}

START_TEST(dead_code_restart_revives_unused_codes)
{
    check_restarts(VAE_VQ_CODEBOOK_EMA);
    check_restarts(VAE_VQ_CODEBOOK_LOSS);
}
END_TEST

/* Toy data: 4 binary prototypes of 16 pixels with 5% of the pixels flipped. */
static vae_dataset *toy_data(size_t n, uint64_t seed)
{
    vt_rng rng;
    vt_rng_seed(&rng, seed, 9);
    float *x = malloc(n * 16 * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        int p = (int)vt_rng_below(&rng, 4);
        for (int j = 0; j < 16; j++) {
            int on = (j / 4 == p) || (j % 4 == p);
            if (vt_rng_uniform(&rng) < 0.05)
                on = !on;
            x[i * 16 + j] = (float)on;
        }
    }
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, 16, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    free(x);
    return ds;
}

static vae_vqvae_config toy_config(int update)
{
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    c.input_dim = 16;
    c.hidden[0] = 32;
    c.n_latents = 2;
    c.code_dim = 4;
    c.codebook_size = 8;
    c.codebook_update = update;
    c.ema_decay = 0.9f;
    c.seed = 4;
    return c;
}

static void check_learns(int update)
{
    vae_dataset *ds = toy_data(400, 1);
    vae_vqvae_config c = toy_config(update);
    vae_vqvae *q;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.lr = 3e-3f;
    vae_optimizer *opt;
    ck_assert_int_eq(vae_optimizer_create(&oc, &opt, NULL), VAE_OK);
    vae_vqvae_stats before, after;
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 100, &before), VAE_OK);
    int epochs = 40; /* small enough for valgrind; the loss variant passes a transient peak */
    for (int e = 0; e < epochs; e++)
        ck_assert_int_eq(vae_vqvae_train_epoch(q, opt, ds, 50, NULL, NULL, NULL), VAE_OK);
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 100, &after), VAE_OK);
    /* 16 Bernoulli pixels at 5% noise: the best reconstruction is near
     * 16 * H(0.05) = 3.2 nats; the untrained model is near 16 log 2 = 11. */
    ck_assert_msg(after.loss < 0.6 * before.loss, "%s: loss %g -> %g",
                  update == VAE_VQ_CODEBOOK_EMA ? "ema" : "loss", before.loss, after.loss);
    ck_assert(after.rec > before.rec);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
    vae_dataset_free(ds);
}

START_TEST(both_codebook_variants_reduce_the_loss)
{
    check_learns(VAE_VQ_CODEBOOK_EMA);
    check_learns(VAE_VQ_CODEBOOK_LOSS);
}
END_TEST

/* ---- use: encode / decode / prior / metrics ---------------------------------------- */

START_TEST(encode_decode_reconstruct_and_prior)
{
    vae_dataset *ds = toy_data(300, 2);
    vae_vqvae_config c = toy_config(VAE_VQ_CODEBOOK_EMA);
    vae_vqvae *q;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    ck_assert(fabs(vae_vqvae_bits_per_example(q) - 2 * 3.0) < 1e-12);
    vae_optimizer *opt;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer_create(&oc, &opt, NULL);
    for (int e = 0; e < 5; e++)
        ck_assert_int_eq(vae_vqvae_train_epoch(q, opt, ds, 50, NULL, NULL, NULL), VAE_OK);
    const float *x = vae_dataset_data(ds);
    int codes[300 * 2];
    float *r1 = malloc(300 * 16 * sizeof *r1), *r2 = malloc(300 * 16 * sizeof *r2);
    ck_assert_int_eq(vae_vqvae_encode(q, x, 300, codes), VAE_OK);
    for (int i = 0; i < 600; i++)
        ck_assert(codes[i] >= 0 && codes[i] < 8);
    ck_assert_int_eq(vae_vqvae_decode(q, codes, 300, r1), VAE_OK);
    ck_assert_int_eq(vae_vqvae_reconstruct(q, x, 300, r2), VAE_OK);
    ck_assert(memcmp(r1, r2, 300 * 16 * sizeof *r1) == 0);
    /* usage figures of evaluate from the codes */
    double cnt[8] = {0};
    for (int i = 0; i < 600; i++)
        cnt[codes[i]] += 1;
    double h = 0.0;
    size_t used = 0;
    for (int k = 0; k < 8; k++)
        if (cnt[k] > 0) {
            h -= cnt[k] / 600 * log(cnt[k] / 600);
            used++;
        }
    vae_vqvae_stats st;
    ck_assert_int_eq(vae_vqvae_evaluate(q, ds, 64, &st), VAE_OK);
    ck_assert(fabs(st.perplexity - exp(h)) < 1e-9 * exp(h));
    ck_assert_int_eq((int)st.codes_used, (int)used);
    /* prior: no prior yet */
    float prior[2 * 8];
    ck_assert_int_eq(vae_vqvae_get_prior(q, prior, 16), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_vqvae_sample(q, 3, NULL, r1), VAE_ERR_UNSUPPORTED);
    ck_assert(strstr(vae_vqvae_errmsg(q), "fit_prior") != NULL);
    ck_assert_int_eq(vae_vqvae_fit_prior(q, ds, 128, 0.5f), VAE_OK);
    ck_assert_int_eq(vae_vqvae_get_prior(q, prior, 16), VAE_OK);
    for (int m = 0; m < 2; m++) {
        double s = 0.0;
        for (int k = 0; k < 8; k++) {
            double cm = 0;
            for (int i = 0; i < 300; i++)
                cm += codes[i * 2 + m] == k;
            ck_assert(fabs(prior[m * 8 + k] - (cm + 0.5) / (300 + 8 * 0.5)) < 1e-6);
            s += prior[m * 8 + k];
        }
        ck_assert(fabs(s - 1.0) < 1e-5);
    }
    /* samples: code frequencies follow the prior (5 standard errors) */
    size_t ns = 4000;
    int *sc = malloc(ns * 2 * sizeof *sc);
    float *out = malloc(ns * 16 * sizeof *out);
    ck_assert_int_eq(vae_vqvae_sample(q, ns, sc, out), VAE_OK);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 8; k++) {
            double f = 0;
            for (size_t i = 0; i < ns; i++)
                f += sc[i * 2 + m] == k;
            double p = prior[m * 8 + k], se = sqrt(p * (1 - p) / ns);
            ck_assert_msg(fabs(f / ns - p) <= 5 * se + 1e-9, "position %d code %d: %g vs %g", m,
                          k, f / ns, p);
        }
    ck_assert_int_eq(vae_vqvae_decode(q, sc, 5, r1), VAE_OK);
    for (int i = 0; i < 5 * 16; i++) /* other batch sizes may take other BLAS paths */
        ck_assert(fabsf(r1[i] - out[i]) <= 1e-5f);
    free(sc);
    free(out);
    free(r1);
    free(r2);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
    vae_dataset_free(ds);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------ */

START_TEST(bad_input_is_refused_with_a_message)
{
    vae_error err;
    vae_vqvae *q = NULL;
    vae_vqvae_config c;
    ck_assert_int_eq(vae_vqvae_create(NULL, &q, &err), VAE_ERR_NULL);
    vae_vqvae_config_init(&c);
    ck_assert_int_eq(vae_vqvae_create(&c, NULL, &err), VAE_ERR_NULL);
    /* one bad field at a time: the status and the field named in the message */
    const char *names[] = {"input_dim", "n_hidden", "hidden[0]", "n_latents", "code_dim",
                           "codebook_size", "activation", "likelihood", "gaussian_sigma", "beta",
                           "codebook_update", "ema_decay", "ema_eps", "restart_after", "threads",
                           "likelihood", "beta", "ema_decay"};
    int nbad = (int)(sizeof names / sizeof *names);
    for (int i = 0; i < nbad; i++) {
        vae_vqvae_config_init(&c);
        int want = VAE_ERR_INVALID;
        switch (i) {
        case 0: c.input_dim = 0; break;
        case 1: c.n_hidden = VAE_MAX_HIDDEN + 1; break;
        case 2: c.hidden[0] = -3; break;
        case 3: c.n_latents = 0; break;
        case 4: c.code_dim = 0; break;
        case 5: c.codebook_size = 0; break;
        case 6: c.activation = 99; break;
        case 7: c.likelihood = 42; break;
        case 8: c.gaussian_sigma = 0.0f; break;
        case 9: c.beta = -1.0f; break;
        case 10: c.codebook_update = 7; break;
        case 11: c.ema_decay = 1.0f; break;
        case 12: c.ema_eps = 0.0f; break;
        case 13: c.restart_after = -1; break;
        case 14: c.threads = 0; break;
        case 15: c.likelihood = VAE_LIK_GAUSSIAN_LEARNED; want = VAE_ERR_UNSUPPORTED; break;
        case 16: c.beta = NAN; break;
        case 17: c.ema_decay = NAN; break;
        }
        ck_assert_int_eq(vae_vqvae_create(&c, &q, &err), want);
        ck_assert_ptr_null(q);
        ck_assert_msg(strstr(err.message, names[i]) != NULL, "case %d: '%s'", i, err.message);
    }
    vae_vqvae_config_init(&c);
    c.codebook_size = 65536;
    c.n_latents = 4096;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, &err), VAE_ERR_LIMIT);
    vae_vqvae_config_init(&c);
    c.struct_size = 0;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, &err), VAE_ERR_INVALID);

    /* calls on a model */
    c = toy_config(VAE_VQ_CODEBOOK_EMA);
    ck_assert_int_eq(vae_vqvae_create(&c, &q, &err), VAE_OK);
    vae_optimizer *opt;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer_create(&oc, &opt, NULL);
    float x[2 * 16] = {0}, out[2 * 16];
    int codes[4] = {0, 1, 2, 3};
    size_t P = vae_vqvae_param_count(q);
    float *p0 = malloc(P * sizeof *p0), cb0[8 * 4], cb1[8 * 4];
    memcpy(p0, q->P.val, P * sizeof *p0);
    vae_vqvae_get_codebook(q, cb0, 32);
    ck_assert_int_eq(vae_vqvae_train_step(NULL, opt, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_train_step(q, NULL, x, 2, NULL), VAE_ERR_NULL);
    ck_assert(strstr(vae_vqvae_errmsg(q), "opt") != NULL);
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, NULL, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 0, NULL), VAE_ERR_INVALID);
    x[17] = NAN;
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 2, NULL), VAE_ERR_NONFINITE);
    ck_assert(strstr(vae_vqvae_errmsg(q), "x[1][1]") != NULL);
    x[17] = 1.5f;
    ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 2, NULL), VAE_ERR_INVALID);
    ck_assert(strstr(vae_vqvae_errmsg(q), "[0, 1]") != NULL);
    ck_assert_int_eq(vae_vqvae_encode(q, x, 2, codes), VAE_ERR_INVALID);
    x[17] = 0.0f;
    ck_assert_int_eq(vae_vqvae_encode(q, x, 2, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_reconstruct(q, x, 2, NULL), VAE_ERR_NULL);
    codes[3] = 8;
    ck_assert_int_eq(vae_vqvae_decode(q, codes, 2, out), VAE_ERR_INVALID);
    ck_assert(strstr(vae_vqvae_errmsg(q), "codes[1][1] = 8") != NULL);
    codes[3] = -1;
    ck_assert_int_eq(vae_vqvae_decode(q, codes, 2, out), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_decode(q, codes, 0, out), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_sample(q, 0, NULL, out), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_get_codebook(q, cb1, 31), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_vqvae_set_codebook(q, cb1, 31), VAE_ERR_SHAPE);
    cb1[0] = INFINITY;
    ck_assert_int_eq(vae_vqvae_set_codebook(q, cb1, 32), VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_vqvae_set_threads(q, 0), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_set_threads(NULL, 1), VAE_ERR_NULL);
    /* datasets */
    vae_dataset *wrong;
    float w[3 * 5] = {0};
    vae_dataset_from_array(w, 3, 5, NULL, VAE_ARRAY_COPY, NULL, &wrong, NULL);
    ck_assert_int_eq(vae_vqvae_train_epoch(q, opt, wrong, 10, NULL, NULL, NULL), VAE_ERR_SHAPE);
    ck_assert(strstr(vae_vqvae_errmsg(q), "5 features") != NULL);
    ck_assert_int_eq(vae_vqvae_train_epoch(q, opt, NULL, 10, NULL, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_evaluate(q, wrong, 10, NULL), VAE_ERR_SHAPE);
    vae_dataset *ds = toy_data(10, 3);
    ck_assert_int_eq(vae_vqvae_train_epoch(q, opt, ds, 0, NULL, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_fit_prior(q, ds, 10, -1.0f), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_vqvae_fit_prior(q, ds, 10, NAN), VAE_ERR_INVALID);
    /* nothing changed by the failed calls */
    ck_assert(memcmp(p0, q->P.val, P * sizeof *p0) == 0);
    vae_vqvae_get_codebook(q, cb1, 32);
    ck_assert(memcmp(cb0, cb1, sizeof cb0) == 0);
    ck_assert_int_eq((int)vae_optimizer_steps(opt), 0);
    /* getters on NULL */
    ck_assert_uint_eq(vae_vqvae_param_count(NULL), 0);
    ck_assert(vae_vqvae_bits_per_example(NULL) == 0.0);
    ck_assert_str_eq(vae_vqvae_errmsg(NULL), "vq is NULL");
    vae_vqvae_config got;
    got.struct_size = sizeof got;
    ck_assert_int_eq(vae_vqvae_get_config(q, &got), VAE_OK);
    ck_assert_int_eq(got.codebook_size, 8);
    ck_assert_int_eq(vae_vqvae_get_config(NULL, &got), VAE_ERR_NULL);
    vae_vqvae_free(NULL);
    free(p0);
    vae_dataset_free(ds);
    vae_dataset_free(wrong);
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------------------------- */

static void check_round_trip(int update, int restart)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, update == VAE_VQ_CODEBOOK_EMA ? "vq-ema.ckpt" : "vq-loss.ckpt");
    vae_dataset *ds = toy_data(200, 5);
    vae_vqvae_config c = toy_config(update);
    c.restart_after = restart;
    vae_vqvae *a, *b;
    ck_assert_int_eq(vae_vqvae_create(&c, &a, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *oa, *ob;
    vae_optimizer_create(&oc, &oa, NULL);
    for (int e = 0; e < 2; e++)
        ck_assert_int_eq(vae_vqvae_train_epoch(a, oa, ds, 32, NULL, NULL, NULL), VAE_OK);
    ck_assert_int_eq(vae_vqvae_fit_prior(a, ds, 64, 1.0f), VAE_OK);
    ck_assert_int_eq(vae_vqvae_save(a, oa, path), VAE_OK);
    vae_error err;
    ck_assert_msg(vae_vqvae_load(path, &b, &ob, &err) == VAE_OK, "%s", err.message);
    ck_assert_ptr_nonnull(ob);
    vae_vqvae_stats sa, sb;
    for (int e = 0; e < 2; e++) {
        ck_assert_int_eq(vae_vqvae_train_epoch(a, oa, ds, 32, NULL, NULL, &sa), VAE_OK);
        ck_assert_int_eq(vae_vqvae_train_epoch(b, ob, ds, 32, NULL, NULL, &sb), VAE_OK);
        ck_assert(memcmp(&sa, &sb, sizeof sa) == 0);
    }
    ck_assert_uint_eq(a->P.total, b->P.total);
    ck_assert(memcmp(a->P.val, b->P.val, a->P.total * sizeof(float)) == 0);
    size_t KD = (size_t)c.codebook_size * c.code_dim;
    ck_assert(memcmp(a->codebook, b->codebook, KD * sizeof(float)) == 0);
    if (a->ema_m) {
        ck_assert(memcmp(a->ema_m, b->ema_m, KD * sizeof(double)) == 0);
        ck_assert(memcmp(a->ema_n, b->ema_n, (size_t)c.codebook_size * sizeof(double)) == 0);
    }
    float pa[2 * 8], pb[2 * 8], sa_out[4 * 16], sb_out[4 * 16];
    ck_assert_int_eq(vae_vqvae_get_prior(a, pa, 16), VAE_OK);
    ck_assert_int_eq(vae_vqvae_get_prior(b, pb, 16), VAE_OK);
    ck_assert(memcmp(pa, pb, sizeof pa) == 0);
    ck_assert_int_eq(vae_vqvae_sample(a, 4, NULL, sa_out), VAE_OK);
    ck_assert_int_eq(vae_vqvae_sample(b, 4, NULL, sb_out), VAE_OK);
    ck_assert(memcmp(sa_out, sb_out, sizeof sa_out) == 0);
    vae_vqvae_free(a);
    vae_vqvae_free(b);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_dataset_free(ds);
    remove(path);
}

START_TEST(checkpoint_round_trip_continues_bit_exactly)
{
    check_round_trip(VAE_VQ_CODEBOOK_EMA, 3);
    check_round_trip(VAE_VQ_CODEBOOK_LOSS, 0);
}
END_TEST

START_TEST(checkpoints_of_the_other_kind_are_refused)
{
    char vq_path[4096], vae_path[4096];
    tu_tmp_path(vq_path, sizeof vq_path, "kind-vq.ckpt");
    tu_tmp_path(vae_path, sizeof vae_path, "kind-vae.ckpt");
    vae_vqvae_config c = toy_config(VAE_VQ_CODEBOOK_EMA);
    vae_vqvae *q, *q2 = NULL;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    ck_assert_int_eq(vae_vqvae_save(q, NULL, vq_path), VAE_OK);
    vae_model_config mc;
    vae_model_config_init(&mc);
    mc.input_dim = 16;
    mc.hidden[0] = 8;
    mc.latent_dim = 2;
    vae_model *m, *m2 = NULL;
    ck_assert_int_eq(vae_model_create(&mc, &m, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(m, NULL, vae_path), VAE_OK);
    vae_error err;
    ck_assert_int_eq(vae_model_load(vq_path, &m2, NULL, &err), VAE_ERR_FORMAT);
    ck_assert_ptr_null(m2);
    ck_assert_msg(strstr(err.message, "vae_vqvae_load") != NULL, "%s", err.message);
    ck_assert_int_eq(vae_vqvae_load(vae_path, &q2, NULL, &err), VAE_ERR_FORMAT);
    ck_assert_ptr_null(q2);
    ck_assert_msg(strstr(err.message, "vae_model_load") != NULL, "%s", err.message);
    /* damaged and missing files */
    size_t len;
    unsigned char *bytes = tu_read_file(vq_path, &len);
    bytes[len / 2] ^= 0x40;
    ck_assert_int_eq(tu_write_file(vq_path, bytes, len), 0);
    ck_assert_int_eq(vae_vqvae_load(vq_path, &q2, NULL, &err), VAE_ERR_FORMAT);
    ck_assert_int_eq(tu_write_file(vq_path, bytes, len / 3), 0);
    ck_assert_int_eq(vae_vqvae_load(vq_path, &q2, NULL, &err), VAE_ERR_FORMAT);
    ck_assert_int_eq(vae_vqvae_load("/nonexistent/vq.ckpt", &q2, NULL, &err), VAE_ERR_IO);
    ck_assert_int_eq(vae_vqvae_load(NULL, &q2, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_save(q, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_vqvae_save(q, NULL, "/nonexistent/dir/vq.ckpt"), VAE_ERR_IO);
    free(bytes);
    vae_vqvae_free(q);
    vae_model_free(m);
    remove(vq_path);
    remove(vae_path);
}
END_TEST

/* ---- MNIST: the acceptance comparison ------------------------------------------------------ */

/* 10 epochs, Adam lr 2e-3, batch 100, hidden 400, first 9000 train, last 1000
 * test (grayscale values as Bernoulli targets, as vae-train's acceptance run):
 * the VQ-VAE (K 128, D 16, M 16, EMA) must reconstruct the test set better
 * than the Gaussian VAE (latent 20) does in its ELBO's reconstruction term,
 * with perplexity >= K / 4. */
START_TEST(mnist_vqvae_beats_the_gaussian_vae_reconstruction)
{
    if (tu_quick())
        return;
    if (!tu_mnist_dir()) {
        tu_skip("mnist_vqvae_beats_the_gaussian_vae_reconstruction",
                "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    char file[4096];
    vae_dataset *all, *train, *test;
    ck_assert_int_eq(vae_dataset_load_idx(tu_mnist_file(file, "t10k-images-idx3-ubyte.gz"), NULL,
                                          NULL, &all, NULL),
                     VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 0, 9000, &train, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 9000, 1000, &test, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.lr = 2e-3f;
    vae_optimizer *o1, *o2;
    vae_optimizer_create(&oc, &o1, NULL);
    vae_optimizer_create(&oc, &o2, NULL);
    vae_vqvae_config c;
    vae_vqvae_config_init(&c); /* 784-400, K 128, D 16, M 16, EMA */
    c.threads = 2;
    vae_vqvae *q;
    ck_assert_int_eq(vae_vqvae_create(&c, &q, NULL), VAE_OK);
    vae_model_config mc;
    vae_model_config_init(&mc); /* 784-400-20 */
    mc.threads = 2;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&mc, &m, NULL), VAE_OK);
    vae_vqvae_stats vs;
    vae_elbo_stats es;
    for (int e = 0; e < 10; e++) {
        ck_assert_int_eq(vae_vqvae_train_epoch(q, o1, train, 100, NULL, NULL, NULL), VAE_OK);
        ck_assert_int_eq(vae_model_train_epoch(m, o2, train, 100, NULL, NULL, NULL), VAE_OK);
    }
    ck_assert_int_eq(vae_vqvae_evaluate(q, test, 1000, &vs), VAE_OK);
    ck_assert_int_eq(vae_model_evaluate(m, test, 1000, &es), VAE_OK);
    printf("mnist: vq-vae test_rec %.3f perplexity %.2f used %zu; vae test_rec %.3f (elbo %.3f)\n",
           vs.rec, vs.perplexity, vs.codes_used, es.rec, es.elbo);
    ck_assert_msg(vs.rec > es.rec, "VQ-VAE test_rec %g is not better than the VAE's %g", vs.rec,
                  es.rec);
    ck_assert_msg(vs.perplexity >= 128 / 4.0, "perplexity %g < K/4", vs.perplexity);
    vae_vqvae_free(q);
    vae_model_free(m);
    vae_optimizer_free(o1);
    vae_optimizer_free(o2);
    vae_dataset_free(all);
    vae_dataset_free(train);
    vae_dataset_free(test);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vqvae");
    TCase *op = tcase_create("ops");
    tcase_add_test(op, nearest_code_equals_brute_force);
    tcase_add_test(op, nearest_code_ties_go_to_the_lowest_index);
    tcase_add_test(op, straight_through_gradient_equals_decoder_input_gradient);
    tcase_add_test(op, vq_loss_gradients_match_finite_differences);
    tcase_add_test(op, model_decoder_gradients_match_finite_differences);
    suite_add_tcase(s, op);
    TCase *cb = tcase_create("codebook");
    tcase_add_test(cb, ema_update_matches_hand_computed_values);
    tcase_add_test(cb, dead_code_restart_revives_unused_codes);
    tcase_add_test(cb, both_codebook_variants_reduce_the_loss);
    tcase_set_timeout(cb, 120);
    suite_add_tcase(s, cb);
    TCase *api = tcase_create("api");
    tcase_add_test(api, encode_decode_reconstruct_and_prior);
    tcase_add_test(api, bad_input_is_refused_with_a_message);
    tcase_add_test(api, checkpoint_round_trip_continues_bit_exactly);
    tcase_add_test(api, checkpoints_of_the_other_kind_are_refused);
    tcase_set_timeout(api, 120);
    suite_add_tcase(s, api);
    TCase *mn = tcase_create("mnist");
    tcase_add_test(mn, mnist_vqvae_beats_the_gaussian_vae_reconstruction);
    tcase_set_timeout(mn, 600);
    /* Tagged so that the unit run can leave it out (CK_EXCLUDE_TAGS=mnist in
     * tests/meson.build; Check has no CK_EXCLUDE_CASE). */
    tcase_set_tags(mn, "mnist");
    suite_add_tcase(s, mn);
    return tu_run_suite(s);
}
