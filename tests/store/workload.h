/* The crash test's workload, shared by the writer it kills (store_writer.c)
 * and the test that checks what survived (test_store_crash.c): write n
 * (n >= 1) is a pure function of n, and so is the state after it, so the
 * test can tell which committed state a file holds.
 *
 * Every fifth write removes the stream and the next adds it again; the rest
 * change its settings, with zero to three quality rows, so a torn write
 * (the stream row of one write with the quality rows of another) shows. */
#ifndef FC_TESTS_STORE_WORKLOAD_H
#define FC_TESTS_STORE_WORKLOAD_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

#define WORKLOAD_ID "cam0"
#define WORKLOAD_SPEC "synthetic:procedural,id=cam0,size=320x240"

static inline fc_store_op workload_op(int64_t n)
{
    return n % 5 == 0 ? FC_STORE_DELETE : n % 5 == 1 ? FC_STORE_INSERT : FC_STORE_UPDATE;
}

/* The row write n carries (and the stored row after it, times aside). */
static inline void workload_row(int64_t n, fc_store_stream *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", WORKLOAD_ID);
    snprintf(row->spec, sizeof row->spec, "%s", WORKLOAD_SPEC);
    row->encode_fps = 1 + (double)(n % 239);
    row->detect = (int)(n % 2);
    row->detect_fps = 1 + (double)((n * 7) % 239);
    for (int t = 0; t < (int)(n % 4) && t < FC_TIER_COUNT; t++)
        row->quality[t] = 1 + (int)((n * 13 + t * 31) % 100);
}

/* After writes 1..n: is the stream there? */
static inline int workload_present(int64_t n)
{
    return n > 0 && n % 5 != 0;
}

#endif
