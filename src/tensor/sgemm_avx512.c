/* libvae's own sgemm for AVX-512F (see sgemm.h): packed panels and a
 * 12 x 32 register tile, the layout of BLIS and OpenBLAS.
 *
 *   for each K block of VT_SGEMM_KC (pc):
 *     for each block of MC rows of C (ic):        pack op(A)'s rows: Ap (L2)
 *       for each strip of NR = 32 columns (jc):   pack op(B)'s strip: Bp (L1)
 *         for each MR = 12 rows of the block:     tile += Ap panel x Bp
 *
 * The tile is 24 zmm accumulators: row r of the tile, columns 0-15 and
 * 16-31 (C's edges take narrower tiles of 4 or 8 rows, 16 columns: tile). Each k loads Bp's 32 floats (two zmm) and broadcasts the panel's
 * 12 values of column k of op(A); 24 fused multiply-adds per k, two per
 * cycle on cores with two 512-bit FMA pipes. Packing turns every transpose
 * case into the same kernel and pads partial panels with zeros (their rows
 * and columns are computed and not stored). */
#define _POSIX_C_SOURCE 200809L
#include "tensor/sgemm.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_AVX512_BUILD 1
#include <immintrin.h>
#endif

#define MR 12
#define NR 32
#define KC VT_SGEMM_KC
#define MC 240 /* a multiple of MR: the A block, 240 KiB, stays in L2 */

#define AP_FLOATS ((size_t)MC * KC)
#define BP_FLOATS ((size_t)KC * NR)

/* The cost of a partial tile of rem rows or columns against a full one:
 * the narrower tiles (tile_for) do about that share of the full tile's
 * multiply-adds and loads. */
static double tail_share(int rows, size_t rem)
{
    if (rem == 0)
        return 0.0;
    if (rows)
        return rem <= 4 ? 0.4 : rem <= 8 ? 0.7 : 1.0;
    return rem <= 16 ? 0.55 : 1.0;
}

/* Tiles i of [0, full) weigh 1, the partial one (index full) tail_share:
 * part p takes the tiles whose middle lies in [p, p + 1) * total / parts. */
static size_t tiles_before(size_t full, double share, double x)
{
    double c = ceil(x - 0.5);
    size_t k = c <= 0.0 ? 0 : c >= (double)full ? full : (size_t)c;
    if (k == full && share > 0.0 && (double)full + 0.5 * share < x)
        k++;
    return k;
}

void vt_sgemm_avx512_cut(int rows, size_t n, int part, int parts, size_t *lo, size_t *hi)
{
    size_t T = rows ? MR : NR, full = n / T;
    double share = tail_share(rows, n % T), total = (double)full + share;
    size_t a = part <= 0 ? 0 : tiles_before(full, share, total * part / parts);
    size_t b = part + 1 >= parts ? n : tiles_before(full, share, total * (part + 1) / parts) * T;
    a *= T;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

/* C = beta C (alpha == 0 or K == 0): C is not read when beta == 0. */
static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *row = C + (size_t)i * (size_t)ldc;
        if (beta == 0.0f)
            memset(row, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++)
                row[j] *= beta;
    }
}

/* op(X)[i][j] of a row-major X with leading dimension ld. */
static inline float op_at(const float *X, int trans, size_t ld, size_t i, size_t j)
{
    return trans ? X[j * ld + i] : X[i * ld + j];
}

/* The order sgemm.h documents, one element at a time: for each K block
 * s = sum_k op(A)[i][k] op(B)[k][j] by fmaf from 0, in order; then
 * C = beta C + alpha s (fmaf; alpha s when beta == 0) for the first block,
 * C = C + alpha s for the others. The kernel's lanes do exactly these
 * operations, so the bits are the packed product's. Plain C (fmaf is exact
 * on every CPU), so it also runs, and is tested, where AVX-512F is not. */
void vt_sgemm_ordered(int transa, int transb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float *c = C + (size_t)i * (size_t)ldc + (size_t)j;
            for (int pc = 0; pc < K; pc += KC) {
                float s = 0.0f;
                for (int k = pc; k < K && k < pc + KC; k++)
                    s = fmaf(op_at(A, transa, (size_t)lda, (size_t)i, (size_t)k),
                             op_at(B, transb, (size_t)ldb, (size_t)k, (size_t)j), s);
                /* fmaf(1, c, x) is c + x rounded once, written so that
                 * the compiler cannot contract it into fma(alpha, s, c)
                 * (GCC's default -ffp-contract=fast), which the kernel does
                 * not do. */
                if (pc > 0)
                    *c = fmaf(1.0f, *c, alpha * s);
                else
                    *c = beta == 0.0f ? alpha * s : fmaf(beta, *c, alpha * s);
            }
        }
}

/* Row [0, M) cut at row-tile edges at fraction f (0..1) of the rows' cost. */
static size_t rows_at(size_t M, double f)
{
    if (f >= 1.0)
        return M;
    size_t full = M / MR;
    double share = tail_share(1, M % MR);
    size_t r = tiles_before(full, share, f * ((double)full + share)) * MR;
    return r < M ? r : M;
}

int vt_sgemm_avx512_part(int by_rows, size_t M, size_t N, int part, int parts, vt_rect out[2])
{
    int k = 0;
    size_t rem = N % NR;
    if (by_rows || parts <= 1 || rem == 0 || rem > NR / 2) {
        size_t lo, hi;
        vt_sgemm_avx512_cut(by_rows, by_rows ? M : N, part, parts, &lo, &hi);
        vt_rect r = by_rows ? (vt_rect){lo, hi, 0, N} : (vt_rect){0, M, lo, hi};
        if (r.r0 < r.r1 && r.c0 < r.c1)
            out[k++] = r;
        return k;
    }
    /* Whole strips evenly (each weighs 1), then the narrow strip's rows in
     * proportion to what each part lacks of the even share. */
    size_t full = N / NR;
    double target = ((double)full + tail_share(0, rem)) / parts, lack_before = 0.0, lack = 0.0,
           lack_all = 0.0;
    size_t a = 0, b = 0;
    for (int q = 0; q < parts; q++) {
        size_t qa = tiles_before(full, 0.0, (double)full * q / parts);
        size_t qb = q + 1 == parts ? full : tiles_before(full, 0.0, (double)full * (q + 1) / parts);
        double d = target - (double)(qb - qa);
        d = d > 0.0 ? d : 0.0;
        if (q < part)
            lack_before += d;
        if (q == part) {
            a = qa;
            b = qb;
            lack = d;
        }
        lack_all += d;
    }
    if (a < b && M > 0)
        out[k++] = (vt_rect){0, M, a * NR, b * NR};
    size_t r0 = lack_before <= 0.0 ? 0 : rows_at(M, lack_before / lack_all);
    size_t r1 = part + 1 == parts ? M : rows_at(M, (lack_before + lack) / lack_all);
    if (r0 < r1)
        out[k++] = (vt_rect){r0, r1, full * NR, N};
    return k;
}

#if defined(HAVE_AVX512_BUILD)

static pthread_once_t avail_once = PTHREAD_ONCE_INIT;
static int avail;

static void avail_init(void)
{
    __builtin_cpu_init();
    /* libgcc and compiler-rt report avx512f only when the OS saves the zmm
     * state (XCR0), so this is safe to act on. */
    avail = __builtin_cpu_supports("avx512f") ? 1 : 0;
}

int vt_sgemm_avx512_available(void)
{
    pthread_once(&avail_once, avail_init);
    return avail;
}

/* One work space per thread, freed by the key's destructor when the thread
 * exits. Every live space is also on a global list: a thread still running
 * when the process exits (a model not freed, a forked test child) keeps its
 * space reachable from a global, where leak checkers look (LeakSanitizer
 * does not always scan a running thread's specific data: it reported such
 * spaces as leaks). */
typedef struct space {
    struct space *prev, *next;
    char pad[64 - 2 * sizeof(struct space *)]; /* the floats start 64-byte aligned */
    float data[];
} space;

_Static_assert(sizeof(space) == 64, "the work space's floats must start 64-byte aligned");

static pthread_key_t space_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;
static pthread_mutex_t spaces_mu = PTHREAD_MUTEX_INITIALIZER;
static space *spaces; /* the live ones */

static void space_free(void *p)
{
    space *s = p;
    pthread_mutex_lock(&spaces_mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        spaces = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&spaces_mu);
    free(s);
}

static void key_init(void) { key_ok = pthread_key_create(&space_key, space_free) == 0; }

static float *thread_space(void)
{
    pthread_once(&key_once, key_init);
    if (!key_ok)
        return NULL;
    space *s = pthread_getspecific(space_key);
    if (s)
        return s->data;
    s = aligned_alloc(64, sizeof(space) + (AP_FLOATS + BP_FLOATS) * sizeof(float));
    if (!s)
        return NULL;
    pthread_mutex_lock(&spaces_mu);
    s->prev = NULL;
    s->next = spaces;
    if (spaces)
        spaces->prev = s;
    spaces = s;
    pthread_mutex_unlock(&spaces_mu);
    if (pthread_setspecific(space_key, s) != 0) {
        space_free(s);
        return NULL;
    }
    return s->data;
}

/* The lanes of columns [from, from + 16) of a strip that lie below nr
 * (also: the first mr lanes of a panel's column, strip_mask(mr, 0)). */
static inline __mmask16 strip_mask(int nr, int from)
{
    int n = nr - from;
    return n >= 16 ? (__mmask16)0xffff : n > 0 ? (__mmask16)((1u << n) - 1u) : (__mmask16)0;
}

/* r[0..15], rows of 16 floats, become their transpose: r[c] = column c.
 * Three rounds of shuffles (pairs of rows, 4 x 4 blocks inside each
 * 128-bit lane, then the lanes), 64 shuffles for 256 floats. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* a0 b0 a1 b1 per lane */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    for (int g = 0; g < 16; g += 4) { /* rows g..g+3: r[g + q] = column 4L + q per lane L */
        r[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xee);
        r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xee);
    }
    for (int q = 0; q < 4; q++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[q], r[q + 4], 0x88);
        __m512 u1 = _mm512_shuffle_f32x4(r[q], r[q + 4], 0xdd);
        __m512 u2 = _mm512_shuffle_f32x4(r[q + 8], r[q + 12], 0x88);
        __m512 u3 = _mm512_shuffle_f32x4(r[q + 8], r[q + 12], 0xdd);
        t[q] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[q + 8] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[q + 4] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[q + 12] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* Ap: rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) as panels of MR
 * rows, each stored k-major (MR values per k); rows past mc are zero. */
__attribute__((target("avx512f"))) static void pack_a(float *restrict Ap, const float *A,
                                                      int transa, size_t lda, size_t i0,
                                                      size_t p0, int mc, int kc)
{
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = mc - ir < MR ? mc - ir : MR;
        float *P = Ap + (size_t)ir * kc;
        if (transa) {
            /* op(A)'s column k is A's row k: MR contiguous values, one
             * masked move (lanes past mr load as zero). */
            __mmask16 m = strip_mask(mr, 0);
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(P + (size_t)k * MR, strip_mask(MR, 0),
                                      _mm512_maskz_loadu_ps(m, A + (p0 + k) * lda + i0 + ir));
            continue;
        }
        /* A's rows along k: 16 k at a time through a 16 x 16 transpose
         * (rows past mr and the last 4 are zero; MR of each column kept). */
        int k = 0;
        for (; k + 16 <= kc; k += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < mr ? _mm512_loadu_ps(A + (i0 + ir + i) * lda + p0 + k)
                              : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < 16; i++)
                _mm512_mask_storeu_ps(P + (size_t)(k + i) * MR, strip_mask(MR, 0), r[i]);
        }
        for (; k < kc; k++)
            for (int r = 0; r < MR; r++)
                P[(size_t)k * MR + r] = r < mr ? A[(i0 + ir + r) * lda + p0 + k] : 0.0f;
    }
}

/* Bp: rows [p0, p0 + kc) and columns [j0, j0 + nr) of op(B), NR floats per
 * k; columns past nr are zero. */
__attribute__((target("avx512f"))) static void pack_b(float *restrict Bp, const float *B,
                                                      int transb, size_t ldb, size_t p0,
                                                      size_t j0, int nr, int kc)
{
    if (!transb) {
        /* Row k of the strip: two vector moves, masked at the edge (the
         * masked-off lanes load as zero). */
        __mmask16 m0 = strip_mask(nr, 0), m1 = strip_mask(nr, 16);
        for (int k = 0; k < kc; k++) {
            const float *src = B + (p0 + k) * ldb + j0;
            _mm512_store_ps(Bp + (size_t)k * NR, _mm512_maskz_loadu_ps(m0, src));
            _mm512_store_ps(Bp + (size_t)k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
        }
        return;
    }
    /* op(B)'s column j is B's row j: 16 rows x 16 k at a time through a
     * transpose (rows past nr are zero), the k left over one by one. */
    for (int c0 = 0; c0 < NR; c0 += 16) {
        int k = 0;
        for (; k + 16 <= kc; k += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = c0 + i < nr ? _mm512_loadu_ps(B + (j0 + c0 + i) * ldb + p0 + k)
                                   : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < 16; i++)
                _mm512_store_ps(Bp + (size_t)(k + i) * NR + c0, r[i]);
        }
        for (; k < kc; k++)
            for (int c = c0; c < c0 + 16; c++)
                Bp[(size_t)k * NR + c] = c < nr ? B[(j0 + c) * ldb + p0 + k] : 0.0f;
    }
}

/* C tile (mr x nr at C, leading dimension ldc) from the sums of one K block:
 *   first block: C = beta C + alpha s   (alpha s when beta == 0)
 *   later:       C = C + alpha s
 * The sums s[r] = sum_k Ap[k][r] Bp[k][.] run over k in order, one fused
 * multiply-add per term.
 *
 * R (4, 8 or 12) and W (1 or 2) are constants after inlining: the tile
 * computes R >= mr rows and W zmm (16 W >= nr columns). A tile of C's edge
 * (100 rows = 8 x 12 + 4; 400 columns = 12 x 32 + 16) then costs about its
 * share of a full one instead of a full one, and a part of a split product
 * can end in such a tile (tensor/blas.c cuts by this cost). Every element
 * still gets the same multiply-adds in the same order: the bits do not
 * depend on R or W. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile(int R, int W, int kc, const float *restrict Ap, const float *restrict Bp, float *C,
     size_t ldc, int mr, int nr, float alpha, float beta, int first)
{
    /* 24 named accumulators, not an array: GCC at -O2 kept an array of
     * them partly in memory (checked in the disassembly). Those of rows at
     * or past R and of the second zmm when W == 1 are never used. */
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00;
    __m512 c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
    for (int k = 0; k < kc; k++) {
        const float *a = Ap + (size_t)k * MR;
        __m512 b0 = _mm512_load_ps(Bp + (size_t)k * NR);
        __m512 b1 = W > 1 ? _mm512_load_ps(Bp + (size_t)k * NR + 16) : b0;
#define ROW(r, x0, x1)                                                                             \
    do {                                                                                           \
        if ((r) < R) {                                                                             \
            __m512 ar = _mm512_set1_ps(a[r]);                                                      \
            x0 = _mm512_fmadd_ps(ar, b0, x0);                                                      \
            if (W > 1)                                                                             \
                x1 = _mm512_fmadd_ps(ar, b1, x1);                                                  \
        }                                                                                          \
    } while (0)
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        ROW(4, c40, c41);
        ROW(5, c50, c51);
        ROW(6, c60, c61);
        ROW(7, c70, c71);
        ROW(8, c80, c81);
        ROW(9, c90, c91);
        ROW(10, ca0, ca1);
        ROW(11, cb0, cb1);
#undef ROW
    }
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                         {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71},
                         {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
    __mmask16 m0 = strip_mask(nr, 0), m1 = strip_mask(nr, 16);
    __m512 va = _mm512_set1_ps(alpha);
    __m512 vb = _mm512_set1_ps(first ? beta : 1.0f);
    int read_c = !first || beta != 0.0f;
    for (int r = 0; r < mr; r++) {
        float *row = C + (size_t)r * ldc;
        __m512 s0 = _mm512_mul_ps(va, acc[r][0]);
        if (read_c)
            s0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), s0);
        _mm512_mask_storeu_ps(row, m0, s0);
        if (W > 1) {
            __m512 s1 = _mm512_mul_ps(va, acc[r][1]);
            if (read_c)
                s1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), s1);
            _mm512_mask_storeu_ps(row + 16, m1, s1);
        }
    }
}

typedef void (*tile_fn)(int kc, const float *restrict Ap, const float *restrict Bp, float *C,
                        size_t ldc, int mr, int nr, float alpha, float beta, int first);

#define TILE_FN(R, W)                                                                              \
    __attribute__((target("avx512f"))) static void tile_##R##x##W(                                 \
        int kc, const float *restrict Ap, const float *restrict Bp, float *C, size_t ldc, int mr,  \
        int nr, float alpha, float beta, int first)                                                \
    {                                                                                              \
        tile(R, W, kc, Ap, Bp, C, ldc, mr, nr, alpha, beta, first);                                \
    }
TILE_FN(4, 1)
TILE_FN(8, 1)
TILE_FN(12, 1)
TILE_FN(4, 2)
TILE_FN(8, 2)
TILE_FN(12, 2)
#undef TILE_FN

/* The tile for mr rows (1..12) and nr columns (1..32): [ceil(mr / 4) - 1][nr > 16]. */
static const tile_fn tiles[3][2] = {
    {tile_4x1, tile_4x2}, {tile_8x1, tile_8x2}, {tile_12x1, tile_12x2}};

static inline tile_fn tile_for(int mr, int nr) { return tiles[(mr - 1) / 4][nr > 16]; }

int vt_sgemm_avx512(int transa, int transb, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (!vt_sgemm_avx512_available())
        return -1;
    if (M <= 0 || N <= 0)
        return 0;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return 0;
    }
    float *work = thread_space();
    if (!work) {
        /* No space for the packed panels: the same sums, unpacked. */
        vt_sgemm_ordered(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return 0;
    }
    float *Ap = work, *Bp = work + AP_FLOATS;
    for (int pc = 0; pc < K; pc += KC) {
        int kc = K - pc < KC ? K - pc : KC;
        for (int ic = 0; ic < M; ic += MC) {
            int mc = M - ic < MC ? M - ic : MC;
            pack_a(Ap, A, transa, (size_t)lda, (size_t)ic, (size_t)pc, mc, kc);
            for (int jc = 0; jc < N; jc += NR) {
                int nr = N - jc < NR ? N - jc : NR;
                pack_b(Bp, B, transb, (size_t)ldb, (size_t)pc, (size_t)jc, nr, kc);
                for (int ir = 0; ir < mc; ir += MR) {
                    int mr = mc - ir < MR ? mc - ir : MR;
                    tile_for(mr, nr)(kc, Ap + (size_t)ir * kc, Bp,
                                     C + (size_t)(ic + ir) * (size_t)ldc + (size_t)jc,
                                     (size_t)ldc, mr, nr, alpha, beta, pc == 0);
                }
            }
        }
    }
    return 0;
}

#else /* no AVX-512 build */

int vt_sgemm_avx512_available(void) { return 0; }

int vt_sgemm_avx512(int transa, int transb, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)transa, (void)transb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    return -1;
}

#endif
