/* Finite-difference gradient checks for every op of the graph layer, and the
 * analytic KL against a Monte Carlo estimate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "tensor/rng.h"
#include "gradcheck.h"
#include "testutil.h"

static void run_unary(int op, float p0, float p1, float lo, float hi)
{
    vt_rng r;
    vt_rng_seed(&r, 42, op);
    vg_graph *g = vg_new(1);
    leaf x = mk_leaf(g, 3, 5, &r, lo, hi, 1);
    /* Keep away from kinks, where finite differences are meaningless. */
    for (int i = 0; i < x.n; i++) {
        if (fabsf(x.val[i]) < 0.1f)
            x.val[i] += 0.3f;
        if (op == VG_OP_CLAMP && (fabsf(x.val[i] - p0) < 0.1f || fabsf(x.val[i] - p1) < 0.1f))
            x.val[i] += 0.25f;
    }
    int y = vg_unary(g, op, x.node, p0, p1);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(vg_set_batch(g, 1), 0);
    check_grads(g, y, &x, 1, &r, 1e-3, 2e-3);
    free_leaf(&x);
    vg_free(g);
}

START_TEST(test_relu) { run_unary(VG_OP_RELU, 0, 0, -2, 2); }
END_TEST
START_TEST(test_leaky_relu) { run_unary(VG_OP_LEAKY_RELU, 0.1f, 0, -2, 2); }
END_TEST
START_TEST(test_tanh) { run_unary(VG_OP_TANH, 0, 0, -2, 2); }
END_TEST
START_TEST(test_sigmoid) { run_unary(VG_OP_SIGMOID, 0, 0, -4, 4); }
END_TEST
START_TEST(test_softplus) { run_unary(VG_OP_SOFTPLUS, 0, 0, -4, 4); }
END_TEST
START_TEST(test_clamp) { run_unary(VG_OP_CLAMP, -1.0f, 1.5f, -3, 3); }
END_TEST

START_TEST(test_relu_values)
{
    vg_graph *g = vg_new(1);
    float xv[4] = {-1.0f, 0.0f, 2.0f, -0.5f};
    int x = vg_param(g, 1, 4, xv, NULL);
    int y = vg_unary(g, VG_OP_LEAKY_RELU, x, 0.5f, 0);
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    const float expect[4] = {-0.5f, 0.0f, 2.0f, -0.25f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(g->nodes[y].val[i], expect[i]);
    vg_free(g);
}
END_TEST

/* relu, leaky relu and clamp keep a NaN (PyTorch does too): mapping it to
 * 0 or to a bound would hide a failure upstream from every later check.
 * relu and leaky relu also in place (after a dense op, the memory plan's case). */
START_TEST(test_activations_keep_nan)
{
    const int ops[3] = {VG_OP_RELU, VG_OP_LEAKY_RELU, VG_OP_CLAMP};
    for (int k = 0; k < 3; k++)
        for (int inplace = 0; inplace < 2; inplace++) {
            vg_graph *g = vg_new(1);
            float xv[4] = {NAN, -1.0f, 0.5f, 40.0f}, w[1] = {1.0f}, b[1] = {0.0f};
            int x = vg_input(g, VG_ROWS_BATCH, 0, 1), y;
            if (inplace)
                x = vg_dense(g, x, vg_param(g, 1, 1, w, NULL), vg_param(g, 1, 1, b, NULL));
            ck_assert_int_ge(x, 0);
            y = vg_unary(g, ops[k], x, ops[k] == VG_OP_CLAMP ? -30.0f : 0.1f, 20.0f);
            ck_assert_int_eq(vg_set_batch(g, 4), 0);
            ck_assert_int_eq(g->nodes[y].shared, inplace && ops[k] != VG_OP_CLAMP);
            memcpy(g->nodes[inplace ? g->nodes[x].in[0] : x].val, xv, sizeof xv);
            vg_forward(g, -1);
            const float *v = g->nodes[y].val;
            ck_assert(isnan(v[0]));
            ck_assert_float_eq(v[1], ops[k] == VG_OP_RELU ? 0.0f : ops[k] == VG_OP_LEAKY_RELU ? -0.1f : -1.0f);
            ck_assert_float_eq(v[2], 0.5f);
            ck_assert_float_eq(v[3], ops[k] == VG_OP_CLAMP ? 20.0f : 40.0f);
            vg_free(g);
        }
}
END_TEST

START_TEST(test_dense)
{
    vt_rng r;
    vt_rng_seed(&r, 7, 0);
    vg_graph *g = vg_new(1);
    leaf l[3] = {mk_leaf(g, 4, 6, &r, -1, 1, 1), mk_leaf(g, 6, 3, &r, -1, 1, 1),
                 mk_leaf(g, 1, 3, &r, -1, 1, 1)};
    int y = vg_dense(g, l[0].node, l[1].node, l[2].node);
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    /* Value check against a plain triple loop. */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            double s = l[2].val[j];
            for (int k = 0; k < 6; k++)
                s += (double)l[0].val[i * 6 + k] * l[1].val[k * 3 + j];
            ck_assert_double_eq_tol(g->nodes[y].val[i * 3 + j], s, 1e-5);
        }
    check_grads(g, y, l, 3, &r, 1e-3, 2e-3);
    for (int k = 0; k < 3; k++)
        free_leaf(&l[k]);
    vg_free(g);
}
END_TEST

/* A batch-row input node filled with given values. */
static int data_input(vg_graph *g, int kind, int cols)
{
    return vg_input(g, kind, 0, cols);
}

static void fill_input(vg_graph *g, int node, vt_rng *r, int normal, float lo, float hi)
{
    vg_node *v = &g->nodes[node];
    int n = v->rows * v->cols;
    if (normal)
        vt_rng_normal(r, v->val, (size_t)n);
    else
        for (int i = 0; i < n; i++)
            v->val[i] = (float)(lo + (hi - lo) * vt_rng_uniform(r));
}

START_TEST(test_reparam)
{
    vt_rng r;
    vt_rng_seed(&r, 9, 0);
    vg_graph *g = vg_new(3);
    leaf l[2] = {mk_leaf(g, 2, 4, &r, -1, 1, 1), mk_leaf(g, 2, 4, &r, -2, 1, 1)};
    /* mu and lv as batch-row nodes: feed them through a zero-cost clamp with a wide range. */
    int eps = data_input(g, VG_ROWS_SAMPLES, 4);
    int z = vg_reparam(g, l[0].node, l[1].node, eps, 0);
    vg_set_batch(g, 2);
    fill_input(g, eps, &r, 1, 0, 0);
    vg_forward(g, -1);
    for (int row = 0; row < 6; row++)
        for (int j = 0; j < 4; j++) {
            int i = row / 3;
            double expect = l[0].val[i * 4 + j] +
                            exp(0.5 * l[1].val[i * 4 + j]) * g->nodes[eps].val[row * 4 + j];
            ck_assert_double_eq_tol(g->nodes[z].val[row * 4 + j], expect, 1e-5);
        }
    check_grads(g, z, l, 2, &r, 1e-3, 2e-3);
    free_leaf(&l[0]);
    free_leaf(&l[1]);
    vg_free(g);
}
END_TEST

START_TEST(test_kl_stdnormal)
{
    vt_rng r;
    vt_rng_seed(&r, 11, 0);
    vg_graph *g = vg_new(1);
    leaf l[2] = {mk_leaf(g, 3, 4, &r, -1, 1, 1), mk_leaf(g, 3, 4, &r, -2, 1, 1)};
    int kl = vg_kl_stdnormal(g, l[0].node, l[1].node);
    g->nodes[kl].rows_kind = VG_ROWS_FIXED; /* mu/lv are fixed-row leaves here */
    g->nodes[kl].fixed_rows = 3;
    vg_node *k = &g->nodes[kl];
    k->val = calloc(3, sizeof(float));
    k->grad = calloc(3, sizeof(float));
    k->cap = 3;
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    for (int i = 0; i < 3; i++) {
        /* KL(N(m, s^2) || N(0,1)) = log(1/s) + (s^2 + m^2)/2 - 1/2 per dimension. */
        double e = 0.0;
        for (int j = 0; j < 4; j++) {
            double m = l[0].val[i * 4 + j], s2 = exp(l[1].val[i * 4 + j]);
            e += -0.5 * log(s2) + 0.5 * (s2 + m * m) - 0.5;
        }
        ck_assert_double_eq_tol(k->val[i], e, 1e-5);
    }
    check_grads(g, kl, l, 2, &r, 1e-3, 2e-3);
    free_leaf(&l[0]);
    free_leaf(&l[1]);
    vg_free(g);
}
END_TEST

static void run_logq(int family)
{
    vt_rng r;
    vt_rng_seed(&r, 12, (uint64_t)family);
    vg_graph *g = vg_new(2);
    leaf l[3] = {mk_leaf(g, 2, 3, &r, -1, 1, 1), mk_leaf(g, 2, 3, &r, -1, 1, 1),
                 mk_leaf(g, 4, 3, &r, -2, 2, 1)};
    if (family == VG_FAMILY_LAPLACE) /* keep z away from the kink at z = mu */
        for (int row = 0; row < 4; row++)
            for (int j = 0; j < 3; j++) {
                float *z = &l[2].val[row * 3 + j], m = l[0].val[(row / 2) * 3 + j];
                if (fabsf(*z - m) < 0.05f)
                    *z += 0.2f;
            }
    int lq = vg_logq(g, family, l[0].node, l[1].node, l[2].node);
    vg_set_batch(g, 2);
    vg_forward(g, -1);
    /* Values against the textbook densities, in double. */
    for (int row = 0; row < 4; row++) {
        double e = 0.0;
        for (int j = 0; j < 3; j++) {
            double m = l[0].val[(row / 2) * 3 + j], s = exp(0.5 * l[1].val[(row / 2) * 3 + j]);
            double z = l[2].val[row * 3 + j], u = (z - m) / s;
            if (family == VG_FAMILY_GAUSSIAN)
                e += -0.5 * log(2 * 3.14159265358979323846) - log(s) - 0.5 * u * u;
            else if (family == VG_FAMILY_LAPLACE)
                e += -log(2 * s) - fabs(u);
            else
                e += -u - log(s) - 2 * log1p(exp(-u));
        }
        ck_assert_double_eq_tol(g->nodes[lq].val[row], e, 1e-5 * (1 + fabs(e)));
    }
    check_grads(g, lq, l, 3, &r, 1e-3, 2e-3);
    for (int k = 0; k < 3; k++)
        free_leaf(&l[k]);
    vg_free(g);
}

START_TEST(test_logq_gaussian) { run_logq(VG_FAMILY_GAUSSIAN); }
END_TEST
START_TEST(test_logq_laplace) { run_logq(VG_FAMILY_LAPLACE); }
END_TEST
START_TEST(test_logq_logistic) { run_logq(VG_FAMILY_LOGISTIC); }
END_TEST

/* The latent ops (reparam, KL, log q) and the noise draws are split over a
 * team when the batch is large: with teams of 2 and 3 every value, every
 * gradient and the generator's final state are those of one thread. */
typedef struct latent_run {
    float *vals, *grads;
    size_t nv, ng;
    vt_rng rng;
} latent_run;

static latent_run run_latent(int family, vt_pool *pool)
{
    enum { B = 200, D = 6, K = 8, L = 2 };
    vt_rng r;
    vt_rng_seed(&r, 31, (uint64_t)family);
    vg_graph *g = vg_new(L);
    leaf w[4] = {mk_leaf(g, D, K, &r, -1, 1, 1), mk_leaf(g, 1, K, &r, -1, 1, 1),
                 mk_leaf(g, D, K, &r, -1, 1, 1), mk_leaf(g, 1, K, &r, -1, 1, 1)};
    int x = vg_input(g, VG_ROWS_BATCH, 0, D), eps = vg_input(g, VG_ROWS_SAMPLES, 0, K);
    int mu = vg_dense(g, x, w[0].node, w[1].node), lv = vg_dense(g, x, w[2].node, w[3].node);
    int z = vg_reparam(g, mu, lv, eps, 0);
    int lq = vg_logq(g, family, mu, lv, z), kl = vg_kl_stdnormal(g, mu, lv);
    int lp = vg_logp_std(g, z);
    int loss_q = vg_mean(g, vg_sum3(g, 1.0f, lq, -1.0f, lp, 0.0f, lp)), loss_kl = vg_mean(g, kl);
    ck_assert_int_ge(loss_kl, 0);
    ck_assert_int_eq(vg_set_batch(g, B), 0);
    g->pool = pool;
    fill(&r, g->nodes[x].val, (size_t)B * D, -1.5f, 1.5f);
    vg_family_sample_on(pool, family, &r, g->nodes[eps].val, (size_t)B * L * K);
    latent_run out = {0};
    size_t cap = 0;
    for (int i = 0; i < g->n_nodes; i++)
        cap += (size_t)g->nodes[i].rows * g->nodes[i].cols;
    out.vals = malloc(cap * sizeof(float));
    out.grads = malloc(2 * 4 * D * K * sizeof(float));
    ck_assert(out.vals && out.grads);
    for (int pass = 0; pass < 2; pass++) {
        vg_forward(g, -1);
        vg_backward(g, pass ? loss_kl : loss_q);
        for (int k = 0; k < 4; k++) {
            memcpy(out.grads + out.ng, w[k].grad, (size_t)w[k].n * sizeof(float));
            out.ng += (size_t)w[k].n;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        size_t n = (size_t)g->nodes[i].rows * g->nodes[i].cols;
        memcpy(out.vals + out.nv, g->nodes[i].val, n * sizeof(float));
        out.nv += n;
    }
    out.rng = r;
    for (int k = 0; k < 4; k++)
        free_leaf(&w[k]);
    vg_free(g);
    return out;
}

START_TEST(test_latent_ops_split)
{
    for (int family = 0; family < 3; family++) {
        latent_run one = run_latent(family, NULL);
        for (int threads = 2; threads <= 3; threads++) {
            vt_pool *pool = vt_pool_new(threads);
            ck_assert_ptr_nonnull(pool);
            latent_run t = run_latent(family, pool);
            ck_assert(t.nv == one.nv && t.ng == one.ng);
            ck_assert_msg(memcmp(t.vals, one.vals, one.nv * sizeof(float)) == 0,
                          "family %d, %d threads: values differ", family, threads);
            ck_assert_msg(memcmp(t.grads, one.grads, one.ng * sizeof(float)) == 0,
                          "family %d, %d threads: gradients differ", family, threads);
            ck_assert(memcmp(&t.rng, &one.rng, sizeof t.rng) == 0);
            free(t.vals);
            free(t.grads);
            vt_pool_free(pool);
        }
        free(one.vals);
        free(one.grads);
    }
    /* The draws alone, at every length around the pairs and the split bound. */
    static const size_t ns[] = {0, 1, 2, 3, 511, 512, 513, 1001, 2000};
    for (int family = 0; family < 3; family++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (int threads = 2; threads <= 4; threads++) {
                size_t n = ns[k];
                float *a = malloc((n + 1) * sizeof(float)), *b = malloc((n + 1) * sizeof(float));
                ck_assert(a && b);
                vt_rng ra, rb;
                vt_rng_seed(&ra, 5, n);
                rb = ra;
                vt_pool *pool = vt_pool_new(threads);
                vg_family_sample(family, &ra, a, n);
                vg_family_sample_on(pool, family, &rb, b, n);
                ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "family %d n %zu", family, n);
                ck_assert_msg(memcmp(&ra, &rb, sizeof ra) == 0, "family %d n %zu: state", family,
                              n);
                vt_pool_free(pool);
                free(a);
                free(b);
            }
}
END_TEST

/* Base samplers: Laplace(0,1) has mean 0, variance 2; logistic(0,1) mean 0, variance pi^2/3. */
START_TEST(test_family_samplers)
{
    vt_rng r;
    vt_rng_seed(&r, 21, 0);
    const int n = 200000;
    float *e = malloc(n * sizeof *e);
    const double var[3] = {1.0, 2.0, 3.14159265358979323846 * 3.14159265358979323846 / 3};
    const double kurt[3] = {3.0, 6.0, 4.2}; /* E eps^4 / var^2 */
    for (int f = 0; f < 3; f++) {
        vg_family_sample(f, &r, e, n);
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            s += e[i];
            s2 += (double)e[i] * e[i];
        }
        double v = var[f], se_mean = sqrt(v / n), se_var = sqrt((kurt[f] - 1) * v * v / n);
        ck_assert_double_eq_tol(s / n, 0.0, 4 * se_mean);
        ck_assert_double_eq_tol(s2 / n, v, 4 * se_var);
    }
    free(e);
}
END_TEST

START_TEST(test_logp_sum3_stopgrad)
{
    vt_rng r;
    vt_rng_seed(&r, 22, 0);
    vg_graph *g = vg_new(1);
    leaf z = mk_leaf(g, 3, 4, &r, -2, 2, 1), a = mk_leaf(g, 3, 1, &r, -1, 1, 1);
    int lp = vg_logp_std(g, z.node);
    int sg = vg_stopgrad(g, a.node);
    int y = vg_sum3(g, 2.0f, lp, -0.5f, a.node, 3.0f, sg);
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    for (int i = 0; i < 3; i++) {
        double e = 0;
        for (int j = 0; j < 4; j++)
            e += -0.5 * log(2 * 3.14159265358979323846) - 0.5 * z.val[i * 4 + j] * z.val[i * 4 + j];
        ck_assert_double_eq_tol(g->nodes[lp].val[i], e, 1e-5);
        ck_assert_double_eq_tol(g->nodes[y].val[i], 2 * e + 2.5 * a.val[i], 1e-5);
    }
    /* The finite difference sees the stop-gradient path (coefficient 2.5), the
     * gradient must only see -0.5: check the two separately. */
    float w[3] = {1, 1, 1};
    backward_from(g, y, w);
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq_tol(a.grad[i], -0.5, 1e-7);
    leaf only_z = z;
    check_grads(g, y, &only_z, 1, &r, 1e-3, 2e-3);
    free_leaf(&z);
    free_leaf(&a);
    vg_free(g);
}
END_TEST

/* The score surrogate sends dy (R - b) into log q, with each baseline. */
START_TEST(test_score_baselines)
{
    const int L = 3, n = 2;
    const float R[6] = {1, 2, 6, -1, 0, 4};
    for (int base = VG_BASELINE_NONE; base <= VG_BASELINE_LOO; base++) {
        vg_graph *g = vg_new(L);
        float lqv[6] = {0}, lqg[6];
        int lq = vg_param(g, 6, 1, lqv, lqg);
        int rw = vg_input(g, VG_ROWS_SAMPLES, 0, 1);
        int s = vg_score(g, lq, rw, base, 0.5f);
        g->nodes[lq].rows_kind = VG_ROWS_SAMPLES; /* a sample-row leaf */
        vg_set_batch(g, n);
        memcpy(g->nodes[rw].val, R, sizeof R);
        for (int step = 0; step < 2; step++) {
            vg_forward(g, -1);
            float w[6] = {1, 1, 1, 1, 1, 1};
            backward_from(g, s, w);
            for (int r = 0; r < 6; r++) {
                double b = 0.0;
                if (base == VG_BASELINE_LOO) {
                    int i = r / L;
                    b = (R[i * L] + R[i * L + 1] + R[i * L + 2] - R[r]) / (L - 1);
                } else if (base == VG_BASELINE_EMA && step == 1) {
                    b = 2.0; /* mean reward of the first step initialises the EMA */
                }
                ck_assert_double_eq_tol(lqg[r], R[r] - b, 1e-6);
                ck_assert_float_eq(g->nodes[s].val[r], 0.0f);
            }
        }
        if (base == VG_BASELINE_EMA) /* after step 2: 0.5 * 2 + 0.5 * 2 */
            ck_assert_double_eq_tol(g->nodes[s].fparam[1], 2.0, 1e-6);
        vg_free(g);
    }
}
END_TEST

START_TEST(test_logmeanexp)
{
    vt_rng r;
    vt_rng_seed(&r, 23, 0);
    vg_graph *g = vg_new(4);
    leaf w = mk_leaf(g, 8, 1, &r, -50, 5, 1);
    g->nodes[w.node].rows_kind = VG_ROWS_SAMPLES;
    int y = vg_logmeanexp(g, w.node);
    vg_set_batch(g, 2);
    vg_forward(g, -1);
    for (int i = 0; i < 2; i++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            s += exp((double)w.val[i * 4 + k]);
        ck_assert_double_eq_tol(g->nodes[y].val[i], log(s / 4), 1e-5);
    }
    /* Huge weights do not overflow. */
    w.val[0] = 1000.0f;
    vg_forward(g, -1);
    ck_assert_double_eq_tol(g->nodes[y].val[0], 1000.0 - log(4.0), 1e-3);
    w.val[0] = 1.0f;
    check_grads(g, y, &w, 1, &r, 1e-3, 2e-3);
    free_leaf(&w);
    vg_free(g);
}
END_TEST

START_TEST(test_bernoulli_ll)
{
    vt_rng r;
    vt_rng_seed(&r, 13, 0);
    vg_graph *g = vg_new(2);
    leaf lg = mk_leaf(g, 4, 5, &r, -30, 30, 1); /* includes saturated logits */
    int x = data_input(g, VG_ROWS_BATCH, 5);
    int ll = vg_bernoulli_ll(g, lg.node, x);
    vg_set_batch(g, 2);
    fill_input(g, x, &r, 0, 0, 1);
    vg_forward(g, -1);
    for (int row = 0; row < 4; row++) {
        double e = 0.0;
        for (int j = 0; j < 5; j++) {
            double l = lg.val[row * 5 + j], xv = g->nodes[x].val[(row / 2) * 5 + j];
            /* x log s + (1-x) log(1-s) with s = sigmoid(l), in a stable form */
            double log_s = -log1p(exp(-l)), log_1ms = -l - log1p(exp(-l));
            if (l < 0) {
                log_s = l - log1p(exp(l));
                log_1ms = -log1p(exp(l));
            }
            e += xv * log_s + (1 - xv) * log_1ms;
        }
        ck_assert_double_eq_tol(g->nodes[ll].val[row], e, 1e-4 * (1 + fabs(e)));
    }
    check_grads(g, ll, &lg, 1, &r, 1e-3, 2e-3);
    free_leaf(&lg);
    vg_free(g);
}
END_TEST

/* A row of 16-lane chunks plus a tail (D = 789), logits over the whole
 * range including the saturated ones (|l| > 87, where e^-|l| underflows),
 * zeros of both signs, and a NaN row: the value to float rounding of a
 * double reference, and sigmoid(l) to 2 ulp. */
START_TEST(test_bernoulli_ll_wide)
{
    enum { D = 789 };
    vt_rng r;
    vt_rng_seed(&r, 17, 0);
    vg_graph *g = vg_new(1);
    leaf lg = mk_leaf(g, 2, D, &r, -120, 120, 1);
    int x = data_input(g, VG_ROWS_BATCH, D);
    int ll = vg_bernoulli_ll(g, lg.node, x);
    vg_set_batch(g, 2);
    fill_input(g, x, &r, 0, 0, 1);
    lg.val[0] = 0.0f;
    lg.val[1] = -0.0f;
    lg.val[2] = 1e-30f;
    lg.val[3] = -200.0f;
    lg.val[4] = 200.0f;
    for (int j = 5; j < 200; j++)
        lg.val[j] = lg.val[j] / 30.0f; /* dense in the middle of the range */
    lg.val[D + 7] = NAN;
    vg_forward(g, -1);
    const float *s = g->nodes[ll].aux;
    double e = 0.0, sum_abs = 0.0;
    for (int j = 0; j < D; j++) {
        double l = lg.val[j], xv = g->nodes[x].val[j];
        double sp = fmax(l, 0.0) + log1p(exp(-fabs(l)));
        double sig = l >= 0 ? 1.0 / (1.0 + exp(-l)) : exp(l) / (1.0 + exp(l));
        e += xv * l - sp;
        sum_abs += fabs(xv * l) + sp;
        double tol = 2.0 * ldexp(1.0, ilogb(sig) - 23) + 0x1p-125; /* e^-87 and below: 0 */
        ck_assert_msg(fabs(s[j] - sig) <= tol, "sigmoid(%g) = %.9g, want %.9g", l, (double)s[j], sig);
    }
    /* Each term is a float with a few ulps of error; the sum is in double. */
    ck_assert_msg(fabs(g->nodes[ll].val[0] - e) <= 4e-7 * sum_abs + 1e-6 * fabs(e), "ll %.9g, want %.9g",
                  (double)g->nodes[ll].val[0], e);
    ck_assert(isnan(g->nodes[ll].val[1]));
    free_leaf(&lg);
    vg_free(g);
}
END_TEST

START_TEST(test_gauss_ll)
{
    vt_rng r;
    vt_rng_seed(&r, 14, 0);
    vg_graph *g = vg_new(2);
    leaf l[2] = {mk_leaf(g, 4, 3, &r, -1, 1, 1), mk_leaf(g, 1, 3, &r, -1, 0.5f, 1)};
    int x = data_input(g, VG_ROWS_BATCH, 3);
    int ll = vg_gauss_ll(g, l[0].node, l[1].node, x);
    vg_set_batch(g, 2);
    fill_input(g, x, &r, 0, -1, 1);
    vg_forward(g, -1);
    for (int row = 0; row < 4; row++) {
        double e = 0.0;
        for (int j = 0; j < 3; j++) {
            double s = exp(l[1].val[j]), d = g->nodes[x].val[(row / 2) * 3 + j] - l[0].val[row * 3 + j];
            e += -log(s * sqrt(2 * 3.14159265358979323846)) - d * d / (2 * s * s);
        }
        ck_assert_double_eq_tol(g->nodes[ll].val[row], e, 1e-5 * (1 + fabs(e)));
    }
    check_grads(g, ll, l, 2, &r, 1e-3, 2e-3);
    free_leaf(&l[0]);
    free_leaf(&l[1]);
    vg_free(g);
}
END_TEST

START_TEST(test_mean_axpby)
{
    vt_rng r;
    vt_rng_seed(&r, 15, 0);
    vg_graph *g = vg_new(1);
    leaf a = mk_leaf(g, 5, 1, &r, -1, 1, 1), b = mk_leaf(g, 3, 1, &r, -1, 1, 1);
    int ma = vg_mean(g, a.node), mb = vg_mean(g, b.node);
    int y = vg_axpby(g, -2.0f, ma, 0.5f, mb);
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    double sa = 0, sb = 0;
    for (int i = 0; i < 5; i++)
        sa += a.val[i];
    for (int i = 0; i < 3; i++)
        sb += b.val[i];
    ck_assert_double_eq_tol(g->nodes[y].val[0], -2.0 * sa / 5 + 0.5 * sb / 3, 1e-6);
    leaf l[2] = {a, b};
    check_grads(g, y, l, 2, &r, 1e-3, 2e-3);
    /* The scalar driver vg_backward gives the same gradients. */
    vg_backward(g, y);
    for (int i = 0; i < 5; i++)
        ck_assert_double_eq_tol(a.grad[i], -2.0 / 5, 1e-7);
    free_leaf(&a);
    free_leaf(&b);
    vg_free(g);
}
END_TEST

/* A chain that reuses a node twice checks gradient accumulation (grad_ready). */
START_TEST(test_accumulation)
{
    vt_rng r;
    vt_rng_seed(&r, 16, 0);
    vg_graph *g = vg_new(1);
    leaf x = mk_leaf(g, 2, 3, &r, 0.2f, 1, 1), w = mk_leaf(g, 3, 3, &r, -1, 1, 1),
         b = mk_leaf(g, 1, 3, &r, -1, 1, 1);
    int h = vg_dense(g, x.node, w.node, b.node);
    int t = vg_unary(g, VG_OP_TANH, h, 0, 0);
    int y = vg_dense(g, t, w.node, b.node); /* W and b used twice */
    vg_set_batch(g, 1);
    leaf l[3] = {x, w, b};
    check_grads(g, y, l, 3, &r, 1e-3, 2e-3);
    free_leaf(&x);
    free_leaf(&w);
    free_leaf(&b);
    vg_free(g);
}
END_TEST

/* Analytic KL equals the Monte Carlo mean of log q(z) - log p(z) within 4 standard errors. */
START_TEST(test_kl_analytic_vs_mc)
{
    const int K = 4, S = tu_quick() ? 20000 : 400000;
    vt_rng r;
    vt_rng_seed(&r, 17, 0);
    const float mu[4] = {0.5f, -1.0f, 0.0f, 2.0f}, lv[4] = {-1.0f, 0.5f, 0.0f, -2.0f};
    double analytic = 0.0;
    for (int j = 0; j < K; j++)
        analytic += 0.5 * (mu[j] * mu[j] + exp(lv[j]) - 1.0 - lv[j]);
    double sum = 0.0, sum2 = 0.0;
    float eps[4];
    for (int s = 0; s < S; s++) {
        vt_rng_normal(&r, eps, K);
        double v = 0.0;
        for (int j = 0; j < K; j++) {
            double z = mu[j] + exp(0.5 * lv[j]) * eps[j];
            v += -0.5 * lv[j] - 0.5 * (double)eps[j] * eps[j] + 0.5 * z * z;
        }
        sum += v;
        sum2 += v * v;
    }
    double mean = sum / S, se = sqrt((sum2 / S - mean * mean) / S);
    ck_assert_msg(fabs(mean - analytic) < 4 * se, "MC KL %.5f vs analytic %.5f (se %.5f)", mean,
                  analytic, se);
}
END_TEST

/* Growing the batch reallocates; shrinking reuses the buffers. */
START_TEST(test_set_batch_capacity)
{
    vg_graph *g = vg_new(2);
    int x = vg_input(g, VG_ROWS_BATCH, 0, 3);
    int e = vg_input(g, VG_ROWS_SAMPLES, 0, 3);
    ck_assert_int_eq(vg_set_batch(g, 4), 0);
    float *before = g->nodes[e].val;
    ck_assert_int_eq(g->nodes[x].rows, 4);
    ck_assert_int_eq(g->nodes[e].rows, 8);
    ck_assert_int_eq(vg_set_batch(g, 2), 0);
    ck_assert_ptr_eq(g->nodes[e].val, before);
    ck_assert_int_eq(g->nodes[e].rows, 4);
    ck_assert_int_eq(vg_set_batch(g, 10), 0);
    ck_assert_uint_ge(g->nodes[e].cap, 60);
    vg_free(g);
}
END_TEST

/* The memory plan (graph.c): an activation (relu, tanh, sigmoid, leaky relu
 * with a > 0) or reshape whose input has no other consumer works in its
 * input's buffers. For each activation, a graph where the plan shares
 * (dense -> activation -> reshape -> dense) against the same graph where an
 * extra consumer of the first dense keeps the activation apart: the same
 * loss, activation values and parameter gradients, bit for bit; the shared
 * graph's gradients against finite differences; and a consumer added after
 * a pass makes the activation stop sharing at the next vg_set_batch. */
typedef struct plan_net {
    vg_graph *g;
    leaf l[4]; /* W1 [6, 8], b1, W2 [8, 3], b2 */
    int x, d1, act, shape, out;
} plan_net;

/* x -> dense -> activation op (slope or constant p0) -> reshape -> dense. */
static plan_net plan_build(int keep_apart, int op, float p0)
{
    vt_rng r;
    vt_rng_seed(&r, 77, 0);
    plan_net n;
    n.g = vg_new(1);
    n.x = data_input(n.g, VG_ROWS_BATCH, 6);
    n.l[0] = mk_leaf(n.g, 6, 8, &r, -1, 1, 1);
    n.l[1] = mk_leaf(n.g, 1, 8, &r, -0.5f, 0.5f, 1);
    n.l[2] = mk_leaf(n.g, 8, 3, &r, -1, 1, 1);
    n.l[3] = mk_leaf(n.g, 1, 3, &r, -0.5f, 0.5f, 1);
    n.d1 = vg_dense(n.g, n.x, n.l[0].node, n.l[1].node);
    n.act = vg_unary(n.g, op, n.d1, p0, 0);
    n.shape = vg_reshape(n.g, n.act, 2, 2, 2);
    n.out = vg_dense(n.g, n.shape, n.l[2].node, n.l[3].node);
    if (keep_apart)
        ck_assert_int_ge(vg_unary(n.g, VG_OP_TANH, n.d1, 0, 0), 0); /* d1 used twice */
    ck_assert_int_eq(vg_set_batch(n.g, 5), 0);
    vt_rng_seed(&r, 78, 0);
    fill_input(n.g, n.x, &r, 1, 0, 0);
    return n;
}

static void plan_free(plan_net *n)
{
    for (int k = 0; k < 4; k++)
        free_leaf(&n->l[k]);
    vg_free(n->g);
}

/* Forward, then backward seeded with fixed weights; the projected loss. */
static double plan_pass(plan_net *n)
{
    float w[15];
    vt_rng r;
    vt_rng_seed(&r, 79, 0);
    fill(&r, w, 15, -1, 1);
    vg_forward(n->g, -1);
    backward_from(n->g, n->out, w);
    return project(n->g, n->out, w);
}

static void plan_compare(plan_net *a, plan_net *b)
{
    ck_assert(plan_pass(a) == plan_pass(b));
    ck_assert_mem_eq(a->g->nodes[a->act].val, b->g->nodes[b->act].val, 5 * 8 * sizeof(float));
    for (int k = 0; k < 4; k++)
        ck_assert_mem_eq(a->l[k].grad, b->l[k].grad, (size_t)a->l[k].n * sizeof(float));
}

START_TEST(test_memory_plan)
{
    /* every activation that may run in place: relu, tanh, sigmoid, leaky relu (a > 0) */
    const int ops[4] = {VG_OP_RELU, VG_OP_TANH, VG_OP_SIGMOID, VG_OP_LEAKY_RELU};
    const float p0[4] = {0, 0, 0, 0.1f};
    for (int k = 0; k < 4; k++) {
        plan_net s = plan_build(0, ops[k], p0[k]), a = plan_build(1, ops[k], p0[k]);
        const vg_node *sn = s.g->nodes, *an = a.g->nodes;
        ck_assert(sn[s.act].shared && sn[s.shape].shared);
        ck_assert_ptr_eq(sn[s.act].val, sn[s.d1].val);
        ck_assert_ptr_eq(sn[s.shape].grad, sn[s.d1].grad);
        ck_assert(!an[a.act].shared && an[a.shape].shared); /* the reshape of it still may */
        ck_assert(!sn[s.out].shared && !sn[s.x].shared);
        /* some activation inputs are negative, so the mask matters */
        int neg = 0;
        vg_forward(a.g, -1);
        for (int i = 0; i < 40; i++)
            neg += an[a.d1].val[i] < 0;
        ck_assert_int_gt(neg, 5);
        plan_compare(&s, &a);
        vt_rng r;
        vt_rng_seed(&r, 81, 0);
        check_grads(s.g, s.out, s.l, 4, &r, 1e-3, 2e-3);

        /* a consumer added after the first pass: the activation gets its own buffers */
        int t = vg_unary(s.g, VG_OP_TANH, s.d1, 0, 0);
        ck_assert_int_ge(t, 0);
        ck_assert_int_eq(vg_set_batch(s.g, 5), 0);
        sn = s.g->nodes;
        ck_assert(!sn[s.act].shared);
        ck_assert_ptr_ne(sn[s.act].val, sn[s.d1].val);
        plan_compare(&s, &a);
        plan_free(&s);
        plan_free(&a);
    }
    /* a leaky relu with a negative slope keeps its own buffers: y has not x's
     * sign, so its derivative cannot be read from y; nor does a softplus */
    plan_net n = plan_build(0, VG_OP_LEAKY_RELU, -0.1f), sp = plan_build(0, VG_OP_SOFTPLUS, 0);
    ck_assert(!n.g->nodes[n.act].shared && !sp.g->nodes[sp.act].shared);
    plan_free(&n);
    plan_free(&sp);

    /* an input is bound to the caller's rows after vg_set_batch: a reshape
     * of it copies (a view taken at vg_set_batch would read the old rows) */
    vg_graph *g = vg_new(1);
    int x = vg_input(g, VG_ROWS_BATCH, 0, 4), y = vg_reshape(g, x, 2, 2, 1);
    ck_assert_int_ge(y, 0);
    float rows[2][8] = {{1, 2, 3, 4, 5, 6, 7, 8}, {-1, -2, -3, -4, -5, -6, -7, -8}};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(vg_set_batch(g, 2), 0);
        vg_bind(g, x, rows[k]);
        vg_forward(g, -1);
        ck_assert_mem_eq(g->nodes[y].val, rows[k], sizeof rows[k]);
        ck_assert(!g->nodes[y].shared);
    }
    vg_free(g);
}
END_TEST

/* ---- conditional VAE ops: concat and the KL between two diagonal Gaussians ---- */

START_TEST(test_concat)
{
    vt_rng r;
    vt_rng_seed(&r, 31, 0);
    vg_graph *g = vg_new(3);
    /* a: one row per sample (2 examples x 3 samples), b: one row per example. */
    leaf l[2] = {mk_leaf(g, 6, 2, &r, -1, 1, 1), mk_leaf(g, 2, 3, &r, -1, 1, 1)};
    int y = vg_concat(g, l[0].node, l[1].node);
    vg_set_batch(g, 2);
    vg_forward(g, -1);
    const vg_node *v = &g->nodes[y];
    ck_assert_int_eq(v->cols, 5);
    for (int row = 0; row < 6; row++)
        for (int j = 0; j < 5; j++) {
            float e = j < 2 ? l[0].val[row * 2 + j] : l[1].val[(row / 3) * 3 + j - 2];
            ck_assert_float_eq(v->val[row * 5 + j], e);
        }
    check_grads(g, y, l, 2, &r, 1e-3, 2e-3);
    free_leaf(&l[0]);
    free_leaf(&l[1]);
    vg_free(g);
}
END_TEST

START_TEST(test_kl_gauss)
{
    vt_rng r;
    vt_rng_seed(&r, 32, 0);
    vg_graph *g = vg_new(1);
    leaf l[4] = {mk_leaf(g, 3, 4, &r, -1, 1, 1), mk_leaf(g, 3, 4, &r, -2, 1, 1),
                 mk_leaf(g, 3, 4, &r, -1, 1, 1), mk_leaf(g, 3, 4, &r, -1.5, 1.5, 1)};
    int kl = vg_kl_gauss(g, l[0].node, l[1].node, l[2].node, l[3].node);
    vg_node *k = &g->nodes[kl];
    k->rows_kind = VG_ROWS_FIXED; /* the leaves are fixed-row here */
    k->fixed_rows = 3;
    k->val = calloc(3, sizeof(float));
    k->grad = calloc(3, sizeof(float));
    k->cap = 3;
    vg_set_batch(g, 1);
    vg_forward(g, -1);
    for (int i = 0; i < 3; i++) {
        /* KL(N(a, s^2) || N(b, t^2)) = log(t/s) + (s^2 + (a - b)^2) / (2 t^2) - 1/2 */
        double e = 0.0;
        for (int j = 0; j < 4; j++) {
            int o = i * 4 + j;
            double a = l[0].val[o], s2 = exp(l[1].val[o]), b = l[2].val[o], t2 = exp(l[3].val[o]);
            e += 0.5 * log(t2 / s2) + (s2 + (a - b) * (a - b)) / (2 * t2) - 0.5;
        }
        ck_assert_double_eq_tol(k->val[i], e, 1e-5 * (1 + fabs(e)));
    }
    check_grads(g, kl, l, 4, &r, 1e-3, 2e-3);
    /* Monte Carlo oracle for row 0: mean of log q(z) - log p(z), z ~ q, within 4 standard errors. */
    const int S = 200000;
    double sum = 0.0, sum2 = 0.0;
    for (int s = 0; s < S; s++) {
        double d = 0.0;
        for (int j = 0; j < 4; j++) {
            double a = l[0].val[j], sq = exp(0.5 * l[1].val[j]), b = l[2].val[j],
                   sp = exp(0.5 * l[3].val[j]);
            float eps;
            vt_rng_normal(&r, &eps, 1);
            double z = a + sq * eps, u = (z - b) / sp;
            d += (-log(sq) - 0.5 * (double)eps * eps) - (-log(sp) - 0.5 * u * u);
        }
        sum += d;
        sum2 += d * d;
    }
    double mean = sum / S, se = sqrt((sum2 / S - mean * mean) / S);
    ck_assert_msg(fabs(mean - k->val[0]) < 4 * se, "KL %.5f vs Monte Carlo %.5f (se %.5f)",
                  (double)k->val[0], mean, se);
    for (int t = 0; t < 4; t++)
        free_leaf(&l[t]);
    vg_free(g);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_leaky_relu);
    tcase_add_test(tc, test_relu_values);
    tcase_add_test(tc, test_activations_keep_nan);
    tcase_add_test(tc, test_tanh);
    tcase_add_test(tc, test_sigmoid);
    tcase_add_test(tc, test_softplus);
    tcase_add_test(tc, test_clamp);
    tcase_add_test(tc, test_dense);
    tcase_add_test(tc, test_reparam);
    tcase_add_test(tc, test_kl_stdnormal);
    tcase_add_test(tc, test_logq_gaussian);
    tcase_add_test(tc, test_logq_laplace);
    tcase_add_test(tc, test_logq_logistic);
    tcase_add_test(tc, test_family_samplers);
    tcase_add_test(tc, test_latent_ops_split);
    tcase_add_test(tc, test_logp_sum3_stopgrad);
    tcase_add_test(tc, test_score_baselines);
    tcase_add_test(tc, test_logmeanexp);
    tcase_add_test(tc, test_bernoulli_ll);
    tcase_add_test(tc, test_bernoulli_ll_wide);
    tcase_add_test(tc, test_gauss_ll);
    tcase_add_test(tc, test_mean_axpby);
    tcase_add_test(tc, test_accumulation);
    tcase_add_test(tc, test_kl_analytic_vs_mc);
    tcase_add_test(tc, test_set_batch_capacity);
    tcase_add_test(tc, test_memory_plan);
    tcase_add_test(tc, test_concat);
    tcase_add_test(tc, test_kl_gauss);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
