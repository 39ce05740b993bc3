/* cblas_sgemm or libvae's own AVX-512 product, single-threaded, split over
 * a model's thread team (see blas.h). */
#define _POSIX_C_SOURCE 200809L
#include "tensor/blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/sgemm.h"

#include <pthread.h>

#if defined(VAE_HAVE_OPENBLAS)

/* Declared by OpenBLAS's cblas.h; repeated so the file compiles with any cblas.h. */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* Exported by OpenBLAS's pthread builds (it runs it itself before a
 * fork); weak, so that a BLAS without it leaves it NULL. */
int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS starts with one thread per core; libvae wants every call on
 * the calling thread (the team splits the work itself). Its pthread build
 * also starts a server thread per further core when it loads, and each
 * spins (sched_yield) for 2^28 time-stamp ticks, about 0.1 s, before it
 * sleeps: libvae never gives them work, but in a two-thread run they
 * compete with the team for the cores, and the first epoch of 784-400-20
 * at two threads was 20-25% slower (docs/performance.md, round seven).
 * So they are stopped here as well; OpenBLAS starts them again by itself
 * on its next multi-threaded call (blas_server_avail == 0 in exec_blas and
 * goto_set_num_threads), if the application asks it for threads later. */
static void blas_init(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}
#endif

static int split_exact(void);
static int own_kernel(void);

static void sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    /* -1 only on a CPU without AVX-512F, which own_kernel() excludes. */
    if (own_kernel() && vt_sgemm_avx512(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                        ldc) == 0)
        return;
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct gemm_task {
    int transa, transb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
    int by_rows; /* split op(A)'s rows (C's rows), else op(B)'s columns (C's columns) */
    const float *bias; /* non-NULL: C's rows are first set to bias (N floats), see vt_gemm_bias */
    int blocks; /* > 0: C is cut into this many blocks whatever the team (gemm_run) */
} gemm_task;

/* Parts of C start at multiples of this many rows or columns (whole
 * register tiles of the sgemm kernels). */
#define SPLIT_ALIGN 16

/* The rectangles of C in part `part` of `parts` (0 to 2): with libvae's
 * own product cut at its tiles' edges into parts of equal cost
 * (vt_sgemm_avx512_part: the 400 columns of the MLP's hidden layer were cut
 * 208 | 192, and the first part did 7 strips of 32 columns against 6);
 * with a BLAS one block of rows or columns at multiples of SPLIT_ALIGN. */
static int split_part(const gemm_task *t, int part, int parts, vt_rect out[2])
{
    size_t M = (size_t)t->M, N = (size_t)t->N;
    if (own_kernel())
        return vt_sgemm_avx512_part(t->by_rows, M, N, part, parts, out);
    size_t lo, hi;
    vt_pool_range(t->by_rows ? M : N, SPLIT_ALIGN, part, parts, &lo, &hi);
    if (lo >= hi)
        return 0;
    out[0] = t->by_rows ? (vt_rect){lo, hi, 0, N} : (vt_rect){0, M, lo, hi};
    return 1;
}

/* One rectangle of C on its own: the same K-long dot product per element
 * as in the unsplit call. */
static void rect_product(const gemm_task *t, const vt_rect *r)
{
    size_t lda = (size_t)t->lda, ldb = (size_t)t->ldb, ldc = (size_t)t->ldc;
    /* op(A) row i is A's row i, or A's column i when transposed; op(B)
     * column j likewise. */
    const float *A = t->A + (t->transa ? r->r0 : r->r0 * lda);
    const float *B = t->B + (t->transb ? r->c0 * ldb : r->c0);
    float *C = t->C + r->r0 * ldc + r->c0;
    size_t rows = r->r1 - r->r0, cols = r->c1 - r->c0;
    if (t->bias)
        for (size_t i = 0; i < rows; i++)
            memcpy(C + i * ldc, t->bias + r->c0, cols * sizeof(float));
    sgemm(t->transa, t->transb, (int)rows, (int)cols, t->K, t->alpha, A, t->lda, B, t->ldb,
          t->beta, C, t->ldc);
}

/* Part `part` of C (split_part). */
static void gemm_block(const gemm_task *t, int part, int parts)
{
    vt_rect r[2];
    int n = split_part(t, part, parts, r);
    for (int i = 0; i < n; i++)
        rect_product(t, &r[i]);
}

/* Part `part` of the team: C's block `part` of `parts`, or, with fixed
 * blocks (t->blocks > 0), its share of the t->blocks blocks, one call each. */
static void gemm_part(void *ctx, int part, int parts)
{
    const gemm_task *t = ctx;
    if (t->blocks <= 0) {
        gemm_block(t, part, parts);
        return;
    }
    size_t lo, hi;
    vt_pool_range((size_t)t->blocks, 1, part, parts, &lo, &hi);
    for (size_t b = lo; b < hi; b++)
        gemm_block(t, (int)b, t->blocks);
}

/* A product is split only when every part keeps at least this many
 * multiply-adds. OpenBLAS (0.3.x, x86-64) sends products of at most 1e6
 * multiply-adds to separate small-matrix kernels whose rounding differs
 * from the blocked kernel's; with every part above that bound, each part
 * runs the same kernel as the whole product would, and the split gives the
 * unsplit bits (tests/test-pool.c checks the shapes of a training step).
 * Smaller products are too short to pay for the hand-off anyway. */
#define SPLIT_MIN_PART_MACS 1048576.0

/* The same bound for libvae's own product, whose parts give the unsplit
 * bits at any cut (sgemm.h): only the hand-off's cost (about a microsecond)
 * bounds it. 2^17 multiply-adds (about a microsecond of the kernel) lets
 * the MLP's latent-layer products (2-4 x 10^5 multiply-adds a part) split:
 * the two-thread step gained about 8% (docs/performance.md, round seven). */
#define OWN_SPLIT_MIN_PART_MACS 131072.0

/* Blocks of a product with the kernels that are not split-exact. */
#define GEMM_FIXED_BLOCKS 2

/* Smallest part of C, in multiply-adds, when C is cut into `parts` parts
 * as gemm_block cuts it. */
static double smallest_part_macs(const gemm_task *t, int parts)
{
    double smallest = (double)t->M * (double)t->N;
    for (int i = 0; i < parts; i++) {
        vt_rect r[2];
        int n = split_part(t, i, parts, r);
        double cells = 0.0;
        for (int k = 0; k < n; k++)
            cells += (double)(r[k].r1 - r[k].r0) * (double)(r[k].c1 - r[k].c0);
        smallest = cells < smallest ? cells : smallest;
    }
    return smallest * (double)t->K;
}

static void gemm_run(vt_pool *pool, gemm_task *t)
{
#if defined(VAE_HAVE_OPENBLAS)
    pthread_once(&blas_once, blas_init);
#endif
    /* Split the larger of C's dimensions: each part then packs all of the
     * smaller operand (duplicated work) and its share of the larger one. */
    t->by_rows = t->M >= t->N;
    int parts = vt_pool_parts(pool);
    t->blocks = 0;
    if (!split_exact()) {
        /* Kernels whose rounding of an element depends on the block it
         * lies in (OpenBLAS's Haswell kernels, see vt_gemm_split_exact):
         * C is cut into GEMM_FIXED_BLOCKS blocks by the same rule whatever
         * the team, the team taking whole blocks, so every element comes
         * from the same sgemm call at any thread count (one thread makes
         * the calls one after the other). Two blocks: the cut of a team of
         * two, so a two-thread run keeps its bits. */
        if (smallest_part_macs(t, GEMM_FIXED_BLOCKS) >= SPLIT_MIN_PART_MACS) {
            t->blocks = GEMM_FIXED_BLOCKS;
            if (parts > 1)
                vt_pool_run(pool, gemm_part, t);
            else
                gemm_part(t, 0, 1);
            return;
        }
        gemm_block(t, 0, 1);
        return;
    }
    double min_macs = own_kernel() ? OWN_SPLIT_MIN_PART_MACS : SPLIT_MIN_PART_MACS;
    if (parts > 1 && smallest_part_macs(t, parts) >= min_macs) {
        vt_pool_run(pool, gemm_part, t);
        return;
    }
    gemm_block(t, 0, 1);
}

int vt_gemm_split_exact(void) { return split_exact(); }

static int split_exact_value;
static pthread_once_t split_once = PTHREAD_ONCE_INIT;

#if defined(VAE_HAVE_OPENBLAS)
/* OpenBLAS cores whose sgemm kernels use AVX-512: where they run,
 * libvae's own product is not faster (docs/performance.md, round six). */
static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
#endif

static int own_kernel_value;

/* Which product runs, decided once from VAE_GEMM (docs/performance.md):
 *   "blas"    always the BLAS;
 *   "libvae"  libvae's own wherever the CPU has AVX-512F;
 *   unset or anything else ("auto"): libvae's own where the CPU has
 *             AVX-512F and the BLAS is OpenBLAS running kernels without it. */
static void own_kernel_init(void)
{
    const char *e = getenv("VAE_GEMM");
    int avail = vt_sgemm_avx512_available();
    if (e && strcmp(e, "blas") == 0) {
        own_kernel_value = 0;
    } else if (e && strcmp(e, "libvae") == 0) {
        own_kernel_value = avail;
    } else {
#if defined(VAE_HAVE_OPENBLAS)
        const char *core = openblas_get_corename();
        int blas512 = 0;
        for (size_t i = 0; core && i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
            blas512 |= strcmp(core, avx512_cores[i]) == 0;
        own_kernel_value = avail && core && !blas512;
#else
        /* The reference CBLAS was asked for by name (-Dblas=cblas): keep it. */
        own_kernel_value = 0;
#endif
    }
}

static pthread_once_t own_once = PTHREAD_ONCE_INIT;

static int own_kernel(void)
{
    pthread_once(&own_once, own_kernel_init);
    return own_kernel_value;
}

const char *vt_gemm_kernel_name(void)
{
    if (own_kernel())
        return "libvae-avx512";
#if defined(VAE_HAVE_OPENBLAS)
    const char *core = openblas_get_corename();
    return core ? core : "OpenBLAS";
#else
    return "cblas";
#endif
}

static void split_exact_init(void)
{
    if (own_kernel()) {
        split_exact_value = 1; /* an element's sum depends on K only (sgemm.h) */
        return;
    }
#if defined(VAE_HAVE_OPENBLAS)
    /* Checked shape by shape (tests/test-pool.c with VAE_TEST_LONG=1, and
     * by forcing each kernel with OPENBLAS_CORETYPE): the SkylakeX,
     * Cooperlake (OpenBLAS 0.3.21 on AMD Zen 4) and Sandybridge kernels
     * give an element the same bits wherever it lies in C; the Haswell
     * (AVX2) kernels do not (an element's rounding depends on its block). */
    const char *core = openblas_get_corename();
    split_exact_value = core && (strcmp(core, "SkylakeX") == 0 || strcmp(core, "Cooperlake") == 0 ||
                                 strcmp(core, "Sandybridge") == 0);
#else
    split_exact_value = 1; /* the reference CBLAS: plain loops, one dot product per element */
#endif
}

/* vt_gemm_split_exact, asked of OpenBLAS once (its kernels are chosen at load time). */
static int split_exact(void)
{
    pthread_once(&split_once, split_exact_init);
    return split_exact_value;
}

void vt_gemm(vt_pool *pool, int transa, int transb, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_task t = {transa, transb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, 1, NULL, 0};
    gemm_run(pool, &t);
}

void vt_gemm_bias(vt_pool *pool, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, const float *bias, float *C, int ldc)
{
    gemm_task t = {0, 0, M, N, K, 1.0f, 1.0f, A, B, C, lda, ldb, ldc, 1, bias, 0};
    gemm_run(pool, &t);
}
