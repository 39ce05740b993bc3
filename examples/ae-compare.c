/* ae-compare: PCA, a linear autoencoder, a deep autoencoder and a VAE, all
 * with 30-dimensional codes, on MNIST (first 9,000 digits train, last 1,000
 * test, pixels / 255), then denoising autoencoders (mask p = 0.5 and
 * Gaussian sigma = 0.5), trained with Adam (batch 100, lr 2e-3; the linear
 * AE 2 x EPOCHS at 3e-3, the last EPOCHS / 2 at 3e-4). Prints Markdown tables
 * of the held-out errors (squared error summed over the 784 pixels, averaged
 * over digits) and writes two PNGs (docs/autoencoders.md):
 *
 *   OUT/ae-compare.png  rows: originals, PCA, linear AE, deep AE, VAE
 *   OUT/ae-denoise.png  rows: masked, denoised, clean, noisy (Gaussian), denoised, clean
 *
 * usage: ae-compare [--data PATH|DIR] [--out DIR] [--epochs N] [--threads N] [--seed N]
 *        (defaults $VAE_MNIST_DIR or ../shared/data/mnist, docs/images, 10, 2, 1);
 *        the older positional form MNIST_DIR [OUT_DIR [EPOCHS [THREADS]]] is accepted.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "cli.h"

#define PIX 784
#define CODE 30
#define SHOW 10 /* digits per picture row */

static int check(int rc, const char *what, const char *msg)
{
    if (rc != VAE_OK) {
        fprintf(stderr, "ae-compare: %s: %s\n", what, msg);
        exit(CLI_EXIT_FAILURE);
    }
    return rc;
}

/* Mean over n examples of sum_j (a_ij - b_ij)^2. */
static double sq_error(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n * PIX; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

/* A model of the given family, layers and corruption trained for `epochs`
 * with Adam at rate lr, the last `fine` of them at lr / 10. */
static vae_model *train(const vae_dataset *ds, int family, int n_hidden, int likelihood,
                        int corruption, float level, int epochs, float lr, int fine, int threads,
                        uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.family = family;
    c.latent_dim = CODE;
    c.n_hidden = n_hidden; /* 0: linear (the code head and dense(784) alone), 1: 784-400-30 */
    c.likelihood = likelihood;
    c.corruption = corruption;
    c.corruption_level = level;
    c.threads = threads;
    c.seed = seed;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_optimizer_config oc;
    vae_error err;
    check(vae_model_create(&c, &m, &err), "model", err.message);
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.lr = lr;
    check(vae_optimizer_create(&oc, &o, &err), "optimizer", err.message);
    for (int e = 0; e < epochs; e++) {
        if (e == epochs - fine)
            vae_optimizer_set_lr(o, lr / 10);
        check(cli_train_epoch(m, o, ds, 100, e + 1), "training",
              vae_model_errmsg(m));
    }
    vae_optimizer_free(o);
    return m;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ae-compare [options]\n"
            "PCA, a linear AE, a deep AE and a VAE with 30-dimensional codes on MNIST (first\n"
            "9000 train, last 1000 test), then denoising AEs; prints Markdown tables and\n"
            "writes OUT/ae-compare.png and OUT/ae-denoise.png (docs/autoencoders.md).\n\n"
            "  --data PATH|DIR    IDX images of 28 x 28 digits, or a directory with\n"
            "                     t10k-images-idx3-ubyte.gz (default: $VAE_MNIST_DIR, else\n"
            "                     " CLI_MNIST_DIR ")\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --out DIR          directory of the two PNGs (default docs/images)\n"
            "  --epochs N         epochs (default 10)\n"
            "  --threads N        BLAS threads (default 2)\n"
            "  --seed N           random seed (default 1)\n"
            "  --help             this text\n"
            "The older form 'ae-compare MNIST_DIR [OUT_DIR [EPOCHS [THREADS]]]' is accepted.\n"
            "Exit status: 0 done, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    cli_set_program("ae-compare");
    cli_install_signals(); /* Ctrl-C ends training after the current batch */
    const char *data = NULL, *out = "docs/images";
    long epochs = 10, threads = 2, seed = 1;
    int pos = argc > 1 && argv[1][0] != '-'; /* the older positional form */
    static const struct option longs[] = {
        {"data", 1, 0, 'd'},    {"mnist", 1, 0, 'd'}, {"out", 1, 0, 'o'}, {"epochs", 1, 0, 'e'},
        {"threads", 1, 0, 't'}, {"seed", 1, 0, 's'},  {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch, li;
    opterr = 0;
    if (pos) {
        data = argv[1];
        out = argc > 2 ? argv[2] : out;
        if ((argc > 3 && cli_long(argv[3], 1, 1000000, &epochs) != 0) ||
            (argc > 4 && cli_long(argv[4], 1, 256, &threads) != 0) || argc > 5)
            return cli_usage_error("bad arguments of the form MNIST_DIR OUT_DIR EPOCHS THREADS",
                                   argv[argc - 1]);
    }
    while (!pos && (li = -1, ch = getopt_long(argc, argv, "", longs, &li)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'e': bad = cli_long(optarg, 1, 1000000, &epochs); break;
        case 't': bad = cli_long(optarg, 1, 256, &threads); break;
        case 's': bad = cli_long(optarg, 0, 0x7fffffffL, &seed); break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("unknown option or missing value", argv[optind - 1]);
        }
        if (bad)
            return cli_bad_option(&longs[li], optarg);
    }
    if (!pos && optind < argc)
        return cli_usage_error("unexpected argument", argv[optind]);
    char path[4096];
    if (cli_check_writable("--out", cli_join(path, sizeof path, out, "ae-compare.png")) != 0 ||
        cli_check_writable("--out", cli_join(path, sizeof path, out, "ae-denoise.png")) != 0)
        return CLI_EXIT_USAGE;
    vae_error err;
    vae_dataset *all = NULL, *tr = NULL, *te = NULL;
    if (cli_load_data(data, NULL, NULL, &all) != 0)
        return CLI_EXIT_FAILURE;
    if (vae_dataset_count(all) != 10000 || vae_dataset_dim(all) != PIX)
        return check(VAE_ERR_SHAPE, "--data", "expected the 10,000 MNIST test digits of 28 x 28");
    check(vae_dataset_subset(all, 0, 9000, &tr, &err), "subset", err.message);
    check(vae_dataset_subset(all, 9000, 1000, &te, &err), "subset", err.message);
    const float *x = vae_dataset_data(te);
    size_t n = 1000;
    float *rec = malloc(n * PIX * sizeof *rec), *noisy = malloc(n * PIX * sizeof *noisy);
    float *grid = malloc(6 * SHOW * PIX * sizeof *grid);
    if (!x || !rec || !noisy || !grid)
        return check(VAE_ERR_NOMEM, "memory", "out of memory");

    /* Reconstructions: row 0 the originals, then one row per method. */
    const char *names[] = {"PCA (30 components)", "linear AE (784-30-784, Gaussian)",
                           "deep AE (784-400-30, ReLU, Bernoulli)",
                           "VAE (784-400-30, ReLU, Bernoulli; decoder mean of mu)"};
    double errs[4];
    memcpy(grid, x, SHOW * PIX * sizeof *grid);
    vae_pca *pca = NULL;
    check(vae_pca_fit(tr, CODE, NULL, &pca, &err), "pca", err.message);
    check(vae_pca_reconstruct(pca, x, n, rec), "pca", vae_pca_errmsg(pca));
    errs[0] = sq_error(rec, x, n);
    memcpy(grid + 1 * SHOW * PIX, rec, SHOW * PIX * sizeof *grid);
    const int family[] = {VAE_FAMILY_AE, VAE_FAMILY_AE, VAE_FAMILY_VAE};
    const int hidden[] = {0, 1, 1};
    const int lik[] = {VAE_LIK_GAUSSIAN_FIXED, VAE_LIK_BERNOULLI, VAE_LIK_BERNOULLI};
    for (int k = 0; k < 3; k++) {
        /* The linear AE converges slowly: twice the epochs, the last quarter at lr / 10. */
        int linear = hidden[k] == 0;
        vae_model *m = train(tr, family[k], hidden[k], lik[k], VAE_CORRUPT_NONE, 0.0f,
                             linear ? 2 * epochs : epochs, linear ? 3e-3f : 2e-3f,
                             linear ? epochs / 2 : 0, threads, seed);
        check(vae_model_reconstruct(m, x, n, rec), "reconstruct", vae_model_errmsg(m));
        errs[k + 1] = sq_error(rec, x, n);
        memcpy(grid + (size_t)(k + 2) * SHOW * PIX, rec, SHOW * PIX * sizeof *grid);
        vae_model_free(m);
    }
    snprintf(path, sizeof path, "%s/ae-compare.png", out);
    check(vae_png_write_grid(path, grid, 5 * SHOW, 28, 28, SHOW, &err), path, err.message);
    cli_wrote(path);
    printf("| method | held-out squared error per digit |\n|---|---|\n");
    for (int k = 0; k < 4; k++)
        printf("| %s | %.2f |\n", names[k], errs[k]);

    /* Denoising: a deep AE trained on corrupted inputs, tested on fresh corruptions. */
    const int kinds[] = {VAE_CORRUPT_MASK, VAE_CORRUPT_GAUSSIAN};
    const char *kind_names[] = {"mask p = 0.5", "Gaussian sigma = 0.5"};
    printf("\n| corruption | corrupted input | denoised | ratio |\n|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        check(vae_corrupt(kinds[k], 0.5f, 2024 + (uint64_t)k, x, n, PIX, noisy, &err), "corrupt",
              err.message);
        vae_model *m = train(tr, VAE_FAMILY_AE, 1, VAE_LIK_BERNOULLI, kinds[k], 0.5f, epochs,
                             2e-3f, 0, threads, seed);
        check(vae_model_denoise(m, noisy, n, rec), "denoise", vae_model_errmsg(m));
        double before = sq_error(noisy, x, n), after = sq_error(rec, x, n);
        printf("| %s | %.2f | %.2f | %.3f |\n", kind_names[k], before, after, after / before);
        float *rows = grid + (size_t)k * 3 * SHOW * PIX;
        memcpy(rows, noisy, SHOW * PIX * sizeof *grid);
        memcpy(rows + SHOW * PIX, rec, SHOW * PIX * sizeof *grid);
        memcpy(rows + 2 * SHOW * PIX, x, SHOW * PIX * sizeof *grid);
        vae_model_free(m);
    }
    snprintf(path, sizeof path, "%s/ae-denoise.png", out);
    check(vae_png_write_grid(path, grid, 6 * SHOW, 28, 28, SHOW, &err), path, err.message);
    cli_wrote(path);
    free(rec);
    free(noisy);
    free(grid);
    vae_pca_free(pca);
    vae_dataset_free(te);
    vae_dataset_free(tr);
    vae_dataset_free(all);
    return 0;
}
