/* libvae's own single-precision matrix product for CPUs with AVX-512F.
 *
 * Why: a BLAS may run a CPU with 512-bit units on 256-bit kernels
 * (Debian's OpenBLAS 0.3.21 picks its Haswell AVX2 kernels on AMD Zen 5,
 * whose cores do twice the arithmetic per cycle with AVX-512); there this
 * product is about twice as fast (docs/performance.md, round six).
 * tensor/blas.c decides which product runs (vt_gemm_kernel_name).
 *
 * What it computes, and its bits: C = alpha op(A) op(B) + beta C, row-major,
 * as cblas_sgemm. K is cut into blocks of VT_SGEMM_KC; within a block every
 * element is one sum over k in increasing order, in a float accumulator
 * with one fused multiply-add per term, starting from 0; the block's sum s
 * then goes to C as C = beta C + alpha s for the first block (alpha s when
 * beta == 0: C is not read) and C = C + alpha s for each further block.
 * That order depends on K only, never on M, N, where the element lies in C,
 * or on the leading dimensions: a product cut into blocks of rows or
 * columns gives the unsplit product's bits (thread-count independence).
 * alpha == 0 or K == 0 gives C = beta C without reading A or B. */
#ifndef VAE_TENSOR_SGEMM_H
#define VAE_TENSOR_SGEMM_H

#include <stddef.h>

/* The K block: its length fixes the order of the sums (above). */
#define VT_SGEMM_KC 256

/* 1 when the running CPU (and its operating system) offers AVX-512F, so
 * vt_sgemm_avx512 can run; decided once. 0 on other CPUs, on other
 * compilers than GCC and clang for x86-64, and under valgrind (which does
 * not emulate AVX-512 and hides it). Thread-safe. */
int vt_sgemm_avx512_available(void);

/* The product above, on the calling thread; transa/transb 0 = as stored,
 * 1 = transposed; op(A) is M x K, op(B) is K x N. Uses a work space of
 * about 280 KiB per calling thread, allocated on a thread's first call and
 * freed when the thread exits; when it cannot be allocated, the product
 * runs in vt_sgemm_ordered (same bits, slower) and the next call tries
 * again. Returns 0, or -1 when the CPU lacks AVX-512F (C untouched: the
 * caller falls back to another product). Thread-safe; concurrent calls on
 * disjoint C. */
int vt_sgemm_avx512(int transa, int transb, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Part `part` of `parts` of a product split along C's rows (rows != 0) or
 * columns: the half-open range [*lo, *hi) of the n rows or columns, cut at
 * the edges of the kernel's 12 x 32 tiles so that the parts cost about the
 * same (a part that ends in a partial tile is charged that tile's share:
 * 4 rows 0.4, 8 rows 0.7, 16 columns 0.55 of a full one). A product cut so
 * gives the unsplit bits like any other cut (above). Thread-safe. */
void vt_sgemm_avx512_cut(int rows, size_t n, int part, int parts, size_t *lo, size_t *hi);

/* Rows [r0, r1) x columns [c0, c1) of C. */
typedef struct vt_rect {
    size_t r0, r1, c0, c1;
} vt_rect;

/* The rectangles of C that part `part` of `parts` computes when an M x N
 * product is split along C's rows (by_rows != 0) or columns: the block of
 * vt_sgemm_avx512_cut, except that when a column split ends in a narrow
 * strip (at most 16 columns, about half a full strip's cost) every part
 * takes whole strips and that last strip is cut by rows among the parts
 * the whole strips left short. So 400 columns over two parts are 6 strips
 * of 32 each plus half of the last 16 columns' rows, where whole strips
 * alone gave one part 6.5 strips' work and the other 6. Writes 0 to 2
 * non-empty rectangles to out and returns how many. Thread-safe. */
int vt_sgemm_avx512_part(int by_rows, size_t M, size_t N, int part, int parts, vt_rect out[2]);

/* The same product and bits in plain loops (scalar fused multiply-adds in
 * the documented order), without a work space: what vt_sgemm_avx512 runs
 * when its space cannot be allocated, about a hundred times slower. Plain C:
 * it runs on any CPU and build (it is the reference the tests hold the
 * packed product to). Thread-safe. */
void vt_sgemm_ordered(int transa, int transb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
