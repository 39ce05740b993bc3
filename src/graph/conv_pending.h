/* TEMPORARY: declarations of the convolution ops being written on branch
 * conv-ops; removed when that branch is merged (graph.h then has them). */
#ifndef VAE_GRAPH_CONV_PENDING_H
#define VAE_GRAPH_CONV_PENDING_H
int vg_conv2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int out[3]);
int vg_convt2d_shape(const int in[3], int out_ch, int k, int stride, int pad, int outpad, int out[3]);
int vg_conv2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad);
int vg_convt2d(vg_graph *g, int x, int w, int b, int out_ch, int k, int stride, int pad, int outpad);
int vg_reshape(vg_graph *g, int x, int c, int h, int w);
int vg_layernorm(vg_graph *g, int x, int gamma, int beta, float eps);
void vg_set_shape(vg_graph *g, int node, int c, int h, int w);
int vg_chw_to_hwc(vg_graph *g, int x);
int vg_hwc_to_chw(vg_graph *g, int x, int c, int h, int w);
#endif
