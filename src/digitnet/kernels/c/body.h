/* The kernels, once, for the type `real`; kernels.c includes this file for float and for double.
 * Shapes are in the NumPy twins' letters (digitnet/nn/conv.py): N examples, C channels, H x W images,
 * K x K windows, s the stride, p the padding, F filters. Every array is C-contiguous. */

/* ---- max-pooling ------------------------------------------------------------------------------------ */

/* Twin: MaxPool2D.forward (digitnet/nn/pooling.py).
 * x (P, H, W) -> y (P, OH, OW), P = N·C planes; arg (P, OH, OW) gets the row-major tap i·K + j of each
 * window's first maximum, one byte, so that backward scatters without searching again. A NaN in a
 * window makes the window's maximum NaN, as np.maximum does. */
void SUFFIX(maxpool_forward)(const real *x, real *y, uint8_t *arg, int64_t planes, int64_t h, int64_t w,
                             int64_t k, int64_t s, int64_t oh, int64_t ow)
{
    if (k == 2 && s == 2 && oh * ow <= POOL_SCRATCH / 2) {
        /* The common case in two passes the compiler vectorises: each row pair's larger value per column
         * (and which row it came from), then each pair of columns, over the whole plane at once. Windows
         * of 2 leave output rows too short (14 for MNIST) for one pass to use the vector units. */
        real rows[POOL_SCRATCH];
        int32_t from[POOL_SCRATCH];
        int64_t width = 2 * ow, outputs = oh * ow;
        for (int64_t plane = 0; plane < planes; plane++) {
            const real *xp = x + plane * h * w;
            for (int64_t r = 0; r < oh; r++) {
                const real *top = xp + 2 * r * w, *bottom = top + w;
                real *m = rows + r * width;
                int32_t *q = from + r * width;
                for (int64_t j = 0; j < width; j++) {
                    real a = top[j], b = bottom[j];
                    int t = (b > a) | (b != b);
                    m[j] = t ? b : a;
                    q[j] = t << 1; /* tap 0 or 2: the window's left column, top or bottom */
                }
            }
            real *yp = y + plane * outputs;
            uint8_t *ap = arg + plane * outputs;
            for (int64_t i = 0; i < outputs; i++) {
                real a = rows[2 * i], b = rows[2 * i + 1];
                int32_t left = from[2 * i], right = from[2 * i + 1] + 1;
                /* a tie goes to the first tap in row-major order: top-right (1) before bottom-left (2) */
                int t = (b > a) | (b != b) | ((b == a) & (right < left));
                yp[i] = t ? b : a;
                ap[i] = t ? (uint8_t)right : (uint8_t)left;
            }
        }
        return;
    }
    for (int64_t plane = 0; plane < planes; plane++) {
        const real *xp = x + plane * h * w;
        real *yp = y + plane * oh * ow;
        uint8_t *ap = arg + plane * oh * ow;
        for (int64_t r = 0; r < oh; r++) {
            for (int64_t c = 0; c < ow; c++) {
                const real *window = xp + r * s * w + c * s;
                real m = window[0];
                uint8_t q = 0;
                for (int64_t i = 0; i < k; i++) {
                    for (int64_t j = 0; j < k; j++) {
                        real v = window[i * w + j];
                        if (v > m || (v != v && m == m)) {
                            m = v;
                            q = (uint8_t)(i * k + j);
                        }
                    }
                }
                yp[r * ow + c] = m;
                ap[r * ow + c] = q;
            }
        }
    }
}

/* Twin: MaxPool2D.backward. g (P, OH, OW) and arg -> dx (P, H, W): each window's gradient goes to its
 * arg-max tap; positions no window chose get zero (rows and columns past the last window too), and
 * overlapping windows add up. */
void SUFFIX(maxpool_backward)(const real *g, const uint8_t *arg, real *dx, int64_t planes, int64_t h,
                              int64_t w, int64_t k, int64_t s, int64_t oh, int64_t ow)
{
    for (int64_t plane = 0; plane < planes; plane++) {
        const real *gp = g + plane * oh * ow;
        const uint8_t *ap = arg + plane * oh * ow;
        real *dp = dx + plane * h * w;
        if (k == 2 && s == 2 && h == 2 * oh && w == 2 * ow) {
            /* Windows tile the plane: every position is written once, the gradient's bits kept where the
             * tap is the window's arg-max and cleared elsewhere (a mask, not a branch per position). */
            const bits *gb = (const bits *)gp;
            for (int64_t r = 0; r < oh; r++) {
                bits *top = (bits *)(dp + 2 * r * w), *bottom = top + w;
                for (int64_t c = 0; c < ow; c++) {
                    bits v = gb[r * ow + c], q = ap[r * ow + c];
                    top[2 * c] = v & -(bits)(q == 0);
                    top[2 * c + 1] = v & -(bits)(q == 1);
                    bottom[2 * c] = v & -(bits)(q == 2);
                    bottom[2 * c + 1] = v & -(bits)(q == 3);
                }
            }
            continue;
        }
        memset(dp, 0, (size_t)(h * w) * sizeof(real));
        for (int64_t r = 0; r < oh; r++) {
            for (int64_t c = 0; c < ow; c++) {
                int64_t q = ap[r * ow + c];
                dp[(r * s + q / k) * w + c * s + q % k] += gp[r * ow + c];
            }
        }
    }
}

/* ---- batch normalisation of images, training ----------------------------------------------------------- */

/* Twin: BatchNorm.forward with training=True on (N, C, H, W) inputs (digitnet/nn/batchnorm.py).
 * Per channel, over its M = N·H·W values: μ and the biased σ² (each row summed in `real`, rows in double), then
 * y = γ (x - μ) / sqrt(σ² + ε) + β, and ReLU on it when relu is 1. mean, var and inv_std (C,) come back
 * for the running statistics and for backward, which recomputes x̂ from x instead of keeping it. */
void SUFFIX(batchnorm_forward)(const real *x, real *y, const real *gamma, const real *beta, real *mean,
                               real *var, real *inv_std, int64_t n, int64_t c, int64_t hw, double eps,
                               int relu)
{
    double count = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        double sum = 0.0, squares = 0.0;
        for (int64_t i = 0; i < n; i++) { /* each row summed in `real` lanes, the rows in double */
            const real *row = x + (i * c + ch) * hw;
            real part = 0;
#pragma omp simd reduction(+ : part)
            for (int64_t j = 0; j < hw; j++) part += row[j];
            sum += part;
        }
        double mu = sum / count;
        real centre = (real)mu;
        for (int64_t i = 0; i < n; i++) {
            const real *row = x + (i * c + ch) * hw;
            real part = 0;
#pragma omp simd reduction(+ : part)
            for (int64_t j = 0; j < hw; j++) {
                real d = row[j] - centre;
                part += d * d;
            }
            squares += part;
        }
        double variance = squares / count;
        real istd = (real)(1.0 / sqrt(variance + eps));
        real m = (real)mu, scale = gamma[ch] * istd, shift = beta[ch];
        mean[ch] = m;
        var[ch] = (real)variance;
        inv_std[ch] = istd;
        for (int64_t i = 0; i < n; i++) {
            const real *row = x + (i * c + ch) * hw;
            real *out = y + (i * c + ch) * hw;
            if (relu) {
#pragma omp simd
                for (int64_t j = 0; j < hw; j++) {
                    real v = (row[j] - m) * scale + shift;
                    out[j] = v > 0 ? v : (real)0;
                }
            } else {
#pragma omp simd
                for (int64_t j = 0; j < hw; j++) out[j] = (row[j] - m) * scale + shift;
            }
        }
    }
}

/* Twin: BatchNorm.backward (training) on images. g = dL/dy (N, C, H, W), x the forward's input, y its
 * output (when relu is 1, g counts only where y > 0: ReLU's backward fused in), x̂ = (x - μ)·inv_std:
 *     dβ = Σ g,  dγ = Σ g x̂,  dx = γ·inv_std·(g - mean(g) - x̂·mean(g x̂))
 * dx may be NULL when no input gradient is needed. */
void SUFFIX(batchnorm_backward)(const real *g, const real *x, const real *y, const real *gamma,
                                const real *mean, const real *inv_std, real *dx, real *dgamma,
                                real *dbeta, int64_t n, int64_t c, int64_t hw, int relu)
{
    double count = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        real m = mean[ch], istd = inv_std[ch];
        double sum_g = 0.0, sum_gx = 0.0;
        for (int64_t i = 0; i < n; i++) { /* each row summed in `real` lanes, the rows in double */
            const real *gr = g + (i * c + ch) * hw, *xr = x + (i * c + ch) * hw, *yr = y + (i * c + ch) * hw;
            real row_g = 0, row_gx = 0;
#pragma omp simd reduction(+ : row_g, row_gx)
            for (int64_t j = 0; j < hw; j++) {
                real gj = relu ? (yr[j] > 0 ? gr[j] : (real)0) : gr[j];
                row_g += gj;
                row_gx += gj * ((xr[j] - m) * istd);
            }
            sum_g += row_g;
            sum_gx += row_gx;
        }
        dbeta[ch] = (real)sum_g;
        dgamma[ch] = (real)sum_gx;
        if (!dx) continue;
        real mean_g = (real)(sum_g / count), mean_gx = (real)(sum_gx / count), scale = gamma[ch] * istd;
        for (int64_t i = 0; i < n; i++) {
            const real *gr = g + (i * c + ch) * hw, *xr = x + (i * c + ch) * hw, *yr = y + (i * c + ch) * hw;
            real *out = dx + (i * c + ch) * hw;
#pragma omp simd
            for (int64_t j = 0; j < hw; j++) {
                real gj = relu ? (yr[j] > 0 ? gr[j] : (real)0) : gr[j];
                out[j] = (gj - mean_g - (xr[j] - m) * istd * mean_gx) * scale;
            }
        }
    }
}

/* ---- convolution: the passes around its three BLAS products -------------------------------------------- */

/* Twin: the column matrix of Conv2D.forward (digitnet/nn/conv.py), in the classic layout: x (N, C, H, W)
 * -> cols (C, K, K, N, OH, OW), tap (i, j) of output pixel (oh, ow) being xp[n, c, s·oh + i, s·ow + j]
 * of the zero-padded image xp. The twin's flat columns trade (Wp - OW)/OW more arithmetic in the product
 * (29% for 5x5 filters on 14x14 maps) for one long NumPy copy per tap; in C the short rows cost nothing,
 * so these columns hold only the valid pixels. Each image is padded in `padded` (Hp·Wp scratch that stays
 * in the cache), never as a padded copy of the batch. */
void SUFFIX(im2col)(const real *x, real *cols, real *padded, int64_t n, int64_t c, int64_t h, int64_t w,
                    int64_t k, int64_t s, int64_t p, int64_t oh, int64_t ow)
{
    int64_t hp = h + 2 * p, wp = w + 2 * p, pixels = oh * ow;
    if (p) memset(padded, 0, (size_t)(hp * wp) * sizeof(real));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t ch = 0; ch < c; ch++) {
            const real *image = x + (i * c + ch) * h * w;
            const real *flat = image;
            int64_t stride = w;
            if (p) {
                for (int64_t r = 0; r < h; r++)
                    memcpy(padded + (r + p) * wp + p, image + r * w, (size_t)w * sizeof(real));
                flat = padded;
                stride = wp;
            }
            for (int64_t a = 0; a < k; a++) {
                for (int64_t b = 0; b < k; b++) {
                    real *dst = cols + (((ch * k + a) * k + b) * n + i) * pixels;
                    for (int64_t r = 0; r < oh; r++) {
                        const real *src = flat + (s * r + a) * stride + b;
                        if (s == 1) {
                            memcpy(dst + r * ow, src, (size_t)ow * sizeof(real));
                        } else {
                            for (int64_t col = 0; col < ow; col++) dst[r * ow + col] = src[s * col];
                        }
                    }
                }
            }
        }
    }
}

/* Twin: col2im and the crop and transpose after it in Conv2D.backward, for im2col's layout above.
 * dcols (C, K, K, N, OH, OW) -> dx (N, C, H, W): each tap's values are added back where im2col read them,
 * in the twin's tap order, into one image's Hp·Wp scratch `padded` that stays in the cache; its inside
 * is dx. */
void SUFFIX(col2im)(const real *dcols, real *dx, real *padded, int64_t n, int64_t c, int64_t h, int64_t w,
                    int64_t k, int64_t s, int64_t p, int64_t oh, int64_t ow)
{
    int64_t hp = h + 2 * p, wp = w + 2 * p, pixels = oh * ow;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t ch = 0; ch < c; ch++) {
            memset(padded, 0, (size_t)(hp * wp) * sizeof(real));
            for (int64_t a = 0; a < k; a++) {
                for (int64_t b = 0; b < k; b++) {
                    const real *src = dcols + (((ch * k + a) * k + b) * n + i) * pixels;
                    for (int64_t r = 0; r < oh; r++) {
                        real *dst = padded + (s * r + a) * wp + b;
                        if (s == 1) {
#pragma omp simd
                            for (int64_t col = 0; col < ow; col++) dst[col] += src[r * ow + col];
                        } else {
                            for (int64_t col = 0; col < ow; col++) dst[s * col] += src[r * ow + col];
                        }
                    }
                }
            }
            real *image = dx + (i * c + ch) * h * w;
            for (int64_t r = 0; r < h; r++)
                memcpy(image + r * w, padded + (r + p) * wp + p, (size_t)w * sizeof(real));
        }
    }
}

/* Twin: the last line of Conv2D.forward. z (F, N·OH·OW), the product, -> out (N, F, OH, OW) = z + b. */
void SUFFIX(conv_output)(const real *z, const real *bias, real *out, int64_t n, int64_t f, int64_t pixels)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t q = 0; q < f; q++) {
            const real *src = z + (q * n + i) * pixels;
            real *dst = out + (i * f + q) * pixels;
            real b = bias[q];
#pragma omp simd
            for (int64_t t = 0; t < pixels; t++) dst[t] = src[t] + b;
        }
    }
}

/* Twin: the first lines of Conv2D.backward. g (N, F, OH, OW) -> G (F, N·OH·OW), the product's layout,
 * and db = Σ g over examples and pixels (F,). */
void SUFFIX(conv_gradient)(const real *g, real *columns, real *bias_grad, int64_t n, int64_t f,
                           int64_t pixels)
{
    for (int64_t q = 0; q < f; q++) {
        double total = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const real *src = g + (i * f + q) * pixels;
            real *dst = columns + (q * n + i) * pixels;
            real part = 0;
#pragma omp simd reduction(+ : part)
            for (int64_t t = 0; t < pixels; t++) {
                dst[t] = src[t];
                part += src[t];
            }
            total += part;
        }
        bias_grad[q] = (real)total;
    }
}

/* ---- the cost ---------------------------------------------------------------------------------------- */

/* Twin: CrossEntropy.loss_and_gradient without example weights (digitnet/nn/costs.py). z (N, C) logits,
 * labels (N,) -> grad (N, C) = (softmax(z) - onehot) / N; returns the mean of -log p of the true class,
 * with log-sum-exp after subtracting each row's maximum. */
double SUFFIX(softmax_cross_entropy)(const real *z, const int64_t *labels, real *grad, int64_t n, int64_t c)
{
    double total = 0.0;
    real share = (real)(1.0 / (double)n);
    for (int64_t i = 0; i < n; i++) {
        const real *row = z + i * c;
        real *out = grad + i * c;
        real top = row[0];
        for (int64_t j = 1; j < c; j++) top = row[j] > top || row[j] != row[j] ? row[j] : top;
        real sum = 0;
        for (int64_t j = 0; j < c; j++) {
            out[j] = (real)exp((double)(row[j] - top));
            sum += out[j];
        }
        real lse = (real)log((double)sum);
        total += (double)(row[labels[i]] - top - lse);
        real inv = (real)1 / sum;
        for (int64_t j = 0; j < c; j++) out[j] = out[j] * inv;
        out[labels[i]] -= 1;
        for (int64_t j = 0; j < c; j++) out[j] *= share;
    }
    return -total / (double)n;
}

/* ---- the optimisers' updates, one pass each (digitnet/nn/optimizers.py) ---------------------------------- */

/* Twin: Adam.step's update, the same float operations in the same order, in one pass instead of ten:
 *     m ← β1 m + (1 - β1) g,  v ← β2 v + (1 - β2) g²,  θ ← θ - step_size · m / (sqrt(v)·inv_sqrt_c2 + ε) */
void SUFFIX(adam_update)(real *param, const real *grad, real *m, real *v, int64_t size, real b1,
                         real one_minus_b1, real b2, real one_minus_b2, real step_size, real inv_sqrt_c2,
                         real eps)
{
#pragma omp simd
    for (int64_t i = 0; i < size; i++) {
        real g = grad[i];
        real mi = m[i] * b1 + g * one_minus_b1;
        real vi = v[i] * b2 + (g * g) * one_minus_b2;
        m[i] = mi;
        v[i] = vi;
        param[i] -= (mi / (sqrt_real(vi) * inv_sqrt_c2 + eps)) * step_size;
    }
}

/* Twin: SGD.step's update: θ ← θ - η g; with momentum v ← μ v + g and θ ← θ - η v, or with Nesterov
 * θ ← θ - η (g + μ v). velocity is NULL for plain SGD. */
void SUFFIX(sgd_update)(real *param, const real *grad, real *velocity, int64_t size, real lr, real mu,
                        int nesterov)
{
    if (!velocity) {
#pragma omp simd
        for (int64_t i = 0; i < size; i++) param[i] -= grad[i] * lr;
        return;
    }
#pragma omp simd
    for (int64_t i = 0; i < size; i++) {
        real vi = velocity[i] * mu + grad[i];
        velocity[i] = vi;
        param[i] -= nesterov ? (vi * mu + grad[i]) * lr : vi * lr;
    }
}

/* ---- dropout ------------------------------------------------------------------------------------------ */

/* Twin: Dropout.forward (digitnet/nn/dropout.py), from the same uniform draws u of the layer's generator:
 * mask = (u < keep) · scale, y = x · mask, in one pass. */
void SUFFIX(dropout_forward)(const float *u, const real *x, real *mask, real *y, int64_t size, float keep,
                             real scale)
{
#pragma omp simd
    for (int64_t i = 0; i < size; i++) {
        real kept = u[i] < keep ? scale : (real)0;
        mask[i] = kept;
        y[i] = x[i] * kept;
    }
}
