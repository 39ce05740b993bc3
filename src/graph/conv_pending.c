/* TEMPORARY stubs until branch conv-ops is merged. */
#include "graph/graph.h"
#include "graph/conv_pending.h"
int vg_conv2d_shape(const int in[3], int out_ch, int k, int s, int p, int out[3])
{
    if (k < 1 || s < 1 || p < 0) return -1;
    out[0] = out_ch; out[1] = (in[1] + 2 * p - k) / s + 1; out[2] = (in[2] + 2 * p - k) / s + 1;
    return in[1] + 2 * p < k || in[2] + 2 * p < k ? -1 : 0;
}
int vg_convt2d_shape(const int in[3], int out_ch, int k, int s, int p, int op, int out[3])
{
    if (k < 1 || s < 1 || p < 0 || op >= s) return -1;
    out[0] = out_ch; out[1] = (in[1] - 1) * s - 2 * p + k + op; out[2] = (in[2] - 1) * s - 2 * p + k + op;
    return out[1] < 1 || out[2] < 1 ? -1 : 0;
}
int vg_conv2d(vg_graph *g, int x, int w, int b, int o, int k, int s, int p) { (void)g,(void)x,(void)w,(void)b,(void)o,(void)k,(void)s,(void)p; return -1; }
int vg_convt2d(vg_graph *g, int x, int w, int b, int o, int k, int s, int p, int op) { (void)g,(void)x,(void)w,(void)b,(void)o,(void)k,(void)s,(void)p,(void)op; return -1; }
int vg_reshape(vg_graph *g, int x, int c, int h, int w) { (void)g,(void)c,(void)h,(void)w; return x; }
int vg_layernorm(vg_graph *g, int x, int gm, int bt, float e) { (void)g,(void)gm,(void)bt,(void)e; return -1; }
void vg_set_shape(vg_graph *g, int node, int c, int h, int w) { (void)g,(void)node,(void)c,(void)h,(void)w; }
int vg_chw_to_hwc(vg_graph *g, int x) { (void)g; (void)x; return -1; }
int vg_hwc_to_chw(vg_graph *g, int x, int c, int h, int w) { (void)g,(void)x,(void)c,(void)h,(void)w; return -1; }
