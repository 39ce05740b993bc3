/* beta-traverse: train a beta-VAE on MNIST and write a PNG of latent
 * traversals: one row per latent dimension d, 11 columns where z_d runs
 * over -3..3 with the other dimensions held at the encoder mean of one test
 * digit. Rows of collapsed (inactive) dimensions look constant.
 *
 *   beta-traverse [--mnist DIR] [--beta B] [--latent K] [--epochs N]
 *                 [--seed S] [--out PATH]
 * Defaults: beta 4, K 10, 5 epochs, seed 1, out beta-traverse.png.
 * Prints 'dimension <d> kl <nats> active <0|1>' per row and the PNG path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#define STEPS 11

static void usage(FILE *to)
{
    fprintf(to,
            "usage: beta-traverse [options]\n"
            "Train a beta-VAE on MNIST (all but the last 1000 digits) and write a PNG of\n"
            "latent traversals: one row per latent dimension d, 11 columns where z_d runs\n"
            "over -3..3 with the other dimensions at the encoder mean of one test digit.\n"
            "Prints 'dimension <d> kl <nats> active <0|1>' per row and the PNG path;\n"
            "rows of collapsed (inactive) dimensions look constant.\n\n"
            "  --mnist DIR        directory with t10k-images-idx3-ubyte.gz (default:\n"
            "                     $VAE_MNIST_DIR, else ../shared/data/mnist)\n"
            "  --beta B           KL weight (default 4)\n"
            "  --latent K         latent dimensions (default 10)\n"
            "  --epochs N         epochs (default 5)\n"
            "  --seed S           random seed (default 1)\n"
            "  --out PATH         the PNG to write (default beta-traverse.png)\n"
            "  --help             this text\n");
}

int main(int argc, char **argv)
{
    const char *dir = getenv("VAE_MNIST_DIR"), *out = "beta-traverse.png";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    float beta = 4.0f;
    int latent = 10, epochs = 5;
    unsigned seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--mnist")) dir = v;
        else if (!strcmp(a, "--beta")) beta = (float)atof(v);
        else if (!strcmp(a, "--latent")) latent = atoi(v);
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--seed")) seed = (unsigned)atol(v);
        else if (!strcmp(a, "--out")) out = v;
        else {
            fprintf(stderr, "beta-traverse: unknown option %s\n", a);
            return 2;
        }
    }
    if (argc % 2 == 0) {
        usage(stderr);
        return 2;
    }
    if (!dir)
        dir = "../shared/data/mnist";
    char path[4096];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    vae_dataset *all = NULL, *train = NULL, *held = NULL;
    vae_error err;
    if (vae_dataset_load_idx(path, NULL, &dopt, &all, &err) != VAE_OK) {
        fprintf(stderr, "beta-traverse: %s\n", err.message);
        return 77;
    }
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
        rc = vae_model_train_epoch(m, o, train, 100, NULL, NULL, NULL);
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
        printf("beta %g active_units %d mi %.4f wrote %s\n", (double)beta, d.active_units, d.mi, out);
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
