/* Networks as data: the text form (parse, canonical format, errors naming
 * the token), shape inference with errors naming the layer, parameter
 * declaration (names, shapes, counts against hand counts), the MLP
 * shorthand against its text, and whole convolutional VAEs: finite
 * differences of the ELBO with respect to every parameter tensor, the
 * decoder's output checked against the data's shape, conditional models. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "models/vqvae.h"
#include "nn/net.h"
#include "testutil.h"

static void roundtrip(const char *text, const char *canonical)
{
    char msg[VAE_ERRMSG_LEN], buf[VN_MAX_TEXT + 1];
    vn_net net;
    ck_assert_msg(vn_net_parse(&net, text, "encoder", msg) == VAE_OK, "%s: %s", text, msg);
    ck_assert_int_eq(vn_net_format(&net, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, canonical);
    /* The canonical text parses to the same layers. */
    vn_net again;
    ck_assert_int_eq(vn_net_parse(&again, buf, "encoder", msg), VAE_OK);
    ck_assert_int_eq(again.n, net.n);
    ck_assert_mem_eq(again.layer, net.layer, (size_t)net.n * sizeof net.layer[0]);
}

START_TEST(test_parse_format)
{
    roundtrip("conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu",
              "conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu");
    roundtrip("dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu "
              "convT2d(1,4,2,1)",
              "dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu "
              "convT2d(1,4,2,1)");
    /* Defaults, spacing, case, aliases, optional arguments. */
    roundtrip("  Conv2D (8, 3)  LeakyReLU   linear( 10 )\ttanh ", "conv2d(8,3,1,0) leaky_relu "
              "dense(10) tanh");
    roundtrip("convT2d(4,3,2,1,1) leaky_relu(0.2) layernorm sigmoid softplus identity",
              "convT2d(4,3,2,1,1) leaky_relu(0.200000003) layernorm sigmoid softplus identity");
    roundtrip("", "");
    vn_net net;
    char msg[VAE_ERRMSG_LEN];
    ck_assert_int_eq(vn_net_parse(&net, "leaky_relu(0.2)", "e", msg), VAE_OK);
    ck_assert(net.layer[0].slope == 0.2f);
}
END_TEST

static void bad_text(const char *text, const char *expect1, const char *expect2)
{
    char msg[VAE_ERRMSG_LEN];
    vn_net net;
    ck_assert_int_ne(vn_net_parse(&net, text, "decoder", msg), VAE_OK);
    ck_assert_msg(strstr(msg, "decoder") && strstr(msg, expect1) &&
                  (!expect2 || strstr(msg, expect2)), "%s -> %s", text, msg);
}

START_TEST(test_parse_errors)
{
    bad_text("dense(10) rleu", "'rleu'", "character 11");
    bad_text("dense(10", "layer 1 'dense'", "arguments");
    bad_text("dense()", "layer 1 'dense'", "not 0");
    bad_text("dense(1,2)", "'dense' takes (out)", "not 2");
    bad_text("dense(0)", "out of range", NULL);
    bad_text("dense(2.5)", "out of range", NULL);
    bad_text("dense(-3)", "out of range", NULL);
    bad_text("dense(99999999999)", "out of range", NULL);
    bad_text("relu(3)", "'relu' takes no arguments", NULL);
    bad_text("conv2d(8)", "'conv2d'", "out,kernel");
    bad_text("conv2d(8,3,0)", "out of range", NULL);       /* stride 0 */
    bad_text("conv2d(8,3,1,-1)", "out of range", NULL);    /* padding < 0 */
    bad_text("dense(4)relu", "unexpected 'r'", NULL);
    bad_text("dense(4),relu", "unexpected ','", NULL);
    bad_text("reshape(1,2)", "'reshape'", "c,h,w");
    bad_text("dense(nan)", "arguments", NULL);
    /* A network longer than the layer limit. */
    char *many = malloc(65 * 5 + 1);
    many[0] = '\0';
    for (int i = 0; i < 65; i++)
        strcat(many, "relu ");
    bad_text(many, "more than 64 layers", NULL);
    free(many);
}
END_TEST

/* Declare a net on `in` and return the status; msg receives the message. */
static int declare(const char *text, int c, int h, int w, vn_net *net, vn_params *P, char *msg)
{
    int in[3] = {c, h, w};
    int rc = vn_net_parse(net, text, "encoder", msg);
    return rc != VAE_OK ? rc : vn_net_declare(net, P, "enc", NULL, in, 0, "encoder", msg);
}

START_TEST(test_shapes_and_params)
{
    char msg[VAE_ERRMSG_LEN];
    vn_net net;
    vn_params P = {0};
    ck_assert_int_eq(declare("conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) "
                             "relu layernorm", 1, 28, 28, &net, &P, msg), VAE_OK);
    int want[][3] = {{32, 14, 14}, {32, 14, 14}, {64, 7, 7}, {64, 7, 7}, {3136, 1, 1},
                     {256, 1, 1}, {256, 1, 1}, {256, 1, 1}};
    for (int i = 0; i < net.n; i++)
        ck_assert_mem_eq(net.layer[i].out, want[i], sizeof want[i]);
    /* Names and shapes in PyTorch's layouts; the count by hand. */
    const char *names[] = {"enc.0.W", "enc.0.b", "enc.1.W", "enc.1.b", "enc.2.W", "enc.2.b",
                           "enc.3.gamma", "enc.3.beta"};
    int rows[] = {32, 1, 64, 1, 3136, 1, 1, 1}, cols[] = {16, 32, 512, 64, 256, 256, 256, 256};
    ck_assert_int_eq(P.n, 8);
    for (int i = 0; i < P.n; i++) {
        ck_assert_str_eq(P.p[i].name, names[i]);
        ck_assert_int_eq(P.p[i].rows, rows[i]);
        ck_assert_int_eq(P.p[i].cols, cols[i]);
    }
    ck_assert_uint_eq(P.total, 32 * 16 + 32 + 64 * 512 + 64 + 3136 * 256 + 256 + 512);
    vn_params_free(&P);

    /* A decoder: convT2d weights are [Cin, Cout k k]; the last layer named "out". */
    int z[3] = {20, 1, 1};
    ck_assert_int_eq(vn_net_parse(&net, "dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) "
                                  "relu convT2d(1,4,2,1)", "decoder", msg), VAE_OK);
    ck_assert_int_eq(vn_net_declare(&net, &P, "dec", "out", z, 0, "decoder", msg), VAE_OK);
    int dout[3] = {1, 28, 28};
    ck_assert_mem_eq(net.out, dout, sizeof dout);
    ck_assert_str_eq(P.p[4].name, "dec.out.W");
    ck_assert_int_eq(P.p[2].rows, 64);
    ck_assert_int_eq(P.p[2].cols, 32 * 16);
    ck_assert_int_eq(P.p[4].rows, 32);
    ck_assert_int_eq(P.p[4].cols, 16);
    vn_params_free(&P);

    /* Output padding reaches odd sizes: 4 -> (4-1)*2 - 2 + 3 + 1 = 8. */
    ck_assert_int_eq(declare("convT2d(2,3,2,1,1)", 3, 4, 5, &net, &P, msg), VAE_OK);
    int odd[3] = {2, 8, 10};
    ck_assert_mem_eq(net.out, odd, sizeof odd);
    vn_params_free(&P);
}
END_TEST

static void bad_shape(const char *text, int c, int h, int w, const char *e1, const char *e2)
{
    char msg[VAE_ERRMSG_LEN];
    vn_net net;
    vn_params P = {0};
    ck_assert_int_eq(declare(text, c, h, w, &net, &P, msg), VAE_ERR_INVALID);
    ck_assert_msg(strstr(msg, e1) && strstr(msg, e2), "%s -> %s", text, msg);
    vn_params_free(&P);
}

START_TEST(test_shape_errors)
{
    bad_shape("conv2d(8,4,2,1) relu conv2d(8,4,2,1) conv2d(8,4,2,0) conv2d(8,4,2,0)", 1, 16,
              16, "encoder layer 5 'conv2d(8,4,2,0)'", "input 8x1x1");
    bad_shape("dense(100) reshape(64,7,7)", 1, 28, 28, "layer 2 'reshape(64,7,7)'",
              "100 values cannot be reshaped");
    bad_shape("convT2d(1,4,2,1,2)", 8, 7, 7, "layer 1", "output padding 2 must be smaller");
}
END_TEST

static vae_model_config conv_config(void)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 64;
    c.input_shape[0] = 1, c.input_shape[1] = 8, c.input_shape[2] = 8;
    c.latent_dim = 3;
    c.encoder = "conv2d(3,3,2,1) tanh layernorm conv2d(4,3,2,1) softplus flatten dense(6) tanh";
    c.decoder = "dense(32) tanh reshape(2,4,4) convT2d(3,3,2,1,1) tanh convT2d(1,3,1,1)";
    c.seed = 3;
    return c;
}

START_TEST(test_model_shapes)
{
    vae_model_config c = conv_config();
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    /* The model reports its canonical texts and shape. */
    vae_model_config got = {.struct_size = sizeof got};
    ck_assert_int_eq(vae_model_get_config(m, &got), VAE_OK);
    ck_assert_str_eq(got.encoder, "conv2d(3,3,2,1) tanh layernorm conv2d(4,3,2,1) softplus "
                                  "flatten dense(6) tanh");
    ck_assert_int_eq(got.input_shape[1], 8);
    vae_model_free(m);

    /* The decoder must give one value per input feature. */
    c.decoder = "dense(32) tanh reshape(2,4,4) convT2d(1,3,2,1)";
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "decoder") && strstr(err.message, "1x7x7 = 49") &&
                  strstr(err.message, "input_dim = 64"), "%s", err.message);
    /* A shape that does not multiply out. */
    c = conv_config();
    c.input_shape[2] = 7;
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "input_shape"), "%s", err.message);
    /* A convolution on a flat input of the wrong size names the layer. */
    c = conv_config();
    c.input_shape[0] = c.input_shape[1] = c.input_shape[2] = 0;
    c.encoder = "conv2d(3,3,2,0) tanh";
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "encoder layer 1 'conv2d(3,3,2,0)'") &&
                  strstr(err.message, "input 64x1x1"), "%s", err.message);
    /* A text error. */
    c = conv_config();
    c.decoder = "dense(32) tanh resahpe(2,4,4)";
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "'resahpe(2,4,4)'"), "%s", err.message);
    /* A conditional model needs a dense layer in the decoder to join c. */
    c = conv_config();
    c.cond_dim = 2;
    c.decoder = "reshape(3,1,1) convT2d(1,8,1,0)";
    ck_assert_int_eq(vae_model_create(&c, &m, &err), VAE_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "first dense layer"), "%s", err.message);
}
END_TEST

/* The shorthand and its text build the same model, to the bit. */
START_TEST(test_shorthand_is_text)
{
    vae_model_config a;
    vae_model_config_init(&a);
    a.input_dim = 10, a.latent_dim = 2, a.n_hidden = 2, a.hidden[0] = 7, a.hidden[1] = 5;
    a.activation = VAE_ACT_LEAKY_RELU, a.leaky_slope = 0.3f;
    a.cond_dim = 3, a.prior = VAE_PRIOR_LEARNED, a.prior_hidden = 4;
    vae_model_config b = a;
    b.n_hidden = 0;
    b.encoder = "dense(7) leaky_relu(0.3) dense(5) leaky_relu(0.3)";
    b.decoder = "dense(5) leaky_relu(0.3) dense(7) leaky_relu(0.3) dense(10)";
    b.prior_network = "dense(4) leaky_relu(0.3)";
    vae_model *ma, *mb;
    vae_error err;
    ck_assert_msg(vae_model_create(&a, &ma, &err) == VAE_OK, "%s", err.message);
    ck_assert_msg(vae_model_create(&b, &mb, &err) == VAE_OK, "%s", err.message);
    ck_assert_uint_eq(ma->P.total, mb->P.total);
    ck_assert_int_eq(ma->P.n, mb->P.n);
    for (int i = 0; i < ma->P.n; i++)
        ck_assert_str_eq(ma->P.p[i].name, mb->P.p[i].name);
    ck_assert_mem_eq(ma->P.val, mb->P.val, ma->P.total * sizeof(float));
    ck_assert_str_eq(ma->cfg.encoder, mb->cfg.encoder);
    ck_assert_str_eq(ma->cfg.decoder, mb->cfg.decoder);
    ck_assert_str_eq(ma->cfg.prior_network, mb->cfg.prior_network);
    /* The 0.3 names: enc.0, enc.1, enc.mu, enc.logvar, dec.0, dec.1, dec.out, prior.0... */
    ck_assert_str_eq(ma->P.p[4].name, "enc.mu.W");
    ck_assert_str_eq(ma->P.p[12].name, "dec.out.W");
    ck_assert_str_eq(ma->P.p[14].name, "prior.0.W");
    vae_model_free(ma);
    vae_model_free(mb);
}
END_TEST

static double loss_now(vae_model *m)
{
    vg_forward(m->train_g, -1);
    return m->train_g->nodes[m->train_e.loss].val[0];
}

/* Finite differences of the training loss for every parameter of a model. */
static void fd_model(vae_model_config c, int n)
{
    const double h = 1e-2;
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    int D = c.input_dim, K = c.latent_dim, L = c.samples;
    float *x = malloc(sizeof(float) * (size_t)n * D);
    float *cond = c.cond_dim ? malloc(sizeof(float) * (size_t)n * c.cond_dim) : NULL;
    vt_rng r;
    vt_rng_seed(&r, 17, 0);
    for (int i = 0; i < n * D; i++)
        x[i] = (float)vt_rng_uniform(&r);
    for (int i = 0; cond && i < n * c.cond_dim; i++)
        cond[i] = (float)vt_rng_uniform(&r);
    vg_graph *g = m->train_g;
    ck_assert_int_eq(vg_set_batch(g, n), 0);
    vg_bind(g, m->train_e.x, x);
    if (cond)
        vg_bind(g, m->train_e.c, cond);
    vt_rng_normal(&r, g->nodes[m->train_e.eps].val, (size_t)n * L * K);
    vg_forward(g, -1);
    vg_backward(g, m->train_e.loss);
    float *grad = malloc(m->P.total * sizeof(float));
    memcpy(grad, m->P.grad, m->P.total * sizeof(float));
    for (int p = 0; p < m->P.n; p++) {
        const vn_param *pp = &m->P.p[p];
        float *v = vn_val(&m->P, p);
        int count = pp->rows * pp->cols, stride = count > 40 ? count / 40 : 1;
        for (int i = 0; i < count; i += stride) {
            float saved = v[i];
            v[i] = saved + (float)h;
            double fp = loss_now(m);
            v[i] = saved - (float)h;
            double fm = loss_now(m);
            v[i] = saved;
            double fd = (fp - fm) / (2 * h), an = grad[pp->offset + (size_t)i];
            ck_assert_msg(fabs(fd - an) <= 2e-3 + 2e-2 * fabs(fd),
                          "%s[%d]: analytic %.6g vs finite difference %.6g", pp->name, i, an, fd);
        }
    }
    free(grad);
    free(x);
    free(cond);
    vae_model_free(m);
}

START_TEST(test_fd_conv_vae)
{
    fd_model(conv_config(), 3);
}
END_TEST

START_TEST(test_fd_conv_cvae_learned_prior_L2)
{
    vae_model_config c = conv_config();
    c.cond_dim = 2;
    c.prior = VAE_PRIOR_LEARNED;
    c.prior_network = "dense(3) tanh layernorm";
    c.samples = 2;
    c.likelihood = VAE_LIK_GAUSSIAN_LEARNED;
    fd_model(c, 2);
}
END_TEST

/* A spatial VQ-VAE: codes per position, (H, W) grids back. */
START_TEST(test_vqvae_spatial_codes)
{
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    c.input_dim = 64;
    c.input_shape[0] = 1, c.input_shape[1] = 8, c.input_shape[2] = 8;
    c.encoder = "conv2d(4,4,2,1) relu";
    c.decoder = "convT2d(4,3,1,1) relu convT2d(1,4,2,1)";
    c.code_dim = 3;
    c.codebook_size = 5;
    vae_vqvae *q = NULL;
    vae_error err;
    ck_assert_msg(vae_vqvae_create(&c, &q, &err) == VAE_OK, "%s", err.message);
    vae_vqvae_config got = {.struct_size = sizeof got};
    ck_assert_int_eq(vae_vqvae_get_config(q, &got), VAE_OK);
    ck_assert_int_eq(got.n_latents, 16); /* 4 x 4 positions */
    float x[2 * 64], rec[2 * 64];
    for (int i = 0; i < 128; i++)
        x[i] = (float)((i * 37) % 11) / 10.0f;
    int codes[2 * 16];
    ck_assert_int_eq(vae_vqvae_encode(q, x, 2, codes), VAE_OK);
    for (int i = 0; i < 32; i++)
        ck_assert(codes[i] >= 0 && codes[i] < 5);
    ck_assert_int_eq(vae_vqvae_decode(q, codes, 2, rec), VAE_OK);
    for (int i = 0; i < 128; i++)
        ck_assert(rec[i] > 0.0f && rec[i] < 1.0f);
    vae_optimizer *opt = NULL;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    ck_assert_int_eq(vae_optimizer_create(&oc, &opt, &err), VAE_OK);
    vae_vqvae_stats st;
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(vae_vqvae_train_step(q, opt, x, 2, &st), VAE_OK);
    ck_assert(isfinite(st.loss));
    vae_optimizer_free(opt);
    vae_vqvae_free(q);
}
END_TEST

/* Checkpoints store the networks: a convolutional VAE and a spatial VQ-VAE
 * come back with the same texts, shapes and outputs. */
START_TEST(test_checkpoints_keep_networks)
{
    char path[4096];
    vae_error err;
    vae_model_config c = conv_config();
    vae_model *a, *b;
    ck_assert_msg(vae_model_create(&c, &a, &err) == VAE_OK, "%s", err.message);
    tu_tmp_path(path, sizeof path, "conv.ckpt");
    ck_assert_int_eq(vae_model_save(a, NULL, path), VAE_OK);
    ck_assert_msg(vae_model_load(path, &b, NULL, &err) == VAE_OK, "%s", err.message);
    vae_model_config ca = {.struct_size = sizeof ca}, cb = {.struct_size = sizeof cb};
    vae_model_get_config(a, &ca);
    vae_model_get_config(b, &cb);
    ck_assert(tu_config_equal(&ca, &cb));
    float x[2 * 64], ra[2 * 64], rb[2 * 64];
    for (int i = 0; i < 128; i++)
        x[i] = (float)((i * 13) % 7) / 6.0f;
    ck_assert_int_eq(vae_model_reconstruct(a, x, 2, ra), VAE_OK);
    ck_assert_int_eq(vae_model_reconstruct(b, x, 2, rb), VAE_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    vae_model_free(a);
    vae_model_free(b);

    vae_vqvae_config q;
    vae_vqvae_config_init(&q);
    q.input_dim = 64;
    q.input_shape[0] = 1, q.input_shape[1] = 8, q.input_shape[2] = 8;
    q.encoder = "conv2d(4,4,2,1) relu";
    q.decoder = "convT2d(1,4,2,1)";
    q.code_dim = 2, q.codebook_size = 6;
    vae_vqvae *qa, *qb;
    ck_assert_msg(vae_vqvae_create(&q, &qa, &err) == VAE_OK, "%s", err.message);
    ck_assert_int_eq(vae_vqvae_save(qa, NULL, path), VAE_OK);
    ck_assert_msg(vae_vqvae_load(path, &qb, NULL, &err) == VAE_OK, "%s", err.message);
    int grid[2];
    ck_assert_int_eq(vae_vqvae_code_grid(qb, grid), VAE_OK);
    ck_assert_int_eq(grid[0], 4);
    ck_assert_int_eq(grid[1], 4);
    ck_assert_int_eq(vae_vqvae_reconstruct(qa, x, 2, ra), VAE_OK);
    ck_assert_int_eq(vae_vqvae_reconstruct(qb, x, 2, rb), VAE_OK);
    ck_assert_mem_eq(ra, rb, sizeof ra);
    vae_vqvae_free(qa);
    vae_vqvae_free(qb);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_parse_format);
    tcase_add_test(tc, test_parse_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("shapes");
    tcase_add_test(tc, test_shapes_and_params);
    tcase_add_test(tc, test_shape_errors);
    tcase_add_test(tc, test_model_shapes);
    tcase_add_test(tc, test_shorthand_is_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("models");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fd_conv_vae);
    tcase_add_test(tc, test_fd_conv_cvae_learned_prior_L2);
    tcase_add_test(tc, test_vqvae_spatial_codes);
    tcase_add_test(tc, test_checkpoints_keep_networks);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
