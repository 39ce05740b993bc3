/* estimator-variance: why VAEs use the reparameterisation trick, in numbers.
 *
 * Trains a VAE for a few epochs (pathwise), then draws S gradient estimates
 * on one batch with each estimator (pathwise; score function with no
 * baseline, an EMA baseline and a leave-one-out baseline) and prints, for the
 * encoder's parameters and for all parameters: the norm of the mean
 * gradient, the total variance, the signal-to-noise ratio, the cosine with
 * the pathwise mean gradient, and the variance ratio to pathwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "cli.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: estimator-variance [options]\n"
                "Compare the variance of pathwise and score-function gradient estimators.\n\n"
                "  --data PATH|DIR    IDX images (raw or gzip), CSV, or a directory with\n"
                "                     t10k-images-idx3-ubyte.gz; default: a synthetic bars set\n"
                "  --mnist DIR        the same as --data DIR (older commands)\n"
                "  --epochs N         pathwise training epochs first (default 1)\n"
                "  --draws S          gradient draws per estimator, >= 2 (default 50)\n"
                "  --samples L        z samples per example, >= 2 (default 4)\n"
                "  --batch N          examples in the batch (default 100)\n"
                "  --threads N        BLAS threads (default 1)\n"
                "  --seed N           random seed (default 1)\n"
                "  --csv PATH         also write the table as CSV\n"
                "  --help             this text\n"
                "Outputs are checked before training; each file written is announced on\n"
                "stderr as 'wrote PATH'. Exit status: 0 done, 1 failure, 2 usage error.\n");
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa * bb) + 1e-300);
}

static float *synthetic(size_t n)
{
    float *x = calloc(n * 784, sizeof *x);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; x && i < n; i++)
        for (int bar = 0; bar < 3; bar++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            int pos = (int)((s >> 33) % 28), vertical = (int)((s >> 20) & 1);
            for (int k = 0; k < 28; k++)
                x[i * 784 + (vertical ? k * 28 + pos : pos * 28 + k)] = 1.0f;
        }
    return x;
}

int main(int argc, char **argv)
{
    cli_set_program("estimator-variance");
    cli_install_signals(); /* Ctrl-C ends training after the current batch */
    const char *data = NULL, *csv = NULL;
    int epochs = 1, draws = 50, samples = 4, threads = 1, batch = 100;
    long seed = 1, v = 0;
    static const struct option longopts[] = {
        {"data", 1, 0, 'd'}, {"epochs", 1, 0, 'e'}, {"draws", 1, 0, 'S'}, {"samples", 1, 0, 'L'},
        {"threads", 1, 0, 't'}, {"seed", 1, 0, 's'}, {"csv", 1, 0, 'c'}, {"batch", 1, 0, 'b'},
        {"help", 0, 0, 'h'}, {"mnist", 1, 0, 'd'}, {0, 0, 0, 0}};
    int c, li;
    opterr = 0;
    while ((li = -1, c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd': data = optarg; break;
        case 'c': csv = optarg; break;
        case 'e': bad = cli_long(optarg, 0, 1000000, &v); epochs = (int)v; break;
        case 'S': bad = cli_long(optarg, 2, 1000000, &v); draws = (int)v; break;
        case 'L': bad = cli_long(optarg, 2, 4096, &v); samples = (int)v; break;
        case 't': bad = cli_long(optarg, 1, 256, &v); threads = (int)v; break;
        case 'b': bad = cli_long(optarg, 1, 1L << 20, &v); batch = (int)v; break;
        case 's': bad = cli_long(optarg, 0, 0x7fffffffL, &seed); break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("unknown option or missing value", argv[optind - 1]);
        }
        if (bad) {
            char flag[64];
            snprintf(flag, sizeof flag, "--%s", longopts[li].name);
            return cli_bad_value(flag, optarg);
        }
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument", argv[optind]);
    if (csv && cli_check_writable("--csv", csv) != 0)
        return CLI_EXIT_USAGE;
    vae_error err;
    vae_dataset *ds = NULL;
    if (data) {
        if (cli_load_data(data, NULL, NULL, &ds) != 0)
            return CLI_EXIT_FAILURE;
    } else {
        float *x = synthetic(2000);
        int rc = vae_dataset_from_array(x, 2000, 784, NULL, VAE_ARRAY_COPY, NULL, &ds, &err);
        free(x);
        if (rc != VAE_OK) {
            fprintf(stderr, "estimator-variance: %s\n", err.message);
            return 1;
        }
    }
    if ((size_t)batch > vae_dataset_count(ds))
        batch = (int)vae_dataset_count(ds);
    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = (int)vae_dataset_dim(ds);
    cfg.seed = (uint64_t)seed;
    cfg.threads = threads;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    if (vae_model_create(&cfg, &m, &err) != VAE_OK || vae_optimizer_create(&oc, &o, &err) != VAE_OK) {
        fprintf(stderr, "estimator-variance: %s\n", err.message);
        return 1;
    }
    for (int e = 0; e < epochs; e++)
        if (cli_train_epoch(m, o, ds, 100, e + 1) != VAE_OK) {
            fprintf(stderr, "estimator-variance: %s\n", vae_model_errmsg(m));
            return 1;
        }
    struct {
        const char *name;
        int est, base;
    } rows[] = {{"pathwise", VAE_EST_PATHWISE, VAE_BASELINE_NONE},
                {"score", VAE_EST_SCORE, VAE_BASELINE_NONE},
                {"score-ema", VAE_EST_SCORE, VAE_BASELINE_EMA},
                {"score-loo", VAE_EST_SCORE, VAE_BASELINE_LOO}};
    /* The float values of the first `batch` examples only (an IDX file
     * stays bytes in ds; vae_dataset_data of ds would copy all of it). */
    vae_dataset *head = NULL;
    const float *x = NULL;
    if (vae_dataset_subset(ds, 0, (size_t)batch, &head, &err) != VAE_OK ||
        !(x = vae_dataset_data(head))) {
        fprintf(stderr, "estimator-variance: %s\n", head ? vae_dataset_errmsg(head) : err.message);
        return 1;
    }
    size_t P = vae_model_param_count(m);
    float *mean[4];
    vae_grad_stats enc[4], all[4];
    FILE *out = csv ? fopen(csv, "w") : NULL;
    if (csv && !out) {
        perror(csv);
        return 1;
    }
    printf("# %d epochs of training, batch %d, L = %d samples per example, S = %d draws\n", epochs,
           batch, samples, draws);
    printf("%-10s %12s %14s %10s %9s %12s %12s\n", "estimator", "enc_norm", "enc_variance",
           "enc_snr", "cos_path", "var/path", "all_variance");
    if (out)
        fprintf(out, "estimator,enc_mean_norm,enc_total_variance,enc_snr,cosine_pathwise,"
                     "variance_ratio,all_mean_norm,all_total_variance,all_snr\n");
    for (int r = 0; r < 4; r++) {
        vae_model_config t = cfg;
        t.samples = samples;
        t.estimator = rows[r].est;
        t.baseline = rows[r].base;
        mean[r] = malloc(P * sizeof(float));
        if (vae_model_gradient_stats(m, x, (size_t)batch, &t, draws, NULL,
                                     &enc[r], &all[r], mean[r]) != VAE_OK) {
            fprintf(stderr, "estimator-variance: %s\n", vae_model_errmsg(m));
            return 1;
        }
        double cs = cosine(mean[r], mean[0], P), ratio = enc[r].total_variance / enc[0].total_variance;
        printf("%-10s %12.4g %14.4g %10.4g %9.4f %12.1f %12.4g\n", rows[r].name, enc[r].mean_norm,
               enc[r].total_variance, enc[r].snr, cs, ratio, all[r].total_variance);
        if (out)
            fprintf(out, "%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", rows[r].name,
                    enc[r].mean_norm, enc[r].total_variance, enc[r].snr, cs, ratio,
                    all[r].mean_norm, all[r].total_variance, all[r].snr);
    }
    printf("ratios: score/pathwise %.1f, score/score-ema %.2f, score/score-loo %.2f (encoder variance)\n",
           enc[1].total_variance / enc[0].total_variance,
           enc[1].total_variance / enc[2].total_variance,
           enc[1].total_variance / enc[3].total_variance);
    if (out) {
        fclose(out);
        cli_wrote(csv);
    }
    for (int r = 0; r < 4; r++)
        free(mean[r]);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_dataset_free(head);
    vae_dataset_free(ds);
    return 0;
}
