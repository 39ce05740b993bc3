#include "gradcheck.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

leaf mk_leaf(vg_graph *g, int rows, int cols, vt_rng *r, float lo, float hi, int grad)
{
    leaf l;
    l.n = rows * cols;
    l.val = malloc((size_t)l.n * sizeof(float));
    l.grad = grad ? calloc((size_t)l.n, sizeof(float)) : NULL;
    fill(r, l.val, (size_t)l.n, lo, hi);
    l.node = vg_param(g, rows, cols, l.val, l.grad);
    return l;
}

void free_leaf(leaf *l)
{
    free(l->val);
    free(l->grad);
}

void fill(vt_rng *r, float *v, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * vt_rng_uniform(r));
}

double project(const vg_graph *g, int y, const float *w)
{
    const vg_node *v = &g->nodes[y];
    double s = 0.0;
    for (int i = 0; i < v->rows * v->cols; i++)
        s += (double)w[i] * v->val[i];
    return s;
}

void backward_from(vg_graph *g, int y, const float *w)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].grad_ready = 0;
    vg_node *v = &g->nodes[y];
    memcpy(v->grad, w, (size_t)v->rows * v->cols * sizeof(float));
    v->grad_ready = 1;
    for (int i = y; i >= 0; i--) {
        vg_node *u = &g->nodes[i];
        if (u->need_grad && u->grad_ready && vg_ops[u->op].backward)
            vg_ops[u->op].backward(g, u);
    }
}

void check_grads(vg_graph *g, int y, leaf *leaves, int n_leaves, vt_rng *r, double h, double tol)
{
    const vg_node *v = &g->nodes[y];
    int ny = v->rows * v->cols;
    float *w = malloc((size_t)ny * sizeof(float));
    fill(r, w, (size_t)ny, -1, 1);
    vg_forward(g, -1);
    backward_from(g, y, w);
    for (int k = 0; k < n_leaves; k++) {
        leaf *l = &leaves[k];
        if (!l->grad)
            continue;
        for (int i = 0; i < l->n; i++) {
            float saved = l->val[i];
            l->val[i] = saved + (float)h;
            double hp = (double)l->val[i] - saved;
            vg_forward(g, -1);
            double fp = project(g, y, w);
            l->val[i] = saved - (float)h;
            double hm = saved - (double)l->val[i];
            vg_forward(g, -1);
            double fm = project(g, y, w);
            l->val[i] = saved;
            double fd = (fp - fm) / (hp + hm), an = l->grad[i];
            ck_assert_msg(fabs(fd - an) <= tol * (1.0 + fabs(fd)),
                          "op %s leaf %d elem %d: analytic %.6g vs finite difference %.6g",
                          vg_ops[v->op].name, k, i, an, fd);
        }
    }
    free(w);
}
