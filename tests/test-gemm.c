/* libvae's own AVX-512 sgemm (src/tensor/sgemm.h) against two oracles:
 *   - a double-precision triple loop, to the error bound of a K-term float
 *     sum (every transpose case, shapes across the tile, K-block and row-block
 *     edges, alpha and beta, leading dimensions wider than the matrix);
 *   - a scalar loop computing the order sgemm.h documents (K blocks of
 *     VT_SGEMM_KC, fmaf from 0, then C = beta C + alpha s): bit for bit, so a
 *     kernel summing in another order fails (and a product cut into blocks of
 *     rows or columns gives the unsplit product's bits, checked too).
 * Plus BLAS semantics (beta == 0 does not read C, alpha == 0 and K == 0 do
 * not read A or B, NaN in A reaches its row), concurrent calls from several
 * threads (one work space each, freed at thread exit: the ASan run's leak
 * check), a thread whose work space cannot be allocated (the unpacked
 * loops, same bits), and which product vt_gemm runs (VAE_GEMM).
 * On a CPU without AVX-512F the product is not available: every case
 * checks that it refuses (-1, C untouched) and the suite reports a skip. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/blas.h"
#include "tensor/sgemm.h"
#include "testutil.h"

/* A reproducible value in [-1, 1) (a 32-bit LCG; no libc rand state). */
static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((int32_t)(*s >> 8) - (1 << 23)) / (float)(1 << 23);
}

typedef struct prod {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C, *C0; /* C0: C before the product */
} prod;

/* op(X)[r][c] */
static float at(const float *X, int t, int ld, int r, int c)
{
    return t ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c];
}

static prod make(int ta, int tb, int M, int N, int K, float alpha, float beta, uint32_t seed)
{
    prod p = {ta, tb, M, N, K, (ta ? M : K) + 3, (tb ? K : N) + 1, N + 5, alpha, beta,
              NULL, NULL, NULL, NULL};
    size_t na = (size_t)(ta ? K : M) * p.lda, nb = (size_t)(tb ? N : K) * p.ldb;
    size_t nc = (size_t)M * p.ldc;
    p.A = malloc((na + 1) * sizeof(float));
    p.B = malloc((nb + 1) * sizeof(float));
    p.C = malloc((nc + 1) * sizeof(float));
    p.C0 = malloc((nc + 1) * sizeof(float));
    ck_assert(p.A && p.B && p.C && p.C0);
    for (size_t i = 0; i < na; i++)
        p.A[i] = lcg(&seed);
    for (size_t i = 0; i < nb; i++)
        p.B[i] = lcg(&seed);
    for (size_t i = 0; i < nc; i++)
        p.C[i] = p.C0[i] = lcg(&seed);
    return p;
}

static void drop(prod *p)
{
    free(p->A);
    free(p->B);
    free(p->C);
    free(p->C0);
}

static int run(prod *p)
{
    return vt_sgemm_avx512(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb,
                           p->beta, p->C, p->ldc);
}

/* vt_sgemm_ordered on C as it was before the product. */
static void run_ordered(prod *p)
{
    memcpy(p->C, p->C0, (size_t)p->M * p->ldc * sizeof(float));
    vt_sgemm_ordered(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb,
                     p->beta, p->C, p->ldc);
}

/* Without AVX-512F: the call refuses and leaves C as it was; returns 1 so
 * the case stops (and records the skip). */
static int unavailable(const char *test)
{
    if (vt_sgemm_avx512_available())
        return 0;
    prod p = make(0, 0, 3, 3, 3, 1.0f, 0.0f, 1);
    ck_assert_int_eq(run(&p), -1);
    ck_assert(memcmp(p.C, p.C0, (size_t)p.M * p.ldc * sizeof(float)) == 0);
    drop(&p);
    tu_skip(test, "the CPU has no AVX-512F: the product refuses (checked)");
    return 1;
}

/* |C - exact| within the float error bound of the sum, elementwise:
 * gamma(K + 2) (|alpha| sum_k |a b| + |beta C0|), gamma(n) = n u / (1 - n u);
 * the columns past N (ldc > N) untouched. */
static void check_direct(const prod *p)
{
    const double u = ldexp(1.0, -24), g = (p->K + 2) * u / (1.0 - (p->K + 2) * u);
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->ldc; j++) {
            size_t ij = (size_t)i * p->ldc + j;
            if (j >= p->N) {
                ck_assert_msg(memcmp(&p->C[ij], &p->C0[ij], sizeof(float)) == 0,
                              "C[%d][%d] past N written", i, j);
                continue;
            }
            double s = 0, mag = 0;
            for (int k = 0; k < p->K; k++) {
                double t = (double)at(p->A, p->ta, p->lda, i, k) * at(p->B, p->tb, p->ldb, k, j);
                s += t;
                mag += fabs(t);
            }
            double c0 = p->beta == 0.0f ? 0.0 : (double)p->beta * p->C0[ij];
            double exact = (double)p->alpha * s + c0;
            double bound = g * (fabs(p->alpha) * mag + fabs(c0)) + 1e-38;
            ck_assert_msg(fabs(p->C[ij] - exact) <= bound,
                          "%d%d %dx%dx%d C[%d][%d] = %.9g, exact %.9g, bound %.3g", p->ta, p->tb,
                          p->M, p->N, p->K, i, j, (double)p->C[ij], exact, bound);
        }
}

START_TEST(test_matches_direct_loops)
{
    if (unavailable("test_matches_direct_loops"))
        return;
    /* Around the register tile (12 x 32), the K block (256) and 1, every
     * combination; then a few that cross the row block (240) and two K
     * blocks as well. */
    static const int sizes[] = {1, 5, 11, 12, 13, 31, 32, 33, 64, 257};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    static const int large[][3] = {{241, 33, 257}, {13, 257, 530}, {250, 70, 513}};
    static const float alphas[] = {1.0f, -0.5f, 3.0f}, betas[] = {0.0f, 1.0f, 0.7f};
    uint32_t seed = 7;
    int runs = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int a = 0; a < ns; a++)
                for (int b = 0; b < ns; b++)
                    for (int c = 0; c < ns; c += 2) {
                        int M = sizes[a], N = sizes[b], K = sizes[(c + a) % ns];
                        if ((double)M * N * K > 1.5e5)
                            continue;
                        prod p = make(ta, tb, M, N, K, alphas[(a + c) % 3], betas[(b + c) % 3],
                                      seed++);
                        ck_assert_int_eq(run(&p), 0);
                        check_direct(&p);
                        drop(&p);
                        runs++;
                    }
            for (size_t l = 0; l < sizeof large / sizeof large[0]; l++) {
                prod p = make(ta, tb, large[l][0], large[l][1], large[l][2], alphas[l],
                              betas[(l + 1) % 3], seed++);
                ck_assert_int_eq(run(&p), 0);
                check_direct(&p);
                drop(&p);
            }
        }
    ck_assert_int_gt(runs, 300);
}
END_TEST

/* The documented order in scalar code: bit for bit. */
static void check_order(const prod *p)
{
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->N; j++) {
            size_t ij = (size_t)i * p->ldc + j;
            float c = p->C0[ij];
            for (int k0 = 0; k0 < p->K; k0 += VT_SGEMM_KC) {
                float s = 0.0f;
                for (int k = k0; k < p->K && k < k0 + VT_SGEMM_KC; k++)
                    s = fmaf(at(p->A, p->ta, p->lda, i, k), at(p->B, p->tb, p->ldb, k, j), s);
                if (k0 == 0)
                    c = p->beta == 0.0f ? p->alpha * s : fmaf(p->beta, c, p->alpha * s);
                else
                    c = c + p->alpha * s;
            }
            ck_assert_msg(memcmp(&c, &p->C[ij], sizeof c) == 0,
                          "%d%d %dx%dx%d C[%d][%d] = %a, documented order %a", p->ta, p->tb, p->M,
                          p->N, p->K, i, j, (double)p->C[ij], (double)c);
        }
}

START_TEST(test_documented_order)
{
    /* Without AVX-512F the packed product refuses (checked, a skip
     * recorded); the unpacked loops are plain C and are checked anyway. */
    int packed = !unavailable("test_documented_order");
    /* Every tile the product picks for C's edge (4, 8, 12 rows x 16, 32
     * columns): 13 = 12 + 1, 20 = 12 + 8, 100 = 8 x 12 + 4; 33 = 32 + 1,
     * 48 = 32 + 16, 400 = 12 x 32 + 16 (the MLP's hidden layer). */
    static const int shapes[][3] = {{13, 33, 257}, {25, 70, 600}, {1, 1, 1}, {240, 64, 512},
                                    {7, 17, 256}, {20, 48, 300}, {100, 400, 20}};
    static const float ab[][2] = {{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, 0.7f}};
    uint32_t seed = 11;
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int k = 0; k < 3; k++) {
                prod p = make(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], ab[k][0],
                              ab[k][1], seed++);
                if (packed) {
                    ck_assert_int_eq(run(&p), 0);
                    check_order(&p);
                }
                /* The unpacked loops (the no-space path): the same bits. */
                run_ordered(&p);
                check_order(&p);
                drop(&p);
            }
}
END_TEST

/* A block of rows [r0, r1) x columns [c0, c1) of the product, on its own. */
static void run_block(const prod *p, float *C, int r0, int r1, int c0, int c1)
{
    const float *A = p->ta ? p->A + r0 : p->A + (size_t)r0 * p->lda;
    const float *B = p->tb ? p->B + (size_t)c0 * p->ldb : p->B + c0;
    ck_assert_int_eq(vt_sgemm_avx512(p->ta, p->tb, r1 - r0, c1 - c0, p->K, p->alpha, A, p->lda,
                                     B, p->ldb, p->beta, C + (size_t)r0 * p->ldc + c0, p->ldc),
                     0);
}

START_TEST(test_blocks_same_bits)
{
    if (unavailable("test_blocks_same_bits"))
        return;
    for (int t = 0; t < 4; t++) {
        prod p = make(t & 1, t >> 1, 251, 77, 530, 1.0f, t == 3 ? 0.5f : 0.0f, 100 + t);
        size_t nc = (size_t)p.M * p.ldc;
        float *parts = malloc(nc * sizeof(float));
        ck_assert_ptr_nonnull(parts);
        memcpy(parts, p.C0, nc * sizeof(float));
        ck_assert_int_eq(run(&p), 0);
        /* Cuts at no multiple of the tile: 3 x 3 blocks. */
        static const int rc[] = {0, 5, 130, 251}, cc[] = {0, 19, 40, 77};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                run_block(&p, parts, rc[i], rc[i + 1], cc[j], cc[j + 1]);
        ck_assert(memcmp(parts, p.C, nc * sizeof(float)) == 0);
        free(parts);
        drop(&p);
    }
}
END_TEST

/* The documented cost of n rows or columns of C: full tiles 1, a partial
 * one its share (sgemm.h). */
static double cut_cost(int rows, size_t n)
{
    size_t T = rows ? 12 : 32, full = n / T, rem = n % T;
    double share = rem == 0 ? 0.0
                   : rows   ? (rem <= 4 ? 0.4 : rem <= 8 ? 0.7 : 1.0)
                            : (rem <= 16 ? 0.55 : 1.0);
    return (double)full + share;
}

/* vt_sgemm_avx512_cut: parts in order that cover [0, n) once, each starting
 * on a tile's edge; two parts as even as any cut on the tiles' edges can
 * make them (brute force over every such cut); more parts within a tile of
 * the even share. */
START_TEST(test_cut_balanced)
{
    size_t lo, hi;
    /* The MLP's shapes (docs/performance.md, round eight). */
    vt_sgemm_avx512_cut(0, 400, 0, 2, &lo, &hi);
    ck_assert(lo == 0 && hi == 192);
    vt_sgemm_avx512_cut(1, 784, 1, 2, &lo, &hi);
    ck_assert(lo == 396 && hi == 784);
    vt_sgemm_avx512_cut(1, 100, 0, 2, &lo, &hi);
    ck_assert(lo == 0 && hi == 48);
    for (int rows = 0; rows < 2; rows++) {
        size_t T = rows ? 12 : 32;
        for (size_t n = 0; n <= 1000; n++)
            for (int parts = 1; parts <= 8; parts++) {
                size_t next = 0;
                double worst = 0.0;
                for (int i = 0; i < parts; i++) {
                    vt_sgemm_avx512_cut(rows, n, i, parts, &lo, &hi);
                    ck_assert_msg(lo == next && hi >= lo && hi <= n,
                                  "rows %d n %zu part %d/%d: [%zu, %zu) after %zu", rows, n, i,
                                  parts, lo, hi, next);
                    ck_assert_msg(lo % T == 0 || lo == n, "rows %d n %zu part %d/%d starts at %zu",
                                  rows, n, i, parts, lo);
                    next = hi;
                    double c = cut_cost(rows, hi - lo);
                    worst = c > worst ? c : worst;
                }
                ck_assert_msg(next == n, "rows %d n %zu parts %d end at %zu", rows, n, parts, next);
                ck_assert_msg(worst <= cut_cost(rows, n) / parts + 1.0 + 1e-9,
                              "rows %d n %zu parts %d: a part costs %g", rows, n, parts, worst);
                if (parts != 2)
                    continue;
                double best = cut_cost(rows, n);
                for (size_t c = 0; c <= n; c += T) {
                    double a = cut_cost(rows, c), b = cut_cost(rows, n - c);
                    best = (a > b ? a : b) < best ? (a > b ? a : b) : best;
                }
                ck_assert_msg(worst <= best + 1e-9, "rows %d n %zu: worst part %g, best cut %g",
                              rows, n, worst, best);
            }
    }
}
END_TEST

/* vt_sgemm_avx512_part: the parts' rectangles cover C exactly once; a
 * column split that ends in a narrow strip cuts that strip by rows so the
 * parts cost about the same (within one full strip of the even share; the
 * MLP's 100 x 400 within one tile, where whole strips alone were 2.3 tiles
 * over). Cost of a rectangle: its rows' cost times its columns' cost, in
 * full 12 x 32 tiles (cut_cost). */
static double rect_cost(const vt_rect *r)
{
    return cut_cost(1, r->r1 - r->r0) * cut_cost(0, r->c1 - r->c0);
}

START_TEST(test_part_rects)
{
    vt_rect r[2];
    /* The MLP's hidden layer at batch 100, two parts. */
    ck_assert_int_eq(vt_sgemm_avx512_part(0, 100, 400, 0, 2, r), 2);
    ck_assert(r[0].r0 == 0 && r[0].r1 == 100 && r[0].c0 == 0 && r[0].c1 == 192);
    ck_assert(r[1].r0 == 0 && r[1].r1 == 48 && r[1].c0 == 384 && r[1].c1 == 400);
    ck_assert_int_eq(vt_sgemm_avx512_part(0, 100, 400, 1, 2, r), 2);
    ck_assert(r[0].r0 == 0 && r[0].r1 == 100 && r[0].c0 == 192 && r[0].c1 == 384);
    ck_assert(r[1].r0 == 48 && r[1].r1 == 100 && r[1].c0 == 384 && r[1].c1 == 400);
    double whole = cut_cost(1, 100) * cut_cost(0, 400);
    for (int i = 0; i < 2; i++) {
        int n = vt_sgemm_avx512_part(0, 100, 400, i, 2, r);
        double c = 0.0;
        for (int k = 0; k < n; k++)
            c += rect_cost(&r[k]);
        ck_assert_msg(c <= whole / 2 + 1.0, "part %d costs %g of %g", i, c, whole);
    }
    static const size_t Ms[] = {1, 5, 12, 13, 50, 100, 241}, Ns[] = {1, 8, 16, 17, 31, 32, 33, 48,
                                                                    49, 100, 208, 400, 784};
    unsigned char *seen = malloc(241 * 784);
    ck_assert_ptr_nonnull(seen);
    for (int by_rows = 0; by_rows < 2; by_rows++)
        for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
            for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++)
                for (int parts = 1; parts <= 5; parts++) {
                    size_t M = Ms[a], N = Ns[b];
                    memset(seen, 0, M * N);
                    double worst = 0.0;
                    for (int i = 0; i < parts; i++) {
                        int n = vt_sgemm_avx512_part(by_rows, M, N, i, parts, r);
                        ck_assert(n >= 0 && n <= 2);
                        double c = 0.0;
                        for (int k = 0; k < n; k++) {
                            ck_assert(r[k].r0 < r[k].r1 && r[k].r1 <= M);
                            ck_assert(r[k].c0 < r[k].c1 && r[k].c1 <= N);
                            for (size_t y = r[k].r0; y < r[k].r1; y++)
                                for (size_t x = r[k].c0; x < r[k].c1; x++)
                                    seen[y * N + x]++;
                            c += rect_cost(&r[k]);
                        }
                        worst = c > worst ? c : worst;
                    }
                    size_t e = 0; /* one check per split (Check reports every one) */
                    while (e < M * N && seen[e] == 1)
                        e++;
                    ck_assert_msg(e == M * N, "%s %zux%zu, %d parts: C[%zu][%zu] in %d parts",
                                  by_rows ? "rows" : "columns", M, N, parts, e / N, e % N,
                                  e < M * N ? seen[e] : 1);
                    if (!by_rows && N % 32 != 0 && N % 32 <= 16)
                        ck_assert_msg(worst <= cut_cost(1, M) * cut_cost(0, N) / parts +
                                                   cut_cost(1, M) + 1e-9,
                                      "%zux%zu, %d parts: a part costs %g", M, N, parts, worst);
                }
    free(seen);
}
END_TEST

START_TEST(test_blas_semantics)
{
    if (unavailable("test_blas_semantics"))
        return;
    /* beta == 0: C is overwritten, not read (NaN there does not matter). */
    prod p = make(0, 0, 20, 40, 30, 1.0f, 0.0f, 5);
    for (size_t i = 0; i < (size_t)p.M * p.ldc; i++)
        p.C[i] = p.C0[i] = NAN;
    ck_assert_int_eq(run(&p), 0);
    for (int i = 0; i < p.M; i++)
        for (int j = 0; j < p.N; j++)
            ck_assert(isfinite(p.C[(size_t)i * p.ldc + j]));
    drop(&p);

    /* alpha == 0 and K == 0: C = beta C; A and B not read (NaN there). */
    for (int k = 0; k < 2; k++) {
        p = make(1, 0, 9, 35, k ? 0 : 12, k ? 1.0f : 0.0f, 0.5f, 6);
        if (!k) {
            p.A[0] = NAN;
            p.B[1] = NAN;
        }
        ck_assert_int_eq(run(&p), 0);
        for (int i = 0; i < p.M; i++)
            for (int j = 0; j < p.N; j++) {
                size_t ij = (size_t)i * p.ldc + j;
                ck_assert(p.C[ij] == 0.5f * p.C0[ij]);
            }
        drop(&p);
    }

    /* NaN and infinity in A reach exactly their rows of C. */
    p = make(0, 1, 30, 50, 300, 1.0f, 0.0f, 8);
    p.A[(size_t)4 * p.lda + 299] = NAN;
    p.A[(size_t)17 * p.lda + 3] = INFINITY;
    ck_assert_int_eq(run(&p), 0);
    for (int i = 0; i < p.M; i++)
        for (int j = 0; j < p.N; j++) {
            float c = p.C[(size_t)i * p.ldc + j];
            if (i == 4)
                ck_assert(isnan(c));
            else if (i == 17)
                ck_assert(!isfinite(c));
            else
                ck_assert(isfinite(c));
        }
    drop(&p);

    /* M or N zero: nothing is touched. */
    p = make(0, 0, 4, 4, 4, 1.0f, 0.0f, 9);
    ck_assert_int_eq(vt_sgemm_avx512(0, 0, 0, 4, 4, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, p.C, p.ldc),
                     0);
    ck_assert_int_eq(vt_sgemm_avx512(0, 0, 4, 0, 4, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, p.C, p.ldc),
                     0);
    ck_assert(memcmp(p.C, p.C0, (size_t)p.M * p.ldc * sizeof(float)) == 0);
    drop(&p);
}
END_TEST

/* Several threads at once, each its own product (and work space), each
 * checked against the documented order; the threads exit (their spaces are
 * freed then: ASan's leak check in CI sees a leak otherwise). */
/* Four products made by `make` (0..3), each checked against the
 * documented order; (void *)1 when one is refused. */
typedef prod (*prod_maker)(int id, int r);
typedef struct product_run {
    prod_maker make;
    int id;
} product_run;

static void *run_products(void *arg)
{
    const product_run *pr = arg;
    for (int r = 0; r < 4; r++) {
        prod p = pr->make(pr->id, r);
        if (run(&p) != 0) {
            drop(&p);
            return (void *)1;
        }
        check_order(&p);
        drop(&p);
    }
    return NULL;
}

static prod thread_product(int id, int r)
{
    return make(id & 1, (id >> 1) & 1, 37 + 11 * id, 45 + r, 300 + 7 * r, 1.0f, 0.0f,
                (uint32_t)(1000 * id + r));
}

START_TEST(test_threads)
{
    if (unavailable("test_threads"))
        return;
    pthread_t t[4];
    product_run pr[4];
    for (int i = 0; i < 4; i++) {
        pr[i] = (product_run){thread_product, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_products, &pr[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(t[i], &ret), 0);
        ck_assert_ptr_null(ret);
    }
}
END_TEST

#if !TU_SANITIZED
extern void *__libc_memalign(size_t, size_t);

/* While set, aligned_alloc fails: the work space of a thread's first
 * product cannot be allocated. The library is linked statically into this
 * executable, so its calls reach this definition. */
static _Atomic int refuse_aligned_alloc;
static _Atomic int refused;

void *aligned_alloc(size_t align, size_t n)
{
    if (refuse_aligned_alloc) {
        refused++;
        return NULL;
    }
    return __libc_memalign(align, n);
}

/* A thread whose work space cannot be allocated: each product runs
 * unpacked, returns 0 and gives the documented bits; once the allocator
 * works again, the next product gets its space and the same bits. */
static prod no_space_product(int id, int t)
{
    (void)id;
    return make(t & 1, t >> 1, 29 + t, 70, 300, 0.5f, t == 2 ? 0.0f : 0.7f, 300u + (uint32_t)t);
}

START_TEST(test_no_space)
{
    if (unavailable("test_no_space"))
        return;
    pthread_t t;
    void *ret;
    product_run pr = {no_space_product, 0};
    refuse_aligned_alloc = 1;
    ck_assert_int_eq(pthread_create(&t, NULL, run_products, &pr), 0);
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    refuse_aligned_alloc = 0;
    ck_assert_ptr_null(ret);
    ck_assert_int_ge(refused, 4); /* every product asked for its space and was refused */
    int before = refused;
    ck_assert_int_eq(pthread_create(&t, NULL, run_products, &pr), 0);
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_null(ret);
    ck_assert_int_eq(refused, before);
}
END_TEST
#endif /* !TU_SANITIZED */

/* vt_gemm runs the product VAE_GEMM names (set by meson for this test:
 * "libvae"), so the model code is on this product here; where the CPU lacks
 * AVX-512F, the BLAS. */
START_TEST(test_vt_gemm_uses_it)
{
    const char *want = getenv("VAE_GEMM");
    const char *name = vt_gemm_kernel_name();
    if (want && strcmp(want, "libvae") == 0 && vt_sgemm_avx512_available()) {
        ck_assert_str_eq(name, "libvae-avx512");
        ck_assert_int_eq(vt_gemm_split_exact(), 1);
        /* vt_gemm through a team of 2 (the split of blas.c) = one call. */
        vt_pool *pool = vt_pool_new(2);
        ck_assert_ptr_nonnull(pool);
        prod p = make(0, 1, 300, 200, 400, 1.0f, 0.0f, 77);
        prod q = p;
        size_t nc = (size_t)p.M * p.ldc;
        q.C = malloc(nc * sizeof(float));
        ck_assert_ptr_nonnull(q.C);
        memcpy(q.C, p.C0, nc * sizeof(float));
        vt_gemm(pool, 0, 1, p.M, p.N, p.K, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, q.C, p.ldc);
        ck_assert_int_eq(run(&p), 0);
        ck_assert(memcmp(p.C, q.C, nc * sizeof(float)) == 0);
        free(q.C);
        drop(&p);
        vt_pool_free(pool);
    } else if (want && strcmp(want, "blas") == 0) {
        ck_assert_str_ne(name, "libvae-avx512");
    }
}
END_TEST

#if defined(VAE_HAVE_OPENBLAS)
char *openblas_get_corename(void);
#endif

/* Without VAE_GEMM: libvae's product exactly where the CPU has AVX-512F and
 * OpenBLAS's kernels do not use it (meson runs this case with
 * OPENBLAS_CORETYPE=Haswell and =SkylakeX as well as the default); the
 * reference CBLAS is kept. */
START_TEST(test_default_choice)
{
    if (getenv("VAE_GEMM"))
        return; /* test_vt_gemm_uses_it covers the override */
    const char *name = vt_gemm_kernel_name();
#if defined(VAE_HAVE_OPENBLAS)
    const char *core = openblas_get_corename();
    ck_assert_ptr_nonnull(core);
    int blas512 = strcmp(core, "SkylakeX") == 0 || strcmp(core, "Cooperlake") == 0 ||
                  strcmp(core, "SapphireRapids") == 0;
    if (vt_sgemm_avx512_available() && !blas512)
        ck_assert_str_eq(name, "libvae-avx512");
    else
        ck_assert_str_eq(name, core);
#else
    ck_assert_str_eq(name, "cblas");
#endif
}
END_TEST

#if defined(VAE_HAVE_OPENBLAS)
void openblas_set_num_threads(int num_threads);

/* Threads of this process (the entries of /proc/self/task), or -1. */
static int process_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}
#endif

/* libvae's first product stops OpenBLAS's idle server threads (they spin
 * for ~0.1 s after the library loads and compete with a two-thread team);
 * OpenBLAS starts them again when the application asks it for threads, and
 * its threaded product is then right. Runs unforked (CK_FORK=no, meson's
 * `openblas-threads`): Check's fork would run OpenBLAS's own fork handler,
 * which stops them too, and a forked child has one thread anyway. */
START_TEST(test_openblas_threads_stopped)
{
#if defined(VAE_HAVE_OPENBLAS)
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0) {
        tu_skip("test_openblas_threads_stopped", "needs CK_FORK=no");
        return;
    }
    int before = process_threads();
    ck_assert_int_gt(before, 0);
    if (before == 1) {
        tu_skip("test_openblas_threads_stopped",
                "OpenBLAS started no server threads (one CPU, OPENBLAS_NUM_THREADS=1, or "
                "an OpenMP or serial build)");
        return;
    }
    prod p = make(0, 0, 64, 64, 64, 1.0f, 0.0f, 5);
    vt_gemm(NULL, 0, 0, p.M, p.N, p.K, 1.0f, p.A, p.lda, p.B, p.ldb, 0.0f, p.C, p.ldc);
    ck_assert_int_eq(process_threads(), 1);
    drop(&p);

    /* The application asks OpenBLAS for threads again: they come back, and
     * a product large enough to use them is right (the exact sum, to the
     * float error bound). */
    int n = tu_quick() ? 128 : 384; /* quick: valgrind (still above OpenBLAS's threading bound) */
    p = make(0, 0, n, n, n, 1.0f, 0.0f, 6);
    openblas_set_num_threads(2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, p.A, p.lda, p.B, p.ldb,
                0.0f, p.C, p.ldc);
    ck_assert_int_gt(process_threads(), 1);
    openblas_set_num_threads(1);
    check_direct(&p);
    drop(&p);
#else
    tu_skip("test_openblas_threads_stopped", "not built with OpenBLAS");
#endif
}
END_TEST

static Suite *gemm_suite(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_matches_direct_loops);
    tcase_add_test(tc, test_documented_order);
    tcase_add_test(tc, test_blocks_same_bits);
    tcase_add_test(tc, test_cut_balanced);
    tcase_add_test(tc, test_part_rects);
    tcase_add_test(tc, test_blas_semantics);
    tcase_add_test(tc, test_threads);
#if !TU_SANITIZED
    /* Sanitizer builds own the allocator: aligned_alloc is not interposed
     * there (the unpacked path itself runs in test_documented_order). */
    tcase_add_test(tc, test_no_space);
#endif
    suite_add_tcase(s, tc);
    /* Which product vt_gemm runs (meson runs this case alone under several
     * environments). */
    TCase *choice = tcase_create("choice");
    tcase_add_test(choice, test_vt_gemm_uses_it);
    tcase_add_test(choice, test_default_choice);
    suite_add_tcase(s, choice);
    /* Unforked, alone (meson's openblas-threads test). */
    TCase *ob = tcase_create("openblas");
    tcase_set_tags(ob, "unforked");
    tcase_add_test(ob, test_openblas_threads_stopped);
    suite_add_tcase(s, ob);
    return s;
}

int main(void) { return tu_run_suite(gemm_suite()); }
