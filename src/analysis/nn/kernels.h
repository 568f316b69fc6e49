/* Our own kernels for the few ops this XNNPACK does badly on BlazeFace.
 *
 * - 3x3 depthwise convolution. XNNPACK's kernels (this Debian snapshot) walk
 *   an indirection buffer and reload all nine filter taps for every output
 *   pixel; with 24 to 48 channels that per-pixel overhead dominates: it made
 *   depthwise convolution 45% of the 256 model's time, at about half the rate
 *   the same kernel reaches at 96 channels. Ours keeps one 8-channel slice of
 *   the filter in registers for a whole output row and reads its input
 *   directly, accumulating bias then the taps in row-major order with fused
 *   multiply-adds, as XNNPACK does (results match it away from the borders).
 * - Add of a tensor and a narrower one whose missing channels are zero (the
 *   translation of BlazeFace's Concat-with-zeros + Add). XNNPACK's Add needs
 *   equal shapes, so the narrow input was first padded by a copy that cost
 *   more than the Add (its constant-pad kernel is called once per pixel).
 *
 * Private to src/analysis/nn; session.c runs the ops these accept, each as a
 * segment between XNNPACK runtimes. */
#ifndef FC_ANALYSIS_NN_KERNELS_H
#define FC_ANALYSIS_NN_KERNELS_H

#include <stdbool.h>

#include "analysis/nn/nn_ir.h"

/* Whether fc_nn_kernel_run runs `op` of model `m` instead of XNNPACK:
 * FC_NN_OP_ADD_NARROW always; a DWCONV when it is 3x3, multiplier 1, no
 * dilation, stride 1 or 2, pads of at most 1, at least 8 channels. */
bool fc_nn_kernel_supported(const fc_nn_model *m, const fc_nn_op *op);

/* Runs `op`; vbuf[v] holds value v (NHWC) for its inputs and output. */
void fc_nn_kernel_run(const fc_nn_model *m, const fc_nn_op *op, float *const *vbuf);

#endif
