/*
 * Copyright (c) monai-fusion contributors
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *     http://www.apache.org/licenses/LICENSE-2.0
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 *
 * Fused selective scan (the S6 recurrence of Mamba) on the CPU: forward and backward, fp32, plain C11 with GCC/Clang
 * vector extensions and POSIX threads. No Python or torch headers: selective_scan.py compiles this file on first use
 * and calls it through ctypes with the data pointers of contiguous fp32 tensors. Semantics: see selective_scan.py.
 *
 * Layouts (row-major, contiguous):
 *   u, delta, y, grad_y, du, ddelta: (batch, K*W, L)      A: (K*W, N)      D, delta_bias: (K*W,) or NULL
 *   B, C: (batch, K, N, L)
 * W is the number of channels per direction (``D`` in selective_scan.py; renamed here to keep ``D`` for the skip).
 *
 * Work split. Channels are processed VW at a time ("channel blocks"), one channel per vector lane, so every vector
 * operation is vertical: the N states of a block live in N vector registers and stream over L, with one exp and two
 * FMAs per state element per step, and y accumulates over n without a horizontal sum. A task is (batch b, direction
 * k, a range of channel blocks); tasks run on `nthreads` POSIX threads (the caller passes torch.get_num_threads()).
 * L is walked in tiles of T steps; per tile, the inputs of a block are transposed into small step-major buffers.
 *
 * Backward. Forward saves the state entering every tile ("checkpoints"). Backward walks the tiles in reverse,
 * recomputes a tile's states and decays from its checkpoint into a buffer, then runs the adjoint recurrence
 *   g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1}
 * backwards through it. dB and dC of a (b, k) group are sums over its W channels: each task accumulates them
 * vertically (per lane) in a tile buffer over all its channel blocks, then sums the lanes once per (step, n). Tasks
 * that share a group write separate partial rows ("splits") that the caller adds up, so nothing is written twice.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VW 16 /* lanes per vector: one AVX-512 register, two AVX2 or four NEON registers */
#define NMAX 256 /* largest state size N */
#define SS_ABI_VERSION 1

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

#define LOG2E 1.44269504088896341f
#define INLINE static inline __attribute__((always_inline))

INLINE vf splat(float x) { return (vf){0} + x; }

/* two-source lane shuffle with constant indices (0-15: first operand, 16-31: second) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif
/* block swaps of a 16 x 16 transpose: for rows i and j = i + s, KEEP_s keeps row i's lanes whose bit s is clear and
 * takes row j's lanes shifted down by s into the others; SWAP_s is the complement */
#define KEEP_8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define SWAP_8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define KEEP_4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define SWAP_4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define KEEP_2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define SWAP_2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define KEEP_1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define SWAP_1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31

#define SWAP_STAGE(r, s)                                     \
    for (int i = 0; i < VW; i++) {                           \
        if (i & s) continue;                                 \
        vf lo = SHUFFLE(r[i], r[i + s], KEEP_##s);           \
        vf hi = SHUFFLE(r[i], r[i + s], SWAP_##s);           \
        r[i] = lo;                                           \
        r[i + s] = hi;                                       \
    }

/* in-place transpose of a 16 x 16 block held as 16 row vectors */
INLINE void transpose16(vf *r) {
    SWAP_STAGE(r, 8)
    SWAP_STAGE(r, 4)
    SWAP_STAGE(r, 2)
    SWAP_STAGE(r, 1)
}

#define SUM_STAGE(r, s)                                                              \
    for (int i = 0; i < s; i++) r[i] = SHUFFLE(r[i], r[i + s], KEEP_##s) + SHUFFLE(r[i], r[i + s], SWAP_##s);

/* lane sums of 16 vectors: lane n of the result is the sum of the lanes of r[n] (fixed order); r is overwritten */
INLINE vf lane_sums16(vf *r) {
    SUM_STAGE(r, 8)
    SUM_STAGE(r, 4)
    SUM_STAGE(r, 2)
    SUM_STAGE(r, 1)
    return r[0];
}

INLINE vf select_mask(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

/* 2^x, relative error < 1e-7 (7.9e-8 measured) for x >= -126, exactly 0 below (a denormal in libm), +inf above 128.
 * x = r + f with r = round(x), |f| <= 1/2; 2^f by a degree-6 least-squares polynomial (max error 1.9e-9 on
 * [-1/2, 1/2], fitted for this file); 2^r by building the exponent bits. Out of [-126, 128] those bits are garbage,
 * and the two selects at the end replace the result. NaN in, NaN out. */
INLINE vf exp2v(vf x) {
    vf r = (x + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23 (no -ffast-math, so not folded) */
    vf f = x - r;
    vf p = splat(1.5337576834477742e-4f);
    p = p * f + 1.3399860363227274e-3f;
    p = p * f + 9.6185195343466e-3f;
    p = p * f + 5.550328997517382e-2f;
    p = p * f + 2.402264660871407e-1f;
    p = p * f + 6.931472056005101e-1f;
    p = p * f + 1.0000000005920207f;
    vi e = __builtin_convertvector(r, vi);
    vf y = p * (vf)((e + 127) << 23);
    y = select_mask(x < -126.0f, splat(0.0f), y);
    return select_mask(x > 127.0f, splat(__builtin_inff()), y);
}

/* exp(-|x|) in (0, 1], the shared part of softplus and sigmoid */
INLINE vf exp_neg_abs(vf x) {
    vf ax = (vf)((vi)x & 0x7fffffff);
    return exp2v(ax * -LOG2E);
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)); log1p(z) = 2 atanh(z / (2 + z)), an odd series in s = z/(2+z) <= 1/3
 * truncated after s^13 (relative error < 2e-8), accurate for tiny z too. */
INLINE vf softplusv(vf x) {
    vf z = exp_neg_abs(x);
    vf s = z / (z + 2.0f);
    vf s2 = s * s;
    vf q = splat(1.0f / 13.0f);
    q = q * s2 + 1.0f / 11.0f;
    q = q * s2 + 1.0f / 9.0f;
    q = q * s2 + 1.0f / 7.0f;
    q = q * s2 + 1.0f / 5.0f;
    q = q * s2 + 1.0f / 3.0f;
    q = q * s2 + 1.0f;
    return select_mask(x > 0.0f, x, splat(0.0f)) + 2.0f * s * q;
}

/* sigmoid(x) = 1 / (1 + exp(-x)), evaluated as exp(-|x|) / (1 + exp(-|x|)) for x < 0 */
INLINE vf sigmoidv(vf x) {
    vf z = exp_neg_abs(x);
    return select_mask(x >= 0.0f, splat(1.0f), z) / (z + 1.0f);
}

typedef struct {
    const float *u, *delta, *A, *B, *C, *D, *bias, *gy;
    float *y, *ckpt, *du, *ddelta, *dA, *dB, *dC, *dD, *dbias;
    long batch, K, W, N, L;
    int softplus, T, nblk, ntiles, splits;
    long ntasks;
    long next; /* next task, taken atomically */
    int failed;
} ss_args;

/* a task: (b, k, split s) covering channel blocks [cb0, cb1) */
typedef struct {
    long b, k, s, cb0, cb1;
} ss_task;

static ss_task task_of(const ss_args *a, long id) {
    ss_task t;
    t.s = id % a->splits;
    t.k = (id / a->splits) % a->K;
    t.b = id / a->splits / a->K;
    t.cb0 = t.s * a->nblk / a->splits;
    t.cb1 = (t.s + 1) * a->nblk / a->splits;
    return t;
}

static inline int lanes_of(const ss_args *a, long cb) {
    long n = a->W - cb * VW;
    return n < VW ? (int)n : VW;
}

/* per-channel constants of one block: A * log2(e) and A per state, D and delta_bias; zero in unused lanes */
static void load_block_constants(const ss_args *a, long k, long cb, vf *a2, vf *av, vf *dv, vf *bv) {
    int nl = lanes_of(a, cb);
    long c0 = k * a->W + cb * VW;
    for (long n = 0; n < a->N; n++) {
        vf x = splat(0.0f);
        for (int l = 0; l < nl; l++) x[l] = a->A[(c0 + l) * a->N + n];
        av[n] = x;
        a2[n] = x * LOG2E;
    }
    *dv = splat(0.0f);
    *bv = splat(0.0f);
    for (int l = 0; l < nl; l++) {
        if (a->D) (*dv)[l] = a->D[c0 + l];
        if (a->bias) (*bv)[l] = a->bias[c0 + l];
    }
}

/* rows [row0, row0 + nl) x steps [t0, t0 + nt) of a (rows, L) tensor into a step-major tile; unused lanes = 0.
 * Full 16 x 16 blocks go through vector loads and an in-register transpose, the rest element by element. */
static void load_tile(const float *src, long row0, long L, long t0, int nt, int nl, vf *tile) {
    int t = 0;
    if (nl == VW) {
        for (; t + VW <= nt; t += VW) {
            vf r[VW];
            for (int l = 0; l < VW; l++) memcpy(&r[l], src + (row0 + l) * L + t0 + t, sizeof(vf));
            transpose16(r);
            for (int q = 0; q < VW; q++) tile[t + q] = r[q];
        }
    }
    for (int q = t; q < nt; q++) tile[q] = splat(0.0f);
    for (int l = 0; l < nl; l++) {
        const float *p = src + (row0 + l) * L + t0;
        for (int q = t; q < nt; q++) tile[q][l] = p[q];
    }
}

static void store_tile(float *dst, long row0, long L, long t0, int nt, int nl, const vf *tile) {
    int t = 0;
    if (nl == VW) {
        for (; t + VW <= nt; t += VW) {
            vf r[VW];
            for (int q = 0; q < VW; q++) r[q] = tile[t + q];
            transpose16(r);
            for (int l = 0; l < VW; l++) memcpy(dst + (row0 + l) * L + t0 + t, &r[l], sizeof(vf));
        }
    }
    for (int l = 0; l < nl; l++) {
        float *p = dst + (row0 + l) * L + t0;
        for (int q = t; q < nt; q++) p[q] = tile[q][l];
    }
}

/* the (N, nt) slice [t0, t0 + nt) of one (b, k) row of B or C, transposed to (nt, N) */
static void load_group_tile(const float *src, long N, long L, long t0, int nt, float *tile) {
    if (N == VW) {
        load_tile(src, 0, L, t0, nt, VW, (vf *)tile);
        return;
    }
    for (long n = 0; n < N; n++) {
        const float *p = src + n * L + t0;
        for (int t = 0; t < nt; t++) tile[t * N + n] = p[t];
    }
}

/* delta (after bias and softplus) and delta * u of a tile; optionally sigmoid(delta_raw + bias) */
static void step_sizes(const ss_args *a, const vf *u, vf *dt, vf *dtu, vf *sig, vf bias, int nt) {
    for (int t = 0; t < nt; t++) {
        vf x = dt[t] + bias;
        if (a->softplus) {
            if (sig) sig[t] = sigmoidv(x);
            x = softplusv(x);
        }
        dt[t] = x;
        dtu[t] = x * u[t];
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* forward                                                                                                        */

INLINE void forward_steps(const long N, int nt, vf *h, const vf *a2, const vf *dt, const vf *dtu, const vf *u, vf dv,
                          const float *bt, const float *ct, vf *y) {
    vf hs[NMAX];
    for (long n = 0; n < N; n++) hs[n] = h[n];
    for (int t = 0; t < nt; t++) {
        vf acc = splat(0.0f);
        const float *bn = bt + t * N, *cn = ct + t * N;
        for (long n = 0; n < N; n++) {
            vf decay = exp2v(dt[t] * a2[n]);
            hs[n] = decay * hs[n] + dtu[t] * bn[n];
            acc += hs[n] * cn[n];
        }
        y[t] = acc + dv * u[t];
    }
    for (long n = 0; n < N; n++) h[n] = hs[n];
}

typedef struct {
    vf *u, *dt, *dtu, *y, *sig, *gy, *du, *dd;
    vf *h, *a2, *av, *dv, *bv;     /* per block of the task: state (N), constants */
    vf *carry, *dA, *dD, *db;      /* backward, per block */
    vf *hbuf, *abuf, *dBacc, *dCacc; /* backward tile buffers */
    float *bt, *ct;
} ss_buffers;

static void *aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
    return p;
}

static int alloc_buffers(const ss_args *a, ss_buffers *w, int backward) {
    long T = a->T, N = a->N, nb = (a->nblk + a->splits - 1) / a->splits;
    memset(w, 0, sizeof(*w));
    size_t v = sizeof(vf);
    int ok = 1;
#define ALLOC(field, count) ok &= (w->field = aligned((size_t)(count) * sizeof(*w->field))) != NULL
    ALLOC(u, T);
    ALLOC(dt, T);
    ALLOC(dtu, T);
    ALLOC(y, T); /* backward: lane sums of a tile */
    ALLOC(h, nb * N);
    ALLOC(a2, nb * N);
    ALLOC(av, nb * N);
    ALLOC(dv, nb);
    ALLOC(bv, nb);
    ALLOC(bt, T * N);
    ALLOC(ct, T * N);
    if (backward) {
        ALLOC(sig, T);
        ALLOC(gy, T);
        ALLOC(du, T);
        ALLOC(dd, T);
        ALLOC(carry, nb * N);
        ALLOC(dA, nb * N);
        ALLOC(dD, nb);
        ALLOC(db, nb);
        ALLOC(hbuf, (T + 1) * N);
        ALLOC(abuf, T * N);
        ALLOC(dBacc, T * N);
        ALLOC(dCacc, T * N);
    }
#undef ALLOC
    (void)v;
    return ok;
}

static void free_buffers(ss_buffers *w) {
    void *all[] = {w->u,     w->dt, w->dtu, w->y,  w->sig,   w->gy,   w->du,    w->dd,    w->h,  w->a2, w->av, w->dv,
                   w->bv,    w->carry, w->dA, w->dD, w->db,  w->hbuf, w->abuf, w->dBacc, w->dCacc, w->bt, w->ct};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) free(all[i]);
}

static float *ckpt_at(const ss_args *a, long b, long k, long cb, long tile) {
    return a->ckpt + ((((b * a->K + k) * a->nblk + cb) * a->ntiles + tile) * a->N) * VW;
}

static void forward_task(const ss_args *a, ss_buffers *w, ss_task tk) {
    const long N = a->N, L = a->L, KW = a->K * a->W;
    const long nb = tk.cb1 - tk.cb0;
    for (long j = 0; j < nb; j++) {
        load_block_constants(a, tk.k, tk.cb0 + j, w->a2 + j * N, w->av + j * N, w->dv + j, w->bv + j);
        for (long n = 0; n < N; n++) w->h[j * N + n] = splat(0.0f);
    }
    const float *Bg = a->B + (tk.b * a->K + tk.k) * N * L, *Cg = a->C + (tk.b * a->K + tk.k) * N * L;
    for (long i = 0; i < a->ntiles; i++) {
        long t0 = i * a->T;
        int nt = (int)(L - t0 < a->T ? L - t0 : a->T);
        load_group_tile(Bg, N, L, t0, nt, w->bt);
        load_group_tile(Cg, N, L, t0, nt, w->ct);
        for (long j = 0; j < nb; j++) {
            long cb = tk.cb0 + j, row0 = tk.b * KW + tk.k * a->W + cb * VW;
            int nl = lanes_of(a, cb);
            vf *h = w->h + j * N;
            if (a->ckpt) memcpy(ckpt_at(a, tk.b, tk.k, cb, i), h, N * sizeof(vf));
            load_tile(a->u, row0, L, t0, nt, nl, w->u);
            load_tile(a->delta, row0, L, t0, nt, nl, w->dt);
            step_sizes(a, w->u, w->dt, w->dtu, NULL, w->bv[j], nt);
            if (N == 16)
                forward_steps(16, nt, h, w->a2 + j * N, w->dt, w->dtu, w->u, w->dv[j], w->bt, w->ct, w->y);
            else
                forward_steps(N, nt, h, w->a2 + j * N, w->dt, w->dtu, w->u, w->dv[j], w->bt, w->ct, w->y);
            store_tile(a->y, row0, L, t0, nt, nl, w->y);
        }
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* backward                                                                                                       */

/* states h_t (hbuf[t + 1], hbuf[0] = the tile's entering state) and decays exp(delta_t A) (abuf[t]) of a tile */
INLINE void recompute_steps(const long N, int nt, const vf *a2, const vf *dt, const vf *dtu, const float *bt,
                            vf *hbuf, vf *abuf) {
    vf hs[NMAX];
    for (long n = 0; n < N; n++) hs[n] = hbuf[n];
    for (int t = 0; t < nt; t++) {
        const float *bn = bt + t * N;
        for (long n = 0; n < N; n++) {
            vf decay = exp2v(dt[t] * a2[n]);
            abuf[t * N + n] = decay;
            hs[n] = decay * hs[n] + dtu[t] * bn[n];
            hbuf[(t + 1) * N + n] = hs[n];
        }
    }
}

/* the adjoint recurrence through a tile, in reverse; carry = exp(delta_{t+1} A) g_{t+1} enters from the next tile */
INLINE void adjoint_steps(const long N, int nt, const vf *av, const vf *dt, const vf *dtu, const vf *u, const vf *gy,
                          vf dv, const float *bt, const float *ct, const vf *hbuf, const vf *abuf, vf *carry,
                          vf *dA, vf *dBacc, vf *dCacc, vf *du, vf *ddt) {
    vf cs[NMAX], das[NMAX];
    for (long n = 0; n < N; n++) {
        cs[n] = carry[n];
        das[n] = dA[n];
    }
    for (int t = nt - 1; t >= 0; t--) {
        const float *bn = bt + t * N, *cn = ct + t * N;
        const vf *hprev = hbuf + t * N, *hcur = hbuf + (t + 1) * N, *dec = abuf + t * N;
        vf *dbt = dBacc + t * N, *dct = dCacc + t * N;
        vf sgb = splat(0.0f), spa = splat(0.0f);
        vf gyt = gy[t], dtt = dt[t], dtut = dtu[t];
        for (long n = 0; n < N; n++) {
            vf g = gyt * cn[n] + cs[n];
            vf p = g * dec[n] * hprev[n]; /* g_t exp(delta_t A) h_{t-1}: the gradient of the exponent */
            cs[n] = g * dec[n];
            das[n] += p * dtt;
            spa += p * av[n];
            sgb += g * bn[n];
            dbt[n] += g * dtut;
            dct[n] += gyt * hcur[n];
        }
        du[t] = dtt * sgb + dv * gyt;
        ddt[t] = u[t] * sgb + spa;
    }
    for (long n = 0; n < N; n++) {
        carry[n] = cs[n];
        dA[n] = das[n];
    }
}

static float lane_sum(vf v) {
    /* pairwise, in a fixed order */
    for (int width = VW / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; l++) v[l] += v[l + width];
    return v[0];
}

static void backward_task(const ss_args *a, ss_buffers *w, ss_task tk) {
    const long N = a->N, L = a->L, KW = a->K * a->W;
    const long nb = tk.cb1 - tk.cb0;
    for (long j = 0; j < nb; j++) {
        load_block_constants(a, tk.k, tk.cb0 + j, w->a2 + j * N, w->av + j * N, w->dv + j, w->bv + j);
        for (long n = 0; n < N; n++) w->carry[j * N + n] = w->dA[j * N + n] = splat(0.0f);
        w->dD[j] = w->db[j] = splat(0.0f);
    }
    const long group = tk.b * a->K + tk.k;
    const float *Bg = a->B + group * N * L, *Cg = a->C + group * N * L;
    float *dBg = a->dB + (group * a->splits + tk.s) * N * L, *dCg = a->dC + (group * a->splits + tk.s) * N * L;
    for (long i = a->ntiles - 1; i >= 0; i--) {
        long t0 = i * a->T;
        int nt = (int)(L - t0 < a->T ? L - t0 : a->T);
        load_group_tile(Bg, N, L, t0, nt, w->bt);
        load_group_tile(Cg, N, L, t0, nt, w->ct);
        for (long q = 0; q < nt * N; q++) w->dBacc[q] = w->dCacc[q] = splat(0.0f);
        for (long j = 0; j < nb; j++) {
            long cb = tk.cb0 + j, row0 = tk.b * KW + tk.k * a->W + cb * VW;
            int nl = lanes_of(a, cb);
            load_tile(a->u, row0, L, t0, nt, nl, w->u);
            load_tile(a->delta, row0, L, t0, nt, nl, w->dt);
            load_tile(a->gy, row0, L, t0, nt, nl, w->gy);
            step_sizes(a, w->u, w->dt, w->dtu, w->sig, w->bv[j], nt);
            memcpy(w->hbuf, ckpt_at(a, tk.b, tk.k, cb, i), N * sizeof(vf));
            const vf *a2 = w->a2 + j * N, *av = w->av + j * N;
            vf *carry = w->carry + j * N, *dA = w->dA + j * N;
            if (N == 16) {
                recompute_steps(16, nt, a2, w->dt, w->dtu, w->bt, w->hbuf, w->abuf);
                adjoint_steps(16, nt, av, w->dt, w->dtu, w->u, w->gy, w->dv[j], w->bt, w->ct, w->hbuf, w->abuf, carry,
                              dA, w->dBacc, w->dCacc, w->du, w->dd);
            } else {
                recompute_steps(N, nt, a2, w->dt, w->dtu, w->bt, w->hbuf, w->abuf);
                adjoint_steps(N, nt, av, w->dt, w->dtu, w->u, w->gy, w->dv[j], w->bt, w->ct, w->hbuf, w->abuf, carry,
                              dA, w->dBacc, w->dCacc, w->du, w->dd);
            }
            for (int t = 0; t < nt; t++) {
                w->dD[j] += w->gy[t] * w->u[t];
                if (a->softplus) w->dd[t] *= w->sig[t];
                w->db[j] += w->dd[t];
            }
            store_tile(a->du, row0, L, t0, nt, nl, w->du);
            store_tile(a->ddelta, row0, L, t0, nt, nl, w->dd);
        }
        if (N == VW) { /* sums over the lanes (channels) of every (t, n), then (nt, N) -> (N, nt) */
            for (int t = 0; t < nt; t++) w->y[t] = lane_sums16(w->dBacc + t * N);
            store_tile(dBg, 0, L, t0, nt, VW, w->y);
            for (int t = 0; t < nt; t++) w->y[t] = lane_sums16(w->dCacc + t * N);
            store_tile(dCg, 0, L, t0, nt, VW, w->y);
        } else {
            for (long n = 0; n < N; n++) {
                float *pb = dBg + n * L + t0, *pc = dCg + n * L + t0;
                for (int t = 0; t < nt; t++) {
                    pb[t] = lane_sum(w->dBacc[t * N + n]);
                    pc[t] = lane_sum(w->dCacc[t * N + n]);
                }
            }
        }
    }
    for (long j = 0; j < nb; j++) {
        long cb = tk.cb0 + j, c0 = tk.b * KW + tk.k * a->W + cb * VW;
        int nl = lanes_of(a, cb);
        for (int l = 0; l < nl; l++) {
            for (long n = 0; n < N; n++) a->dA[(c0 + l) * N + n] = w->dA[j * N + n][l];
            a->dD[c0 + l] = w->dD[j][l];
            a->dbias[c0 + l] = w->db[j][l];
        }
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* threads                                                                                                        */

typedef struct {
    ss_args *a;
    int backward;
} ss_job;

static void *worker(void *arg) {
    ss_job *job = (ss_job *)arg;
    ss_args *a = job->a;
    ss_buffers w;
    if (!alloc_buffers(a, &w, job->backward)) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        free_buffers(&w);
        return NULL;
    }
    for (;;) {
        long id = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (id >= a->ntasks) break;
        if (job->backward)
            backward_task(a, &w, task_of(a, id));
        else
            forward_task(a, &w, task_of(a, id));
    }
    free_buffers(&w);
    return NULL;
}

/* runs every task on nthreads threads (the calling one included); 0 on success */
static int run(ss_args *a, int backward, int nthreads) {
    ss_job job = {a, backward};
    a->next = 0;
    a->failed = 0;
    if (nthreads > a->ntasks) nthreads = (int)a->ntasks;
    if (nthreads < 1) nthreads = 1;
    pthread_t threads[256];
    if (nthreads > 256) nthreads = 256;
    int started = 0;
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&threads[started], NULL, worker, &job) != 0) break; /* the others take its tasks */
        started++;
    }
    worker(&job);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    /* a worker that could not allocate took no task; the remaining ones did them all unless every one failed */
    return a->next < a->ntasks ? 1 : 0;
}

static void fill_common(ss_args *a, const float *u, const float *delta, const float *A, const float *B, const float *C,
                        const float *D, const float *bias, int softplus, long batch, long K, long W, long N, long L,
                        int T, int splits) {
    memset(a, 0, sizeof(*a));
    a->u = u;
    a->delta = delta;
    a->A = A;
    a->B = B;
    a->C = C;
    a->D = D;
    a->bias = bias;
    a->softplus = softplus;
    a->batch = batch;
    a->K = K;
    a->W = W;
    a->N = N;
    a->L = L;
    a->T = T;
    a->nblk = (int)((W + VW - 1) / VW);
    a->ntiles = (int)((L + T - 1) / T);
    a->splits = splits < 1 ? 1 : (splits > a->nblk ? a->nblk : splits);
    a->ntasks = batch * K * a->splits;
}

int ss_abi_version(void) { return SS_ABI_VERSION; }

int ss_vector_width(void) { return VW; }

int ss_max_state(void) { return NMAX; }

/* Forward. ckpt (optional): (batch, K, ceil(W / VW), ceil(L / T), N, VW) floats, the state entering every tile. */
int ss_forward(const float *u, const float *delta, const float *A, const float *B, const float *C, const float *D,
               const float *bias, int softplus, long batch, long K, long W, long N, long L, int T, int splits,
               int nthreads, float *y, float *ckpt) {
    if (N < 1 || N > NMAX || T < 1 || W < 1) return 2;
    ss_args a;
    fill_common(&a, u, delta, A, B, C, D, bias, softplus, batch, K, W, N, L, T, splits);
    a.y = y;
    a.ckpt = ckpt;
    return run(&a, 0, nthreads);
}

/* Backward from the forward's checkpoints (same T). Outputs: du, ddelta (batch, K*W, L); dA (batch, K*W, N), dD and
 * dbias (batch, K*W), per batch element; dB and dC (batch, K, splits, N, L), per split. ddelta is the gradient of the
 * raw delta (softplus' applied). */
int ss_backward(const float *u, const float *delta, const float *A, const float *B, const float *C, const float *D,
                const float *bias, int softplus, long batch, long K, long W, long N, long L, int T, int splits,
                int nthreads, const float *gy, const float *ckpt, float *du, float *ddelta, float *dA, float *dB,
                float *dC, float *dD, float *dbias) {
    if (N < 1 || N > NMAX || T < 1 || W < 1) return 2;
    ss_args a;
    fill_common(&a, u, delta, A, B, C, D, bias, softplus, batch, K, W, N, L, T, splits);
    a.gy = gy;
    a.ckpt = (float *)ckpt;
    a.du = du;
    a.ddelta = ddelta;
    a.dA = dA;
    a.dB = dB;
    a.dC = dC;
    a.dD = dD;
    a.dbias = dbias;
    return run(&a, 1, nthreads);
}

/* y[i] = 2^x[i] with the kernel's exp2, for the tests */
void ss_exp2_array(const float *x, float *y, long n) {
    for (long i = 0; i < n; i += VW) {
        vf v = splat(0.0f);
        long m = n - i < VW ? n - i : VW;
        for (long l = 0; l < m; l++) v[l] = x[i + l];
        v = exp2v(v);
        for (long l = 0; l < m; l++) y[i + l] = v[l];
    }
}

/* A tight loop of n exp2 evaluations of VW lanes each (8 independent chains, so throughput- not latency-bound), for
 * the benchmark's lower bound; returns a checksum so that the loop is not optimised away. */
float ss_exp_loop(long n) {
    vf x[8], acc[8];
    for (int c = 0; c < 8; c++) {
        x[c] = splat(-0.001f * (float)(c + 1));
        acc[c] = splat(0.0f);
    }
    for (long i = 0; i < n; i += 8) {
        for (int c = 0; c < 8; c++) {
            acc[c] += exp2v(x[c]);
            x[c] -= 1e-6f;
        }
    }
    for (int c = 1; c < 8; c++) acc[0] += acc[c];
    return lane_sum(acc[0]);
}
