/* bench-sgemm: the sgemm roofline of one VAE training step.
 *
 * Runs, over and over for a fixed wall time, exactly the matrix products
 * one libvae training step makes for a Bernoulli VAE with the given layer
 * sizes and batch (the same shapes and transpose flags as
 * src/graph/ops.c's dense op), and nothing else:
 *   forward   Y  = X W           (NN, beta = 1: the bias rows are already in Y)
 *   backward  dW = X^T dY        (TN, beta = 0), every layer
 *             dX = dY W^T        (NT, beta = 0), every layer but the first
 * (the mean and log-variance heads are two layers reading the same input;
 * the decoder mirrors the encoder). It prints
 *   sgemm threads <T> batch <B> flops/step <F> steps <S> time <s> gflops <G>
 * where F counts 2 M N K per product: the figure a training step of libvae
 * would reach if everything but cblas_sgemm took no time.
 *
 * With --team, the products run as libvae runs them (tensor/blas.c): OpenBLAS
 * at one thread, each product split over a team of T threads (the model's
 * thread team, tensor/pool.c); the line then starts with "team".
 *
 * With --conv, the products of the reference convolutional VAE instead
 * (bench/bench_conv.c; src/graph/ops_conv.c): per block of at most 8
 * examples (ceil(B/8) blocks made even, batch 100: 14 of 7 or 8), each
 * convolution's three products on its own buffers (N = block examples x
 * positions; rows [N, CKK] = the patches, one row per position),
 *   conv2d   Y = W rows^T (NT),  dW = dY rows (NN),  drows = dY^T W (TN)
 *   convT2d  rows = X^T W (TN),  dW = X drows (NN),  dX = W drows^T (NT)
 * for conv2d(32,4,2,1) on (1,28,28) (no input gradient), conv2d(64,4,2,1),
 * convT2d(32,4,2,1) on (64,7,7) and convT2d(1,4,2,1), and the dense layers
 * 3136-256, 256-20 (x2), 20-256, 256-3136 as above. With --team the blocks
 * are dealt over the team as libvae deals them (whole blocks, each product
 * single-threaded) and the dense products split as vt_gemm splits them.
 *
 * With --each, every product of the step is instead timed alone, over and
 * over on the same buffers (its operands hot in the caches: an upper bound
 * of what the step's products can reach), with OpenBLAS at T threads, one
 * line per distinct product,
 *   each <layer> <pass> <ta><tb> M N K calls/step <c> gflops <G> ms/step <t>
 * then `each total ms/step <t> gflops <G>`, and a large square product as
 * the core's reference, `square 1536 gflops <G>`.
 *
 * usage: bench-sgemm [--hidden A[,B..]] [--latent K] [--input D] [--batch B]
 *                    [--threads T] [--seconds S] [--team] [--conv] [--each]
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/blas.h"
#include "tensor/pool.h"

#if defined(VAE_HAVE_OPENBLAS)
void openblas_set_num_threads(int num_threads);
#endif

#define MAX_LAYERS 32

typedef struct layer {
    int in, out, need_dx;
    float *w, *dw, *x, *y, *dy, *dx;
} layer;

static layer make(int in, int out, int need_dx)
{
    layer l;
    memset(&l, 0, sizeof l);
    l.in = in;
    l.out = out;
    l.need_dx = need_dx;
    return l;
}

/* One convolution layer of --conv: w [R, CKK], P positions per example;
 * per block its patch rows [8P, CKK], stage [R, 8P] and dw [R, CKK]. */
#define CONV_BLOCK 8
typedef struct conv_layer {
    int R, CKK, P, transposed, need_dx, n_blocks;
    float *w, **cols, **stage, **dw;
} conv_layer;

typedef struct conv_task {
    conv_layer *l;
    int batch, pass; /* pass 0: forward, 1: backward */
    int use_vt;      /* 1: vt_gemm on one thread (libvae's way), 0: cblas_sgemm as set up */
} conv_task;

static void gemm1(int use_vt, int ta, int tb, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, float *C, int ldc)
{
    if (use_vt)
        vt_gemm(NULL, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

/* The blocks of part `part` of `parts` (ceil cuts, as vt_pool_range with align 1). */
static void conv_part(void *ctx, int part, int parts)
{
    const conv_task *t = ctx;
    const conv_layer *l = t->l;
    size_t lo, hi;
    vt_pool_range((size_t)l->n_blocks, 1, part, parts, &lo, &hi);
    for (size_t b = lo; b < hi; b++) {
        /* block b: rows [floor(b*batch/nb), floor((b+1)*batch/nb)), as ops_conv.c cuts them */
        size_t nb = (size_t)l->n_blocks, bt = (size_t)t->batch;
        int rows = (int)((b + 1) * bt / nb - b * bt / nb);
        int N = rows * l->P, R = l->R, K = l->CKK, v = t->use_vt;
        float *cols = l->cols[b], *stage = l->stage[b], *dw = l->dw[b];
        if (t->pass == 0) {
            if (!l->transposed)
                gemm1(v, 0, 1, R, N, K, l->w, K, cols, K, stage, N);
            else
                gemm1(v, 1, 0, N, K, R, stage, N, l->w, K, cols, K);
            continue;
        }
        gemm1(v, 0, 0, R, K, N, stage, N, cols, K, dw, K);
        if (!l->need_dx)
            continue;
        if (!l->transposed)
            gemm1(v, 1, 0, N, K, R, stage, N, l->w, K, cols, K);
        else
            gemm1(v, 0, 1, R, N, K, l->w, K, cols, K, stage, N);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *filled(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* --each: one distinct product of the step, and how often a step makes it. */
typedef struct product {
    char layer[16];
    const char *pass;
    int ta, tb, M, N, K, calls;
    float beta;
} product;

#define MAX_PRODUCTS 128

static void add_product(product *list, int *n, const char *name, const char *pass, int ta,
                        int tb, int M, int N, int K, float beta)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(list[i].layer, name) == 0 && list[i].pass == pass && list[i].M == M &&
            list[i].N == N && list[i].K == K) {
            list[i].calls++;
            return;
        }
    if (*n == MAX_PRODUCTS)
        return;
    product *p = &list[(*n)++];
    snprintf(p->layer, sizeof p->layer, "%s", name);
    p->pass = pass;
    p->ta = ta, p->tb = tb, p->M = M, p->N = N, p->K = K, p->beta = beta, p->calls = 1;
}

/* Seconds per call of C = op(A) op(B) (+ C), run for about `seconds`. */
static double time_product(const product *p, double seconds)
{
    size_t na = (size_t)p->M * p->K, nb = (size_t)p->K * p->N, nc = (size_t)p->M * p->N;
    float *A = filled(na), *B = filled(nb), *C = filled(nc);
    double per = -1;
    if (A && B && C) {
        int lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
        long calls = 0;
        double t0 = now(), dt = 0;
        for (int warm = 2; dt < seconds; calls += warm ? 0 : 1, warm -= warm ? 1 : 0) {
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans,
                        p->tb ? CblasTrans : CblasNoTrans, p->M, p->N, p->K, 1.0f, A, lda, B, ldb,
                        p->beta, C, p->N);
            if (warm == 1)
                t0 = now();
            dt = warm ? 0 : now() - t0;
        }
        per = dt / (double)calls;
    }
    free(A);
    free(B);
    free(C);
    return per;
}

/* Every product in the list alone, then the square reference. 0, or 1 on no memory. */
static int run_each(const product *list, int n, double seconds)
{
    double total = 0, flops = 0, slice = seconds / (n + 1);
    if (slice < 0.1)
        slice = 0.1;
    for (int i = 0; i < n; i++) {
        const product *p = &list[i];
        double t = time_product(p, slice), f = 2.0 * p->M * p->N * p->K;
        if (t < 0)
            return 1;
        total += t * p->calls;
        flops += f * p->calls;
        printf("each %-10s %-8s %c%c M %5d N %5d K %5d calls/step %2d gflops %6.1f ms/step %.3f\n",
               p->layer, p->pass, p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', p->M, p->N, p->K,
               p->calls, f / t * 1e-9, t * p->calls * 1e3);
    }
    printf("each total ms/step %.3f gflops %.2f\n", total * 1e3, flops / total * 1e-9);
    product sq = {"square", "", 0, 0, 1536, 1536, 1536, 1, 0.0f};
    double t = time_product(&sq, slice < 0.5 ? 0.5 : slice);
    if (t < 0)
        return 1;
    printf("square 1536 gflops %.1f\n", 2.0 * 1536 * 1536 * 1536 / t * 1e-9);
    return 0;
}

/* The products of one step, as the loop in main makes them. */
static int list_products(product *list, const conv_layer *CL, int n_conv, const layer *L, int n,
                         int batch)
{
    int np = 0;
    char name[16];
    for (int k = 0; k < n_conv; k++) {
        const conv_layer *c = &CL[k];
        snprintf(name, sizeof name, "%s%d", c->transposed ? "convT" : "conv", k + 1);
        for (int b = 0; b < c->n_blocks; b++) {
            size_t nb = (size_t)c->n_blocks, bt = (size_t)batch;
            int N = (int)((b + 1) * bt / nb - b * bt / nb) * c->P, R = c->R, K = c->CKK;
            if (!c->transposed)
                add_product(list, &np, name, "forward", 0, 1, R, N, K, 0.0f);
            else
                add_product(list, &np, name, "forward", 1, 0, N, K, R, 0.0f);
            add_product(list, &np, name, "dW", 0, 0, R, K, N, 0.0f);
            if (c->need_dx && !c->transposed)
                add_product(list, &np, name, "dX", 1, 0, N, K, R, 0.0f);
            else if (c->need_dx)
                add_product(list, &np, name, "dX", 0, 1, R, N, K, 0.0f);
        }
    }
    for (int k = 0; k < n; k++) {
        const layer *l = &L[k];
        snprintf(name, sizeof name, "%d-%d", l->in, l->out);
        add_product(list, &np, name, "forward", 0, 0, batch, l->out, l->in, 1.0f);
        add_product(list, &np, name, "dW", 1, 0, l->in, l->out, batch, 0.0f);
        if (l->need_dx)
            add_product(list, &np, name, "dX", 0, 1, batch, l->in, l->out, 0.0f);
    }
    return np;
}

int main(int argc, char **argv)
{
    int hidden[MAX_LAYERS], n_hidden = 1, latent = 20, input = 784, batch = 100, threads = 1;
    double seconds = 2;
    int team = 0, conv = 0, each = 0;
    hidden[0] = 400;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hidden") == 0 && i + 1 < argc) {
            n_hidden = 0;
            for (char *tok = strtok(argv[++i], ","); tok && n_hidden < 8; tok = strtok(NULL, ","))
                hidden[n_hidden++] = atoi(tok);
        } else if (strcmp(argv[i], "--latent") == 0 && i + 1 < argc)
            latent = atoi(argv[++i]);
        else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
            input = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--team") == 0)
            team = 1;
        else if (strcmp(argv[i], "--conv") == 0)
            conv = 1;
        else if (strcmp(argv[i], "--each") == 0)
            each = 1;
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-sgemm [--hidden A[,B..]] [--latent K] [--input D] "
                            "[--batch B] [--threads T] [--team] [--seconds S] [--conv] [--each]\n");
            return 2;
        }
    }
    if (batch < 1 || latent < 1 || input < 1 || threads < 1 || !(seconds > 0)) {
        fprintf(stderr, "bench-sgemm: bad arguments\n");
        return 2;
    }
    /* The layers in the order of the forward pass. */
    layer L[MAX_LAYERS];
    int n = 0, prev = input;
    conv_layer CL[4] = {{32, 16, 196, 0, 0, 0, 0, 0, 0, 0}, {64, 512, 49, 0, 1, 0, 0, 0, 0, 0},
                        {64, 512, 49, 1, 1, 0, 0, 0, 0, 0}, {32, 16, 196, 1, 1, 0, 0, 0, 0, 0}};
    int n_conv = 0;
    double flops = 0;
    if (conv) {
        /* the dense layers between the convolutions: 3136-256, heads, 20-256, 256-3136 */
        n_hidden = 1;
        hidden[0] = 256;
        input = 3136;
        prev = input;
        n_conv = 4;
        int nb = (batch + CONV_BLOCK - 1) / CONV_BLOCK;
        nb += nb % 2 && nb < batch; /* even, as src/graph/ops_conv.c n_blocks */
        for (int k = 0; k < n_conv; k++) {
            conv_layer *c = &CL[k];
            size_t P8 = (size_t)c->P * CONV_BLOCK;
            c->n_blocks = nb;
            c->w = filled((size_t)c->R * c->CKK);
            c->cols = calloc((size_t)nb, sizeof(float *));
            c->stage = calloc((size_t)nb, sizeof(float *));
            c->dw = calloc((size_t)nb, sizeof(float *));
            for (int b = 0; c->cols && c->stage && c->dw && b < nb; b++) {
                c->cols[b] = filled((size_t)c->CKK * P8);
                c->stage[b] = filled((size_t)c->R * P8);
                c->dw[b] = filled((size_t)c->R * c->CKK);
            }
            flops += 2.0 * batch * c->R * c->CKK * c->P * (2 + c->need_dx);
        }
    }
    for (int k = 0; k < n_hidden; k++, n++) {
        L[n] = make(prev, hidden[k], k > 0);
        prev = hidden[k];
    }
    L[n++] = make(prev, latent, 1); /* mean head */
    L[n++] = make(prev, latent, 1); /* log-variance head */
    prev = latent;
    for (int k = n_hidden - 1; k >= 0; k--, n++) {
        L[n] = make(prev, hidden[k], 1);
        prev = hidden[k];
    }
    L[n++] = make(prev, input, 1);
    for (int k = 0; k < n; k++) {
        layer *l = &L[k];
        size_t b = (size_t)batch;
        l->w = filled((size_t)l->in * l->out);
        l->dw = filled((size_t)l->in * l->out);
        l->x = filled(b * l->in);
        if (conv && k == 0)
            l->need_dx = 1; /* 3136-256 is not the first layer of the conv model */
        l->dx = filled(b * l->in);
        l->y = filled(b * l->out);
        l->dy = filled(b * l->out);
        if (!l->w || !l->dw || !l->x || !l->dx || !l->y || !l->dy) {
            fprintf(stderr, "bench-sgemm: out of memory\n");
            return 1;
        }
        flops += 2.0 * batch * l->in * l->out * (2 + l->need_dx);
    }
    if (each) {
#if defined(VAE_HAVE_OPENBLAS)
        openblas_set_num_threads(threads);
#endif
        product list[MAX_PRODUCTS];
        int rc = run_each(list, list_products(list, CL, n_conv, L, n, batch), seconds);
        if (rc)
            fprintf(stderr, "bench-sgemm: out of memory\n");
        return rc;
    }
    vt_pool *pool = NULL;
    if (team) {
        pool = threads > 1 ? vt_pool_new(threads) : NULL; /* vt_gemm keeps OpenBLAS at 1 */
        if (threads > 1 && !pool) {
            fprintf(stderr, "bench-sgemm: cannot start %d threads\n", threads);
            return 1;
        }
    } else {
#if defined(VAE_HAVE_OPENBLAS)
        openblas_set_num_threads(threads);
#endif
    }
    long steps = 0;
    double t0 = now(), dt = 0;
    for (int warm = 3; dt < seconds; steps += warm ? 0 : 1, warm -= warm ? 1 : 0) {
        for (int k = 0; k < n_conv / 2; k++) { /* the encoder's convolutions */
            conv_task ct = {&CL[k], batch, 0, team};
            vt_pool_run(team ? pool : NULL, conv_part, &ct);
        }
        for (int k = 0; k < n; k++) {
            layer *l = &L[k];
            if (team)
                vt_gemm(pool, 0, 0, batch, l->out, l->in, 1.0f, l->x, l->in, l->w, l->out, 1.0f,
                        l->y, l->out);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, l->out, l->in, 1.0f,
                            l->x, l->in, l->w, l->out, 1.0f, l->y, l->out);
        }
        for (int k = n_conv / 2; k < n_conv; k++) { /* the decoder's */
            conv_task ct = {&CL[k], batch, 0, team};
            vt_pool_run(team ? pool : NULL, conv_part, &ct);
        }
        for (int k = n_conv - 1; k >= n_conv / 2; k--) {
            conv_task ct = {&CL[k], batch, 1, team};
            vt_pool_run(team ? pool : NULL, conv_part, &ct);
        }
        for (int k = n - 1; k >= 0; k--) {
            layer *l = &L[k];
            if (team) {
                vt_gemm(pool, 1, 0, l->in, l->out, batch, 1.0f, l->x, l->in, l->dy, l->out, 0.0f,
                        l->dw, l->out);
                if (l->need_dx)
                    vt_gemm(pool, 0, 1, batch, l->in, l->out, 1.0f, l->dy, l->out, l->w, l->out,
                            0.0f, l->dx, l->in);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->in, l->out, batch, 1.0f,
                        l->x, l->in, l->dy, l->out, 0.0f, l->dw, l->out);
            if (l->need_dx)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, l->in, l->out, 1.0f,
                            l->dy, l->out, l->w, l->out, 0.0f, l->dx, l->in);
        }
        for (int k = n_conv / 2 - 1; k >= 0; k--) {
            conv_task ct = {&CL[k], batch, 1, team};
            vt_pool_run(team ? pool : NULL, conv_part, &ct);
        }
        if (warm == 1)
            t0 = now();
        dt = warm ? 0 : now() - t0;
    }
    vt_pool_free(pool);
    printf("%s threads %d batch %d flops/step %.0f steps %ld time %.3f gflops %.2f product %s\n",
           team ? "team" : "sgemm", threads, batch, flops, steps, dt, flops * steps / dt * 1e-9,
           team ? vt_gemm_kernel_name() : "cblas_sgemm");
    for (int k = 0; k < n; k++) {
        free(L[k].w); free(L[k].dw); free(L[k].x); free(L[k].dx); free(L[k].y); free(L[k].dy);
    }
    return 0;
}
