/* Our own kernels, run instead of XNNPACK for the operators of BlazeFace.
 *
 * This XNNPACK (Debian's 2022 snapshot) does these shapes badly, and picks
 * its instruction set by itself: its depthwise kernel reloads all nine taps
 * for every output pixel; its padded Add needed a copy that cost more than
 * the Add; every operator is a separate pass over memory. Ours:
 * - FC_NN_OP_FUSED: a convolution (groups 1) as a matrix product with its
 *   depthwise pre-stage, bias, residual add (narrower or pooled) and clamp in
 *   the same pass over each chunk of output pixels, the chunk's depthwise
 *   output or im2col patches staying in L1;
 * - 3x3 depthwise convolution alone; 2x2 stride-2 max pool; the
 *   channel-padding Add (FC_NN_OP_ADD_NARROW).
 * Each is compiled for AVX-512, AVX2 and portable C (isa.h picks one per
 * session).
 *
 * Private to src/analysis/nn. A prepared kernel belongs to one session and
 * runs on that session's thread. */
#ifndef FC_ANALYSIS_NN_KERNELS_H
#define FC_ANALYSIS_NN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/nn/isa.h"
#include "analysis/nn/nn_ir.h"

typedef struct fc_nn_kernel fc_nn_kernel;

/* Whether kernels.c runs `op` of model `m` instead of XNNPACK:
 * FC_NN_OP_ADD_NARROW and FC_NN_OP_FUSED always; a DWCONV when it is 3x3,
 * multiplier 1, no dilation, stride 1 or 2, pads of at most 1, batch 1; a
 * MAXPOOL when it is 2x2, stride 2, unpadded, batch 1. */
bool fc_nn_kernel_supported(const fc_nn_model *m, const fc_nn_op *op);

/* Whether fuse.c may turn CONV `op` into FC_NN_OP_FUSED: groups 1, batch 1,
 * static weights, a window whose patches are bounded. */
bool fc_nn_kernel_conv_supported(const fc_nn_model *m, const fc_nn_op *op);

/* Prepares a supported `op` for `isa` (resolved, not FC_NN_ISA_DEFAULT):
 * packs its weights. *scratch is raised to the floats of scratch memory it
 * needs while running. 0, or -ENOMEM with err set. */
int fc_nn_kernel_new(const fc_nn_model *m, const fc_nn_op *op, fc_nn_isa isa, fc_nn_kernel **out,
                     size_t *scratch, char *err, size_t errlen);

/* Runs it; vbuf[v] holds value v (NHWC) for its inputs and output. */
void fc_nn_kernel_run(const fc_nn_kernel *k, float *const *vbuf, float *scratch);

/* What it runs, for profiles: "dw3x3 + conv1x1 + add  64x64x24 -> 64x64x28";
 * its multiply-adds into *macs. */
void fc_nn_kernel_describe(const fc_nn_kernel *k, char *buf, size_t len, double *macs);

void fc_nn_kernel_free(fc_nn_kernel *k);

#endif
