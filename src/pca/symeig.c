/* Symmetric eigensolver: Householder tridiagonalisation (tred2) and
 * implicit QL with shifts (tql2), in double precision (pca/symeig.h). */
#include "pca/symeig.h"

#include <float.h>
#include <math.h>

#define A(i, j) a[(size_t)(i) * n + (size_t)(j)]

/* sqrt(x^2 + y^2) without overflow or destructive underflow. */
static double hypot_safe(double x, double y) { return hypot(x, y); }

/* Householder reduction of the symmetric a to tridiagonal T = Q^T A Q.
 *
 * For i = n-1 down to 1, row i left of the diagonal, x = a[i][0..i-1], is
 * mapped onto a multiple of the unit vector e_{i-1} by the reflector
 * P = I - u u^T / H with u = x - g e_{i-1}, g = -sign(x_{i-1}) ||x||,
 * H = |u|^2 / 2 = ||x||^2 - x_{i-1} g. Then A' = P A P is formed with
 * p = A u / H, K = u^T p / (2H), q = p - K u: A' = A - q u^T - u q^T
 * (lower triangle only). The row is scaled by the sum of its magnitudes
 * first so that ||x||^2 cannot overflow or underflow.
 * On return d = diag(T), e[i] = T[i][i-1] (e[0] = 0), and a = Q, whose
 * columns are the basis in which A is tridiagonal. */
static void tridiagonalise(double *a, size_t n, double *d, double *e)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t l = i - 1;
        double h = 0.0, scale = 0.0;
        if (l > 0) {
            for (size_t k = 0; k <= l; k++)
                scale += fabs(A(i, k));
            if (scale == 0.0) {
                e[i] = A(i, l); /* nothing to annihilate */
            } else {
                for (size_t k = 0; k <= l; k++) {
                    A(i, k) /= scale;
                    h += A(i, k) * A(i, k);
                }
                double f = A(i, l);
                double g = f >= 0.0 ? -sqrt(h) : sqrt(h);
                e[i] = scale * g;
                h -= f * g;         /* H */
                A(i, l) = f - g;    /* row i now holds u */
                f = 0.0;
                for (size_t j = 0; j <= l; j++) {
                    A(j, i) = A(i, j) / h; /* u / H kept in column i for the accumulation */
                    /* p_j = (A u)_j / H, A's lower triangle only */
                    g = 0.0;
                    for (size_t k = 0; k <= j; k++)
                        g += A(j, k) * A(i, k);
                    for (size_t k = j + 1; k <= l; k++)
                        g += A(k, j) * A(i, k);
                    e[j] = g / h;
                    f += e[j] * A(i, j); /* u^T p */
                }
                double hh = f / (h + h); /* K */
                for (size_t j = 0; j <= l; j++) {
                    f = A(i, j);
                    e[j] = g = e[j] - hh * f; /* q_j */
                    for (size_t k = 0; k <= j; k++)
                        A(j, k) -= f * e[k] + g * A(i, k); /* A - q u^T - u q^T */
                }
            }
        } else {
            e[i] = A(i, l);
        }
        d[i] = h; /* 0 marks "no reflector" for the accumulation below */
    }
    d[0] = 0.0;
    e[0] = 0.0;
    /* Accumulate Q = P_{n-1} ... P_1 applied to I, growing the leading block:
     * Q_i = (I - u u^T / H) Q_{i-1} on the first i rows and columns. */
    for (size_t i = 0; i < n; i++) {
        if (d[i] != 0.0) {
            for (size_t j = 0; j < i; j++) {
                double g = 0.0;
                for (size_t k = 0; k < i; k++)
                    g += A(i, k) * A(k, j); /* u^T Q column j */
                for (size_t k = 0; k < i; k++)
                    A(k, j) -= g * A(k, i); /* minus (u/H) g */
            }
        }
        d[i] = A(i, i);
        A(i, i) = 1.0;
        for (size_t j = 0; j < i; j++)
            A(j, i) = A(i, j) = 0.0;
    }
}

/* Swap a in place for its transpose. */
static void transpose(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double t = A(i, j);
            A(i, j) = A(j, i);
            A(j, i) = t;
        }
}

/* Implicit QL with Wilkinson-type shifts on the tridiagonal (d, e), e[i]
 * coupling i and i+1 here (shifted down by the caller). For each l, while
 * the unreduced block l..m (first m >= l with a negligible e[m]) is longer
 * than 1: shift s = d[l] - e[l] / (g + sign(g) sqrt(g^2 + 1)) with
 * g = (d[l+1] - d[l]) / (2 e[l]) (the eigenvalue of the leading 2x2 closer
 * to d[l]), then chase the bulge from m up to l by plane rotations
 * (c, s), each applied to rows i and i+1 of zt (the basis, one vector per
 * row). Returns 0, or -1 after max_iter sweeps for one l. */
static int ql_implicit(double *d, double *e, size_t n, double *zt, int max_iter)
{
    double *a = zt; /* for A(i, j) */
    for (size_t l = 0; l < n; l++) {
        int iter = 0;
        size_t m;
        do {
            for (m = l; m + 1 < n; m++) {
                double dd = fabs(d[m]) + fabs(d[m + 1]);
                if (fabs(e[m]) <= DBL_EPSILON * dd)
                    break;
            }
            if (m == l)
                break;
            if (iter++ >= max_iter)
                return -1;
            double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            double r = hypot_safe(g, 1.0);
            g = d[m] - d[l] + e[l] / (g + copysign(r, g));
            double s = 1.0, c = 1.0, p = 0.0;
            int underflow = 0;
            for (size_t i = m; i-- > l;) {
                double f = s * e[i], b = c * e[i];
                e[i + 1] = r = hypot_safe(f, g);
                if (r == 0.0) { /* recover from underflow: deflate here */
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = 1;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                /* rotate basis vectors i and i+1 (rows of zt) */
                double *zi = &A(i, 0), *zj = &A(i + 1, 0);
                for (size_t k = 0; k < n; k++) {
                    double t = zj[k];
                    zj[k] = s * zi[k] + c * t;
                    zi[k] = c * zi[k] - s * t;
                }
            }
            if (underflow)
                continue;
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        } while (m != l);
    }
    return 0;
}

int vpca_symeig(double *a, size_t n, double *w, double *e, int max_iter)
{
    if (n == 0)
        return 0;
    tridiagonalise(a, n, w, e);
    /* e[i] couples i-1 and i; QL wants e[i] coupling i and i+1. */
    for (size_t i = 1; i < n; i++)
        e[i - 1] = e[i];
    e[n - 1] = 0.0;
    transpose(a, n); /* eigenvectors as rows: rotations touch two contiguous rows */
    return ql_implicit(w, e, n, a, max_iter);
}
