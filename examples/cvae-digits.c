/* cvae-digits: train a conditional VAE on MNIST digits given their labels
 * and write a 10 x 10 PNG grid, one row per class: column 0 decodes the
 * prior mean (z = mean of p(z|c)), columns 1..9 decode z ~ p(z|c). Every
 * cell is the decoder's mean (Bernoulli probabilities) given the class.
 *
 *   cvae-digits [--mnist DIR] [--epochs N] [--prior independent|learned-prior]
 *               [--train N] [--threads N] [--seed N] [--out PATH]
 *
 * Uses the first --train (default 9000) digits of t10k-images-idx3-ubyte.gz
 * for training and the last 1000 for the test ELBO printed per epoch.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#define CLASSES 10
#define COLS 10

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "cvae-digits: %s: %s\n", what, msg);
    return 1;
}

static int run(const char *dir, int epochs, int prior, long n_train, int threads, long seed,
               const char *out)
{
    char img[4096], lab[4096];
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", dir);
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *m = NULL;
    vae_optimizer *opt = NULL;
    float *c = NULL, *z = NULL, *pix = NULL;
    vae_error err;
    int rc = 1;
    if (vae_dataset_load_idx(img, lab, NULL, &all, &err) != VAE_OK) {
        fail("data", err.message);
        goto out;
    }
    size_t n = vae_dataset_count(all);
    if (n < 1001 || (size_t)n_train > n - 1000) {
        fail("data", "need --train N digits plus 1000 test digits");
        goto out;
    }
    if (vae_dataset_set_onehot(all, CLASSES) != VAE_OK) {
        fail("labels", vae_dataset_errmsg(all));
        goto out;
    }
    if (vae_dataset_subset(all, 0, (size_t)n_train, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - 1000, 1000, &test, &err) != VAE_OK) {
        fail("split", err.message);
        goto out;
    }
    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = (int)vae_dataset_dim(all);
    cfg.hidden[0] = 256;
    cfg.cond_dim = CLASSES;
    cfg.prior = prior;
    cfg.threads = threads;
    cfg.seed = (uint64_t)seed;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    if (vae_model_create(&cfg, &m, &err) != VAE_OK || vae_optimizer_create(&oc, &opt, &err) != VAE_OK) {
        fail("model", err.message);
        goto out;
    }
    for (int e = 1; e <= epochs; e++) {
        vae_elbo_stats tr, te;
        if (vae_model_train_epoch(m, opt, train, 100, NULL, NULL, &tr) != VAE_OK ||
            vae_model_evaluate(m, test, 500, &te) != VAE_OK) {
            fail("training", vae_model_errmsg(m));
            goto out;
        }
        printf("epoch %d train_elbo %.4f test_elbo %.4f\n", e, tr.elbo, te.elbo);
        fflush(stdout);
    }
    /* Row k: class k. Column 0 at the prior mean, the others at prior draws. */
    size_t cells = CLASSES * COLS, K = (size_t)cfg.latent_dim, D = (size_t)cfg.input_dim;
    c = calloc(cells * CLASSES, sizeof *c);
    z = malloc(K * CLASSES * sizeof *z);
    pix = malloc(cells * D * sizeof *pix);
    if (!c || !z || !pix) {
        fail("grid", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cells; i++)
        c[i * CLASSES + i / COLS] = 1.0f;
    if (vae_model_sample_cond(m, c, cells, pix) != VAE_OK) {
        fail("sample", vae_model_errmsg(m));
        goto out;
    }
    for (int k = 0; k < CLASSES; k++) {
        const float *ck = c + (size_t)k * COLS * CLASSES;
        if (vae_model_prior_cond(m, ck, 1, z, NULL) != VAE_OK ||
            vae_model_decode_cond(m, z, ck, 1, pix + (size_t)k * COLS * D) != VAE_OK) {
            fail("decode", vae_model_errmsg(m));
            goto out;
        }
    }
    if (vae_png_write_grid(out, pix, cells, 28, 28, COLS, &err) != VAE_OK) {
        fail(out, err.message);
        goto out;
    }
    printf("wrote %s (10 x 10 digits, one row per class 0..9)\n", out);
    rc = 0;
out:
    free(c);
    free(z);
    free(pix);
    vae_optimizer_free(opt);
    vae_model_free(m);
    vae_dataset_free(test);
    vae_dataset_free(train);
    vae_dataset_free(all);
    return rc;
}

static int number(const char *s, long lo, long hi, long *v)
{
    char *end;
    *v = strtol(s, &end, 10);
    return *s && !*end && *v >= lo && *v <= hi;
}

int main(int argc, char **argv)
{
    const char *dir = "../shared/data/mnist", *out = "cvae-digits.png";
    long epochs = 10, train = 9000, threads = 1, seed = 1;
    int prior = VAE_PRIOR_LEARNED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (strcmp(a, "--help") == 0) {
            printf("usage: cvae-digits [options]\n"
                   "Train a conditional VAE on MNIST digits given their labels, print the test\n"
                   "ELBO per epoch, and write a 10 x 10 PNG grid, one row per class: column 0\n"
                   "decodes the prior mean of p(z|c), columns 1..9 decode z ~ p(z|c).\n\n"
                   "  --mnist DIR        directory with t10k-images-idx3-ubyte.gz and\n"
                   "                     t10k-labels-idx1-ubyte.gz (default ../shared/data/mnist)\n"
                   "  --epochs N         epochs (default 10)\n"
                   "  --prior P          independent|learned-prior: p(z|c) = N(0,I), or learned\n"
                   "                     from the class (default learned-prior)\n"
                   "  --train N          training examples, the first N (default 9000); the last\n"
                   "                     1000 are the test set\n"
                   "  --threads N        BLAS threads (default 1)\n"
                   "  --seed N           random seed (default 1)\n"
                   "  --out PATH         the PNG to write (default cvae-digits.png)\n"
                   "  --help             this text\n");
            return 0;
        } else if (ok && strcmp(a, "--mnist") == 0) {
            dir = v;
        } else if (ok && strcmp(a, "--out") == 0) {
            out = v;
        } else if (ok && strcmp(a, "--epochs") == 0) {
            ok = number(v, 0, 100000, &epochs);
        } else if (ok && strcmp(a, "--train") == 0) {
            ok = number(v, 1, 1L << 28, &train);
        } else if (ok && strcmp(a, "--threads") == 0) {
            ok = number(v, 1, 256, &threads);
        } else if (ok && strcmp(a, "--seed") == 0) {
            ok = number(v, 0, 0x7fffffffL, &seed);
        } else if (ok && strcmp(a, "--prior") == 0) {
            ok = strcmp(v, "independent") == 0 || strcmp(v, "learned-prior") == 0;
            prior = strcmp(v, "independent") == 0 ? VAE_PRIOR_STANDARD : VAE_PRIOR_LEARNED;
        } else {
            ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "cvae-digits: bad argument '%s' (see --help)\n", a);
            return 2;
        }
        i++;
    }
    return run(dir, (int)epochs, prior, train, (int)threads, seed, out);
}
