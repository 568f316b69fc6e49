/* The kernels, written once over a vector type and compiled per ISA.
 *
 * The including file (kernels_avx512.c, kernels_avx2.c, kernels_scalar.c)
 * defines, before including this:
 *   vf, V                 the vector type and its floats
 *   vset1(x) vload(p) vstore(p, v) vfma(a, b, c) = a * b + c
 *   vadd vmax vmin        (vmax(lo, v) keeps a NaN v, as maxps does)
 *   vload_n(p, n), vstore_n(p, v, n)   the first n lanes (1..V-1), others 0
 *   KERNELS               the name of the fc_nn_isa_kernels table to define
 * and may define DWCONV, the depthwise kernel to use (default: this file's).
 *
 * Accumulation order is XNNPACK's, so that results stay as close to it and
 * to onnxruntime as they were: each output starts at its bias and adds the
 * products in order of the weights' OHWI layout (kernel row, column, input
 * channel), one fused multiply-add each where the ISA has them; a residual
 * is added after the last product, then the clamp. */
#include <math.h>
#include <string.h>

#include "analysis/nn/kernels_isa.h"

#define CLAMP(v) vmin(hi, vmax(lo, (v)))

/* ---- matrix kernel: MR pixels x NV vectors of output channels ---- */

typedef struct tile {
    const float *a; /* row m of A: segment i at a + m * lda + i * seg_step */
    long lda, nseg, seg_step, seg_k;
    float *out; /* pixel m at out + m * ldo */
    long ldo;
    const float *res[16]; /* pixel m's residual (top-left of its pool window) */
    long pool_x, pool_y;  /* offsets of the pool window's other pixels */
    float lo, hi;         /* read after the products: no register held for them */
} tile;

enum { NO_RES, RES, RES_POOL };

static inline __attribute__((always_inline)) vf residual(const int EPI, const tile *t,
                                                         const float *p, int nr)
{
    vf x = nr == V ? vload(p) : vload_n(p, nr);
    if (EPI == RES_POOL) {
        const float *p1 = p + t->pool_x, *p2 = p + t->pool_y, *p3 = p2 + t->pool_x;
        vf x1 = nr == V ? vload(p1) : vload_n(p1, nr);
        vf x2 = nr == V ? vload(p2) : vload_n(p2, nr);
        vf x3 = nr == V ? vload(p3) : vload_n(p3, nr);
        x = vmax(vmax(x, x1), vmax(x2, x3));
    }
    return x;
}

static inline __attribute__((always_inline)) void ukernel(const int MR, const int NV, const int EPI,
                                                          const fc_nn_group *g, const tile *t)
{
    vf acc[16][FC_NN_GROUP_MAX];
    const float *w = g->panel;
#pragma GCC unroll 16
    for (int j = 0; j < NV; j++) {
        vf b = vload(w + j * V);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++)
            acc[m][j] = b;
    }
    w += NV * V;
    const float *a = t->a;
    for (long sg = 0; sg < t->nseg; sg++, a += t->seg_step)
#pragma GCC unroll 2
        for (long k = 0; k < t->seg_k; k++, w += NV * V) {
            vf wv[FC_NN_GROUP_MAX];
#pragma GCC unroll 16
            for (int j = 0; j < NV; j++)
                wv[j] = vload(w + j * V);
#pragma GCC unroll 16
            for (int m = 0; m < MR; m++) {
                vf x = vset1(a[m * t->lda + k]);
#pragma GCC unroll 16
                for (int j = 0; j < NV; j++)
                    acc[m][j] = vfma(x, wv[j], acc[m][j]);
            }
        }
    const vf lo = vset1(t->lo), hi = vset1(t->hi);
    if (g->whole) {
        /* The common case without per-vector lane counts to test. */
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
            float *o = t->out + m * t->ldo;
#pragma GCC unroll 16
            for (int j = 0; j < NV; j++) {
                vf v = acc[m][j];
                if (EPI != NO_RES) v = vadd(v, residual(EPI, t, t->res[m] + g->col[j], V));
                vstore(o + g->col[j], CLAMP(v));
            }
        }
        return;
    }
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
        float *o = t->out + m * t->ldo;
#pragma GCC unroll 16
        for (int j = 0; j < NV; j++) {
            vf v = acc[m][j];
            if (EPI != NO_RES && g->nres[j] > 0)
                v = vadd(v, residual(EPI, t, t->res[m] + g->col[j], g->nres[j]));
            v = CLAMP(v);
            if (g->nstore == V)
                vstore(o + g->col[j], v);
            else
                vstore_n(o + g->col[j], v, g->nstore);
        }
    }
}

/* One instance per (pixels, vectors, residual) triple; the compiler keeps
 * every accumulator in a register. */
typedef void (*ukernel_fn)(const fc_nn_group *g, const tile *t);
#define UKERNEL(MR, NV, EPI)                                                                       \
    static void ukernel_##MR##_##NV##_##EPI(const fc_nn_group *g, const tile *t)                   \
    {                                                                                              \
        ukernel(MR, NV, EPI, g, t);                                                                \
    }
#define UKERNELS(MR, NV) UKERNEL(MR, NV, NO_RES) UKERNEL(MR, NV, RES) UKERNEL(MR, NV, RES_POOL)
#define ROW(MR, NV)                                                                                \
    {                                                                                              \
        ukernel_##MR##_##NV##_NO_RES, ukernel_##MR##_##NV##_RES, ukernel_##MR##_##NV##_RES_POOL    \
    }
#if V == 16
UKERNELS(16, 1)
UKERNELS(8, 2)
UKERNELS(8, 3)
static const ukernel_fn tile_kernel[4][3] = {{NULL}, ROW(16, 1), ROW(8, 2), ROW(8, 3)};
#else
UKERNELS(8, 1)
UKERNELS(6, 2)
UKERNELS(4, 3)
static const ukernel_fn tile_kernel[4][3] = {{NULL}, ROW(8, 1), ROW(6, 2), ROW(4, 3)};
#endif
UKERNELS(1, 1)
UKERNELS(1, 2)
UKERNELS(1, 3)
static const ukernel_fn pixel_kernel[4][3] = {{NULL}, ROW(1, 1), ROW(1, 2), ROW(1, 3)};

/* ---- depthwise 3x3 ---- */

/* Adjacent output pixels computed together: enough independent
 * accumulator chains to cover the multiply-add latency, with the nine taps
 * still in registers. */
#if V == 16
#define DW_BLOCK 12
#else
#define DW_BLOCK 6
#endif

/* NB adjacent output pixels of one channel slice whose windows lie inside
 * the input's columns, over the window rows [ky0, ky1) inside its rows: the
 * input columns they share are loaded once, and each pixel still adds its
 * taps in row-major order. p is the window's top-left input (row ky = 0). */
static inline __attribute__((always_inline)) void
dw_block(const int S, const int NB, const int KX0, const int KX1, const bool clamp, const float *p,
         long C, long WC, long ky0, long ky1, const float *tap, const float *bias, float *dst,
         const fc_nn_dw *d)
{
    vf acc[DW_BLOCK], k[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++)
        k[t] = vload(tap + t * C);
#pragma GCC unroll 16
    for (int o = 0; o < NB; o++)
        acc[o] = vload(bias);
#pragma GCC unroll 3
    for (int ky = 0; ky < 3; ky++, p += WC) {
        if (ky < ky0 || ky >= ky1) continue;
            /* Column by column, so one input vector is live at a time. */
#pragma GCC unroll 32
        for (int i = KX0; i < S * (NB - 1) + KX1; i++) {
            const vf x = vload(p + i * C);
#pragma GCC unroll 16
            for (int o = 0; o < NB; o++)
                if (i - o * S >= KX0 && i - o * S < KX1)
                    acc[o] = vfma(x, k[ky * 3 + i - o * S], acc[o]);
        }
    }
    const vf lo = vset1(d->lo), hi = vset1(d->hi);
#pragma GCC unroll 16
    for (int o = 0; o < NB; o++)
        vstore(dst + o * C, clamp ? CLAMP(acc[o]) : acc[o]);
}

/* Channels [c, c + n) of output pixel ox (n < V: masked), its window
 * clipped to the input: rows [ky0, ky1), columns as they fall. */
static inline __attribute__((always_inline)) void dw_pixel(const int S, const fc_nn_dw *d,
                                                           const float *in, float *dst, long iy0,
                                                           long ky0, long ky1, long ox, long c,
                                                           int n)
{
    /* dst is output pixel ox. */
    const long W = d->W, C = d->C;
    const vf lo = vset1(d->lo), hi = vset1(d->hi);
    const long ix0 = ox * S - d->pl;
    const long kx0 = ix0 < 0 ? -ix0 : 0, kx1 = W - ix0 < 3 ? W - ix0 : 3;
    vf acc = n == V ? vload(d->bias + c) : vload_n(d->bias + c, n);
    for (long ky = ky0; ky < ky1; ky++)
        for (long kx = kx0; kx < kx1; kx++) {
            const float *p = in + ((iy0 + ky) * W + ix0 + kx) * C + c;
            const float *t = d->filter + (ky * 3 + kx) * C + c;
            acc = vfma(n == V ? vload(p) : vload_n(p, n), n == V ? vload(t) : vload_n(t, n), acc);
        }
    acc = CLAMP(acc);
    if (n == V)
        vstore(dst + c, acc);
    else
        vstore_n(dst + c, acc, n);
}

/* Every channel slice of NB pixels from ox: a last partial slice is done as
 * the last V channels, the overlap computed twice to the same values. */
static inline __attribute__((always_inline)) void
dw_pixels(const int S, const int NB, const int KX0, const int KX1, const fc_nn_dw *d,
          const float *in, float *dst, long iy0, long ky0, long ky1, long ox)
{
    const long C = d->C;
    const float *p = in + (iy0 * d->W + ox * S - d->pl) * C;
    const bool clamp = d->lo != -INFINITY || d->hi != INFINITY;
    for (long cb = 0; cb < C; cb += V) {
        const long c = cb + V <= C ? cb : C - V;
        if (clamp)
            dw_block(S, NB, KX0, KX1, true, p + c, C, d->W * C, ky0, ky1, d->filter + c,
                     d->bias + c, dst + c, d);
        else
            dw_block(S, NB, KX0, KX1, false, p + c, C, d->W * C, ky0, ky1, d->filter + c,
                     d->bias + c, dst + c, d);
    }
}

/* Output pixel ox whose window hangs over the input's left or right edge:
 * the one-column overhang of a 3x3 window with pad 1 has kernels of its own,
 * anything else (or fewer channels than a vector) the general path. */
static inline __attribute__((always_inline)) void dw_edge(const int S, const fc_nn_dw *d,
                                                          const float *in, float *dst, long iy0,
                                                          long ky0, long ky1, long ox)
{
    const long C = d->C, ix0 = ox * S - d->pl;
    const int n = C < V ? (int)C : V;
    if (n == V && ix0 == -1 && d->W >= 2)
        dw_pixels(S, 1, 1, 3, d, in, dst, iy0, ky0, ky1, ox);
    else if (n == V && ix0 >= 0 && ix0 + 2 == d->W)
        dw_pixels(S, 1, 0, 2, d, in, dst, iy0, ky0, ky1, ox);
    else
        for (long cb = 0; cb < C; cb += n)
            dw_pixel(S, d, in, dst, iy0, ky0, ky1, ox, cb + n <= C ? cb : C - n, n);
}

/* Row oy of the output into dst: the pixels whose windows lie inside the
 * input's columns DW_BLOCK at a time (every channel slice of a block before
 * the next, so the block's inputs stay in L1), the rest one by one. */
static inline __attribute__((always_inline)) void dw_row(const int S, const fc_nn_dw *d,
                                                         const float *in, float *dst, long oy)
{
    const long H = d->H, W = d->W, C = d->C, OW = d->OW;
    const long iy0 = oy * S - d->pt;
    const long ky0 = iy0 < 0 ? -iy0 : 0, ky1 = H - iy0 < 3 ? H - iy0 : 3;
    long first = (d->pl + S - 1) / S, last = (W - 3 + d->pl) / S + 1;
    if (last > OW) last = OW;
    if (C < V || first > last) first = last = OW;
    long ox = 0;
    for (; ox < first; ox++)
        dw_edge(S, d, in, dst + ox * C, iy0, ky0, ky1, ox);
    for (; ox + DW_BLOCK <= last; ox += DW_BLOCK)
        dw_pixels(S, DW_BLOCK, 0, 3, d, in, dst + ox * C, iy0, ky0, ky1, ox);
    for (; ox < last; ox++)
        dw_pixels(S, 1, 0, 3, d, in, dst + ox * C, iy0, ky0, ky1, ox);
    for (; ox < OW; ox++)
        dw_edge(S, d, in, dst + ox * C, iy0, ky0, ky1, ox);
}

/* Rows [r0, r1) of the output into out, which is row r0. */
static void dwconv(const fc_nn_dw *d, const float *in, float *out, long r0, long r1)
{
    for (long oy = r0; oy < r1; oy++) {
        float *dst = out + (oy - r0) * d->OW * d->C;
        if (d->stride == 1)
            dw_row(1, d, in, dst, oy);
        else
            dw_row(2, d, in, dst, oy);
    }
}

#ifndef DWCONV
#define DWCONV dwconv
#endif

/* ---- convolution as matrix products ---- */

/* n floats from src to dst with whole vectors where there are V of them. */
static inline void copy_floats(float *dst, const float *src, long n)
{
    if (n < V) {
        if (n > 0) vstore_n(dst, vload_n(src, (int)n), (int)n);
        return;
    }
    for (long i = 0; i < n; i += V) {
        long k = i + V <= n ? i : n - V;
        vstore(dst + k, vload(src + k));
    }
}

/* Patches of output pixels [q0, q0 + M), K floats each, zero where the
 * window hangs over the input's edge. */
static void im2col(const fc_nn_conv *c, const float *in, float *a, long q0, long M)
{
    const long C = c->C, row = c->kw * C;
    long oy = q0 / c->OW, ox = q0 % c->OW;
    for (long i = 0; i < M; i++, a += c->K) {
        const long ix0 = ox * c->sw - c->pl;
        const bool cols_inside = c->dx == 1 && ix0 >= 0 && ix0 + c->kw <= c->W;
        for (long ky = 0; ky < c->kh; ky++) {
            float *dst = a + ky * row;
            const long iy = oy * c->sh - c->pt + ky * c->dy;
            if (iy < 0 || iy >= c->H) {
                memset(dst, 0, (size_t)row * sizeof *dst);
            } else if (cols_inside) {
                copy_floats(dst, in + (iy * c->W + ix0) * C, row);
            } else {
                for (long kx = 0; kx < c->kw; kx++) {
                    const long ix = ix0 + kx * c->dx;
                    if (ix < 0 || ix >= c->W)
                        memset(dst + kx * C, 0, (size_t)C * sizeof *dst);
                    else
                        copy_floats(dst + kx * C, in + (iy * c->W + ix) * C, C);
                }
            }
        }
        if (++ox == c->OW) ox = 0, oy++;
    }
}

/* Output pixels [q0, q0 + M) from A, every group of output channels. A tile
 * that would run past M is moved back to end at M (its overlap computed
 * twice, to the same values); fewer than a tile's pixels go one by one. */
/* Rows of A for a run of pixels: pixel m's row is segments of seg_k floats,
 * segment i at a + m * lda + i * seg_step. One segment of K floats for
 * im2col patches, depthwise output and 1x1 inputs; for a window read in
 * place, one per kernel row. */
typedef struct a_rows {
    const float *a;
    long lda, nseg, seg_step, seg_k;
} a_rows;

/* Output pixels [q0, q0 + M) (within one row when A is a window read in
 * place), every group of output channels. A tile that would run past M is
 * moved back to end at M (its overlap computed twice, to the same values);
 * fewer than a tile's pixels go one by one. */
static void products(const fc_nn_conv *c, a_rows A, const float *res, float *out, long q0, long M)
{
    for (int gi = 0; gi < c->ngroups; gi++) {
        const fc_nn_group *g = &c->group[gi];
        const int MR = fc_nn_tile_rows(V, g->nv);
        const bool whole = M >= MR;
        const int rows = whole ? MR : 1;
        const int epi = !c->has_res ? NO_RES : c->res_pool ? RES_POOL : RES;
        const ukernel_fn fn = whole ? tile_kernel[g->nv][epi] : pixel_kernel[g->nv][epi];
        tile t = {.lda = A.lda,
                  .nseg = A.nseg,
                  .seg_step = A.seg_step,
                  .seg_k = A.seg_k,
                  .ldo = c->N,
                  .lo = c->lo,
                  .hi = c->hi};
        if (c->res_pool) t.pool_x = c->CR, t.pool_y = c->RW * c->CR;
        for (long m0 = 0; m0 < M; m0 += rows) {
            const long m = m0 + rows <= M ? m0 : M - rows;
            t.a = A.a + m * A.lda;
            t.out = out + (q0 + m) * c->N;
            if (c->res_pool) {
                long oy = (q0 + m) / c->OW, ox = (q0 + m) % c->OW;
                for (int i = 0; i < rows; i++) {
                    t.res[i] = res + (2 * oy * c->RW + 2 * ox) * c->CR;
                    if (++ox == c->OW) ox = 0, oy++;
                }
            } else if (c->has_res) {
                for (int i = 0; i < rows; i++)
                    t.res[i] = res + (q0 + m + i) * c->CR;
            }
            fn(g, &t);
        }
    }
}

static a_rows contiguous(const float *a, long K)
{
    return (a_rows){.a = a, .lda = K, .nseg = 1, .seg_step = 0, .seg_k = K};
}

/* A window convolution: in output rows whose windows lie inside the
 * input's rows, the pixels whose windows lie inside its columns read their
 * patches in place (a kernel row of a patch is contiguous in NHWC); the
 * others go through im2col, a run at a time. */
static void window_conv(const fc_nn_conv *c, const float *in, const float *res, float *out,
                        float *scratch)
{
    const long C = c->C, OW = c->OW;
    long first = (c->pl + c->sw - 1) / c->sw, last = (c->W - c->kw + c->pl) / c->sw + 1;
    if (last > OW) last = OW;
    if (first > last) first = last = 0;
    for (long oy = 0; oy < c->OH; oy++) {
        const long iy0 = oy * c->sh - c->pt;
        const long q = oy * OW;
        if (iy0 < 0 || iy0 + c->kh > c->H || first == last) {
            for (long x0 = 0; x0 < OW; x0 += c->chunk) {
                const long n = x0 + c->chunk <= OW ? c->chunk : OW - x0;
                im2col(c, in, scratch, q + x0, n);
                products(c, contiguous(scratch, c->K), res, out, q + x0, n);
            }
            continue;
        }
        if (first > 0) {
            im2col(c, in, scratch, q, first);
            products(c, contiguous(scratch, c->K), res, out, q, first);
        }
        const a_rows A = {.a = in + (iy0 * c->W + first * c->sw - c->pl) * C,
                          .lda = c->sw * C,
                          .nseg = c->kh,
                          .seg_step = c->W * C,
                          .seg_k = c->kw * C};
        products(c, A, res, out, q + first, last - first);
        if (last < OW) {
            im2col(c, in, scratch, q + last, OW - last);
            products(c, contiguous(scratch, c->K), res, out, q + last, OW - last);
        }
    }
}

static void conv(const fc_nn_conv *c, const float *in, const float *res, float *out, float *scratch)
{
    if (c->src == FC_NN_A_WINDOW) {
        window_conv(c, in, res, out, scratch);
        return;
    }
    const long total = c->OH * c->OW;
    for (long q0 = 0; q0 < total; q0 += c->chunk) {
        const long M = q0 + c->chunk <= total ? c->chunk : total - q0;
        switch (c->src) {
        case FC_NN_A_DIRECT:
            products(c, contiguous(in + q0 * c->C, c->C), res, out, q0, M);
            break;
        case FC_NN_A_DW:
            DWCONV(&c->dw, in, scratch, q0 / c->OW, (q0 + M) / c->OW);
            products(c, contiguous(scratch, c->C), res, out, q0, M);
            break;
        default:
            im2col(c, in, scratch, q0, M);
            products(c, contiguous(scratch, c->K), res, out, q0, M);
            break;
        }
    }
}

/* ---- 2x2 stride-2 max pool ---- */

static void maxpool(const fc_nn_pool *p, const float *in, float *out)
{
    const long C = p->C, W = p->W;
    const vf lo = vset1(p->lo), hi = vset1(p->hi);
    const int n = C < V ? (int)C : V;
    for (long oy = 0; oy < p->OH; oy++)
        for (long ox = 0; ox < p->OW; ox++) {
            const float *s = in + (2 * oy * W + 2 * ox) * C;
            float *d = out + (oy * p->OW + ox) * C;
            for (long cb = 0; cb < C; cb += n) {
                const long c = cb + n <= C ? cb : C - n;
                vf x;
                if (n == V)
                    x = vmax(vmax(vload(s + c), vload(s + c + C)),
                             vmax(vload(s + c + W * C), vload(s + c + W * C + C)));
                else
                    x = vmax(vmax(vload_n(s + c, n), vload_n(s + c + C, n)),
                             vmax(vload_n(s + c + W * C, n), vload_n(s + c + W * C + C, n)));
                x = CLAMP(x);
                if (n == V)
                    vstore(d + c, x);
                else
                    vstore_n(d + c, x, n);
            }
        }
}

/* ---- add of a narrower tensor ---- */

/* Whole vectors per pixel, the last of each part placed to end at the part's
 * end (overlapping the one before); parts narrower than a vector masked. The
 * a-only part [CB, C) is written first, as its first vector may start below
 * CB; the a+b part then overwrites that overlap with the right values. out
 * never shares a buffer with a or b. */
static void add_narrow(size_t pixels, size_t C, size_t CB, float lo_s, float hi_s, const float *a,
                       const float *b, float *out)
{
    const vf lo = vset1(lo_s), hi = vset1(hi_s);
    for (size_t p = 0; p < pixels; p++, a += C, b += CB, out += C) {
        if (C - CB < (size_t)V && C >= (size_t)V) {
            vstore(out + C - V, CLAMP(vload(a + C - V)));
        } else if (C - CB < (size_t)V) {
            if (C > CB) vstore_n(out + CB, CLAMP(vload_n(a + CB, (int)(C - CB))), (int)(C - CB));
        } else {
            for (size_t c = CB; c < C; c += V) {
                const size_t k = c + V <= C ? c : C - V;
                vstore(out + k, CLAMP(vload(a + k)));
            }
        }
        if (CB < (size_t)V) {
            vstore_n(out, CLAMP(vadd(vload_n(a, (int)CB), vload_n(b, (int)CB))), (int)CB);
            continue;
        }
        for (size_t c = 0; c < CB; c += V) {
            const size_t k = c + V <= CB ? c : CB - V;
            vstore(out + k, CLAMP(vadd(vload(a + k), vload(b + k))));
        }
    }
}

const fc_nn_isa_kernels KERNELS = {
    .vec = V,
    .conv = conv,
    .dwconv = DWCONV,
    .maxpool = maxpool,
    .add_narrow = add_narrow,
};
