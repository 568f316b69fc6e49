/* Where inference time goes, op by op, for each instruction set our kernels
 * run here (FC_NN_ISA's choices), measured in one run.
 *
 *   build/bench/detect-ops MODEL [ROUNDS]      (bench/detect-ops runs both models)
 *
 * Each round runs the model once per ISA, in turn, so that a busy machine
 * slows all of them alike; each op's figure is its median thread CPU time over
 * ROUNDS (default 200) after 10 warm-up runs, and its fastest run (the
 * least disturbed by other work on a shared machine). Ops are grouped by what they
 * run and their input size; the input is a fixed pattern (the cost does not
 * depend on the values). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/nn.h"

#define MAX_SEGMENTS 512

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct row {
    char what[96];
    int count;
    double macs, seconds, fastest;
} row;

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: detect-ops MODEL [ROUNDS]\n");
        return 2;
    }
    int rounds = argc == 3 ? atoi(argv[2]) : 200;
    if (rounds < 10 || rounds > 100000) {
        fprintf(stderr, "detect-ops: ROUNDS must be 10 to 100000\n");
        return 2;
    }
    char err[512];
    fc_nn_model *m;
    if (fc_nn_model_load(argv[1], &m, err, sizeof err) < 0) {
        fprintf(stderr, "detect-ops: %s\n", err);
        return 1;
    }
    static const fc_nn_isa all[] = {FC_NN_ISA_AVX512, FC_NN_ISA_AVX2, FC_NN_ISA_SCALAR};
    fc_nn_isa isa[3];
    fc_nn_session *s[3];
    int nisa = 0, nseg = 0;
    for (int i = 0; i < 3; i++) {
        if (!fc_nn_isa_supported(all[i])) continue;
        if (fc_nn_session_new_isa(m, all[i], &s[nisa], err, sizeof err) < 0) {
            fprintf(stderr, "detect-ops: %s\n", err);
            return 1;
        }
        fc_nn_shape in;
        fc_nn_model_input_shape(m, 0, &in);
        float *x = fc_nn_session_input(s[nisa], 0);
        for (size_t k = 0; k < fc_nn_shape_elements(&in); k++)
            x[k] = (float)(k % 251) / 125.0f - 1.0f;
        isa[nisa++] = all[i];
    }
    fc_nn_op_cost *cost = malloc(MAX_SEGMENTS * sizeof *cost);
    double *t = malloc((size_t)nisa * MAX_SEGMENTS * (size_t)rounds * sizeof *t);
    if (!cost || !t) {
        fprintf(stderr, "detect-ops: out of memory\n");
        return 1;
    }
    for (int r = -10; r < rounds; r++)
        for (int i = 0; i < nisa; i++) {
            nseg = fc_nn_session_profile(s[i], cost, MAX_SEGMENTS, err, sizeof err);
            if (nseg < 0 || nseg > MAX_SEGMENTS) {
                fprintf(stderr, "detect-ops: %s\n", nseg < 0 ? err : "too many segments");
                return 1;
            }
            for (int k = 0; r >= 0 && k < nseg; k++)
                t[((size_t)i * MAX_SEGMENTS + (size_t)k) * (size_t)rounds + (size_t)r] =
                    cost[k].seconds;
        }
    printf("%s, median of %d rounds (thread CPU time, microseconds)\n\n", argv[1], rounds);
    for (int i = 0; i < nisa; i++) {
        /* Each session has the same segments; group them by what they run. */
        fc_nn_session_profile(s[i], cost, MAX_SEGMENTS, err, sizeof err);
        row *rows = calloc((size_t)nseg, sizeof *rows);
        int nrows = 0;
        double total = 0, total_macs = 0, total_fastest = 0;
        for (int k = 0; k < nseg; k++) {
            double *v = t + ((size_t)i * MAX_SEGMENTS + (size_t)k) * (size_t)rounds;
            qsort(v, (size_t)rounds, sizeof *v, by_value);
            double med = v[rounds / 2], fastest = v[0];
            int j = 0;
            while (j < nrows && strcmp(rows[j].what, cost[k].what) != 0)
                j++;
            if (j == nrows) snprintf(rows[nrows++].what, sizeof rows->what, "%s", cost[k].what);
            rows[j].count++;
            rows[j].macs += cost[k].macs;
            rows[j].seconds += med;
            rows[j].fastest += fastest;
            total += med;
            total_fastest += fastest;
            total_macs += cost[k].macs;
        }
        printf("| %s: op | count | MMAC | median us | share | GMAC/s | fastest us |\n"
               "|---|---|---|---|---|---|---|\n",
               fc_nn_isa_name(isa[i]));
        for (int j = 0; j < nrows; j++)
            printf("| %s | %d | %.2f | %.0f | %.1f%% | %.1f | %.0f |\n", rows[j].what,
                   rows[j].count, rows[j].macs / 1e6, rows[j].seconds * 1e6,
                   100 * rows[j].seconds / total, rows[j].macs / rows[j].seconds / 1e9,
                   rows[j].fastest * 1e6);
        printf("| total | %d | %.1f | %.0f | 100%% | %.1f | %.0f |\n\n", nseg, total_macs / 1e6,
               total * 1e6, total_macs / total / 1e9, total_fastest * 1e6);
        free(rows);
        fc_nn_session_free(s[i]);
    }
    free(t);
    free(cost);
    fc_nn_model_free(m);
    return 0;
}
