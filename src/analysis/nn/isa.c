/* See isa.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/isa.h"

bool fc_nn_isa_supported(fc_nn_isa isa)
{
    switch (isa) {
    case FC_NN_ISA_DEFAULT:
    case FC_NN_ISA_SCALAR:
        return true;
#if defined(__x86_64__) && defined(__GNUC__)
    /* libgcc's checks include the OS saving the wider registers (XGETBV). */
    case FC_NN_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case FC_NN_ISA_AVX512:
        return __builtin_cpu_supports("avx512f");
#else
    case FC_NN_ISA_AVX2:
    case FC_NN_ISA_AVX512:
        return false;
#endif
    }
    return false;
}

const char *fc_nn_isa_name(fc_nn_isa isa)
{
    switch (isa) {
    case FC_NN_ISA_DEFAULT:
        return "default";
    case FC_NN_ISA_SCALAR:
        return "scalar";
    case FC_NN_ISA_AVX2:
        return "avx2";
    case FC_NN_ISA_AVX512:
        return "avx512";
    }
    return "unknown";
}

int fc_nn_isa_resolve(fc_nn_isa isa, fc_nn_isa *out, char *err, size_t errlen)
{
    const char *env = isa == FC_NN_ISA_DEFAULT ? getenv("FC_NN_ISA") : NULL;
    if (env && env[0]) {
        static const fc_nn_isa named[] = {FC_NN_ISA_SCALAR, FC_NN_ISA_AVX2, FC_NN_ISA_AVX512};
        for (size_t i = 0; i < sizeof named / sizeof *named && isa == FC_NN_ISA_DEFAULT; i++)
            if (strcmp(env, fc_nn_isa_name(named[i])) == 0) isa = named[i];
        if (isa == FC_NN_ISA_DEFAULT) {
            snprintf(err, errlen, "FC_NN_ISA=%s: expected avx512, avx2 or scalar", env);
            return -EINVAL;
        }
    }
    if (isa == FC_NN_ISA_DEFAULT) {
        *out = fc_nn_isa_supported(FC_NN_ISA_AVX512) ? FC_NN_ISA_AVX512
               : fc_nn_isa_supported(FC_NN_ISA_AVX2) ? FC_NN_ISA_AVX2
                                                     : FC_NN_ISA_SCALAR;
        return 0;
    }
    if (!fc_nn_isa_supported(isa)) {
        snprintf(err, errlen, "%s%s: this CPU does not run %s", env ? "FC_NN_ISA=" : "",
                 fc_nn_isa_name(isa), isa == FC_NN_ISA_AVX2 ? "AVX2 with FMA" : "AVX-512F");
        return -ENOTSUP;
    }
    *out = isa;
    return 0;
}
