/* Inference alone, as bench/ort/bench.mjs measures onnxruntime: one session
 * on one thread, the model's input from a PPM normalised as the detector does
 * (rgb / 127.5 - 1), RUNS runs after 10 warm-up runs.
 *
 *   build/bench/detect-infer MODEL INPUT.ppm RUNS [avx512|avx2|scalar]
 *
 * Prints one JSON line: the ISA, and the median and 99th percentile of each
 * run's wall time and thread CPU time in milliseconds. CPU time is what a
 * run costs even when a busy machine makes it wait for a core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/nn/nn.h"

static double seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, int n, double p)
{
    int i = (int)(p / 100.0 * n + 0.999999) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* A binary 8-bit PPM of exactly w x h into x as the model's input. */
static int read_input(const char *path, long w, long h, float *x)
{
    FILE *f = fopen(path, "rb");
    long pw, ph;
    int maxval, ok = 0;
    if (f && fscanf(f, "P6 %ld %ld %d", &pw, &ph, &maxval) == 3 && fgetc(f) != EOF && pw == w &&
        ph == h && maxval == 255) {
        ok = 1;
        for (long i = 0; i < w * h * 3 && ok; i++) {
            int c = fgetc(f);
            ok = c != EOF;
            x[i] = (float)c / 127.5f - 1.0f;
        }
    }
    if (f) fclose(f);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: detect-infer MODEL INPUT.ppm RUNS [avx512|avx2|scalar]\n");
        return 2;
    }
    int runs = atoi(argv[3]);
    if (runs < 1 || runs > 1000000) {
        fprintf(stderr, "detect-infer: RUNS must be 1 to 1000000\n");
        return 2;
    }
    fc_nn_isa isa = FC_NN_ISA_DEFAULT;
    if (argc == 5) {
        static const fc_nn_isa named[] = {FC_NN_ISA_AVX512, FC_NN_ISA_AVX2, FC_NN_ISA_SCALAR};
        for (size_t i = 0; i < sizeof named / sizeof *named; i++)
            if (strcmp(argv[4], fc_nn_isa_name(named[i])) == 0) isa = named[i];
        if (isa == FC_NN_ISA_DEFAULT) {
            fprintf(stderr, "detect-infer: ISA '%s': expected avx512, avx2 or scalar\n", argv[4]);
            return 2;
        }
    }
    char err[512];
    fc_nn_model *m;
    fc_nn_session *s;
    fc_nn_isa used;
    if (fc_nn_model_load(argv[1], &m, err, sizeof err) < 0 ||
        fc_nn_isa_resolve(isa, &used, err, sizeof err) < 0 ||
        fc_nn_session_new_isa(m, used, &s, err, sizeof err) < 0) {
        fprintf(stderr, "detect-infer: %s\n", err);
        return 1;
    }
    fc_nn_shape in;
    fc_nn_model_input_shape(m, 0, &in);
    if (in.rank != 4 || in.dims[3] != 3 ||
        read_input(argv[2], (long)in.dims[2], (long)in.dims[1], fc_nn_session_input(s, 0)) < 0) {
        fprintf(stderr, "detect-infer: %s is not a %lldx%lld binary PPM\n", argv[2],
                (long long)in.dims[2], (long long)in.dims[1]);
        return 1;
    }
    double *wall = malloc((size_t)runs * sizeof *wall), *cpu = malloc((size_t)runs * sizeof *cpu);
    if (!wall || !cpu) {
        fprintf(stderr, "detect-infer: out of memory\n");
        return 1;
    }
    for (int r = -10; r < runs; r++) {
        double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
        if (fc_nn_session_run(s, err, sizeof err) < 0) {
            fprintf(stderr, "detect-infer: %s\n", err);
            return 1;
        }
        if (r < 0) continue;
        wall[r] = (seconds(CLOCK_MONOTONIC) - w0) * 1e3;
        cpu[r] = (seconds(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3;
    }
    qsort(wall, (size_t)runs, sizeof *wall, by_value);
    qsort(cpu, (size_t)runs, sizeof *cpu, by_value);
    printf("{\"isa\": \"%s\", \"runs\": %d, \"inference_ms\": {\"median\": %.4f, \"p99\": %.4f}, "
           "\"cpu_ms\": {\"median\": %.4f, \"p99\": %.4f}}\n",
           fc_nn_isa_name(used), runs, percentile(wall, runs, 50), percentile(wall, runs, 99),
           percentile(cpu, runs, 50), percentile(cpu, runs, 99));
    free(wall);
    free(cpu);
    fc_nn_session_free(s);
    fc_nn_model_free(m);
    return 0;
}
