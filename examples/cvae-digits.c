/* cvae-digits: train a conditional VAE on MNIST digits given their labels
 * and write a 10 x 10 PNG grid, one row per class: column 0 decodes the
 * prior mean (z = mean of p(z|c)), columns 1..9 decode z ~ p(z|c). Every
 * cell is the decoder's mean (Bernoulli probabilities) given the class.
 *
 *   cvae-digits [--data PATH|DIR] [--labels PATH] [--epochs N]
 *               [--prior independent|learned-prior] [--train N] [--threads N]
 *               [--seed N] [--out PATH] [--save PATH]
 *
 * Uses the first --train (default 9000) digits of t10k-images-idx3-ubyte.gz
 * for training and the last 1000 for the test ELBO printed per epoch.
 * The command-line convention of examples/cli.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "cli.h"

#define CLASSES 10
#define COLS 10

#define fail cli_fail

static int run(const char *img, const char *lab, int epochs, int prior, long n_train,
               int threads, long seed, const char *out, const char *save)
{
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *m = NULL;
    vae_optimizer *opt = NULL;
    float *c = NULL, *z = NULL, *pix = NULL;
    vae_error err;
    int rc = 1;
    cli_labels labels = {lab, -1};
    if ((rc = cli_load_data(img, &labels, NULL, &all)) != 0)
        goto out;
    rc = 1;
    size_t n = vae_dataset_count(all);
    if (n < 1001 || (size_t)n_train > n - 1000) {
        fail("data", "need --train N digits plus 1000 test digits");
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (vae_dataset_dim(all) != 784) {
        fail("data", "expected 28 x 28 images (the grid is drawn at 28 x 28)");
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
    cli_install_signals();
    cli_progress prog;
    cli_progress_init(&prog);
    for (int e = 1; e <= epochs && !cli_interrupted(); e++) {
        vae_elbo_stats tr, te;
        prog.epoch = e;
        int trc = vae_model_train_epoch(m, opt, train, 100, cli_progress_cb, &prog, &tr);
        cli_progress_clear(&prog);
        if (trc == VAE_ERR_CANCELLED)
            break;
        if (trc != VAE_OK || vae_model_evaluate(m, test, 500, &te) != VAE_OK) {
            fail("training", vae_model_errmsg(m));
            goto out;
        }
        printf("epoch %d train_elbo %.4f test_elbo %.4f\n", e, tr.elbo, te.elbo);
        fflush(stdout);
    }
    if (cli_interrupted()) {
        if (save && vae_model_save(m, opt, save) == VAE_OK)
            fprintf(stderr, "interrupted: saved %s\n", save);
        else
            fprintf(stderr, "interrupted\n");
        rc = cli_interrupt_status();
        goto out;
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
        fail("--out", err.message);
        goto out;
    }
    cli_wrote(out);
    if (save) {
        if (vae_model_save(m, opt, save) != VAE_OK) {
            fail("--save", vae_model_errmsg(m));
            goto out;
        }
        cli_wrote(save);
    }
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

static void usage(FILE *to)
{
    fprintf(to,
            "usage: cvae-digits [options]\n"
            "Train a conditional VAE on MNIST digits given their labels, print the test\n"
            "ELBO per epoch, and write a 10 x 10 PNG grid, one row per class: column 0\n"
            "decodes the prior mean of p(z|c), columns 1..9 decode z ~ p(z|c).\n\n"
            "  --data PATH|DIR    IDX images of 28 x 28 digits, or a directory with\n"
            "                     t10k-images-idx3-ubyte.gz (default: $VAE_MNIST_DIR,\n"
            "                     else " CLI_MNIST_DIR ")\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --labels PATH      IDX labels (default: t10k-labels-idx1-ubyte.gz beside\n"
            "                     the images)\n"
            "  --epochs N         epochs (default 10)\n"
            "  --prior P          independent|learned-prior: p(z|c) = N(0,I), or learned\n"
            "                     from the class (default learned-prior)\n"
            "  --train N          training examples, the first N (default 9000); the last\n"
            "                     1000 are the test set\n"
            "  --threads N        BLAS threads (default 1)\n"
            "  --seed N           random seed (default 1)\n"
            "  --out PATH         the PNG to write (default cvae-digits.png)\n"
            "  --save PATH        also write the model's checkpoint (and when interrupted)\n"
            "  --help             this text\n"
            "Outputs are checked before training; each file written is announced on\n"
            "stderr as 'wrote PATH'. A progress bar is drawn on stderr when it is a\n"
            "terminal. SIGINT or SIGTERM stops training after the current batch and\n"
            "writes --save. Exit status: 0 done, 1 failure, 2 usage error, 130 after\n"
            "SIGINT, 143 after SIGTERM.\n");
}

int main(int argc, char **argv)
{
    cli_set_program("cvae-digits");
    const char *data = NULL, *labels = NULL, *out = "cvae-digits.png", *save = NULL;
    long epochs = 10, train = 9000, threads = 1, seed = 1;
    int prior = VAE_PRIOR_LEARNED;
    static const struct option longs[] = {
        {"data", 1, 0, 'd'},   {"mnist", 1, 0, 'd'},  {"labels", 1, 0, 'L'},
        {"out", 1, 0, 'o'},    {"epochs", 1, 0, 'e'}, {"train", 1, 0, 'n'},
        {"threads", 1, 0, 't'}, {"seed", 1, 0, 's'},  {"prior", 1, 0, 'p'},
        {"save", 1, 0, 'S'},   {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    int c, li;
    opterr = 0;
    while ((li = -1, c = getopt_long(argc, argv, "", longs, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd': data = optarg; break;
        case 'L': labels = optarg; break;
        case 'o': out = optarg; break;
        case 'S': save = optarg; break;
        case 'e': bad = cli_long(optarg, 0, 100000, &epochs); break;
        case 'n': bad = cli_long(optarg, 1, 1L << 28, &train); break;
        case 't': bad = cli_long(optarg, 1, 256, &threads); break;
        case 's': bad = cli_long(optarg, 0, 0x7fffffffL, &seed); break;
        case 'p':
            bad = strcmp(optarg, "independent") != 0 && strcmp(optarg, "learned-prior") != 0;
            prior = strcmp(optarg, "independent") == 0 ? VAE_PRIOR_STANDARD : VAE_PRIOR_LEARNED;
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("unknown option or missing value", argv[optind - 1]);
        }
        if (bad)
            return cli_bad_option(&longs[li], optarg);
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument", argv[optind]);
    if (cli_check_writable("--out", out) != 0 || (save && cli_check_writable("--save", save) != 0))
        return CLI_EXIT_USAGE;
    /* The labels: given, or the MNIST labels file beside the images. */
    char img[4096], lab[4096];
    cli_data_path(data, img, sizeof img);
    if (!labels) {
        const char *slash = strrchr(img, '/');
        if (slash)
            snprintf(lab, sizeof lab, "%.*s/%s", (int)(slash - img), img, CLI_MNIST_LABELS);
        else
            snprintf(lab, sizeof lab, "%s", CLI_MNIST_LABELS);
        labels = lab;
    }
    return run(img, labels, (int)epochs, prior, train, (int)threads, seed, out, save);
}
