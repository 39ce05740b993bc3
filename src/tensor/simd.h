/* Wider vector code for the hot element-wise loops, without giving up
 * portability or reproducibility.
 *
 * VT_CLONES before a function makes GCC compile it three times (AVX-512,
 * AVX2, baseline x86-64) and pick the variant for the running CPU once, at
 * load time (an ifunc). The build targets baseline x86-64 (SSE2), which
 * leaves the 2-4x wider units of current CPUs idle in loops like Adam's.
 *
 * The clones compute the same bits: the library is compiled in ISO C mode
 * (-std=c11), where GCC does not contract a * b + c into a fused
 * multiply-add, and the clones only change vector width, never the order of
 * the operations on one element. Loops that reduce (sums) keep a fixed
 * number of independent partial sums in an array (see vec.c), so their
 * order does not depend on the vector width either.
 *
 * Use it on static functions only: GCC exports the ifunc symbols of an
 * extern cloned function even under hidden visibility.
 *
 * Elsewhere (other compilers, other CPUs, no ifunc) VT_CLONES is empty. */
#ifndef VAE_TENSOR_SIMD_H
#define VAE_TENSOR_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__ELF__) && !defined(VAE_NO_CLONES)
#define VT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VT_CLONES
#endif

#endif
