/* exp and log1p for the element-wise loops, in plain float arithmetic that
 * GCC vectorises (libm's expf/log1pf are calls, one element at a time).
 *
 * Both are Cody-Waite range reduction plus the Cephes single-precision
 * polynomials. Measured against double-precision libm on every float of
 * their ranges, the error is below one unit in the last place (0.982 ulp
 * for exp, 0.898 for log1p; tests/test-vmath.c sweeps 1 float in 61).
 * Every operation is a plain IEEE float add, multiply, divide or
 * select, with no fused multiply-add (ISO C mode, see simd.h) and no table,
 * so a scalar, SSE2, AVX2 or AVX-512 build computes the same bits for an
 * element, on any x86-64 CPU and with any libm.
 *
 * Only the ranges the callers need are covered: vm_exp_nonpos for t <= 0
 * (the e^-|l| of softplus and sigmoid), vm_log1p_unit for e in [0, 1]. */
#ifndef VAE_TENSOR_VMATH_H
#define VAE_TENSOR_VMATH_H

#include <stdint.h>
#include <string.h>

/* c ? a : b, by bit masks. With plain selects GCC moves an operation used
 * in one arm into a branch, which it then may not vectorise unless
 * floating-point traps are ignored (-fno-trapping-math); a bitwise blend
 * keeps both arms computed for every element, and vectorises. */
static inline float vm_select(int c, float a, float b)
{
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(c != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t r = (ua & m) | (ub & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* e^t for t <= 0, t = k ln2 + r with k = round(t / ln2), |r| <= ln2 / 2:
 * e^t = 2^k e^r, e^r = 1 + r + r^2 P(r) (Cephes expf, P of degree 5).
 * t < -87 (where e^t < 2^-125) gives 0, a NaN gives NaN; t > 0 is outside
 * the contract. */
static inline float vm_exp_nonpos(float t)
{
    /* Adding and subtracting 1.5 * 2^23 rounds to the nearest integer. */
    const float shifter = 12582912.0f;
    float tc = vm_select(t > -87.0f, t, -87.0f); /* also maps NaN to a finite value */
    float kf = tc * 1.44269504088896341f + shifter;
    kf = kf - shifter;
    /* ln2 = 0.693359375 - 2.12194440e-4 (the first part has 9 bits, so
     * kf * it is exact). */
    float r = tc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^k from its exponent bits; k in [-126, 0] here. */
    uint32_t bits = (uint32_t)((int32_t)kf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = vm_select(t >= -87.0f, p * scale, t);
    return vm_select(t < -87.0f, 0.0f, e);
}

/* log(1 + e) for e in [0, 1] (a NaN gives NaN). u = 1 + e is rounded; its
 * rounding error c = e - (u - 1) is exact and log(1 + e) = log u + c / u to
 * well below an ulp. u = 2^k m with m in [sqrt(1/2), sqrt(2)), k in {0, 1};
 * log m = f - f^2 / 2 + f^3 P(f) with f = m - 1 (exact; Cephes logf, P of
 * degree 8); ln2 split as in vm_exp_nonpos. */
static inline float vm_log1p_unit(float e)
{
    float u = 1.0f + e;
    float c = e - (u - 1.0f);
    int big = u > 1.41421356f;
    float m = vm_select(big, 0.5f * u, u);
    float kf = vm_select(big, 1.0f, 0.0f);
    float f = m - 1.0f;
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y = y + kf * -2.12194440e-4f;
    y = y - 0.5f * z;
    y = y + c / u;
    float s = f + y;
    return s + kf * 0.693359375f;
}

#endif
