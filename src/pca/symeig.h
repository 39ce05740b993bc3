/* Eigenvalues and eigenvectors of a real symmetric matrix, in double
 * precision, with no LAPACK (the reference-CBLAS build links only BLAS).
 *
 * Method: Householder tridiagonalisation with the transformations
 * accumulated (EISPACK tred2), then the implicit QL algorithm with Wilkinson
 * shifts on the tridiagonal matrix, applying every plane rotation to the
 * accumulated basis (EISPACK tql2 / Numerical Recipes tqli). Both steps are
 * orthogonal similarity transformations, so the method is backward stable:
 * the computed pairs are exact for a matrix within about c * d * eps * ||A||
 * of A (eps = 2^-52), i.e. residuals ||A v - lambda v|| of that size and
 * eigenvalues with absolute errors of that size (Wilkinson; Golub & Van
 * Loan, 8.3). Cost about 9 d^3 flops with vectors; d = 784 takes ~1 s.
 *
 * Convergence test of QL: an off-diagonal e[m] is taken as zero when
 * |e[m]| <= eps * (|d[m]| + |d[m+1]|) (LAPACK's dsteqr criterion, eps =
 * DBL_EPSILON); each eigenvalue may take at most max_iter QL sweeps
 * (typically 1.3-2 are needed), otherwise the call fails. */
#ifndef VAE_PCA_SYMEIG_H
#define VAE_PCA_SYMEIG_H

#include <stddef.h>

/* a: n x n row-major symmetric matrix (only the lower triangle is read);
 * it is overwritten: on return row j of a is the unit eigenvector of
 * eigenvalue w[j]. w: n eigenvalues, in no particular order. e: n doubles
 * of scratch. Returns 0, or -1 when some eigenvalue needed more than
 * max_iter QL iterations (a and w then hold no meaningful result). */
int vpca_symeig(double *a, size_t n, double *w, double *e, int max_iter);

#endif
