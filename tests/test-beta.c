/* beta-VAE training and collapse diagnostics: the free-bits and capacity ops
 * against finite differences, schedules against their formulas, the
 * objective actually trained, partial optimizer updates, aggressive
 * training, checkpoint continuation, and diagnostics on constructed
 * encoders with an independent MI computation. */
#include <math.h>
#include <stddef.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_E
#define M_E 2.7182818284590452354
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "tensor/rng.h"
#include "testutil.h"

/* ---- ops: finite differences ------------------------------------------------ */

static double run_scalar(vg_graph *g, int y)
{
    vg_forward(g, -1);
    return g->nodes[y].val[0];
}

START_TEST(test_freebits_op)
{
    enum { N = 4, K = 3 };
    vt_rng r;
    vt_rng_seed(&r, 3, 0);
    float mu[N * K], lv[N * K], gmu[N * K], glv[N * K];
    for (int i = 0; i < N * K; i++) {
        mu[i] = (float)(vt_rng_uniform(&r) * 2 - 1);
        lv[i] = (float)(vt_rng_uniform(&r) * 2 - 1.5);
    }
    /* Dimension 1 nearly matches the prior: its batch KL is tiny, below lambda. */
    for (int i = 0; i < N; i++) {
        mu[i * K + 0] += 1.0f;
        mu[i * K + 2] -= 1.2f;
        mu[i * K + 1] *= 0.05f;
        lv[i * K + 1] *= 0.05f;
    }
    const float lambda = 0.2f;
    vg_graph *g = vg_new(1);
    int a = vg_param(g, N, K, mu, gmu), b = vg_param(g, N, K, lv, glv);
    int y = vg_freebits(g, a, b, lambda);
    ck_assert_int_ge(y, 0);
    vg_set_batch(g, 1);
    double v = run_scalar(g, y);
    double want = 0.0, kbar[K];
    for (int j = 0; j < K; j++) {
        double s = 0.0;
        for (int i = 0; i < N; i++) {
            double m = mu[i * K + j], l = lv[i * K + j];
            s += 0.5 * (m * m + exp(l) - 1 - l);
        }
        kbar[j] = s / N;
        want += kbar[j] > lambda ? kbar[j] : lambda;
    }
    ck_assert(kbar[1] < lambda && kbar[0] > lambda + 0.01 && kbar[2] > lambda + 0.01);
    ck_assert_double_eq_tol(v, want, 1e-5);
    vg_backward(g, y);
    const double h = 1e-3;
    for (int k = 0; k < 2; k++) {
        float *p = k ? lv : mu, *gr = k ? glv : gmu;
        for (int i = 0; i < N * K; i++) {
            float s = p[i];
            p[i] = s + (float)h;
            double fp = run_scalar(g, y);
            p[i] = s - (float)h;
            double fm = run_scalar(g, y);
            p[i] = s;
            double fd = (fp - fm) / (2 * h);
            ck_assert_msg(fabs(fd - gr[i]) < 2e-3 * (1 + fabs(fd)), "freebits %s[%d]: %g vs fd %g",
                          k ? "lv" : "mu", i, (double)gr[i], fd);
            if (i % K == 1) /* below the floor: exactly no gradient */
                ck_assert(gr[i] == 0.0f && fd == 0.0);
        }
    }
    vg_free(g);
}
END_TEST

START_TEST(test_absdev_op)
{
    float x[1], gx[1];
    vg_graph *g = vg_new(1);
    int a = vg_param(g, 1, 1, x, gx);
    int y = vg_absdev(g, a, 2.5f);
    int l = vg_axpby(g, 3.0f, y, 0.0f, y); /* gamma |x - C| with gamma = 3 */
    vg_set_batch(g, 1);
    const float xs[] = {-1.0f, 2.0f, 4.0f, 7.5f};
    for (int t = 0; t < 4; t++) {
        x[0] = xs[t];
        double v = run_scalar(g, l);
        ck_assert_double_eq_tol(v, 3.0 * fabs(xs[t] - 2.5), 1e-6);
        vg_backward(g, l);
        double h = 1e-2;
        x[0] = xs[t] + (float)h;
        double fp = run_scalar(g, l);
        x[0] = xs[t] - (float)h;
        double fm = run_scalar(g, l);
        ck_assert_double_eq_tol(gx[0], (fp - fm) / (2 * h), 1e-3);
    }
    /* The target is a settable constant. */
    g->nodes[y].fparam[0] = 10.0f;
    x[0] = 7.5f;
    ck_assert_double_eq_tol(run_scalar(g, l), 7.5, 1e-6);
    vg_free(g);
}
END_TEST

/* ---- schedules and the trained objective ------------------------------------ */

static float *toy_data(size_t n, size_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)vt_rng_uniform(&r);
    return x;
}

static void toy_config(vae_model_config *c)
{
    vae_model_config_init(c);
    c->input_dim = 10;
    c->latent_dim = 4;
    c->hidden[0] = 8;
    c->seed = 5;
    c->activation = VAE_ACT_TANH;
}

static vae_optimizer *adam(float lr)
{
    return tu_optimizer(VAE_OPT_ADAM, lr);
}

/* Independent statement of the documented formulas. */
static double beta_formula(const vae_model_config *c, double t)
{
    if (c->kl_schedule == VAE_KL_SCHEDULE_LINEAR)
        return c->beta * fmin(1.0, t / c->kl_warmup_steps);
    if (c->kl_schedule == VAE_KL_SCHEDULE_CYCLICAL) {
        double P = c->kl_cycle_steps;
        if (c->kl_cycles > 0 && t >= c->kl_cycles * P)
            return c->beta;
        double tau = fmod(t, P) / P;
        return c->beta * fmin(1.0, tau / c->kl_cycle_ratio);
    }
    return c->beta;
}

/* Train `steps` single steps and check, before each, that the reported beta_t
 * follows the formula and that the step's loss is -rec + beta_t kl. */
static void check_schedule(vae_model_config *c, int steps)
{
    vae_model *m;
    ck_assert_int_eq(vae_model_create(c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(1e-3f);
    float *x = toy_data(8, 10, 1);
    for (int t = 0; t < steps; t++) {
        vae_training_state s = {.struct_size = sizeof s};
        ck_assert_int_eq(vae_model_training_state(m, &s), VAE_OK);
        ck_assert_uint_eq(s.step, (uint64_t)t);
        double want = beta_formula(c, t);
        ck_assert_msg(fabs(s.beta - want) < 1e-9, "step %d: beta %g, formula %g", t, s.beta, want);
        ck_assert_double_eq_tol(s.beta_norm, want * 4 / 10, 1e-9);
        vae_elbo_stats st;
        ck_assert_int_eq(vae_model_train_step(m, o, x, 8, &st), VAE_OK);
        ck_assert_msg(fabs(st.loss - (-st.rec + (float)want * st.kl)) < 1e-4 * (1 + fabs(st.loss)),
                      "step %d: loss %g vs -rec + beta kl %g", t, st.loss, -st.rec + want * st.kl);
    }
    vae_optimizer_free(o);
    vae_model_free(m);
    free(x);
}

START_TEST(test_schedule_constant)
{
    vae_model_config c;
    toy_config(&c);
    c.beta = 4.0f;
    check_schedule(&c, 5);
}
END_TEST

START_TEST(test_schedule_linear)
{
    vae_model_config c;
    toy_config(&c);
    c.beta = 2.0f;
    c.kl_schedule = VAE_KL_SCHEDULE_LINEAR;
    c.kl_warmup_steps = 7;
    check_schedule(&c, 12);
}
END_TEST

START_TEST(test_schedule_cyclical)
{
    vae_model_config c;
    toy_config(&c);
    c.beta = 1.5f;
    c.kl_schedule = VAE_KL_SCHEDULE_CYCLICAL;
    c.kl_cycle_steps = 6;
    c.kl_cycle_ratio = 0.5f;
    c.kl_cycles = 3;
    check_schedule(&c, 24); /* three cycles and then constant */
    c.kl_cycles = 0;
    c.kl_cycle_ratio = 0.25f;
    check_schedule(&c, 14);
}
END_TEST

START_TEST(test_capacity_objective)
{
    vae_model_config c;
    toy_config(&c);
    c.capacity_gamma = 50.0f;
    c.capacity_max = 3.0f;
    c.capacity_steps = 4;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(1e-3f);
    float *x = toy_data(8, 10, 2);
    for (int t = 0; t < 7; t++) {
        vae_training_state s = {.struct_size = sizeof s};
        vae_model_training_state(m, &s);
        double C = 3.0 * fmin(1.0, t / 4.0);
        ck_assert_double_eq_tol(s.capacity, C, 1e-9);
        vae_elbo_stats st;
        ck_assert_int_eq(vae_model_train_step(m, o, x, 8, &st), VAE_OK);
        ck_assert_double_eq_tol(st.loss, -st.rec + 50.0 * fabs(st.kl - C), 1e-3 * (1 + fabs(st.loss)));
    }
    vae_optimizer_free(o);
    vae_model_free(m);
    free(x);
}
END_TEST

/* Free bits: the loss is -rec + beta sum_j max(lambda, batch-mean KL_j), with
 * KL_j computed here from the encoder's outputs. */
START_TEST(test_free_bits_objective)
{
    vae_model_config c;
    toy_config(&c);
    c.free_bits = 0.05f;
    c.beta = 2.0f;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(1e-3f);
    float *x = toy_data(16, 10, 3);
    float mu[16 * 4], lv[16 * 4];
    ck_assert_int_eq(vae_model_encode(m, x, 16, mu, lv), VAE_OK);
    double fb = 0.0, kl = 0.0;
    int below = 0;
    for (int j = 0; j < 4; j++) {
        double s = 0.0;
        for (int i = 0; i < 16; i++)
            s += 0.5 * (mu[i * 4 + j] * mu[i * 4 + j] + exp(lv[i * 4 + j]) - 1 - lv[i * 4 + j]);
        s /= 16;
        kl += s;
        below += s < 0.05;
        fb += s > 0.05 ? s : 0.05;
    }
    ck_assert_int_gt(below, 0); /* at initialisation some dimensions sit under the floor */
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_train_step(m, o, x, 16, &st), VAE_OK);
    ck_assert_double_eq_tol(st.kl, kl, 1e-5);
    ck_assert_double_eq_tol(st.loss, -st.rec + 2.0 * fb, 1e-4 * (1 + fabs(st.loss)));
    vae_optimizer_free(o);
    vae_model_free(m);
    free(x);
}
END_TEST

START_TEST(test_bad_training_fields)
{
    vae_model_config c;
    toy_config(&c);
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    float before[400];
    size_t P = vae_model_param_count(m);
    ck_assert_uint_le(P, 400);
    vae_model_get_params(m, before, P);
    struct { const char *what; int field; double v; } bad[] = {
        {"kl_schedule", 0, 3}, {"kl_warmup_steps", 1, 0}, {"kl_cycle_steps", 2, -1},
        {"kl_cycle_ratio", 3, 0}, {"kl_cycle_ratio", 3, 1.5}, {"kl_cycles", 4, -2},
        {"capacity_gamma", 5, -1}, {"capacity_gamma", 5, NAN}, {"capacity_max", 6, INFINITY},
        {"capacity_steps", 7, 0}, {"free_bits", 8, -0.1}, {"aggressive", 9, 2},
        {"aggressive_max_inner", 10, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vae_model_config t = c;
        switch (bad[i].field) {
        case 0: t.kl_schedule = (int)bad[i].v; break;
        case 1: t.kl_warmup_steps = (int)bad[i].v; break;
        case 2: t.kl_cycle_steps = (int)bad[i].v; break;
        case 3: t.kl_cycle_ratio = (float)bad[i].v; break;
        case 4: t.kl_cycles = (int)bad[i].v; break;
        case 5: t.capacity_gamma = (float)bad[i].v; break;
        case 6: t.capacity_max = (float)bad[i].v; break;
        case 7: t.capacity_steps = (int)bad[i].v; break;
        case 8: t.free_bits = (float)bad[i].v; break;
        case 9: t.aggressive = (int)bad[i].v; break;
        default: t.aggressive_max_inner = (int)bad[i].v; break;
        }
        ck_assert_int_eq(vae_model_set_training(m, &t), VAE_ERR_INVALID);
        ck_assert_msg(strstr(vae_model_errmsg(m), bad[i].what), "%s", vae_model_errmsg(m));
        vae_model *m2 = (vae_model *)0x1;
        ck_assert_int_eq(vae_model_create(&t, &m2, NULL), VAE_ERR_INVALID);
        ck_assert_ptr_null(m2);
    }
    /* Combinations that have no meaning. */
    vae_model_config t = c;
    t.capacity_gamma = 10.0f;
    t.free_bits = 0.1f;
    ck_assert_int_eq(vae_model_set_training(m, &t), VAE_ERR_INVALID);
    t = c;
    t.free_bits = 0.1f;
    t.kl_mode = VAE_KL_MONTE_CARLO;
    ck_assert_int_eq(vae_model_set_training(m, &t), VAE_ERR_INVALID);
    t = c;
    t.objective = VAE_OBJ_IWAE;
    t.samples = 3;
    t.kl_schedule = VAE_KL_SCHEDULE_LINEAR;
    ck_assert_int_eq(vae_model_set_training(m, &t), VAE_ERR_INVALID);
    vae_model_config got = {.struct_size = sizeof got};
    vae_model_get_config(m, &got);
    ck_assert_int_eq(got.free_bits == 0.0f && got.capacity_gamma == 0.0f && got.kl_schedule == 0, 1);
    /* Valid ones are taken. */
    t = c;
    t.kl_schedule = VAE_KL_SCHEDULE_CYCLICAL;
    t.free_bits = 0.5f;
    t.aggressive = 1;
    ck_assert_int_eq(vae_model_set_training(m, &t), VAE_OK);
    vae_model_get_config(m, &got);
    ck_assert_int_eq(got.kl_schedule, VAE_KL_SCHEDULE_CYCLICAL);
    ck_assert(got.free_bits == 0.5f && got.aggressive == 1);
    float after[400];
    vae_model_get_params(m, after, P);
    ck_assert_mem_eq(before, after, P * sizeof(float));
    /* State getter: NULLs and sizes; an older, smaller struct gets its prefix. */
    vae_training_state s = {.struct_size = 0};
    ck_assert_int_eq(vae_model_training_state(NULL, &s), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_training_state(m, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_training_state(m, &s), VAE_ERR_INVALID);
    s.struct_size = offsetof(vae_training_state, beta) + sizeof(double);
    s.beta_norm = -7;
    ck_assert_int_eq(vae_model_training_state(m, &s), VAE_OK);
    ck_assert(s.beta_norm == -7 && s.beta == 0.0);
    vae_model_free(m);
}
END_TEST

/* ---- partial optimizer updates ----------------------------------------------- */

/* After encoder-only updates, a decoder-only update is Adam's first step on
 * the decoder (its own bias correction), exactly as a fresh optimizer's. */
START_TEST(test_partial_updates)
{
    enum { N = 10, S = 4 };
    float p1[N], p2[N], g[N];
    for (int i = 0; i < N; i++) {
        p1[i] = p2[i] = 0.1f * i;
        g[i] = 0.3f - 0.07f * i;
    }
    for (int type = VAE_OPT_SGD; type <= VAE_OPT_ADAM; type++) {
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, type);
        vae_optimizer *a, *b;
        ck_assert_int_eq(vae_optimizer_create(&oc, &a, NULL), VAE_OK);
        ck_assert_int_eq(vae_optimizer_create(&oc, &b, NULL), VAE_OK);
        vopt_bind(a, N);
        vopt_bind(b, N);
        vopt_group gs[2] = {{"encoder", 0, S}, {"decoder", S, N - S}};
        ck_assert_int_eq(vopt_set_groups(a, gs, 2), VAE_OK);
        ck_assert_int_eq(vopt_set_groups(b, gs, 2), VAE_OK);
        for (int k = 0; k < 3; k++)
            ck_assert_int_eq(vopt_update_groups_on(a, NULL, p1, g, N, 1u, 1.0), 0);
        for (int i = S; i < N; i++) /* the decoder group was not touched */
            ck_assert(p1[i] == p2[i]);
        ck_assert_int_eq(vopt_update_groups_on(a, NULL, p1, g, N, 2u, 1.0), 0);
        ck_assert_int_eq(vopt_update_groups_on(b, NULL, p2, g, N, 2u, 1.0), 0);
        ck_assert_mem_eq(p1 + S, p2 + S, (N - S) * sizeof(float));
        ck_assert_uint_eq(a->steps, 4);
        ck_assert(a->group_steps[0] == 3 && a->group_steps[1] == 1);
        /* Other groups over counts that differ are refused without change. */
        vopt_group other[2] = {{"x", 0, S + 1}, {"y", S + 1, N - S - 1}};
        ck_assert_int_eq(vopt_set_groups(a, other, 2), VAE_ERR_SHAPE);
        ck_assert_uint_eq(a->group[0].count, S);
        /* A finer grouping inside the old groups keeps their counts. */
        vopt_group finer[3] = {{"encoder", 0, S}, {"decoder", S, 2}, {"prior", S + 2, N - S - 2}};
        ck_assert_int_eq(vopt_set_groups(a, finer, 3), VAE_OK);
        ck_assert(a->group_steps[1] == 1 && a->group_steps[2] == 1);
        /* A whole update afterwards: each group continues with its own count. */
        ck_assert_int_eq(vopt_update(a, p1, g, N, 1.0), 0);
        ck_assert_int_eq(vopt_update_groups_on(b, NULL, p2, g, N, 2u, 1.0), 0);
        ck_assert_mem_eq(p1 + S, p2 + S, (N - S) * sizeof(float));
        for (int i = 0; i < N; i++)
            p1[i] = p2[i] = 0.1f * i;
        vae_optimizer_free(a);
        vae_optimizer_free(b);
    }
}
END_TEST

/* ---- aggressive training ------------------------------------------------------ */

static vae_dataset *toy_dataset(size_t n, uint64_t seed, float **xout)
{
    float *x = toy_data(n, 10, seed);
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, 10, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    if (xout)
        *xout = x;
    else
        free(x);
    return ds;
}

START_TEST(test_part_steps_touch_only_their_part)
{
    vae_model_config c;
    toy_config(&c);
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(1e-2f);
    float *x = toy_data(8, 10, 4);
    size_t P = m->P.total, E = m->core.group[VM_GROUP_ENCODER].count;
    ck_assert(E > 0 && E < P);
    ck_assert_str_eq(m->P.p[0].name, "enc.0.W");
    float *before = malloc(P * sizeof *before);
    memcpy(before, m->P.val, P * sizeof *before);
    ck_assert_int_eq(vm_train_part(m, o, x, NULL, 8, VM_UPDATE_ENCODER, NULL), VAE_OK);
    ck_assert_mem_eq(before + E, m->P.val + E, (P - E) * sizeof(float));
    ck_assert(memcmp(before, m->P.val, E * sizeof(float)) != 0);
    ck_assert_uint_eq(m->step, 0);
    ck_assert_uint_eq(m->enc_steps, 1);
    memcpy(before, m->P.val, P * sizeof *before);
    ck_assert_int_eq(vm_train_part(m, o, x, NULL, 8, VM_UPDATE_DECODER, NULL), VAE_OK);
    ck_assert_mem_eq(before, m->P.val, E * sizeof(float));
    ck_assert(memcmp(before + E, m->P.val + E, (P - E) * sizeof(float)) != 0);
    ck_assert_uint_eq(m->step, 1);
    free(before);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

START_TEST(test_aggressive_epoch_and_stop)
{
    vae_model_config c;
    toy_config(&c);
    c.aggressive = 1;
    c.aggressive_max_inner = 40;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(1e-3f);
    float *hx;
    vae_dataset *ds = toy_dataset(96, 6, NULL), *held = toy_dataset(50, 7, &hx);
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 32, NULL, NULL, &st), VAE_OK);
    vae_training_state s = {.struct_size = sizeof s};
    vae_model_training_state(m, &s);
    ck_assert_uint_eq(s.step, 3); /* one decoder update per batch */
    /* Inner loops: at least 15 encoder updates per batch (the first check), at most 40. */
    ck_assert_uint_ge(s.encoder_steps, 3 * 15);
    ck_assert_uint_le(s.encoder_steps, 3 * 40);
    ck_assert_int_eq(s.aggressive_active, 1);
    ck_assert(isnan(s.aggressive_mi));
    double mi;
    int active;
    ck_assert_int_eq(vae_model_aggressive_update(m, hx, 50, &mi, &active), VAE_OK);
    ck_assert_int_eq(active, 1);
    /* Collapse the encoder by hand: the held-out MI drops, aggressive mode ends. */
    float *p = malloc(m->P.total * sizeof *p);
    vae_model_get_params(m, p, m->P.total);
    for (size_t i = 0; i < m->core.group[VM_GROUP_ENCODER].count; i++)
        p[i] = 0.0f;
    ck_assert_int_eq(vae_model_set_params(m, p, m->P.total), VAE_OK);
    double mi2;
    ck_assert_int_eq(vae_model_aggressive_update(m, hx, 50, &mi2, &active), VAE_OK);
    ck_assert(mi2 < mi);
    ck_assert_int_eq(active, 0);
    uint64_t enc = m->enc_steps;
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 32, NULL, NULL, &st), VAE_OK);
    ck_assert_uint_eq(m->enc_steps, enc); /* normal training now */
    ck_assert_uint_eq(m->step, 6);
    /* Bad input to the check. */
    ck_assert_int_eq(vae_model_aggressive_update(NULL, hx, 50, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_aggressive_update(m, NULL, 50, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_aggressive_update(m, hx, 1, NULL, NULL), VAE_ERR_INVALID);
    free(p);
    free(hx);
    vae_dataset_free(ds);
    vae_dataset_free(held);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

/* Aggressive training of a conditional model with a learned prior: the
 * inner encoder loops carry their batches' conditions, the decoder update
 * includes the prior network, and the held-out MI check encodes with the
 * held-out conditions. */
START_TEST(test_aggressive_conditional)
{
    enum { N = 64, H = 20, C = 3 };
    vae_model_config c;
    toy_config(&c);
    c.cond_dim = C;
    c.prior = VAE_PRIOR_LEARNED;
    c.prior_hidden = 6;
    c.aggressive = 1;
    c.aggressive_max_inner = 30;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    ck_assert_int_eq(m->core.n_groups, 3);
    ck_assert_str_eq(m->core.group[VM_GROUP_PRIOR].name, "prior");
    vae_optimizer *o = adam(1e-3f);
    float *hx, cond[N * C], hc[H * C];
    for (int i = 0; i < N * C; i++)
        cond[i] = (i % C) == (i / C) % C ? 1.0f : 0.0f;
    for (int i = 0; i < H * C; i++)
        hc[i] = (i % C) == (i / C) % C ? 1.0f : 0.0f;
    vae_dataset *ds = toy_dataset(N, 10, NULL), *held = toy_dataset(H, 11, &hx);
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cond, N, C), VAE_OK);
    float *prior_before = malloc(m->P.total * sizeof *prior_before);
    memcpy(prior_before, m->P.val, m->P.total * sizeof *prior_before);
    vae_elbo_stats st;
    ck_assert_msg(vae_model_train_epoch(m, o, ds, 16, NULL, NULL, &st) == VAE_OK, "%s",
                  vae_model_errmsg(m));
    ck_assert(isfinite(st.elbo));
    vae_training_state s = {.struct_size = sizeof s};
    vae_model_training_state(m, &s);
    ck_assert_uint_eq(s.step, 4); /* one decoder update per batch */
    ck_assert_uint_ge(s.encoder_steps, 4 * 15);
    ck_assert_uint_le(s.encoder_steps, 4 * 30);
    /* The prior group moved with the decoder: the same step count. */
    ck_assert_uint_eq(o->group_steps[VM_GROUP_PRIOR], o->group_steps[VM_GROUP_DECODER]);
    ck_assert_uint_eq(o->group_steps[VM_GROUP_ENCODER], s.encoder_steps);
    const vopt_group *pg = &m->core.group[VM_GROUP_PRIOR];
    ck_assert(memcmp(prior_before + pg->offset, m->P.val + pg->offset,
                     pg->count * sizeof(float)) != 0);
    /* Held-out MI with the conditions; the unconditional public call refuses. */
    double mi;
    int active;
    ck_assert_int_eq(vm_aggressive_update(m, hx, hc, H, &mi, &active), VAE_OK);
    ck_assert(isfinite(mi));
    ck_assert_int_eq(active, 1);
    ck_assert_int_eq(vae_model_aggressive_update(m, hx, H, NULL, NULL), VAE_ERR_UNSUPPORTED);
    /* A second epoch continues from the groups' own counts. */
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 16, NULL, NULL, &st), VAE_OK);
    free(prior_before);
    free(hx);
    vae_dataset_free(ds);
    vae_dataset_free(held);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

/* Save in the middle of scheduled, aggressive training; both copies continue bit for bit. */
START_TEST(test_checkpoint_continuation)
{
    char path[512];
    tu_tmp_path(path, sizeof path, "beta.ckpt");
    vae_model_config c;
    toy_config(&c);
    c.kl_schedule = VAE_KL_SCHEDULE_CYCLICAL;
    c.kl_cycle_steps = 5;
    c.free_bits = 0.02f;
    c.aggressive = 1;
    c.aggressive_max_inner = 20;
    vae_model *a, *b;
    ck_assert_int_eq(vae_model_create(&c, &a, NULL), VAE_OK);
    vae_optimizer *oa = adam(1e-3f), *ob;
    float *hx;
    vae_dataset *ds = toy_dataset(64, 8, NULL), *held = toy_dataset(20, 9, &hx);
    ck_assert_int_eq(vae_model_train_epoch(a, oa, ds, 16, NULL, NULL, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_aggressive_update(a, hx, 20, NULL, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_save(a, oa, path), VAE_OK);
    vae_error err;
    ck_assert_msg(vae_model_load(path, &b, &ob, &err) == VAE_OK, "%s", err.message);
    vae_training_state sa = {.struct_size = sizeof sa}, sb = {.struct_size = sizeof sb};
    vae_model_training_state(a, &sa);
    vae_model_training_state(b, &sb);
    ck_assert_uint_eq(sa.step, sb.step);
    ck_assert_uint_eq(sa.encoder_steps, sb.encoder_steps);
    ck_assert(sa.beta == sb.beta && sa.aggressive_mi == sb.aggressive_mi);
    ck_assert_int_eq(ob->n_groups, oa->n_groups);
    for (int i = 0; i < oa->n_groups; i++) {
        ck_assert_uint_eq(ob->group[i].offset, oa->group[i].offset);
        ck_assert_uint_eq(ob->group_steps[i], oa->group_steps[i]);
    }
    ck_assert(oa->group_steps[0] != oa->group_steps[1]);
    vae_model_config ca = {.struct_size = sizeof ca}, cb = {.struct_size = sizeof cb};
    vae_model_get_config(a, &ca);
    vae_model_get_config(b, &cb);
    ck_assert(tu_config_equal(&ca, &cb));
    for (int e = 0; e < 2; e++) {
        vae_elbo_stats x1, x2;
        ck_assert_int_eq(vae_model_train_epoch(a, oa, ds, 16, NULL, NULL, &x1), VAE_OK);
        ck_assert_int_eq(vae_model_train_epoch(b, ob, ds, 16, NULL, NULL, &x2), VAE_OK);
        ck_assert(x1.loss == x2.loss);
    }
    ck_assert_mem_eq(a->P.val, b->P.val, a->P.total * sizeof(float));
    ck_assert_uint_eq(a->step, b->step);
    unlink(path);
    free(hx);
    vae_dataset_free(ds);
    vae_dataset_free(held);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

/* ---- diagnostics ------------------------------------------------------------- */

/* A linear encoder (no hidden layer) of input_dim = latent_dim = K:
 * mu = x W_mu + b_mu, lv = x W_lv + b_lv, with W_mu = w I and b_lv = lv0. */
static vae_model *linear_encoder(int K, float w, float lv0, int posterior)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = K;
    c.latent_dim = K;
    c.n_hidden = 0;
    c.posterior = posterior;
    c.likelihood = VAE_LIK_GAUSSIAN_FIXED;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    float *p = calloc(m->P.total, sizeof *p);
    for (size_t t = 0; t < vae_model_param_tensor_count(m); t++) {
        const char *name;
        size_t rows, cols, off;
        vae_model_param_tensor_info(m, t, &name, &rows, &cols, &off);
        if (!strcmp(name, "enc.mu.W"))
            for (int k = 0; k < K; k++)
                p[off + (size_t)k * K + k] = w;
        if (!strcmp(name, "enc.mu.b"))
            for (int k = 0; k < K; k++)
                p[off + k] = 0.3f * k; /* a constant offset: no variance across x */
        if (!strcmp(name, "enc.logvar.b"))
            for (int k = 0; k < K; k++)
                p[off + k] = lv0;
    }
    ck_assert_int_eq(vae_model_set_params(m, p, m->P.total), VAE_OK);
    free(p);
    return m;
}

START_TEST(test_diag_ignoring_encoder)
{
    enum { K = 4, N = 600 };
    vae_model *m = linear_encoder(K, 0.0f, -0.5f, VAE_POST_GAUSSIAN);
    float *x = toy_data(N, K, 10);
    vae_diagnostics d = {.struct_size = sizeof d};
    float kl[K], var[K];
    ck_assert_int_eq(vae_model_diagnostics(m, x, N, &d, kl, var), VAE_OK);
    ck_assert_int_eq(d.active_units, 0);
    ck_assert_uint_eq(d.n, N);
    for (int k = 0; k < K; k++) {
        ck_assert(var[k] < 1e-12);
        double mu = 0.3 * k; /* KL of N(mu, e^-0.5) to N(0,1) */
        ck_assert_double_eq_tol(kl[k], 0.5 * (mu * mu + exp(-0.5) - 1 + 0.5), 1e-5);
    }
    /* All posteriors equal: MI's expectation is 0; the estimate's standard
     * error is sqrt(K/2 / N) = 0.058 (log q of a Gaussian sample has variance K/2). */
    ck_assert_msg(fabs(d.mi) < 4 * sqrt(K / 2.0 / N), "MI %g", d.mi);
    vae_model_free(m);
    free(x);
}
END_TEST

START_TEST(test_diag_identity_encoder)
{
    enum { K = 5, N = 400 };
    vae_model *m = linear_encoder(K, 1.0f, -8.0f, VAE_POST_GAUSSIAN);
    float *x = toy_data(N, K, 11);
    vae_diagnostics d = {.struct_size = sizeof d};
    float var[K];
    ck_assert_int_eq(vae_model_diagnostics(m, x, N, &d, NULL, var), VAE_OK);
    ck_assert_int_eq(d.active_units, K);
    for (int k = 0; k < K; k++) /* Var of U(0,1) = 1/12 */
        ck_assert_double_eq_tol(var[k], 1.0 / 12, 0.02);
    /* Tight posteriors of distinct points: the MI estimate reaches its ceiling
     * log N, up to the Monte Carlo error of -H - log q(z_i|x_i) (sd sqrt(K/2/N)). */
    double se = sqrt(K / 2.0 / N);
    ck_assert_msg(fabs(d.mi - log(N)) < 4 * se, "MI %g vs log N %g", d.mi, log(N));
    vae_model_free(m);
    free(x);
}
END_TEST

/* The MI estimate against a direct computation (densities, no logs until the
 * end, long double) with the same z draws; KL per dimension of the Laplace
 * and logistic families against Monte Carlo. */
static void mi_independent(int posterior)
{
    enum { K = 2, N = 6 };
    vae_model *m = linear_encoder(K, 0.8f, -1.0f, posterior);
    float x[N * K];
    vt_rng r;
    vt_rng_seed(&r, 12, 0);
    for (int i = 0; i < N * K; i++)
        x[i] = (float)(vt_rng_uniform(&r) * 3 - 1.5);
    /* make lv vary with x too */
    float *p = malloc(m->P.total * sizeof *p);
    vae_model_get_params(m, p, m->P.total);
    size_t off;
    for (size_t t = 0; t < vae_model_param_tensor_count(m); t++) {
        const char *name;
        vae_model_param_tensor_info(m, t, &name, NULL, NULL, &off);
        if (!strcmp(name, "enc.logvar.W"))
            for (int k = 0; k < K * K; k++)
                p[off + k] = 0.2f * (k % 3) - 0.1f;
    }
    vae_model_set_params(m, p, m->P.total);
    free(p);
    vae_diagnostics d = {.struct_size = sizeof d};
    float kl[K];
    ck_assert_int_eq(vae_model_diagnostics(m, x, N, &d, kl, NULL), VAE_OK);
    float mu[N * K], lv[N * K], z[N * K];
    vae_model_encode(m, x, N, mu, lv);
    vt_rng ev;
    vt_rng_seed(&ev, m->cfg.seed, VM_STREAM_EVAL);
    vg_family_sample(posterior, &ev, z, N * K);
    long double total = 0;
    for (int i = 0; i < N; i++) {
        long double zi[K], neg_h = 0;
        for (int k = 0; k < K; k++) {
            long double s = expl(0.5L * lv[i * K + k]);
            zi[k] = mu[i * K + k] + s * (long double)z[i * K + k];
            neg_h -= posterior == VAE_POST_GAUSSIAN  ? 0.5L * logl(2 * M_PI * M_E * s * s)
                     : posterior == VAE_POST_LAPLACE ? 1 + logl(2 * s)
                                                     : logl(s) + 2;
        }
        long double qz = 0;
        for (int j = 0; j < N; j++) {
            long double dens = 1;
            for (int k = 0; k < K; k++) {
                long double s = expl(0.5L * lv[j * K + k]), u = (zi[k] - mu[j * K + k]) / s;
                long double phi = posterior == VAE_POST_GAUSSIAN  ? expl(-u * u / 2) / sqrtl(2 * M_PI)
                                  : posterior == VAE_POST_LAPLACE ? expl(-fabsl(u)) / 2
                                                                  : expl(-u) / ((1 + expl(-u)) * (1 + expl(-u)));
                dens *= phi / s;
            }
            qz += dens / N;
        }
        total += neg_h - logl(qz);
    }
    ck_assert_msg(fabsl(total / N - d.mi) < 1e-4, "MI %g vs direct %Lg", d.mi, total / N);
    /* KL per dimension: Monte Carlo E_q[log q - log p] over many draws per example. */
    for (int k = 0; k < K; k++) {
        double acc = 0;
        const int S = 40000;
        float *e = malloc(S * sizeof *e);
        for (int i = 0; i < N; i++) {
            vg_family_sample(posterior, &r, e, S);
            double s = exp(0.5 * lv[i * K + k]);
            for (int t = 0; t < S; t++) {
                double u = e[t], zz = mu[i * K + k] + s * u;
                double lphi = posterior == VAE_POST_GAUSSIAN  ? -0.5 * log(2 * M_PI) - u * u / 2
                              : posterior == VAE_POST_LAPLACE ? -log(2.0) - fabs(u)
                                                              : -u - 2 * log1p(exp(-u));
                acc += lphi - log(s) - (-0.5 * log(2 * M_PI) - zz * zz / 2);
            }
        }
        free(e);
        acc /= (double)S * N;
        ck_assert_msg(fabs(acc - kl[k]) < 0.02, "family %d dim %d: KL %g vs MC %g", posterior, k,
                      (double)kl[k], acc);
    }
    vae_model_free(m);
}

START_TEST(test_diag_mi_gaussian) { mi_independent(VAE_POST_GAUSSIAN); }
END_TEST
START_TEST(test_diag_mi_laplace) { mi_independent(VAE_POST_LAPLACE); }
END_TEST
START_TEST(test_diag_mi_logistic) { mi_independent(VAE_POST_LOGISTIC); }
END_TEST

START_TEST(test_diag_bad_input)
{
    vae_model *m = linear_encoder(3, 1.0f, 0.0f, VAE_POST_GAUSSIAN);
    float x[9] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
    vae_diagnostics d = {.struct_size = sizeof d};
    ck_assert_int_eq(vae_model_diagnostics(NULL, x, 3, &d, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_diagnostics(m, NULL, 3, &d, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_diagnostics(m, x, 3, NULL, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_diagnostics(m, x, 1, &d, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_diagnostics(m, x, (size_t)1 << 21, &d, NULL, NULL), VAE_ERR_LIMIT);
    x[4] = NAN;
    ck_assert_int_eq(vae_model_diagnostics(m, x, 3, &d, NULL, NULL), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "x[1][1]"));
    x[4] = 0.5f;
    d.struct_size = 0;
    ck_assert_int_eq(vae_model_diagnostics(m, x, 3, &d, NULL, NULL), VAE_ERR_INVALID);
    /* An older, smaller struct receives only its prefix. */
    d.struct_size = offsetof(vae_diagnostics, mi);
    d.mi = -99;
    ck_assert_int_eq(vae_model_diagnostics(m, x, 3, &d, NULL, NULL), VAE_OK);
    ck_assert(d.mi == -99 && d.active_units == 3);
    vae_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("beta");
    TCase *tc = tcase_create("beta");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_freebits_op);
    tcase_add_test(tc, test_absdev_op);
    tcase_add_test(tc, test_schedule_constant);
    tcase_add_test(tc, test_schedule_linear);
    tcase_add_test(tc, test_schedule_cyclical);
    tcase_add_test(tc, test_capacity_objective);
    tcase_add_test(tc, test_free_bits_objective);
    tcase_add_test(tc, test_bad_training_fields);
    tcase_add_test(tc, test_partial_updates);
    tcase_add_test(tc, test_part_steps_touch_only_their_part);
    tcase_add_test(tc, test_aggressive_conditional);
    tcase_add_test(tc, test_aggressive_epoch_and_stop);
    tcase_add_test(tc, test_checkpoint_continuation);
    tcase_add_test(tc, test_diag_ignoring_encoder);
    tcase_add_test(tc, test_diag_identity_encoder);
    tcase_add_test(tc, test_diag_mi_gaussian);
    tcase_add_test(tc, test_diag_mi_laplace);
    tcase_add_test(tc, test_diag_mi_logistic);
    tcase_add_test(tc, test_diag_bad_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
