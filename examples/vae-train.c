/* vae-train: train a Gaussian VAE with libvae's public API.
 *
 * Prints one line per epoch:
 *   epoch <E> time <seconds> samples/s <rate> train_elbo <nats> test_elbo <nats>
 * where time and samples/s cover the training pass only and test_elbo is the
 * analytic-KL ELBO of the held-out examples with one z sample each.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvae/vae.h>

#include "cli.h"
#include "vae-train-beta.h"

typedef struct options {
    const char *data, *labels, *save, *load;
    const char *log;            /* --log: per-epoch CSV */
    cli_labels lab;             /* --labels parsed: an IDX file or a CSV column */
    int save_every;             /* --save-every N epochs; 0: only at the end */
    int patience;               /* --patience N: early stopping; 0: off */
    int eval;                   /* --eval: print 'test_elbo <nats>' of the final model */
    unsigned arch_given;        /* architecture flags given (ARCH_* bits), for --load's note */
    long holdout;               /* -1: 10% of the data */
    vae_model_config model;
    vae_optimizer_config opt;
    int opt_type;
    float lr;                   /* 0: the optimizer's default */
    int epochs;
    long batch;
    int binarize;
    int eval_ll;                /* importance samples for test_ll; 0: none */
    int k;                      /* --k: IWAE samples */
    beta_options beta;          /* beta-VAE and collapse options (vae-train-beta.c) */
    int conditional;            /* --conditional: -1 none, else enum vae_prior (needs --labels) */
    int shape[3];               /* --shape C,H,W of a sample; 0: the data's own */
} options;

/* Architecture flags: the checkpoint of --load overrides them. */
enum { ARCH_HIDDEN = 1, ARCH_LATENT = 2, ARCH_ENCODER = 4, ARCH_DECODER = 8, ARCH_MODEL = 16,
       ARCH_LIKELIHOOD = 32, ARCH_POSTERIOR = 64 };

/* The program name in the usage text (vae-train-mpi includes this file). */
#ifndef VAE_TRAIN_PROGRAM
#define VAE_TRAIN_PROGRAM "vae-train"
#endif

static void usage(FILE *to)
{
    fprintf(to,
            "usage: " VAE_TRAIN_PROGRAM " [options]\n"
            "Train a variational autoencoder and print one line per epoch:\n"
            "  epoch <E> time <s> samples/s <rate> train_elbo <nats> test_elbo <nats>\n\n"
            "  --data PATH        IDX images (gzip or raw), a CSV file (one example per\n"
            "                     line; a header line is detected), or a directory with\n"
            "                     the MNIST test set; default: a built-in synthetic set\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --labels L         IDX labels file for IDX images; for CSV data col:N (the\n"
            "                     0-based column N holds integer labels) or col:last\n"
            "  --conditional P    independent|learned-prior: a conditional VAE given the\n"
            "                     one-hot labels (needs --labels), prior N(0,I) or p(z|c)\n"
            "  --holdout N        the last N examples are the test set (default 10%%)\n"
            "  --hidden A[,B..]   hidden layer sizes of an MLP encoder and its mirrored\n"
            "                     decoder (default 400)\n"
            "  --encoder TEXT     encoder layers, e.g. 'conv2d(32,4,2,1) relu flatten\n"
            "                     dense(256) relu' (docs/networks.md); overrides --hidden\n"
            "  --decoder TEXT     decoder layers, the last giving one value per pixel\n"
            "  --shape C,H,W      a sample's shape (default: the data's; IDX images are\n"
            "                     1,H,W); convolutions need it for CSV-like flat data\n"
            "  --latent K[,K2..]  latent dimensions (default 20); a list gives the sizes\n"
            "                     of a hierarchical VAE's layers, z_1 (next to x) first\n"
            "  --model NAME       vae|ae|hvae|ladder (default vae; a --latent list means\n"
            "                     hvae): ae a deterministic autoencoder (its elbo columns\n"
            "                     are -loss; docs/autoencoders.md); hvae infers the layers\n"
            "                     bottom-up (Burda et al.), ladder top-down (Sonderby et\n"
            "                     al.); docs/hierarchical.md\n"
            "  --code-l2 W        ae: weight of the code penalty W sum_j z_j^2 (default 0)\n"
            "  --corrupt SPEC     denoising: the encoder sees gaussian:SIGMA, mask:P or\n"
            "                     saltpepper:P corrupted inputs in training (default none)\n"
            "  --batch N          batch size (default 100)\n"
            "  --optimizer NAME   adam|sgd|momentum|adagrad (default adam)\n"
            "  --lr RATE          learning rate (default: the optimizer's)\n"
            "  --epochs N         epochs (default 10); after --load the numbering goes on\n"
            "                     from the checkpoint's epochs\n"
            "  --likelihood NAME  bernoulli|gaussian (default bernoulli)\n"
            "  --binarize MODE    none|threshold|dynamic (default none)\n"
            "  --estimator NAME   pathwise|score|score-ema|score-loo (default pathwise)\n"
            "  --samples L        z samples per example in training (default 1)\n"
            "  --objective NAME   elbo|iwae (default elbo)\n"
            "  --k K              importance samples of the IWAE objective (default 5)\n"
            "  --posterior NAME   gaussian|laplace|logistic (default gaussian)\n"
            "  --eval-ll K        after training print 'test_ll <nats>': log p(x) on the\n"
            "                     test set estimated with K importance samples\n"
            "  --seed N           random seed (default 1)\n"
            "  --threads N        BLAS threads (default 1)\n"
            "  --save PATH        write a checkpoint after training (and when interrupted)\n"
            "  --save-every N     also write the --save checkpoint every N epochs\n"
            "  --load PATH        start from a checkpoint (its architecture wins; a note\n"
            "                     names the architecture flags it overrides)\n"
            "  --patience N       early stopping: stop after N epochs without a better\n"
            "                     held-out ELBO, keep (and --save) the best epoch's model\n"
            "  --log PATH         CSV, one row per epoch: " CLI_LOG_HEADER "\n"
            "  --eval             after training print 'test_elbo <nats>' of the final\n"
            "                     model on the held-out set\n"
            "  --help             this text\n"
            "Outputs (--save, --log, --samples-png, --manifold-png) and picture requests\n"
            "are checked before training. A progress bar is drawn on stderr when it is a\n"
            "terminal. SIGINT or SIGTERM stops training after the current batch, writes\n"
            "--save and prints 'interrupted: saved PATH' (or 'interrupted') on stderr.\n"
            "Exit status: 0 done, 1 failure, 2 usage error, 130 after SIGINT, 143 after\n"
            "SIGTERM. Every file written is announced on stderr as 'wrote PATH'.\n");
    beta_usage(to);
}

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "vae-train: %s: %s\n", what, msg);
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_hidden(const char *s, vae_model_config *c)
{
    c->n_hidden = 0;
    if (strcmp(s, "none") == 0 || *s == '\0')
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (c->n_hidden == VAE_MAX_HIDDEN || parse_long(tok, 1, 1 << 20, &v) != 0)
            return -1;
        c->hidden[c->n_hidden++] = (int)v;
    }
    return 0;
}

/* "K" or "K1,K2,...": latent_dim = K1, and for a list latent_layers and latent_sizes. */
static int parse_latent(const char *s, vae_model_config *c)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int k = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (k == VAE_MAX_LATENT_LAYERS || parse_long(tok, 1, 65536, &v) != 0)
            return -1;
        c->latent_sizes[k++] = (int)v;
    }
    if (k == 0)
        return -1;
    c->latent_dim = c->latent_sizes[0];
    c->latent_layers = k;
    return 0;
}

/* "C,H,W" with each in 1..2^24. */
static int parse_shape(const char *s, int shape[3])
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    int k = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (k == 3 || parse_long(tok, 1, 1L << 24, &v) != 0)
            return -1;
        shape[k++] = (int)v;
    }
    return k == 3 ? 0 : -1;
}

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* --model: one row per model (a name and how it sets the configuration). */
typedef struct model_kind {
    const char *name;
    int family;       /* enum vae_family */
    int hierarchical; /* needs two or more --latent sizes */
    int inference;    /* enum vae_inference of a hierarchical model */
} model_kind;
static const model_kind model_kinds[] = {
    {"vae", VAE_FAMILY_VAE, 0, VAE_INFER_BOTTOM_UP},
    {"ae", VAE_FAMILY_AE, 0, VAE_INFER_BOTTOM_UP},
    {"hvae", VAE_FAMILY_VAE, 1, VAE_INFER_BOTTOM_UP},
    {"ladder", VAE_FAMILY_VAE, 1, VAE_INFER_LADDER},
};

/* The row of --model s, or NULL. */
static const model_kind *find_model(const char *s)
{
    for (size_t i = 0; i < sizeof model_kinds / sizeof model_kinds[0]; i++)
        if (strcmp(s, model_kinds[i].name) == 0)
            return &model_kinds[i];
    return NULL;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option base_opts[] = {
        {"data", 1, 0, 'd'}, {"labels", 1, 0, 'L'}, {"holdout", 1, 0, 'H'},
        {"hidden", 1, 0, 'h'}, {"latent", 1, 0, 'k'}, {"batch", 1, 0, 'b'},
        {"optimizer", 1, 0, 'o'}, {"lr", 1, 0, 'r'}, {"epochs", 1, 0, 'e'},
        {"likelihood", 1, 0, 'l'}, {"binarize", 1, 0, 'B'}, {"seed", 1, 0, 's'},
        {"threads", 1, 0, 't'}, {"save", 1, 0, 'S'}, {"load", 1, 0, 'R'},
        {"estimator", 1, 0, 'E'}, {"samples", 1, 0, 'n'}, {"objective", 1, 0, 'O'},
        {"k", 1, 0, 'K'}, {"posterior", 1, 0, 'P'}, {"eval-ll", 1, 0, 'V'},
        {"conditional", 1, 0, 'C'}, {"encoder", 1, 0, 'N'}, {"decoder", 1, 0, 'D'},
        {"shape", 1, 0, 'Z'}, {"model", 1, 0, 'M'}, {"corrupt", 1, 0, 'X'},
        {"code-l2", 1, 0, 'Q'}, {"help", 0, 0, '?'}, {"mnist", 1, 0, 'd'},
        {"save-every", 1, 0, 'W'}, {"patience", 1, 0, 'p'}, {"log", 1, 0, 'G'},
        {"eval", 0, 0, 'v'}, {0, 0, 0, 0}};
    static const char *const cond_names[] = {"independent", "learned-prior"};
    static const char *const opt_names[] = {"sgd", "momentum", "adagrad", "adam"};
    static const char *const bin_names[] = {"none", "threshold", "dynamic"};
    static const char *const est_names[] = {"pathwise", "score", "score-ema", "score-loo"};
    static const char *const obj_names[] = {"elbo", "iwae"};
    static const char *const post_names[] = {"gaussian", "laplace", "logistic"};
    struct option longopts[64];
    size_t n_base = sizeof base_opts / sizeof base_opts[0] - 1;
    memcpy(longopts, base_opts, n_base * sizeof *longopts);
    memcpy(longopts + n_base, beta_longopts, (BETA_LONGOPTS_COUNT) * sizeof *longopts);
    int objective = VAE_OBJ_ELBO;
    const model_kind *kind = NULL;
    memset(o, 0, sizeof *o);
    o->holdout = -1;
    o->epochs = 10;
    o->batch = 100;
    o->opt_type = VAE_OPT_ADAM;
    o->k = 5;
    o->conditional = -1;
    o->lab.column = -1;
    vae_model_config_init(&o->model);
    int c, li = -1;
    long v;
    while ((li = -1, c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'L': o->labels = optarg; bad = cli_parse_labels(optarg, &o->lab) != 0; break;
        case 'W': bad = parse_long(optarg, 1, 1000000, &v); o->save_every = (int)v; break;
        case 'p': bad = parse_long(optarg, 1, 1000000, &v); o->patience = (int)v; break;
        case 'G': o->log = optarg; break;
        case 'v': o->eval = 1; break;
        case 'C': bad = (o->conditional = pick(optarg, cond_names, 2)) < 0; break;
        case 'S': o->save = optarg; break;
        case 'R': o->load = optarg; break;
        case 'H': bad = parse_long(optarg, 0, 1L << 28, &o->holdout); break;
        case 'h': bad = parse_hidden(optarg, &o->model); o->arch_given |= ARCH_HIDDEN; break;
        case 'N': o->model.encoder = optarg; o->arch_given |= ARCH_ENCODER; break;
        case 'D': o->model.decoder = optarg; o->arch_given |= ARCH_DECODER; break;
        case 'Z': bad = parse_shape(optarg, o->shape); break;
        case 'k': bad = parse_latent(optarg, &o->model); o->arch_given |= ARCH_LATENT; break;
        case 'M': bad = (kind = find_model(optarg)) == NULL; o->arch_given |= ARCH_MODEL; break;
        case 'X':
            bad = vae_corruption_parse(optarg, &o->model.corruption, &o->model.corruption_level,
                                       NULL) != VAE_OK;
            break;
        case 'Q': {
            char *end;
            o->model.code_l2 = strtof(optarg, &end);
            bad = *end || end == optarg || !(o->model.code_l2 >= 0);
            break;
        }
        case 'b': bad = parse_long(optarg, 1, 1L << 20, &o->batch); break;
        case 'e': bad = parse_long(optarg, 0, 1000000, &v); o->epochs = (int)v; break;
        case 's': bad = parse_long(optarg, 0, 0x7fffffffL, &v); o->model.seed = (uint64_t)v; break;
        case 't': bad = parse_long(optarg, 1, 256, &v); o->model.threads = (int)v; break;
        case 'r': {
            char *end;
            o->lr = strtof(optarg, &end);
            bad = *end || end == optarg || !(o->lr > 0);
            break;
        }
        case 'o': bad = (o->opt_type = pick(optarg, opt_names, 4)) < 0; break;
        case 'B': bad = (o->binarize = pick(optarg, bin_names, 3)) < 0; break;
        case 'E': {
            int e = pick(optarg, est_names, 4);
            bad = e < 0;
            o->model.estimator = e <= 0 ? VAE_EST_PATHWISE : VAE_EST_SCORE;
            o->model.baseline = e == 2 ? VAE_BASELINE_EMA : e == 3 ? VAE_BASELINE_LOO : VAE_BASELINE_NONE;
            break;
        }
        case 'n': bad = parse_long(optarg, 1, 4096, &v); o->model.samples = (int)v; break;
        case 'K': bad = parse_long(optarg, 1, 4096, &v); o->k = (int)v; break;
        case 'V': bad = parse_long(optarg, 1, 1L << 20, &v); o->eval_ll = (int)v; break;
        case 'O': bad = (objective = pick(optarg, obj_names, 2)) < 0; break;
        case 'P':
            bad = (o->model.posterior = pick(optarg, post_names, 3)) < 0;
            o->arch_given |= ARCH_POSTERIOR;
            break;
        case 'l':
            o->arch_given |= ARCH_LIKELIHOOD;
            if (strcmp(optarg, "bernoulli") == 0)
                o->model.likelihood = VAE_LIK_BERNOULLI;
            else if (strcmp(optarg, "gaussian") == 0)
                o->model.likelihood = VAE_LIK_GAUSSIAN_FIXED;
            else if (strcmp(optarg, "gaussian-learned") == 0)
                o->model.likelihood = VAE_LIK_GAUSSIAN_LEARNED;
            else
                bad = 1;
            break;
        case '?':
            if (optind > 0 && strcmp(argv[optind - 1], "--help") == 0) {
                usage(stdout);
                exit(0);
            }
            usage(stderr);
            return -1;
        default: bad = beta_parse(c, optarg, &o->model, &o->beta) != 1;
        }
        if (bad) {
            fprintf(stderr, "vae-train: bad value '%s' for --%s\n", optarg ? optarg : "",
                    li >= 0 ? longopts[li].name : "?");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vae-train: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->conditional >= 0 && !o->labels) {
        fprintf(stderr, "vae-train: --conditional needs --labels (and --data)\n");
        return -1;
    }
    if (o->save_every && !o->save) {
        fprintf(stderr, "vae-train: --save-every needs --save PATH\n");
        return -1;
    }
    if ((o->patience || o->eval) && o->holdout == 0) {
        fprintf(stderr, "vae-train: --%s needs a held-out set (--holdout > 0)\n",
                o->patience ? "patience" : "eval");
        return -1;
    }
    /* The outputs, before anything is trained: a run must not fail at its end. */
    if ((o->save && cli_check_writable("--save", o->save) != 0) ||
        (o->log && cli_check_writable("--log", o->log) != 0) ||
        (o->beta.samples_png && cli_check_writable("--samples-png", o->beta.samples_png) != 0) ||
        (o->beta.manifold_png && cli_check_writable("--manifold-png", o->beta.manifold_png) != 0))
        return -1;
    if (o->beta.manifold_png && !o->load && o->model.latent_dim != 2) {
        fprintf(stderr, "vae-train: --manifold-png needs --latent 2 (got %d)\n",
                o->model.latent_dim);
        return -1;
    }
    if (kind && !kind->hierarchical && o->model.latent_layers > 1) {
        fprintf(stderr, "vae-train: --model %s has one latent layer: give --latent one size\n",
                kind->name);
        return -1;
    }
    if (kind && kind->hierarchical && o->model.latent_layers < 2) {
        fprintf(stderr, "vae-train: --model %s needs --latent with two or more sizes\n",
                kind->name);
        return -1;
    }
    if (kind) {
        o->model.family = kind->family;
        o->model.inference = kind->inference;
    }
    if (objective == VAE_OBJ_IWAE) {
        o->model.objective = VAE_OBJ_IWAE;
        o->model.samples = o->k; /* the IWAE bound's k is the model's samples per example */
    }
    if (o->model.posterior != VAE_POST_GAUSSIAN)
        o->model.kl_mode = VAE_KL_MONTE_CARLO; /* no closed form */
    vae_optimizer_config_init(&o->opt, o->opt_type);
    if (o->lr > 0)
        o->opt.lr = o->lr;
    return 0;
}

/* A synthetic 28x28 "bars" dataset: each image lights a few random rows
 * and columns, so the program runs with no download. */
static float *make_synthetic(size_t n, size_t *d)
{
    const int side = 28;
    *d = (size_t)side * side;
    float *x = calloc(n * *d, sizeof *x);
    if (!x)
        return NULL;
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        float *img = x + i * *d;
        for (int bar = 0; bar < 3; bar++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            int pos = (int)((s >> 33) % (uint64_t)side), vertical = (int)((s >> 20) & 1);
            for (int k = 0; k < side; k++)
                img[vertical ? k * side + pos : pos * side + k] = 1.0f;
        }
    }
    return x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int load_data(const options *o, vae_dataset **all)
{
    vae_error err;
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = o->binarize;
    if (o->data) {
        int rc = cli_load_data(o->data, &o->lab, &dopt, all);
        if (rc != 0)
            return rc; /* the message names the file */
    } else {
        if (o->labels)
            return fprintf(stderr, "vae-train: --labels needs --data\n"), 2;
        size_t n = 2000, d;
        float *x = make_synthetic(n, &d);
        if (!x)
            return fail("synthetic data", "out of memory");
        int rc = vae_dataset_from_array(x, n, d, NULL, VAE_ARRAY_COPY, &dopt, all, &err);
        free(x);
        if (rc != VAE_OK)
            return fail("synthetic data", err.message);
        vae_dataset_set_shape(*all, 1, 28, 28);
    }
    if (o->shape[0] > 0 &&
        vae_dataset_set_shape(*all, o->shape[0], o->shape[1], o->shape[2]) != VAE_OK)
        return fail("--shape", vae_dataset_errmsg(*all)), 2;
    return 0;
}

#ifndef VAE_TRAIN_NO_MAIN /* vae-train-mpi.c includes this file for its flag parsing */
/* Split `all` into train = the first n - holdout rows and test = the last
 * holdout (NULL when 0), then free `all`. Subsets copy the rows with their
 * labels, conditions and binarisation; an IDX u8 file stays bytes (1 byte
 * per pixel: 7.8 MB for MNIST's 10,000 images, not 31 MB of floats), so the
 * copy costs less than a borrowed float view of the whole set would. */
static int split(vae_dataset **all, size_t holdout, vae_dataset **train, vae_dataset **test,
                 vae_error *err)
{
    size_t n = vae_dataset_count(*all);
    int rc = vae_dataset_subset(*all, 0, n - holdout, train, err);
    if (rc == VAE_OK && holdout > 0)
        rc = vae_dataset_subset(*all, n - holdout, holdout, test, err);
    vae_dataset_free(*all);
    *all = NULL;
    return rc;
}
#endif /* VAE_TRAIN_NO_MAIN */

/* --conditional: one-hot conditions from the labels (classes = largest label + 1). */
static int use_labels(options *o, vae_dataset *all)
{
    const int *lab = vae_dataset_labels(all);
    if (!lab)
        return fail("--conditional", "needs --labels PATH (and --data)");
    int classes = 0;
    for (size_t i = 0; i < vae_dataset_count(all); i++)
        if (lab[i] + 1 > classes)
            classes = lab[i] + 1;
    if (vae_dataset_set_onehot(all, classes) != VAE_OK)
        return fail("--conditional", vae_dataset_errmsg(all));
    o->model.cond_dim = classes;
    o->model.prior = o->conditional;
    return 0;
}

/* A conditional checkpoint needs its conditions: say which flag gives them
 * (the library's message would name a C function). */
static int check_loaded_conditional(const options *o, const vae_model *model)
{
    vae_model_config c;
    c.struct_size = sizeof c;
    if (vae_model_get_config(model, &c) != VAE_OK || c.cond_dim == 0 || o->conditional >= 0)
        return 0;
    char msg[200];
    snprintf(msg, sizeof msg,
             "the checkpoint is a conditional model (%d classes): add --conditional "
             "independent|learned-prior and --labels PATH",
             c.cond_dim);
    return fail("--load", msg);
}

/* --load: a note on stderr naming the architecture flags given whose value
 * the checkpoint's configuration overrides. */
static void note_overrides(const options *o, const vae_model *model)
{
    vae_model_config c;
    c.struct_size = sizeof c;
    if (!o->arch_given || vae_model_get_config(model, &c) != VAE_OK)
        return;
    const vae_model_config *u = &o->model;
    char list[256] = "";
    int differs_hidden = c.n_hidden != u->n_hidden;
    for (int i = 0; !differs_hidden && i < c.n_hidden; i++)
        differs_hidden = c.hidden[i] != u->hidden[i];
    int differs_latent = c.latent_layers != u->latent_layers || c.latent_dim != u->latent_dim;
    for (int i = 0; !differs_latent && c.latent_layers > 1 && i < c.latent_layers; i++)
        differs_latent = c.latent_sizes[i] != u->latent_sizes[i];
    struct {
        unsigned bit;
        int differs;
        const char *flag;
    } rows[] = {
        {ARCH_HIDDEN, differs_hidden, "--hidden"},
        {ARCH_LATENT, differs_latent, "--latent"},
        {ARCH_ENCODER, !c.encoder || !u->encoder || strcmp(c.encoder, u->encoder) != 0, "--encoder"},
        {ARCH_DECODER, !c.decoder || !u->decoder || strcmp(c.decoder, u->decoder) != 0, "--decoder"},
        {ARCH_MODEL, c.family != u->family || c.inference != u->inference, "--model"},
        {ARCH_LIKELIHOOD, c.likelihood != u->likelihood, "--likelihood"},
        {ARCH_POSTERIOR, c.posterior != u->posterior, "--posterior"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if ((o->arch_given & rows[i].bit) && rows[i].differs)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                     rows[i].flag);
    if (*list)
        fprintf(stderr, "%s: note: the checkpoint's architecture overrides %s\n", cli_program(),
                list);
}

/* Epochs already done by a loaded model: its schedule steps (saved in the
 * checkpoint) over the batches of one epoch of this training set. */
static int epochs_done(const vae_model *model, size_t n_train, size_t batch)
{
    vae_training_state s;
    s.struct_size = sizeof s;
    if (vae_model_training_state(model, &s) != VAE_OK)
        return 0;
    return cli_epochs_done(s.step, n_train, batch);
}

#ifndef VAE_TRAIN_NO_MAIN
static int save_model(vae_model *model, vae_optimizer *opt, const char *path)
{
    if (vae_model_save(model, opt, path) != VAE_OK)
        return fail("--save", vae_model_errmsg(model)); /* the message names the path */
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    cli_set_program("vae-train");
    if (parse_args(argc, argv, &o) != 0)
        return CLI_EXIT_USAGE;
    cli_install_signals();
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    FILE *log = NULL;
    float *best = NULL;
    vae_error err;
    int status = CLI_EXIT_FAILURE, rc;
    if ((rc = load_data(&o, &all)) != 0) {
        status = rc;
        goto out;
    }
    if (o.conditional >= 0 && use_labels(&o, all) != 0)
        goto out;
    size_t n = vae_dataset_count(all);
    size_t holdout = o.holdout < 0 ? n / 10 : (size_t)o.holdout;
    if (holdout >= n) {
        fail("--holdout", "must leave at least one training example");
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if ((o.patience || o.eval) && holdout == 0) {
        fail(o.patience ? "--patience" : "--eval", "needs a held-out set (--holdout > 0)");
        status = CLI_EXIT_USAGE;
        goto out;
    }
    size_t d = vae_dataset_dim(all);
    vae_dataset_shape(all, o.model.input_shape);
    if (split(&all, holdout, &train, &test, &err) != VAE_OK) {
        fail("split", err.message);
        goto out;
    }
    if (o.load) {
        if (vae_model_load(o.load, &model, &opt, &err) != VAE_OK) {
            fail("--load", err.message);
            goto out;
        }
        vae_model_set_threads(model, o.model.threads);
        if (check_loaded_conditional(&o, model) != 0)
            goto out;
        note_overrides(&o, model);
    } else {
        o.model.input_dim = (int)d;
        if (vae_model_create(&o.model, &model, &err) != VAE_OK) {
            fail("model", err.message);
            goto out;
        }
    }
    if (!opt && vae_optimizer_create(&o.opt, &opt, &err) != VAE_OK) {
        fail("optimizer", err.message);
        goto out;
    }
    /* The picture requests against the model's shape, before any training. */
    if (beta_check_pictures(model, &o.beta) != 0) {
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (o.eval_ll > 0) {
        vae_model_config mc;
        mc.struct_size = sizeof mc;
        if (vae_model_get_config(model, &mc) == VAE_OK && mc.family == VAE_FAMILY_AE) {
            fail("--eval-ll", "an autoencoder (--model ae) has no posterior or prior: "
                              "no log-likelihood; use a VAE");
            status = CLI_EXIT_USAGE;
            goto out;
        }
    }
    if (o.log && !(log = cli_log_open(o.log)))
        goto out;
    size_t n_params = vae_model_param_count(model);
    if (o.patience && !(best = malloc(n_params * sizeof *best))) {
        fail("--patience", "out of memory");
        goto out;
    }
    int first = o.load ? epochs_done(model, vae_dataset_count(train), (size_t)o.batch) : 0;
    int best_epoch = 0, last = first, since_best = 0, saved_at = -1;
    double best_elbo = 0.0;
    cli_progress prog;
    cli_progress_init(&prog);
    for (int e = first + 1; e <= first + o.epochs && !cli_interrupted(); e++) {
        vae_elbo_stats tr, te = {0};
        vae_training_state ts;
        ts.struct_size = sizeof ts;
        double beta = vae_model_training_state(model, &ts) == VAE_OK ? ts.beta : NAN;
        prog.epoch = e;
        double t0 = now();
        rc = vae_model_train_epoch(model, opt, train, (size_t)o.batch, cli_progress_cb, &prog, &tr);
        double dt = now() - t0;
        cli_progress_clear(&prog);
        if (rc == VAE_ERR_CANCELLED)
            break;
        if (rc != VAE_OK) {
            fail("training", vae_model_errmsg(model));
            goto out;
        }
        if (test && vae_model_evaluate(model, test, (size_t)o.batch, &te) != VAE_OK) {
            fail("evaluation", vae_model_errmsg(model));
            goto out;
        }
        last = e;
        printf("epoch %d time %.3f samples/s %.1f train_elbo %.4f test_elbo %.4f\n", e, dt,
               (double)tr.n / dt, tr.elbo, test ? te.elbo : 0.0);
        fflush(stdout);
        cli_log_row(log, e, dt, (double)tr.n / dt, tr.elbo, test ? te.elbo : NAN, tr.rec, tr.kl,
                    beta);
        if (beta_after_epoch(model, test) != 0)
            goto out;
        if (o.save_every && (e - first) % o.save_every == 0) {
            if (save_model(model, opt, o.save) != 0)
                goto out;
            cli_wrote(o.save);
            saved_at = e;
        }
        if (o.patience) {
            if (best_epoch == 0 || te.elbo > best_elbo) {
                best_epoch = e;
                best_elbo = te.elbo;
                since_best = 0;
                if (vae_model_get_params(model, best, n_params) != VAE_OK) {
                    fail("--patience", vae_model_errmsg(model));
                    goto out;
                }
            } else if (++since_best >= o.patience) {
                fprintf(stderr, "vae-train: no better held-out ELBO for %d epochs: stopping "
                                "after epoch %d\n", o.patience, e);
                break;
            }
        }
    }
    if (cli_interrupted()) {
        /* The model as it stands (a checkpoint to continue from). */
        if (o.save && save_model(model, opt, o.save) == 0)
            fprintf(stderr, "interrupted: saved %s\n", o.save);
        else
            fprintf(stderr, "interrupted\n");
        status = cli_interrupt_status();
        goto out;
    }
    if (o.patience && best_epoch > 0) {
        if (best_epoch != last)
            saved_at = -1; /* the best model differs from the one saved last */
        if (best_epoch != last && vae_model_set_params(model, best, n_params) != VAE_OK) {
            fail("--patience", vae_model_errmsg(model));
            goto out;
        }
        fprintf(stderr, "vae-train: best epoch %d test_elbo %.4f%s\n", best_epoch, best_elbo,
                best_epoch != last ? " (its parameters restored)" : "");
    }
    /* Saved before the evaluations and pictures below, so that nothing
     * after training can lose it. (Not written twice when --save-every
     * wrote this very model.) */
    if (o.save && !(saved_at == last && saved_at > first)) {
        if (save_model(model, opt, o.save) != 0)
            goto out;
        cli_wrote(o.save);
    }
    if (o.eval) {
        vae_elbo_stats te;
        if (vae_model_evaluate(model, test, (size_t)o.batch, &te) != VAE_OK) {
            fail("evaluation", vae_model_errmsg(model));
            goto out;
        }
        printf("test_elbo %.4f\n", te.elbo);
    }
    if (o.eval_ll > 0 && test) {
        /* The only float copy of data vae-train asks for: the test rows. */
        const float *x = vae_dataset_data(test);
        if (!x) {
            fail("log-likelihood", vae_dataset_errmsg(test));
            goto out;
        }
        double ll;
        rc = o.conditional >= 0
                     ? vae_model_log_likelihood_cond(model, x, vae_dataset_conditions(test),
                                                     vae_dataset_count(test), o.eval_ll, NULL, &ll)
                     : vae_model_log_likelihood(model, x, vae_dataset_count(test), o.eval_ll,
                                                NULL, &ll);
        if (rc != VAE_OK) {
            fail("log-likelihood", vae_model_errmsg(model));
            goto out;
        }
        printf("test_ll %.4f\n", ll);
    }
    if (beta_after_training(model, train, test, &o.beta) != 0)
        goto out;
    status = 0;
    if (cli_interrupted()) { /* a signal after training: the work above is done */
        fprintf(stderr, "interrupted%s%s\n", o.save ? ": saved " : "", o.save ? o.save : "");
        status = cli_interrupt_status();
    }
out:
    free(best);
    if (log) {
        fclose(log);
        cli_wrote(o.log);
    }
    vae_optimizer_free(opt);
    vae_model_free(model);
    vae_dataset_free(test);
    vae_dataset_free(train);
    vae_dataset_free(all);
    return status;
}
#endif /* VAE_TRAIN_NO_MAIN */
