/* vqvae-mnist: train a VQ-VAE on MNIST with libvae's public API.
 *
 * The data are the 10,000 MNIST digits of t10k-images-idx3-ubyte.gz: the
 * first 9000 train, the last 1000 test. Prints one line per epoch:
 *   epoch <E> time <s> samples/s <r> train_rec <nats> test_rec <nats> perplexity <p> used <n>
 * where time and samples/s cover the training pass, train_rec is the mean
 * log p(x|z_q) over the epoch's batches, test_rec the same on the test set
 * after the epoch, and perplexity / used the code usage on the test set.
 * Then writes a PNG: test originals in the top row(s), their
 * reconstructions below.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvae/vae.h>

#include "cli.h"

typedef struct options {
    const char *data, *png, *save, *load;
    vae_vqvae_config cfg;
    int epochs, show, save_every;
    long batch;
    float lr;
} options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: vqvae-mnist [options]\n"
            "Train a VQ-VAE on MNIST (first 9000 train, last 1000 test) and print one line per epoch:\n"
            "  epoch <E> time <s> samples/s <r> train_rec <nats> test_rec <nats> perplexity <p> used <n>\n\n"
            "  --data PATH|DIR    t10k-images-idx3-ubyte.gz or its directory (default:\n"
            "                     $VAE_MNIST_DIR, else " CLI_MNIST_DIR ")\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --epochs N         epochs (default 10)\n"
            "  --codes K          codebook size (default 128)\n"
            "  --code-dim D       size of each latent vector and code (default 16)\n"
            "  --latents M        latent vectors per example (default 16)\n"
            "  --hidden H         hidden layer size of the MLP (default 400)\n"
            "  --encoder TEXT     encoder layers (docs/networks.md); one ending in a C x H x W\n"
            "                     map is quantised per position (M = H * W codes)\n"
            "  --decoder TEXT     decoder layers on z_q (code-dim x H x W when spatial)\n"
            "  --codebook MODE    ema|loss (default ema)\n"
            "  --beta B           commitment weight (default 0.25)\n"
            "  --restart N        restart codes unused for N steps (default 0: never)\n"
            "  --batch N          batch size (default 100)\n"
            "  --lr RATE          Adam learning rate (default 1e-3)\n"
            "  --seed N           random seed (default 1)\n"
            "  --threads N        BLAS threads (default 1)\n"
            "  --png PATH         picture of originals above reconstructions (default vqvae-mnist.png)\n"
            "  --show N           test digits in the picture (default 16)\n"
            "  --save PATH        write a checkpoint after training (and when interrupted)\n"
            "  --save-every N     also write the --save checkpoint every N epochs\n"
            "  --load PATH        start from a checkpoint (its architecture wins)\n"
            "  --help             this text\n"
            "Outputs are checked before training; each file written is announced on\n"
            "stderr as 'wrote PATH'. A progress bar is drawn on stderr when it is a\n"
            "terminal. SIGINT or SIGTERM stops training after the current batch and\n"
            "writes --save. Exit status: 0 done, 1 failure, 2 usage error, 130 after\n"
            "SIGINT, 143 after SIGTERM.\n");
}

#define fail cli_fail

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    vae_vqvae_config_init(&o->cfg);
    o->epochs = 10;
    o->batch = 100;
    o->lr = 1e-3f;
    o->png = "vqvae-mnist.png";
    o->show = 16;
    static const struct option longs[] = {
        {"data", 1, 0, 'd'},    {"epochs", 1, 0, 'e'}, {"codes", 1, 0, 'K'},
        {"code-dim", 1, 0, 'D'}, {"latents", 1, 0, 'M'}, {"hidden", 1, 0, 'H'},
        {"codebook", 1, 0, 'c'}, {"beta", 1, 0, 'b'},   {"restart", 1, 0, 'r'},
        {"batch", 1, 0, 'n'},   {"lr", 1, 0, 'l'},     {"seed", 1, 0, 's'},
        {"threads", 1, 0, 't'}, {"png", 1, 0, 'p'},    {"show", 1, 0, 'w'},
        {"save", 1, 0, 'S'},    {"load", 1, 0, 'L'},   {"help", 0, 0, 'h'},
        {"encoder", 1, 0, 'E'}, {"decoder", 1, 0, 'F'}, {"mnist", 1, 0, 'd'},
        {"save-every", 1, 0, 'V'},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        double v = 0;
        int bad = 0;
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'e': bad = num(optarg, 0, 1e6, &v); o->epochs = (int)v; break;
        case 'K': bad = num(optarg, 1, 65536, &v); o->cfg.codebook_size = (int)v; break;
        case 'D': bad = num(optarg, 1, 65536, &v); o->cfg.code_dim = (int)v; break;
        case 'M': bad = num(optarg, 1, 65536, &v); o->cfg.n_latents = (int)v; break;
        case 'H': bad = num(optarg, 1, 1 << 20, &v); o->cfg.hidden[0] = (int)v; break;
        case 'c':
            if (strcmp(optarg, "ema") == 0)
                o->cfg.codebook_update = VAE_VQ_CODEBOOK_EMA;
            else if (strcmp(optarg, "loss") == 0)
                o->cfg.codebook_update = VAE_VQ_CODEBOOK_LOSS;
            else
                bad = 1;
            break;
        case 'b': bad = num(optarg, 0, 1e6, &v); o->cfg.beta = (float)v; break;
        case 'r': bad = num(optarg, 0, 1e9, &v); o->cfg.restart_after = (int)v; break;
        case 'n': bad = num(optarg, 1, 1 << 20, &v); o->batch = (long)v; break;
        case 'l': bad = num(optarg, 1e-12, 1e3, &v); o->lr = (float)v; break;
        case 's': bad = num(optarg, 0, 1e15, &v); o->cfg.seed = (uint64_t)v; break;
        case 't': bad = num(optarg, 1, 256, &v); o->cfg.threads = (int)v; break;
        case 'p': o->png = optarg; break;
        case 'E': o->cfg.encoder = optarg; break;
        case 'F': o->cfg.decoder = optarg; break;
        case 'w': bad = num(optarg, 1, 1000, &v); o->show = (int)v; break;
        case 'S': o->save = optarg; break;
        case 'V': bad = num(optarg, 1, 1e6, &v); o->save_every = (int)v; break;
        case 'L': o->load = optarg; break;
        case 'h': usage(stdout); exit(0);
        default:
            fprintf(stderr, "vqvae-mnist: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "vqvae-mnist: bad value '%s' for %s (see --help)\n", optarg,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vqvae-mnist: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->save_every && !o->save) {
        fprintf(stderr, "vqvae-mnist: --save-every needs --save PATH\n");
        return -1;
    }
    if ((o->png && o->png[0] && cli_check_writable("--png", o->png) != 0) ||
        (o->save && cli_check_writable("--save", o->save) != 0))
        return -1;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Originals (first `show` test digits) in the top rows, reconstructions below. */
static int write_picture(vae_vqvae *vq, const vae_dataset *test, const options *o)
{
    size_t show = (size_t)o->show, d = vae_dataset_dim(test);
    if (show > vae_dataset_count(test))
        show = vae_dataset_count(test);
    float *pix = malloc(2 * show * d * sizeof *pix);
    const float *x = vae_dataset_data(test); /* NULL only when out of memory */
    if (!pix || !x) {
        free(pix);
        return fail("picture", "out of memory");
    }
    memcpy(pix, x, show * d * sizeof *pix);
    int rc = 1;
    vae_error err;
    if (vae_vqvae_reconstruct(vq, pix, show, pix + show * d) != VAE_OK)
        fail("reconstruct", vae_vqvae_errmsg(vq));
    else if (vae_png_write_grid(o->png, pix, 2 * show, 28, 28, show, &err) != VAE_OK)
        fail("--png", err.message);
    else {
        cli_wrote(o->png);
        rc = 0;
    }
    free(pix);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    cli_set_program("vqvae-mnist");
    if (parse_args(argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    char path[4096];
    o.data = cli_data_path(o.data, path, sizeof path);
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_vqvae *vq = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    int status = 1;
    if (cli_load_data(o.data, NULL, NULL, &all) != 0)
        goto out;
    if (vae_dataset_count(all) != 10000 || vae_dataset_dim(all) != 784) {
        fail("data", "expected the 10,000 MNIST test digits of 28 x 28 pixels");
        goto out;
    }
    vae_dataset_shape(all, o.cfg.input_shape);
    if (vae_dataset_subset(all, 0, 9000, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, 9000, 1000, &test, &err) != VAE_OK) {
        fail("split", err.message);
        goto out;
    }
    if (o.load) {
        if (vae_vqvae_load(o.load, &vq, &opt, &err) != VAE_OK) {
            fail("--load", err.message);
            goto out;
        }
        vae_vqvae_set_threads(vq, o.cfg.threads);
    } else if (vae_vqvae_create(&o.cfg, &vq, &err) != VAE_OK) {
        fail("model", err.message);
        goto out;
    }
    if (!opt) {
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
        oc.lr = o.lr;
        if (vae_optimizer_create(&oc, &opt, &err) != VAE_OK) {
            fail("optimizer", err.message);
            goto out;
        }
    }
    cli_install_signals();
    cli_progress prog;
    cli_progress_init(&prog);
    /* --load continues the epoch numbering (one optimizer step per batch). */
    int first = o.load ? cli_epochs_done(vae_optimizer_steps(opt), vae_dataset_count(train),
                                         (size_t)o.batch)
                       : 0;
    for (int e = first + 1; e <= first + o.epochs && !cli_interrupted(); e++) {
        vae_vqvae_stats tr, te;
        double t0 = now();
        prog.epoch = e;
        int rc = vae_vqvae_train_epoch(vq, opt, train, (size_t)o.batch, cli_progress_cb, &prog, &tr);
        cli_progress_clear(&prog);
        if (rc == VAE_ERR_CANCELLED)
            break;
        if (rc != VAE_OK) {
            fail("training", vae_vqvae_errmsg(vq));
            goto out;
        }
        double dt = now() - t0;
        if (vae_vqvae_evaluate(vq, test, 1000, &te) != VAE_OK) {
            fail("evaluation", vae_vqvae_errmsg(vq));
            goto out;
        }
        printf("epoch %d time %.3f samples/s %.1f train_rec %.4f test_rec %.4f perplexity %.2f used %zu\n",
               e, dt, (double)tr.n / dt, tr.rec, te.rec, te.perplexity, te.codes_used);
        fflush(stdout);
        if (o.save_every && e % o.save_every == 0 && e != first + o.epochs) {
            if (vae_vqvae_save(vq, opt, o.save) != VAE_OK) {
                fail("--save", vae_vqvae_errmsg(vq));
                goto out;
            }
            cli_wrote(o.save);
        }
    }
    if (cli_interrupted()) {
        if (o.save && vae_vqvae_save(vq, opt, o.save) == VAE_OK)
            fprintf(stderr, "interrupted: saved %s\n", o.save);
        else
            fprintf(stderr, "interrupted\n");
        status = cli_interrupt_status();
        goto out;
    }
    if (o.png && o.png[0] && write_picture(vq, test, &o) != 0)
        goto out;
    if (o.save) {
        if (vae_vqvae_save(vq, opt, o.save) != VAE_OK) {
            fail("--save", vae_vqvae_errmsg(vq));
            goto out;
        }
        cli_wrote(o.save);
    }
    status = 0;
out:
    vae_vqvae_free(vq);
    vae_optimizer_free(opt);
    vae_dataset_free(all);
    vae_dataset_free(train);
    vae_dataset_free(test);
    return status;
}
