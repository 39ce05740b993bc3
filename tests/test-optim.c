/* Check suite for the optimizer layer (src/optim): the update rules against
 * independent double-precision references written here in textbook form,
 * convergence on a quadratic, configuration checks, the step counter, state
 * binding, and checkpoint save/load through the io layer. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "libvae/vae.h"
#include "optim/optimizer.h"
#include "testutil.h"

#define N 5          /* parameters in the small test vector */
#define REL_TOL 1e-6 /* float32 updates against double references */

static const float p_start[N] = {0.8f, -1.2f, 0.3f, 2.0f, -0.05f};

/* A deterministic, varied gradient for step t (0-based) and element i. */
static void grad_at(int t, float *g)
{
    for (int i = 0; i < N; i++)
        g[i] = (float)(0.3 * sin(1.7 * i + 0.9 * t + 0.4) + 0.05 * (i - 2));
}

/* The global L2 norm the model layer passes to vopt_update. */
static double norm_of(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
}

static void assert_close(double got, double want, const char *what, int step, int i)
{
    double tol = REL_TOL * fabs(want) + 1e-9;
    ck_assert_msg(fabs(got - want) <= tol, "%s: step %d element %d: got %.9g want %.9g", what,
                  step, i, got, want);
}

static vae_optimizer *new_opt(const vae_optimizer_config *c)
{
    vae_optimizer *o = NULL;
    vae_error err;
    int st = vae_optimizer_create(c, &o, &err);
    ck_assert_msg(st == VAE_OK, "create: %s", err.message);
    ck_assert_int_eq(err.status, VAE_OK);
    ck_assert_str_eq(err.message, "");
    ck_assert_ptr_nonnull(o);
    return o;
}

/* ------------------------------------------------------------------------ */
/* Double-precision reference optimizers                                     */
/* ------------------------------------------------------------------------ */

typedef struct ref_opt {
    int type;
    double lr, mu, b1, b2, eps, wd, clip;
    double p[N], m[N], v[N];
    int t; /* steps taken */
} ref_opt;

static void ref_init(ref_opt *r, const vae_optimizer_config *c)
{
    memset(r, 0, sizeof *r);
    r->type = c->type;
    r->lr = c->lr;
    r->mu = c->momentum;
    r->b1 = c->beta1;
    r->b2 = c->beta2;
    r->eps = c->eps;
    r->wd = c->weight_decay;
    r->clip = c->clip_norm;
    for (int i = 0; i < N; i++)
        r->p[i] = p_start[i];
}

/* One step with gradient g (its norm given): clip the whole vector, add the
 * L2 penalty's gradient, then apply the rule. */
static void ref_step(ref_opt *r, const float *gf, double norm)
{
    double g[N];
    double scale = (r->clip > 0 && norm > r->clip) ? r->clip / (norm + 1e-6) : 1.0;
    for (int i = 0; i < N; i++)
        g[i] = gf[i] * scale + r->wd * r->p[i];
    r->t++;
    for (int i = 0; i < N; i++) {
        switch (r->type) {
        case VAE_OPT_SGD:
            r->p[i] -= r->lr * g[i];
            break;
        case VAE_OPT_MOMENTUM:
            r->m[i] = r->t == 1 ? g[i] : r->mu * r->m[i] + g[i];
            r->p[i] -= r->lr * r->m[i];
            break;
        case VAE_OPT_ADAGRAD:
            r->m[i] += g[i] * g[i];
            r->p[i] -= r->lr * g[i] / (sqrt(r->m[i]) + r->eps);
            break;
        case VAE_OPT_ADAM: {
            /* Kingma & Ba, Algorithm 1, with eps outside the root like PyTorch. */
            r->m[i] = r->b1 * r->m[i] + (1 - r->b1) * g[i];
            r->v[i] = r->b2 * r->v[i] + (1 - r->b2) * g[i] * g[i];
            double mhat = r->m[i] / (1 - pow(r->b1, r->t));
            double vhat = r->v[i] / (1 - pow(r->b2, r->t));
            r->p[i] -= r->lr * mhat / (sqrt(vhat) + r->eps);
            break;
        }
        default:
            ck_abort_msg("bad type");
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Update rules against the references                                       */
/* ------------------------------------------------------------------------ */

typedef struct rule_case {
    const char *name;
    int type;
    float lr, momentum, beta1, beta2, eps, wd, clip;
} rule_case;

/* eps 0 means the type's default. The clip of 0.5 is below the gradient
 * norm on some steps and above it on others. */
static const rule_case rule_cases[] = {
    {"sgd", VAE_OPT_SGD, 0.1f, 0.9f, 0.9f, 0.999f, 0, 0, 0},
    {"sgd+wd+clip", VAE_OPT_SGD, 0.05f, 0.9f, 0.9f, 0.999f, 0, 0.01f, 0.5f},
    {"momentum", VAE_OPT_MOMENTUM, 0.1f, 0.9f, 0.9f, 0.999f, 0, 0, 0},
    {"momentum 0.5+wd+clip", VAE_OPT_MOMENTUM, 0.05f, 0.5f, 0.9f, 0.999f, 0, 0.1f, 0.5f},
    {"adagrad", VAE_OPT_ADAGRAD, 0.1f, 0.9f, 0.9f, 0.999f, 0, 0, 0},
    {"adagrad+wd+clip", VAE_OPT_ADAGRAD, 0.2f, 0.9f, 0.9f, 0.999f, 1e-3f, 0.05f, 0.5f},
    {"adam", VAE_OPT_ADAM, 0.01f, 0.9f, 0.9f, 0.999f, 0, 0, 0},
    {"adam+wd+clip", VAE_OPT_ADAM, 0.02f, 0.9f, 0.9f, 0.999f, 0, 0.1f, 0.5f},
    {"adam betas 0.5 0.75", VAE_OPT_ADAM, 0.01f, 0.9f, 0.5f, 0.75f, 1e-3f, 0, 0},
};
#define N_RULE_CASES ((int)(sizeof rule_cases / sizeof rule_cases[0]))

static void case_config(const rule_case *rc, vae_optimizer_config *c)
{
    vae_optimizer_config_init(c, rc->type);
    c->lr = rc->lr;
    c->momentum = rc->momentum;
    c->beta1 = rc->beta1;
    c->beta2 = rc->beta2;
    if (rc->eps > 0)
        c->eps = rc->eps;
    c->weight_decay = rc->wd;
    c->clip_norm = rc->clip;
}

/* Twelve steps of every configuration against the reference, after each step. */
START_TEST(test_rules_match_reference)
{
    const rule_case *rc = &rule_cases[_i];
    vae_optimizer_config c;
    case_config(rc, &c);
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    ref_opt r;
    ref_init(&r, &c);
    float p[N], g[N];
    memcpy(p, p_start, sizeof p);
    int clipped = 0;
    for (int t = 0; t < 12; t++) {
        grad_at(t, g);
        double norm = norm_of(g, N);
        clipped += c.clip_norm > 0 && norm > c.clip_norm;
        vopt_update(o, p, g, N, norm);
        ref_step(&r, g, norm);
        for (int i = 0; i < N; i++)
            assert_close(p[i], r.p[i], rc->name, t + 1, i);
    }
    ck_assert_uint_eq(vae_optimizer_steps(o), 12);
    /* The clipped cases must really exercise both branches. */
    if (c.clip_norm > 0)
        ck_assert_msg(clipped > 0 && clipped < 12, "%s: clipped on %d of 12 steps", rc->name,
                      clipped);
    vae_optimizer_free(o);
}
END_TEST

START_TEST(test_sgd_by_hand)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_SGD);
    c.lr = 0.5f;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, 2), VAE_OK);
    ck_assert_ptr_null(o->m); /* plain SGD keeps no state */
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.25f, -0.5f};
    vopt_update(o, p, g, 2, norm_of(g, 2));
    /* All values are exact in binary: 1 - 0.5*0.25, -2 + 0.5*0.5. */
    ck_assert_float_eq(p[0], 0.875f);
    ck_assert_float_eq(p[1], -1.75f);
    vae_optimizer_free(o);
}
END_TEST

START_TEST(test_momentum_first_step)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_MOMENTUM);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    float p[N], g1[N], g2[N];
    memcpy(p, p_start, sizeof p);
    grad_at(0, g1);
    grad_at(1, g2);
    vopt_update(o, p, g1, N, norm_of(g1, N));
    /* First step: the buffer is the gradient itself, p moves by lr * g. */
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq(o->m[i], g1[i]);
        assert_close(p[i], p_start[i] - 0.1 * g1[i], "momentum step 1", 1, i);
    }
    vopt_update(o, p, g2, N, norm_of(g2, N));
    /* Second step: buf = mu g1 + g2, p = p0 - lr g1 - lr buf. */
    for (int i = 0; i < N; i++) {
        double buf = (double)0.9f * g1[i] + g2[i];
        assert_close(o->m[i], buf, "momentum buffer", 2, i);
        assert_close(p[i], p_start[i] - 0.1 * g1[i] - 0.1 * buf, "momentum step 2", 2, i);
    }
    vae_optimizer_free(o);
}
END_TEST

/* Adam at steps 1, 2 and 10 in closed form, where the bias correction is
 * what makes the first steps the size of lr. */
START_TEST(test_adam_bias_correction)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAM);
    c.lr = 0.01f;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    const double lr = c.lr, b1 = c.beta1, b2 = c.beta2, eps = c.eps;
    float p[N], g[10][N];
    memcpy(p, p_start, sizeof p);
    for (int t = 0; t < 10; t++)
        grad_at(t, g[t]);

    /* Step 1: m_hat = g, v_hat = g^2, so p1 = p0 - lr g / (|g| + eps). */
    vopt_update(o, p, g[0], N, norm_of(g[0], N));
    double p1[N];
    for (int i = 0; i < N; i++) {
        p1[i] = p_start[i] - lr * g[0][i] / (fabs(g[0][i]) + eps);
        assert_close(p[i], p1[i], "adam step 1", 1, i);
        /* Without the correction the step would be ~(1-b1)/sqrt(1-b2) ~ 3.2 lr. */
        ck_assert(fabs(p[i] - p_start[i]) <= lr * 1.000001);
    }

    /* Step 2: m_hat = (b1 g1 + g2) / (1 + b1), v_hat = (b2 g1^2 + g2^2) / (1 + b2). */
    vopt_update(o, p, g[1], N, norm_of(g[1], N));
    for (int i = 0; i < N; i++) {
        double mhat = (b1 * g[0][i] + g[1][i]) / (1 + b1);
        double vhat = (b2 * g[0][i] * g[0][i] + g[1][i] * g[1][i]) / (1 + b2);
        assert_close(p[i], p1[i] - lr * mhat / (sqrt(vhat) + eps), "adam step 2", 2, i);
    }

    /* Step 10: m_hat and v_hat as weighted sums over all ten gradients. */
    for (int t = 2; t < 10; t++)
        vopt_update(o, p, g[t], N, norm_of(g[t], N));
    ref_opt r;
    ref_init(&r, &c);
    for (int t = 0; t < 10; t++)
        ref_step(&r, g[t], norm_of(g[t], N));
    for (int i = 0; i < N; i++) {
        double msum = 0, vsum = 0;
        for (int k = 0; k < 10; k++) {
            msum += (1 - b1) * pow(b1, 9 - k) * g[k][i];
            vsum += (1 - b2) * pow(b2, 9 - k) * g[k][i] * g[k][i];
        }
        ck_assert_msg(fabs(msum - o->m[i]) <= 1e-6 * fabs(msum) + 1e-9, "m[%d]", i);
        ck_assert_msg(fabs(vsum - o->v[i]) <= 1e-6 * fabs(vsum) + 1e-12, "v[%d]", i);
        assert_close(p[i], r.p[i], "adam step 10", 10, i);
    }
    vae_optimizer_free(o);
}
END_TEST

/* Adam skips its finiteness scan when bounds prove the update finite
 * (adam_provably_finite). Over extreme scales of gradients, parameters,
 * learning rate and eps: an accepted update leaves every value finite and
 * equals, bit for bit, the update made with the scan (bounds unknown); a
 * refused one changes nothing, and then some value would indeed have been
 * non-finite (checked by redoing the update on copies in double). */
START_TEST(test_adam_bounds_guard)
{
    enum { M = 37 }; /* lanes plus a tail */
    const double gs[] = {1e-30, 1.0, 1e10, 1e17, 1e19, 1e30};
    const double ps[] = {0.5, 1e30, 3.0e38};
    const float lrs[] = {1e-3f, 1e30f, 1e38f};
    const float epss[] = {1e-8f, 1e-38f};
    int accepted = 0, refused = 0;
    for (size_t a = 0; a < sizeof gs / sizeof gs[0]; a++)
        for (size_t b = 0; b < sizeof ps / sizeof ps[0]; b++)
            for (size_t c = 0; c < sizeof lrs / sizeof lrs[0]; c++)
                for (size_t e = 0; e < sizeof epss / sizeof epss[0]; e++) {
                    vae_optimizer_config cfg;
                    vae_optimizer_config_init(&cfg, VAE_OPT_ADAM);
                    cfg.lr = lrs[c];
                    cfg.eps = epss[e];
                    vae_optimizer *fast = new_opt(&cfg), *slow = new_opt(&cfg);
                    ck_assert_int_eq(vopt_bind(fast, M), VAE_OK);
                    ck_assert_int_eq(vopt_bind(slow, M), VAE_OK);
                    float pf[M], pslow[M], g[M], g0[M];
                    for (int i = 0; i < M; i++) {
                        pf[i] = pslow[i] = (float)(ps[b] * (i % 3 == 0 ? -1.0 : 0.7));
                        g0[i] = 0.01f * (float)(i - 18);
                        g[i] = (float)(gs[a] * sin(1.3 * i + 0.2));
                    }
                    /* a normal first step makes the bounds known */
                    int r1 = vopt_update(fast, pf, g0, M, norm_of(g0, M));
                    slow->bounds_known = 0;
                    int r2 = vopt_update(slow, pslow, g0, M, norm_of(g0, M));
                    ck_assert_int_eq(r1, r2);
                    float pb[M], mb[M], vb[M];
                    memcpy(pb, pf, sizeof pb);
                    memcpy(mb, fast->m, sizeof mb);
                    memcpy(vb, fast->v, sizeof vb);
                    uint64_t steps = fast->steps;
                    r1 = vopt_update(fast, pf, g, M, norm_of(g, M));
                    slow->bounds_known = 0;
                    r2 = vopt_update(slow, pslow, g, M, norm_of(g, M));
                    ck_assert_int_eq(r1, r2);
                    ck_assert(memcmp(pf, pslow, sizeof pf) == 0);
                    ck_assert(memcmp(fast->m, slow->m, sizeof pf) == 0);
                    ck_assert(memcmp(fast->v, slow->v, sizeof pf) == 0);
                    if (r1 == 0) {
                        accepted++;
                        for (int i = 0; i < M; i++)
                            ck_assert(isfinite(pf[i]) && isfinite(fast->m[i]) &&
                                      isfinite(fast->v[i]));
                    } else {
                        refused++;
                        ck_assert(memcmp(pf, pb, sizeof pb) == 0);
                        ck_assert(memcmp(fast->m, mb, sizeof mb) == 0);
                        ck_assert(memcmp(fast->v, vb, sizeof vb) == 0);
                        ck_assert(fast->steps == steps);
                        /* the oracle: in float, some new value is not finite */
                        double t = (double)steps + 1.0;
                        float bc2 = (float)sqrt(1.0 - pow(0.999, t));
                        float ss = (float)(cfg.lr / (1.0 - pow(0.9, t)));
                        /* the update runs with subnormals flushed to zero (FTZ/DAZ) */
                        float epsf = cfg.eps < FLT_MIN ? 0.0f : cfg.eps;
                        int bad = 0;
                        for (int i = 0; i < M; i++) {
                            float mi = mb[i] * 0.9f + 0.1f * g[i];
                            float vi = vb[i] * 0.999f + 0.001f * g[i] * g[i];
                            float pi = pb[i] - ss * mi / (sqrtf(vi) / bc2 + epsf);
                            bad |= !isfinite(mi) || !isfinite(vi) || !isfinite(pi);
                        }
                        ck_assert_msg(bad, "refused a finite update: g %g p %g lr %g eps %g", gs[a], ps[b], (double)lrs[c], (double)epss[e]);
                    }
                    vae_optimizer_free(fast);
                    vae_optimizer_free(slow);
                }
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(refused, 0);
}
END_TEST

static vae_optimizer *save_and_load(const vae_optimizer *o, const char *path);

/* Adam's ratio bound (optimizer.c, "Adam's ratio bound"): after every
 * update |m_i| <= R sqrt(v_i + 1e-30) for the tracked R, over gradients
 * spanning 1e-40 (flushed) to 1e15 with zeros and sign changes, betas
 * changed between steps and groups updated apart; R approaches the fixed
 * point 7.27 at the default betas. Where the bound lets the guard skip its
 * scan, the scan agrees (the update is within the limit). A loaded state
 * measures R, and a state that breaks the recursion gets a large R, so the
 * guard scans. (Dropping the c1^2 / c2 term of the recursion fails the
 * first check at once.) */
START_TEST(test_adam_ratio_bound)
{
    enum { M = 300 };
    vae_optimizer_config cfg;
    vae_optimizer_config_init(&cfg, VAE_OPT_ADAM);
    vae_optimizer *o = new_opt(&cfg);
    ck_assert_int_eq(vopt_bind(o, M), VAE_OK);
    vopt_group gr[2] = {{"a", 0, 100}, {"b", 100, M - 100}};
    ck_assert_int_eq(vopt_set_groups(o, gr, 2), VAE_OK);
    ck_assert(o->ratio_known && o->ratio == 0.0);
    float p[M], g[M];
    uint32_t s = 99;
    for (int i = 0; i < M; i++)
        p[i] = 0.01f * (float)(i % 17) - 0.08f;
    double worst = 0.0;
    int skipped = 0, scanned = 0;
    for (int t = 0; t < 400; t++) {
        if (t == 150)
            o->cfg.beta1 = 0.99f, o->cfg.beta2 = 0.9f; /* b1^2 > b2: R grows */
        if (t == 200)
            o->cfg.beta1 = 0.0f, o->cfg.beta2 = 0.5f;
        if (t == 250)
            o->cfg.beta1 = 0.9f, o->cfg.beta2 = 0.999f;
        for (int i = 0; i < M; i++) {
            s = s * 1664525u + 1013904223u;
            int k = (int)(s >> 24) % 8;
            const double mag[] = {0.0, 1e-40, 1e-20, 1e-3, 1.0, 1e3, 1e10, 1e15};
            g[i] = (float)(mag[k] * ((s >> 8 & 1) ? 1.0 : -1.0) * (1 + (s >> 10 & 255) / 256.0));
        }
        if (t % 50 < 10)
            for (int i = 0; i < M; i++)
                g[i] = 0.0f; /* zero gradients: m and v decay towards subnormals */
        unsigned mask = t % 7 == 3 ? 1u : t % 7 == 5 ? 2u : 3u;
        double gn = norm_of(g, M);
        int fast = vopt_groups_within_bound(o, p, g, M, mask, gn);
        int known = o->ratio_known;
        o->ratio_known = 0;
        int slow = vopt_groups_within_bound(o, p, g, M, mask, gn);
        o->ratio_known = known;
        ck_assert_int_eq(fast, slow);
        if (vopt_adam_provably_small(o, o->steps))
            skipped++;
        else
            scanned++;
        float keep[M];
        memcpy(keep, p, sizeof keep);
        ck_assert_int_eq(vopt_update_groups_on(o, NULL, p, g, M, mask, gn), 0);
        memcpy(p, keep, sizeof keep); /* keep p sane; the state is what matters */
        ck_assert(o->ratio_known);
        for (int i = 0; i < M; i++) {
            double need = fabs((double)o->m[i]) / sqrt((double)o->v[i] + 1e-30);
            ck_assert_msg(need <= o->ratio, "step %d element %d: |m| / sqrt(v + S) = %g > R = %g", t, i,
                          need, o->ratio);
            worst = need > worst ? need : worst;
        }
    }
    ck_assert_double_le(o->ratio, 7.3);
    ck_assert_double_ge(o->ratio, 7.2);
    ck_assert(worst > 1.0);
    ck_assert_int_gt(skipped, 0);

    /* Large learning rates scan. */
    o->cfg.lr = 1.0f;
    ck_assert(!vopt_adam_provably_small(o, o->steps));
    o->cfg.lr = 1e-3f;
    ck_assert(vopt_adam_provably_small(o, o->steps));

    /* A loaded state measures R; one that breaks the recursion scans. */
    char path[4096];
    tu_tmp_path(path, sizeof path, "optim-ratio.ckpt");
    vae_optimizer *b = save_and_load(o, path);
    ck_assert(b->ratio_known && b->ratio <= o->ratio);
    vae_optimizer_free(b);
    o->m[7] = 1.0f;
    o->v[7] = 0.0f;
    b = save_and_load(o, path);
    remove(path);
    ck_assert(b->ratio_known && b->ratio >= 1e14);
    ck_assert(!vopt_adam_provably_small(b, b->steps));
    vae_optimizer_free(b);
    vae_optimizer_free(o);
}
END_TEST

START_TEST(test_adagrad_by_hand)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAGRAD);
    ck_assert_float_eq(c.eps, 1e-10f);
    c.lr = 0.1f;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, 1), VAE_OK);
    float p[1] = {1.0f};
    const float g1[1] = {0.5f}, g2[1] = {-1.0f};
    vopt_update(o, p, g1, 1, 0.5);
    /* s = 0.25, p = 1 - 0.1 * 0.5 / 0.5 = 0.9 */
    ck_assert_float_eq(o->m[0], 0.25f);
    assert_close(p[0], 0.9, "adagrad", 1, 0);
    vopt_update(o, p, g2, 1, 1.0);
    /* s = 1.25, p = 0.9 + 0.1 / sqrt(1.25) */
    ck_assert_float_eq(o->m[0], 1.25f);
    assert_close(p[0], 0.9 + 0.1 / sqrt(1.25), "adagrad", 2, 0);
    vae_optimizer_free(o);
}
END_TEST

/* Clipping: a gradient above the limit is scaled to norm clip (less the
 * 1e-6 guard), one below it is untouched, then weight decay is added
 * (after clipping, so the penalty itself is never clipped). */
START_TEST(test_clip_and_weight_decay)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_SGD);
    c.lr = 1.0f;
    c.clip_norm = 1.0f;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, 2), VAE_OK);

    float p[2] = {0.0f, 0.0f};
    const float big[2] = {3.0f, 4.0f}; /* norm 5 */
    vopt_update(o, p, big, 2, 5.0);
    assert_close(p[0], -3.0 / 5.000001, "clip above", 1, 0);
    assert_close(p[1], -4.0 / 5.000001, "clip above", 1, 1);

    p[0] = p[1] = 0.0f;
    const float small[2] = {0.3f, 0.4f}; /* norm 0.5 */
    vopt_update(o, p, small, 2, 0.5);
    ck_assert_float_eq(p[0], -0.3f);
    ck_assert_float_eq(p[1], -0.4f);

    /* Weight decay alone: g + wd p. */
    c.clip_norm = 0.0f;
    c.weight_decay = 0.5f;
    ck_assert_int_eq(vae_optimizer_set_config(o, &c), VAE_OK);
    p[0] = 2.0f;
    p[1] = -4.0f;
    vopt_update(o, p, small, 2, 0.5);
    assert_close(p[0], 2.0 - (0.3 + 0.5 * 2.0), "weight decay", 3, 0);
    assert_close(p[1], -4.0 - (0.4 - 0.5 * 4.0), "weight decay", 3, 1);

    /* Both: clip first, then add the penalty. */
    c.clip_norm = 1.0f;
    ck_assert_int_eq(vae_optimizer_set_config(o, &c), VAE_OK);
    p[0] = 2.0f;
    p[1] = -4.0f;
    vopt_update(o, p, big, 2, 5.0);
    assert_close(p[0], 2.0 - (3.0 / 5.000001 + 1.0), "clip + decay", 4, 0);
    assert_close(p[1], -4.0 - (4.0 / 5.000001 - 2.0), "clip + decay", 4, 1);
    vae_optimizer_free(o);
}
END_TEST

/* Each optimizer minimises f(p) = 1/2 sum a_i (p_i - c_i)^2 from p = 0. */
START_TEST(test_quadratic)
{
    static const struct {
        int type;
        float lr;
        int steps;
        double tol;
    } q[] = {
        {VAE_OPT_SGD, 0.1f, 500, 1e-5},
        {VAE_OPT_MOMENTUM, 0.05f, 500, 1e-5},
        {VAE_OPT_ADAGRAD, 0.5f, 2000, 1e-4},
        {VAE_OPT_ADAM, 0.01f, 3000, 1e-3},
    };
    const double a[N] = {1.0, 0.5, 2.0, 1.5, 0.8};
    const double target[N] = {1.0, -2.0, 0.5, 3.0, -0.7};
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, q[_i].type);
    c.lr = q[_i].lr;
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    float p[N] = {0}, g[N];
    for (int t = 0; t < q[_i].steps; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)(a[i] * (p[i] - target[i]));
        vopt_update(o, p, g, N, norm_of(g, N));
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(fabs(p[i] - target[i]) < q[_i].tol, "type %d: p[%d] = %.9g, optimum %g",
                      q[_i].type, i, (double)p[i], target[i]);
    vae_optimizer_free(o);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_config_defaults)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAM);
    ck_assert_uint_eq(c.struct_size, sizeof c);
    ck_assert_int_eq(c.type, VAE_OPT_ADAM);
    ck_assert_float_eq(c.lr, 1e-3f);
    ck_assert_float_eq(c.momentum, 0.9f);
    ck_assert_float_eq(c.beta1, 0.9f);
    ck_assert_float_eq(c.beta2, 0.999f);
    ck_assert_float_eq(c.eps, 1e-8f);
    ck_assert_float_eq(c.weight_decay, 0.0f);
    ck_assert_float_eq(c.clip_norm, 0.0f);
    const int others[3] = {VAE_OPT_SGD, VAE_OPT_MOMENTUM, VAE_OPT_ADAGRAD};
    for (int k = 0; k < 3; k++) {
        vae_optimizer_config_init(&c, others[k]);
        ck_assert_int_eq(c.type, others[k]);
        ck_assert_float_eq(c.lr, 1e-2f);
        ck_assert_float_eq(c.momentum, 0.9f);
        ck_assert_float_eq(c.eps, others[k] == VAE_OPT_ADAGRAD ? 1e-10f : 1e-8f);
    }
    /* Every default config creates an optimizer with exactly that config. */
    for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t++) {
        vae_optimizer_config_init(&c, t);
        vae_optimizer *o = new_opt(&c);
        vae_optimizer_config back;
        back.struct_size = sizeof back;
        ck_assert_int_eq(vae_optimizer_get_config(o, &back), VAE_OK);
        ck_assert_mem_eq(&back, &c, sizeof c);
        ck_assert_str_eq(vae_optimizer_errmsg(o), "");
        ck_assert_uint_eq(vae_optimizer_steps(o), 0);
        vae_optimizer_free(o);
    }
    vae_optimizer_config_init(NULL, VAE_OPT_ADAM); /* no crash */
}
END_TEST

START_TEST(test_config_unknown_type)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, 42);
    ck_assert_int_eq(c.type, 42);
    ck_assert_float_eq(c.lr, 1e-3f);
    ck_assert_float_eq(c.eps, 1e-8f);
    vae_optimizer *o = (vae_optimizer *)&c; /* must be overwritten with NULL */
    vae_error err;
    ck_assert_int_eq(vae_optimizer_create(&c, &o, &err), VAE_ERR_INVALID);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(err.status, VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "type"));
    c.type = -1;
    ck_assert_int_eq(vae_optimizer_create(&c, &o, NULL), VAE_ERR_INVALID);
    ck_assert_ptr_null(o);
}
END_TEST

typedef struct bad_value {
    const char *field;
    size_t offset;
    float value;
} bad_value;

#define BAD(f, v) {#f, offsetof(vae_optimizer_config, f), v}
static const bad_value bad_values[] = {
    BAD(lr, 0.0f),           BAD(lr, -1e-3f),          BAD(lr, NAN),
    BAD(lr, INFINITY),       BAD(momentum, -0.1f),     BAD(momentum, 1.0f),
    BAD(momentum, NAN),      BAD(beta1, -0.1f),        BAD(beta1, 1.0f),
    BAD(beta1, NAN),         BAD(beta2, -1e-6f),       BAD(beta2, 1.0f),
    BAD(beta2, INFINITY),    BAD(eps, 0.0f),           BAD(eps, -1e-8f),
    BAD(eps, INFINITY),      BAD(eps, NAN),            BAD(weight_decay, -0.1f),
    BAD(weight_decay, NAN),  BAD(weight_decay, INFINITY), BAD(clip_norm, -1.0f),
    BAD(clip_norm, NAN),     BAD(clip_norm, INFINITY),
};
#define N_BAD ((int)(sizeof bad_values / sizeof bad_values[0]))

static void set_field(vae_optimizer_config *c, size_t offset, float v)
{
    memcpy((char *)c + offset, &v, sizeof v);
}

/* Each bad value, for each type: create fails naming the field, and
 * set_config fails naming it and leaves the old config in place. */
START_TEST(test_config_bad_values)
{
    const bad_value *b = &bad_values[_i];
    for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t++) {
        vae_optimizer_config good, bad;
        vae_optimizer_config_init(&good, t);
        good.lr = 0.02f;
        bad = good;
        set_field(&bad, b->offset, b->value);

        vae_optimizer *o = NULL;
        vae_error err;
        ck_assert_int_eq(vae_optimizer_create(&bad, &o, &err), VAE_ERR_INVALID);
        ck_assert_ptr_null(o);
        ck_assert_int_eq(err.status, VAE_ERR_INVALID);
        ck_assert_msg(strstr(err.message, b->field), "message '%s' should name %s", err.message,
                      b->field);

        o = new_opt(&good);
        ck_assert_int_eq(vae_optimizer_set_config(o, &bad), VAE_ERR_INVALID);
        ck_assert_msg(strstr(vae_optimizer_errmsg(o), b->field), "errmsg '%s' should name %s",
                      vae_optimizer_errmsg(o), b->field);
        vae_optimizer_config now;
        now.struct_size = sizeof now;
        ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
        ck_assert_mem_eq(&now, &good, sizeof good);
        vae_optimizer_free(o);
    }
}
END_TEST

START_TEST(test_set_config)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_MOMENTUM);
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    float p[N], g[N];
    memcpy(p, p_start, sizeof p);
    grad_at(0, g);
    vopt_update(o, p, g, N, norm_of(g, N));
    float buf0 = o->m[0];

    /* A valid change is taken; the state and step count are kept. */
    c.lr = 0.25f;
    c.momentum = 0.5f;
    ck_assert_int_eq(vae_optimizer_set_config(o, &c), VAE_OK);
    vae_optimizer_config now;
    now.struct_size = sizeof now;
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_mem_eq(&now, &c, sizeof c);
    ck_assert_float_eq(o->m[0], buf0);
    ck_assert_uint_eq(vae_optimizer_steps(o), 1);

    /* Changing the type is refused and changes nothing. */
    vae_optimizer_config adam;
    vae_optimizer_config_init(&adam, VAE_OPT_ADAM);
    ck_assert_int_eq(vae_optimizer_set_config(o, &adam), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_optimizer_errmsg(o), "type"));
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_mem_eq(&now, &c, sizeof c);

    /* NULL arguments. */
    ck_assert_int_eq(vae_optimizer_set_config(NULL, &c), VAE_ERR_NULL);
    ck_assert_int_eq(vae_optimizer_set_config(o, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_optimizer_get_config(NULL, &now), VAE_ERR_NULL);
    ck_assert_int_eq(vae_optimizer_get_config(o, NULL), VAE_ERR_NULL);
    ck_assert_str_ne(vae_optimizer_errmsg(o), "");
    vae_optimizer_free(o);
}
END_TEST

/* struct_size: an older, smaller struct gets defaults for the fields it
 * lacks; a newer, larger one is read up to what the library knows; zero,
 * absurd sizes and sizes that do not reach the type are refused. */
START_TEST(test_config_struct_size)
{
    vae_optimizer *o = NULL;
    vae_error err;

    /* An "old" struct ending before eps: eps holds garbage that must be ignored. */
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAGRAD);
    c.lr = 0.3f;
    c.eps = -5.0f;
    c.weight_decay = NAN;
    c.clip_norm = -1.0f;
    c.struct_size = offsetof(vae_optimizer_config, eps);
    ck_assert_int_eq(vae_optimizer_create(&c, &o, &err), VAE_OK);
    vae_optimizer_config now;
    now.struct_size = sizeof now;
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_uint_eq(now.struct_size, sizeof now);
    ck_assert_float_eq(now.lr, 0.3f);
    ck_assert_float_eq(now.eps, 1e-10f); /* Adagrad's default */
    ck_assert_float_eq(now.weight_decay, 0.0f);
    ck_assert_float_eq(now.clip_norm, 0.0f);

    /* get_config into the old struct writes only its bytes. */
    struct {
        vae_optimizer_config c;
        unsigned char guard[16];
    } small;
    memset(&small, 0xAB, sizeof small);
    small.c.struct_size = offsetof(vae_optimizer_config, eps);
    ck_assert_int_eq(vae_optimizer_get_config(o, &small.c), VAE_OK);
    ck_assert_uint_eq(small.c.struct_size, offsetof(vae_optimizer_config, eps));
    ck_assert_float_eq(small.c.lr, 0.3f);
    const unsigned char *tail = (const unsigned char *)&small.c.eps;
    for (size_t k = 0; k < sizeof small - offsetof(vae_optimizer_config, eps); k++)
        ck_assert_uint_eq(tail[k], 0xAB);

    /* set_config with the old struct: the missing fields become defaults. */
    c.lr = 0.4f;
    ck_assert_int_eq(vae_optimizer_set_config(o, &c), VAE_OK);
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_float_eq(now.lr, 0.4f);
    ck_assert_float_eq(now.eps, 1e-10f);
    vae_optimizer_free(o);

    /* A "newer", larger struct. */
    struct {
        vae_optimizer_config c;
        float future[4];
    } big;
    memset(&big, 0, sizeof big);
    vae_optimizer_config_init(&big.c, VAE_OPT_ADAM);
    big.c.struct_size = sizeof big;
    big.c.lr = 0.05f;
    ck_assert_int_eq(vae_optimizer_create(&big.c, &o, &err), VAE_OK);
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_float_eq(now.lr, 0.05f);
    vae_optimizer_free(o);

    /* Refused sizes. */
    const size_t bad[] = {0, 4097, (size_t)-1, offsetof(vae_optimizer_config, type)};
    for (int k = 0; k < 4; k++) {
        vae_optimizer_config_init(&c, VAE_OPT_SGD);
        c.struct_size = bad[k];
        ck_assert_int_eq(vae_optimizer_create(&c, &o, &err), VAE_ERR_INVALID);
        ck_assert_ptr_null(o);
        ck_assert_ptr_nonnull(strstr(err.message, "struct_size"));
    }
    /* ... also by set_config, which then leaves the config alone. */
    vae_optimizer_config_init(&c, VAE_OPT_SGD);
    o = new_opt(&c);
    vae_optimizer_config z = c;
    z.struct_size = 0;
    z.lr = 0.7f;
    ck_assert_int_eq(vae_optimizer_set_config(o, &z), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_float_eq(now.lr, c.lr);
    vae_optimizer_free(o);
}
END_TEST

START_TEST(test_create_null)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAM);
    vae_optimizer *o = (vae_optimizer *)&c;
    vae_error err;
    ck_assert_int_eq(vae_optimizer_create(NULL, &o, &err), VAE_ERR_NULL);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(err.status, VAE_ERR_NULL);
    ck_assert_str_ne(err.message, "");
    ck_assert_int_eq(vae_optimizer_create(&c, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_optimizer_create(&c, NULL, NULL), VAE_ERR_NULL);
    vae_optimizer_free(NULL);
    ck_assert_str_eq(vae_optimizer_errmsg(NULL), "");
    ck_assert_uint_eq(vae_optimizer_steps(NULL), 0);
    ck_assert_int_eq(vae_optimizer_set_lr(NULL, 0.1f), VAE_ERR_NULL);
}
END_TEST

START_TEST(test_set_lr)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_SGD);
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vae_optimizer_set_lr(o, 0.5f), VAE_OK);
    const float bad[] = {0.0f, -0.1f, NAN, INFINITY};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(vae_optimizer_set_lr(o, bad[k]), VAE_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(vae_optimizer_errmsg(o), "lr"));
    }
    vae_optimizer_config now;
    now.struct_size = sizeof now;
    ck_assert_int_eq(vae_optimizer_get_config(o, &now), VAE_OK);
    ck_assert_float_eq(now.lr, 0.5f);
    /* The new rate is the one used. */
    ck_assert_int_eq(vopt_bind(o, 1), VAE_OK);
    float p[1] = {1.0f};
    const float g[1] = {0.5f};
    vopt_update(o, p, g, 1, 0.5);
    ck_assert_float_eq(p[0], 0.75f);
    vae_optimizer_free(o);
}
END_TEST

START_TEST(test_steps_counter)
{
    for (int t = VAE_OPT_SGD; t <= VAE_OPT_ADAM; t++) {
        vae_optimizer_config c;
        vae_optimizer_config_init(&c, t);
        vae_optimizer *o = new_opt(&c);
        ck_assert_uint_eq(vae_optimizer_steps(o), 0);
        ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
        ck_assert_uint_eq(vae_optimizer_steps(o), 0);
        float p[N], g[N];
        memcpy(p, p_start, sizeof p);
        for (int k = 1; k <= 7; k++) {
            grad_at(k, g);
            vopt_update(o, p, g, N, norm_of(g, N));
            ck_assert_uint_eq(vae_optimizer_steps(o), (uint64_t)k);
        }
        vae_optimizer_free(o);
    }
}
END_TEST

START_TEST(test_bind)
{
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAM);
    vae_optimizer *o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, 0), VAE_ERR_INVALID);
    ck_assert_uint_eq(o->n, 0);
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK);
    ck_assert_uint_eq(o->n, N);
    ck_assert_ptr_nonnull(o->m);
    ck_assert_ptr_nonnull(o->v);
    for (int i = 0; i < N; i++)
        ck_assert(o->m[i] == 0.0f && o->v[i] == 0.0f);
    float *m = o->m;
    ck_assert_int_eq(vopt_bind(o, N), VAE_OK); /* same size: nothing changes */
    ck_assert_ptr_eq(o->m, m);
    ck_assert_int_eq(vopt_bind(o, N + 1), VAE_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(vae_optimizer_errmsg(o), "5"));
    ck_assert_uint_eq(o->n, N);
    ck_assert_ptr_eq(o->m, m);

    /* An update with a mismatched size is ignored rather than overrunning. */
    float p[N + 1] = {1, 2, 3, 4, 5, 6}, g[N + 1] = {1, 1, 1, 1, 1, 1};
    vopt_update(o, p, g, N + 1, 1.0);
    ck_assert_float_eq(p[5], 6.0f);
    ck_assert_uint_eq(vae_optimizer_steps(o), 0);
    vae_optimizer_free(o);

    vae_optimizer_config_init(&c, VAE_OPT_ADAGRAD);
    o = new_opt(&c);
    ck_assert_int_eq(vopt_bind(o, 3), VAE_OK);
    ck_assert_ptr_nonnull(o->m);
    ck_assert_ptr_null(o->v);
    vae_optimizer_free(o);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------ */

/* Save o (through a writer committed to path) and load it back. */
static vae_optimizer *save_and_load(const vae_optimizer *o, const char *path)
{
    char msg[VAE_ERRMSG_LEN] = "";
    vio_writer *w = vio_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(vopt_save(o, w, msg) == VAE_OK, "save: %s", msg);
    ck_assert_msg(vio_writer_commit(w, path, msg) == VAE_OK, "commit: %s", msg);
    vio_writer_free(w);
    vio_file *f = NULL;
    ck_assert_msg(vio_file_read(path, &f, msg) == VAE_OK, "read: %s", msg);
    vae_optimizer *back = NULL;
    ck_assert_msg(vopt_load(f, &back, msg) == VAE_OK, "load: %s", msg);
    ck_assert_ptr_nonnull(back);
    vio_file_free(f);
    return back;
}

/* Run A for 6 steps, save and load it as B, then run both for 6 more
 * steps: B must match A bit for bit (parameters, state, counter). */
START_TEST(test_save_load_continues)
{
    const rule_case *rc = &rule_cases[_i];
    char path[4096];
    tu_tmp_path(path, sizeof path, "optim-roundtrip.ckpt");
    vae_optimizer_config c;
    case_config(rc, &c);
    vae_optimizer *a = new_opt(&c);
    ck_assert_int_eq(vopt_bind(a, N), VAE_OK);
    float pa[N], pb[N], g[N];
    memcpy(pa, p_start, sizeof pa);
    for (int t = 0; t < 6; t++) {
        grad_at(t, g);
        vopt_update(a, pa, g, N, norm_of(g, N));
    }
    vae_optimizer *b = save_and_load(a, path);
    remove(path);
    memcpy(pb, pa, sizeof pb);

    vae_optimizer_config ca, cb;
    ca.struct_size = cb.struct_size = sizeof ca;
    ck_assert_int_eq(vae_optimizer_get_config(a, &ca), VAE_OK);
    ck_assert_int_eq(vae_optimizer_get_config(b, &cb), VAE_OK);
    ck_assert_mem_eq(&ca, &cb, sizeof ca);
    ck_assert_uint_eq(vae_optimizer_steps(b), 6);
    ck_assert_uint_eq(b->n, N);
    ck_assert_str_eq(vae_optimizer_errmsg(b), "");

    for (int t = 6; t < 12; t++) {
        grad_at(t, g);
        vopt_update(a, pa, g, N, norm_of(g, N));
        vopt_update(b, pb, g, N, norm_of(g, N));
    }
    ck_assert_mem_eq(pa, pb, sizeof pa);
    ck_assert_uint_eq(vae_optimizer_steps(b), 12);
    ck_assert_int_eq(a->m == NULL, b->m == NULL);
    ck_assert_int_eq(a->v == NULL, b->v == NULL);
    if (a->m)
        ck_assert_mem_eq(a->m, b->m, N * sizeof(float));
    if (a->v)
        ck_assert_mem_eq(a->v, b->v, N * sizeof(float));
    vae_optimizer_free(a);
    vae_optimizer_free(b);
}
END_TEST

/* An optimizer that never stepped round-trips unbound; it binds later. */
START_TEST(test_save_load_unbound)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "optim-unbound.ckpt");
    vae_optimizer_config c;
    vae_optimizer_config_init(&c, VAE_OPT_ADAM);
    c.lr = 3e-4f;
    c.clip_norm = 5.0f;
    vae_optimizer *a = new_opt(&c);
    vae_optimizer *b = save_and_load(a, path);
    remove(path);
    ck_assert_uint_eq(b->n, 0);
    ck_assert_ptr_null(b->m);
    ck_assert_uint_eq(vae_optimizer_steps(b), 0);
    vae_optimizer_config cb;
    cb.struct_size = sizeof cb;
    ck_assert_int_eq(vae_optimizer_get_config(b, &cb), VAE_OK);
    ck_assert_mem_eq(&cb, &c, sizeof c);
    ck_assert_int_eq(vopt_bind(b, 3), VAE_OK);
    vae_optimizer_free(a);
    vae_optimizer_free(b);
}
END_TEST

/* A file without optimizer tensors gives no optimizer and no error. */
START_TEST(test_load_absent)
{
    char path[4096], msg[VAE_ERRMSG_LEN] = "";
    tu_tmp_path(path, sizeof path, "optim-absent.ckpt");
    vio_writer *w = vio_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(vio_writer_add_i64(w, "model.something", 7, msg), VAE_OK);
    ck_assert_msg(vio_writer_commit(w, path, msg) == VAE_OK, "%s", msg);
    vio_writer_free(w);
    vio_file *f = NULL;
    ck_assert_msg(vio_file_read(path, &f, msg) == VAE_OK, "%s", msg);
    remove(path);
    vae_optimizer *o = (vae_optimizer *)&msg;
    ck_assert_int_eq(vopt_load(f, &o, msg), VAE_OK);
    ck_assert_ptr_null(o);
    vio_file_free(f);
}
END_TEST

/* The optimizer tensors, written by hand (independently of vopt_save), so
 * each can be made wrong in one way. A count of -1 leaves a tensor out. */
typedef struct fake_state {
    int64_t type;
    double lr, momentum, beta1, beta2, eps, wd, clip;
    int64_t steps, n;
    int64_t m_count, v_count;
    float m_fill, v_fill;
    const char *omit; /* a scalar tensor to leave out, or NULL */
    int m_as_f64;     /* write optim.m with the wrong dtype */
} fake_state;

static fake_state fake_valid(void)
{
    fake_state s = {VAE_OPT_ADAM, 1e-3f, 0.9f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0f,
                    3, 4, 4, 4, 0.125f, 0.25f, NULL, 0};
    return s;
}

static void add_scalar_i64(vio_writer *w, const fake_state *s, const char *name, int64_t v)
{
    char msg[VAE_ERRMSG_LEN];
    if (!s->omit || strcmp(s->omit, name) != 0)
        ck_assert_msg(vio_writer_add_i64(w, name, v, msg) == VAE_OK, "%s", msg);
}

static void add_scalar_f64(vio_writer *w, const fake_state *s, const char *name, double v)
{
    char msg[VAE_ERRMSG_LEN];
    if (!s->omit || strcmp(s->omit, name) != 0)
        ck_assert_msg(vio_writer_add_f64(w, name, v, msg) == VAE_OK, "%s", msg);
}

static void add_state(vio_writer *w, const char *name, int64_t count, float fill, int as_f64)
{
    char msg[VAE_ERRMSG_LEN];
    if (count < 0)
        return;
    size_t k = (size_t)count;
    uint64_t dims[1] = {(uint64_t)count};
    double *d = malloc((k + 1) * sizeof *d);
    float *x = malloc((k + 1) * sizeof *x);
    ck_assert(d && x);
    for (size_t i = 0; i < k; i++) {
        x[i] = fill;
        d[i] = fill;
    }
    int st = as_f64 ? vio_writer_add(w, name, VIO_F64, 1, dims, d, msg)
                    : vio_writer_add(w, name, VIO_F32, 1, dims, x, msg);
    ck_assert_msg(st == VAE_OK, "%s", msg);
    free(d);
    free(x);
}

/* Write s to a file, read it, and try vopt_load; returns its status. */
static int load_fake(const fake_state *s, char *msg, vae_optimizer **out)
{
    char path[4096];
    tu_tmp_path(path, sizeof path, "optim-fake.ckpt");
    vio_writer *w = vio_writer_new();
    ck_assert_ptr_nonnull(w);
    add_scalar_i64(w, s, "optim.type", s->type);
    add_scalar_f64(w, s, "optim.lr", s->lr);
    add_scalar_f64(w, s, "optim.momentum", s->momentum);
    add_scalar_f64(w, s, "optim.beta1", s->beta1);
    add_scalar_f64(w, s, "optim.beta2", s->beta2);
    add_scalar_f64(w, s, "optim.eps", s->eps);
    add_scalar_f64(w, s, "optim.weight_decay", s->wd);
    add_scalar_f64(w, s, "optim.clip_norm", s->clip);
    add_scalar_i64(w, s, "optim.steps", s->steps);
    add_scalar_i64(w, s, "optim.n", s->n);
    add_state(w, "optim.m", s->m_count, s->m_fill, s->m_as_f64);
    add_state(w, "optim.v", s->v_count, s->v_fill, 0);
    ck_assert_msg(vio_writer_commit(w, path, msg) == VAE_OK, "%s", msg);
    vio_writer_free(w);
    vio_file *f = NULL;
    ck_assert_msg(vio_file_read(path, &f, msg) == VAE_OK, "%s", msg);
    remove(path);
    int st = vopt_load(f, out, msg);
    vio_file_free(f);
    return st;
}

START_TEST(test_load_fake_valid)
{
    char msg[VAE_ERRMSG_LEN] = "";
    fake_state s = fake_valid();
    vae_optimizer *o = NULL;
    ck_assert_msg(load_fake(&s, msg, &o) == VAE_OK, "%s", msg);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->cfg.type, VAE_OPT_ADAM);
    ck_assert_float_eq(o->cfg.lr, 1e-3f);
    ck_assert_uint_eq(o->n, 4);
    ck_assert_uint_eq(vae_optimizer_steps(o), 3);
    ck_assert_float_eq(o->m[3], 0.125f);
    ck_assert_float_eq(o->v[3], 0.25f);
    vae_optimizer_free(o);
}
END_TEST

typedef struct corruption {
    const char *what;   /* expected in the message */
    int status;
    void (*apply)(fake_state *s);
} corruption;

static void c_m_short(fake_state *s) { s->m_count = 3; }
static void c_v_long(fake_state *s) { s->v_count = 5; }
static void c_v_missing(fake_state *s) { s->v_count = -1; }
static void c_m_missing(fake_state *s) { s->m_count = -1; }
static void c_m_dtype(fake_state *s) { s->m_as_f64 = 1; }
static void c_n_mismatch(fake_state *s) { s->n = 6; }
static void c_n_negative(fake_state *s) { s->n = -4; }
static void c_type_bad(fake_state *s) { s->type = 9; }
static void c_lr_negative(fake_state *s) { s->lr = -1e-3; }
static void c_lr_nan(fake_state *s) { s->lr = NAN; }
static void c_beta2_one(fake_state *s) { s->beta2 = 1.0; }
static void c_eps_zero(fake_state *s) { s->eps = 0.0; }
static void c_wd_negative(fake_state *s) { s->wd = -0.5; }
static void c_clip_inf(fake_state *s) { s->clip = INFINITY; }
static void c_momentum_big(fake_state *s) { s->momentum = 1.5; }
static void c_beta1_not_float(fake_state *s) { s->beta1 = 0.9; /* a double, not 0.9f */ }
static void c_steps_negative(fake_state *s) { s->steps = -1; }
static void c_lr_missing(fake_state *s) { s->omit = "optim.lr"; }
static void c_steps_missing(fake_state *s) { s->omit = "optim.steps"; }
static void c_v_negative(fake_state *s) { s->v_fill = -1.0f; }
static void c_m_nan(fake_state *s) { s->m_fill = NAN; }
static void c_sgd_with_m(fake_state *s) { s->type = VAE_OPT_SGD; s->v_count = -1; }
static void c_unbound_with_m(fake_state *s) { s->n = 0; s->steps = 0; }
static void c_stepped_unbound(fake_state *s) { s->n = 0; s->m_count = s->v_count = -1; }

static const corruption corruptions[] = {
    {"optim.m", VAE_ERR_FORMAT, c_m_short},
    {"optim.v", VAE_ERR_FORMAT, c_v_long},
    {"optim.v", VAE_ERR_FORMAT, c_v_missing},
    {"optim.m", VAE_ERR_FORMAT, c_m_missing},
    {"optim.m", VAE_ERR_FORMAT, c_m_dtype},
    {"optim.m", VAE_ERR_FORMAT, c_n_mismatch},
    {"optim.n", VAE_ERR_FORMAT, c_n_negative},
    {"optim.type", VAE_ERR_FORMAT, c_type_bad},
    {"optim.lr", VAE_ERR_FORMAT, c_lr_negative},
    {"optim.lr", VAE_ERR_FORMAT, c_lr_nan},
    {"optim.beta2", VAE_ERR_FORMAT, c_beta2_one},
    {"optim.eps", VAE_ERR_FORMAT, c_eps_zero},
    {"optim.weight_decay", VAE_ERR_FORMAT, c_wd_negative},
    {"optim.clip_norm", VAE_ERR_FORMAT, c_clip_inf},
    {"optim.momentum", VAE_ERR_FORMAT, c_momentum_big},
    {"optim.beta1", VAE_ERR_FORMAT, c_beta1_not_float},
    {"optim.steps", VAE_ERR_FORMAT, c_steps_negative},
    {"optim.lr", VAE_ERR_FORMAT, c_lr_missing},
    {"optim.steps", VAE_ERR_FORMAT, c_steps_missing},
    {"optim.v", VAE_ERR_FORMAT, c_v_negative},
    {"optim.m", VAE_ERR_FORMAT, c_m_nan},
    {"optim.m", VAE_ERR_FORMAT, c_sgd_with_m},
    {"optim.m", VAE_ERR_FORMAT, c_unbound_with_m},
    {"optim.steps", VAE_ERR_FORMAT, c_stepped_unbound},
};
#define N_CORRUPTIONS ((int)(sizeof corruptions / sizeof corruptions[0]))

/* Each corruption fails with its status, a message naming the tensor, and no optimizer. */
START_TEST(test_load_corrupt)
{
    const corruption *k = &corruptions[_i];
    char msg[VAE_ERRMSG_LEN] = "";
    fake_state s = fake_valid();
    k->apply(&s);
    vae_optimizer *o = (vae_optimizer *)&s;
    int st = load_fake(&s, msg, &o);
    ck_assert_msg(st == k->status, "case %d: status %d (%s), want %d", _i, st, msg, k->status);
    ck_assert_ptr_null(o);
    ck_assert_msg(strstr(msg, k->what), "case %d: message '%s' should name %s", _i, msg,
                  k->what);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *rules = tcase_create("rules");
    tcase_add_loop_test(rules, test_rules_match_reference, 0, N_RULE_CASES);
    tcase_add_test(rules, test_sgd_by_hand);
    tcase_add_test(rules, test_momentum_first_step);
    tcase_add_test(rules, test_adam_bias_correction);
    tcase_add_test(rules, test_adagrad_by_hand);
    tcase_add_test(rules, test_adam_bounds_guard);
    tcase_add_test(rules, test_adam_ratio_bound);
    tcase_add_test(rules, test_clip_and_weight_decay);
    tcase_add_loop_test(rules, test_quadratic, 0, 4);
    suite_add_tcase(s, rules);

    TCase *config = tcase_create("config");
    tcase_add_test(config, test_config_defaults);
    tcase_add_test(config, test_config_unknown_type);
    tcase_add_loop_test(config, test_config_bad_values, 0, N_BAD);
    tcase_add_test(config, test_set_config);
    tcase_add_test(config, test_config_struct_size);
    tcase_add_test(config, test_create_null);
    tcase_add_test(config, test_set_lr);
    tcase_add_test(config, test_steps_counter);
    tcase_add_test(config, test_bind);
    suite_add_tcase(s, config);

    TCase *ckpt = tcase_create("checkpoint");
    tcase_add_loop_test(ckpt, test_save_load_continues, 0, N_RULE_CASES);
    tcase_add_test(ckpt, test_save_load_unbound);
    tcase_add_test(ckpt, test_load_absent);
    tcase_add_test(ckpt, test_load_fake_valid);
    tcase_add_loop_test(ckpt, test_load_corrupt, 0, N_CORRUPTIONS);
    suite_add_tcase(s, ckpt);
    return s;
}

int main(void)
{
    return tu_run_suite(optim_suite());
}
