/* A 3x3 depthwise convolution kernel for the shapes BlazeFace is made of.
 *
 * XNNPACK's depthwise kernels (this Debian snapshot) walk an indirection
 * buffer and reload all nine filter taps for every output pixel; with 24 to
 * 48 channels that per-pixel overhead dominates, and it made depthwise
 * convolution 45% of the 256 model's time at about a sixth of the rate the
 * same kernel reaches at 96 channels. This kernel keeps one 8-channel slice of
 * the filter in registers for a whole output row and reads its input directly,
 * accumulating bias then the taps in row-major order with fused multiply-adds,
 * as XNNPACK does (results match it bit for bit away from the borders).
 *
 * Private to src/analysis/nn; session.c runs the ops this accepts. */
#ifndef FC_ANALYSIS_NN_DWCONV_H
#define FC_ANALYSIS_NN_DWCONV_H

#include <stdbool.h>

#include "analysis/nn/nn_ir.h"

/* Whether fc_nn_dwconv_run can run `op` (a DWCONV of model `m`): 3x3,
 * multiplier 1, no dilation, stride 1 or 2, pads of at most 1, channels a
 * multiple of 8. */
bool fc_nn_dwconv_supported(const fc_nn_model *m, const fc_nn_op *op);

/* Runs `op` from the NHWC tensor `in` into `out`; shapes come from the
 * op's values in `m`. */
void fc_nn_dwconv_run(const fc_nn_model *m, const fc_nn_op *op, const float *in, float *out);

#endif
