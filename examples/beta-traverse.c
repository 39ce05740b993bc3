/* beta-traverse: train a beta-VAE on MNIST and write a PNG of latent
 * traversals: one row per latent dimension d, 11 columns where z_d runs
 * over -3..3 with the other dimensions held at the encoder mean of one test
 * digit. Rows of collapsed (inactive) dimensions look constant.
 *
 *   beta-traverse [--data PATH|DIR] [--beta B] [--latent K] [--epochs N]
 *                 [--seed S] [--threads N] [--out PATH] [--save PATH]
 * Defaults: beta 4, K 10, 5 epochs, seed 1, out beta-traverse.png.
 * Prints 'dimension <d> kl <nats> active <0|1>' per row and a summary line;
 * the PNG (and --save) are announced on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "cli.h"

#define STEPS 11

static void usage(FILE *to)
{
    fprintf(to,
            "usage: beta-traverse [options]\n"
            "Train a beta-VAE on MNIST (all but the last 1000 digits) and write a PNG of\n"
            "latent traversals: one row per latent dimension d, 11 columns where z_d runs\n"
            "over -3..3 with the other dimensions at the encoder mean of one test digit.\n"
            "Prints 'dimension <d> kl <nats> active <0|1>' per row, then\n"
            "'beta <B> active_units <n> mi <nats>'; rows of collapsed (inactive)\n"
            "dimensions look constant.\n\n"
            "  --data PATH|DIR    IDX images of 28 x 28 digits, or a directory with\n"
            "                     t10k-images-idx3-ubyte.gz (default: $VAE_MNIST_DIR, else\n"
            "                     " CLI_MNIST_DIR ")\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --beta B           KL weight (default 4)\n"
            "  --latent K         latent dimensions (default 10)\n"
            "  --epochs N         epochs (default 5)\n"
            "  --seed S           random seed (default 1)\n"
            "  --threads N        BLAS threads (default 1)\n"
            "  --out PATH         the PNG to write (default beta-traverse.png)\n"
            "  --save PATH        also write the model's checkpoint\n"
            "  --help             this text\n"
            "Outputs are checked before training; each file written is announced on\n"
            "stderr as 'wrote PATH'. Exit status: 0 done, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    cli_set_program("beta-traverse");
    cli_install_signals(); /* Ctrl-C ends training after the current batch */
    const char *data = NULL, *out = "beta-traverse.png", *save = NULL;
    double betav = 4.0;
    long latentv = 10, epochsv = 5, seedv = 1, threads = 1;
    static const struct option longs[] = {
        {"data", 1, 0, 'd'},   {"mnist", 1, 0, 'd'},   {"beta", 1, 0, 'b'},
        {"latent", 1, 0, 'k'}, {"epochs", 1, 0, 'e'},  {"seed", 1, 0, 's'},
        {"out", 1, 0, 'o'},    {"threads", 1, 0, 't'}, {"save", 1, 0, 'S'},
        {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    int ch, li;
    opterr = 0;
    while ((li = -1, ch = getopt_long(argc, argv, "", longs, &li)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'S': save = optarg; break;
        case 'b': bad = cli_double(optarg, 0.0, 1e6, &betav); break;
        case 'k': bad = cli_long(optarg, 1, 1024, &latentv); break;
        case 'e': bad = cli_long(optarg, 0, 1000000, &epochsv); break;
        case 's': bad = cli_long(optarg, 0, 0x7fffffffL, &seedv); break;
        case 't': bad = cli_long(optarg, 1, 256, &threads); break;
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
    float beta = (float)betav;
    int latent = (int)latentv, epochs = (int)epochsv;
    unsigned seed = (unsigned)seedv;
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    vae_dataset *all = NULL, *train = NULL, *held = NULL;
    vae_error err;
    if (cli_load_data(data, NULL, &dopt, &all) != 0)
        return CLI_EXIT_FAILURE; /* (tests skip by checking for the file themselves) */
    size_t n = vae_dataset_count(all), D = vae_dataset_dim(all);
    if (n < 2000 || D != 784 || vae_dataset_subset(all, 0, n - 1000, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - 1000, 1000, &held, &err) != VAE_OK) {
        fprintf(stderr, "beta-traverse: expected 28x28 MNIST with at least 2000 images\n");
        return 1;
    }
    vae_model_config c;
    vae_model_config_init(&c);
    c.latent_dim = latent;
    c.beta = beta;
    c.seed = seed;
    c.threads = (int)threads;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    int rc = vae_model_create(&c, &m, &err);
    if (rc == VAE_OK)
        rc = vae_optimizer_create(&oc, &o, &err);
    if (rc != VAE_OK) {
        fprintf(stderr, "beta-traverse: %s\n", err.message);
        return 1;
    }
    for (int e = 0; e < epochs && rc == VAE_OK; e++)
        rc = cli_train_epoch(m, o, train, 100, e + 1);
    /* Floats of the 1000 test rows only (MNIST stays bytes in the datasets). */
    const float *test = vae_dataset_data(held);
    float *kl = malloc((size_t)latent * sizeof *kl), *var = malloc((size_t)latent * sizeof *var);
    float *mu = malloc((size_t)latent * sizeof *mu);
    float *z = malloc((size_t)latent * STEPS * latent * sizeof *z);
    float *img = malloc((size_t)latent * STEPS * D * sizeof *img);
    vae_diagnostics d = {.struct_size = sizeof d};
    if (!kl || !var || !mu || !z || !img || !test)
        rc = VAE_ERR_NOMEM;
    if (rc == VAE_OK)
        rc = vae_model_diagnostics(m, test, 1000, &d, kl, var);
    if (rc == VAE_OK)
        rc = vae_model_encode(m, test, 1, mu, NULL);
    if (rc == VAE_OK) {
        for (int r = 0; r < latent; r++)
            for (int s = 0; s < STEPS; s++) {
                float *zz = z + ((size_t)r * STEPS + s) * latent;
                memcpy(zz, mu, (size_t)latent * sizeof *zz);
                zz[r] = -3.0f + 6.0f * s / (STEPS - 1);
            }
        rc = vae_model_decode(m, z, (size_t)latent * STEPS, img);
    }
    if (rc == VAE_OK)
        rc = vae_png_write_grid(out, img, (size_t)latent * STEPS, 28, 28, STEPS, &err);
    else
        snprintf(err.message, sizeof err.message, "%s", vae_model_errmsg(m));
    if (rc == VAE_OK) {
        for (int r = 0; r < latent; r++)
            printf("dimension %d kl %.4f active %d\n", r, (double)kl[r],
                   var[r] > VAE_ACTIVE_UNIT_THRESHOLD);
        printf("beta %g active_units %d mi %.4f\n", (double)beta, d.active_units, d.mi);
        cli_wrote(out);
        if (save && vae_model_save(m, o, save) != VAE_OK) {
            fprintf(stderr, "beta-traverse: --save: %s\n", vae_model_errmsg(m));
            rc = VAE_ERR_IO;
        } else if (save) {
            cli_wrote(save);
        }
    } else {
        fprintf(stderr, "beta-traverse: %s\n", err.message);
    }
    free(kl);
    free(var);
    free(mu);
    free(z);
    free(img);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_dataset_free(held);
    vae_dataset_free(train);
    vae_dataset_free(all);
    return rc == VAE_OK ? 0 : 1;
}
