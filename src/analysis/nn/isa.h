/* Which instruction set our kernels (kernels.h) use.
 *
 * Chosen per session: the best this CPU has (AVX-512F, else AVX2 with FMA,
 * else the portable C build), or what the FC_NN_ISA environment variable
 * forces (avx512, avx2 or scalar), so that every path can be measured and
 * tested on one machine. XNNPACK picks its own kernels; with our kernels
 * running every operator of BlazeFace it runs nothing there.
 *
 * Any thread may call these; nothing here allocates. */
#ifndef FC_ANALYSIS_NN_ISA_H
#define FC_ANALYSIS_NN_ISA_H

#include <stdbool.h>
#include <stddef.h>

typedef enum fc_nn_isa {
    FC_NN_ISA_DEFAULT = 0, /* FC_NN_ISA from the environment, else the best supported */
    FC_NN_ISA_SCALAR,      /* portable C: what the compiler makes of it for the baseline */
    FC_NN_ISA_AVX2,        /* AVX2 + FMA, 8-float vectors */
    FC_NN_ISA_AVX512,      /* AVX-512F, 16-float vectors */
} fc_nn_isa;

/* Whether this CPU (and its OS) runs `isa`; FC_NN_ISA_DEFAULT always. */
bool fc_nn_isa_supported(fc_nn_isa isa);

/* "scalar", "avx2", "avx512" ("default" for FC_NN_ISA_DEFAULT). */
const char *fc_nn_isa_name(fc_nn_isa isa);

/* Resolves FC_NN_ISA_DEFAULT: FC_NN_ISA when set, else the best this CPU
 * runs. A value that names no ISA, or one this CPU lacks, is an error that
 * says so (-EINVAL, -ENOTSUP); so is forcing an unsupported `isa`. */
int fc_nn_isa_resolve(fc_nn_isa isa, fc_nn_isa *out, char *err, size_t errlen);

#endif
