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
 * usage: bench-sgemm [--hidden A[,B..]] [--latent K] [--input D] [--batch B]
 *                    [--threads T] [--seconds S]
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

int main(int argc, char **argv)
{
    int hidden[MAX_LAYERS], n_hidden = 1, latent = 20, input = 784, batch = 100, threads = 1;
    double seconds = 2;
    int team = 0;
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
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-sgemm [--hidden A[,B..]] [--latent K] [--input D] "
                            "[--batch B] [--threads T] [--team] [--seconds S]\n");
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
    double flops = 0;
    for (int k = 0; k < n; k++) {
        layer *l = &L[k];
        size_t b = (size_t)batch;
        l->w = filled((size_t)l->in * l->out);
        l->dw = filled((size_t)l->in * l->out);
        l->x = filled(b * l->in);
        l->dx = filled(b * l->in);
        l->y = filled(b * l->out);
        l->dy = filled(b * l->out);
        if (!l->w || !l->dw || !l->x || !l->dx || !l->y || !l->dy) {
            fprintf(stderr, "bench-sgemm: out of memory\n");
            return 1;
        }
        flops += 2.0 * batch * l->in * l->out * (2 + l->need_dx);
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
        for (int k = 0; k < n; k++) {
            layer *l = &L[k];
            if (team)
                vt_gemm(pool, 0, 0, batch, l->out, l->in, 1.0f, l->x, l->in, l->w, l->out, 1.0f,
                        l->y, l->out);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, l->out, l->in, 1.0f,
                            l->x, l->in, l->w, l->out, 1.0f, l->y, l->out);
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
        if (warm == 1)
            t0 = now();
        dt = warm ? 0 : now() - t0;
    }
    vt_pool_free(pool);
    printf("%s threads %d batch %d flops/step %.0f steps %ld time %.3f gflops %.2f\n", team ? "team" : "sgemm", threads,
           batch, flops, steps, dt, flops * steps / dt * 1e-9);
    for (int k = 0; k < n; k++) {
        free(L[k].w); free(L[k].dw); free(L[k].x); free(L[k].dx); free(L[k].y); free(L[k].dy);
    }
    return 0;
}
