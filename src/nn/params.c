/* Parameter registry and dense layers. */
#include "nn/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvae/vae.h"

int vn_params_add(vn_params *P, const char *name, int rows, int cols)
{
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 16;
        vn_param *p = realloc(P->p, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        P->p = p;
        P->cap = cap;
    }
    vn_param *q = &P->p[P->n];
    size_t len = strlen(name);
    if (len >= sizeof q->name)
        return -1;
    memcpy(q->name, name, len + 1);
    q->rows = rows;
    q->cols = cols;
    q->offset = P->total;
    P->total += (size_t)rows * (size_t)cols;
    return P->n++;
}

int vn_params_alloc(vn_params *P)
{
    P->val = calloc(P->total ? P->total : 1, sizeof(float));
    P->grad = calloc(P->total ? P->total : 1, sizeof(float));
    return (P->val && P->grad) ? 0 : -1;
}

void vn_params_free(vn_params *P)
{
    free(P->p);
    free(P->val);
    free(P->grad);
    memset(P, 0, sizeof *P);
}

float *vn_val(const vn_params *P, int i) { return P->val + P->p[i].offset; }
float *vn_grad(const vn_params *P, int i) { return P->grad + P->p[i].offset; }

int vn_param_node(vg_graph *g, const vn_params *P, int i, int train)
{
    return vg_param(g, P->p[i].rows, P->p[i].cols, vn_val(P, i), train ? vn_grad(P, i) : NULL);
}

int vn_dense_declare(vn_params *P, const char *prefix, int in, int out)
{
    char name[VN_NAME_LEN + 8];
    if (strlen(prefix) + 3 > VN_NAME_LEN)
        return -1; /* names are ours and short; this only guards the buffer */
    snprintf(name, sizeof name, "%s.W", prefix);
    int w = vn_params_add(P, name, in, out);
    snprintf(name, sizeof name, "%s.b", prefix);
    if (w < 0 || vn_params_add(P, name, 1, out) < 0)
        return -1;
    return w;
}

void vn_dense_init(vn_params *P, int w, vt_rng *rng)
{
    float bound = 1.0f / sqrtf((float)P->p[w].rows);
    for (int k = w; k <= w + 1; k++) {
        float *v = vn_val(P, k);
        size_t n = (size_t)P->p[k].rows * (size_t)P->p[k].cols;
        for (size_t i = 0; i < n; i++)
            v[i] = (float)((2.0 * vt_rng_uniform(rng) - 1.0) * bound);
    }
}

int vn_dense(vg_graph *g, const vn_params *P, int w, int x, int train)
{
    int wn = vn_param_node(g, P, w, train);
    int bn = vn_param_node(g, P, w + 1, train);
    if (wn < 0 || bn < 0)
        return -1;
    return vg_dense(g, x, wn, bn);
}
