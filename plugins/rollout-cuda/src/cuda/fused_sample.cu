// Fused sampling kernel: temperature, top-k / top-p / min-p filtering and the inverse-CDF pick
// from a given uniform, one thread block of THREADS threads per row. Compiled at run time with
// NVRTC (no headers: nothing from math.h). Included by src/cuda/kernels.rs and by the
// libtorch-free check in cuda-check/.
#define THREADS 256

__device__ float block_sum(float v, float* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s]; __syncthreads(); }
    float r = sh[0]; __syncthreads(); return r;
}
__device__ float block_max(float v, float* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]); __syncthreads(); }
    float r = sh[0]; __syncthreads(); return r;
}
__device__ long long block_min_ll(long long v, long long* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s && sh[threadIdx.x + s] < sh[threadIdx.x]) sh[threadIdx.x] = sh[threadIdx.x + s]; __syncthreads(); }
    long long r = sh[0]; __syncthreads(); return r;
}
__device__ long long block_max_ll(long long v, long long* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s && sh[threadIdx.x + s] > sh[threadIdx.x]) sh[threadIdx.x] = sh[threadIdx.x + s]; __syncthreads(); }
    long long r = sh[0]; __syncthreads(); return r;
}

extern "C" __global__ void fused_sample(const float* logits, long long vocab, const float* temperature,
        const long long* top_k, const float* top_p, const float* min_p, const float* uniforms, long long* out) {
    __shared__ float shf[THREADS];
    __shared__ long long shl[THREADS];
    __shared__ float prefix[THREADS];
    const long long row = blockIdx.x;
    const float* x = logits + row * vocab;
    const int tid = threadIdx.x;
    const float t_raw = temperature[row];
    const float t = t_raw > 0.0f ? t_raw : 1.0f;

    float m = __uint_as_float(0xff800000u);  // -inf; NVRTC has no math.h for INFINITY
    for (long long i = tid; i < vocab; i += THREADS) m = fmaxf(m, x[i] / t);
    m = block_max(m, shf);
    if (t_raw == 0.0f) {
        long long first = vocab;
        for (long long i = tid; i < vocab; i += THREADS) if (x[i] / t == m && i < first) first = i;
        first = block_min_ll(first, shl);
        if (tid == 0) out[row] = first;
        return;
    }
    float z = 0.0f;
    for (long long i = tid; i < vocab; i += THREADS) z += expf(x[i] / t - m);
    z = block_sum(z, shf);
    #define PROB(i) (expf(x[i] / t - m) / z)
    const float p_max = 1.0f / z;

    float kth = 0.0f;
    const long long k = top_k[row];
    if (k > 0 && k < vocab) {
        unsigned int lo = 0u, hi = __float_as_uint(p_max) + 1u;
        while (hi - lo > 1u) {
            unsigned int mid = lo + (hi - lo) / 2u;
            float c = 0.0f;
            for (long long i = tid; i < vocab; i += THREADS) c += PROB(i) >= __uint_as_float(mid) ? 1.0f : 0.0f;
            if (block_sum(c, shf) >= (float)k) lo = mid; else hi = mid;
        }
        kth = __uint_as_float(lo);
    }
    float tp = 0.0f;
    const float want = top_p[row];
    if (want < 1.0f) {
        float mk = 0.0f;
        for (long long i = tid; i < vocab; i += THREADS) { float p = PROB(i); if (p >= kth) mk += p; }
        mk = block_sum(mk, shf);
        unsigned int lo = __float_as_uint(kth), hi = __float_as_uint(p_max) + 1u;
        while (hi - lo > 1u) {
            unsigned int mid = lo + (hi - lo) / 2u;
            float bound = fmaxf(__uint_as_float(mid), kth);
            float s = 0.0f;
            for (long long i = tid; i < vocab; i += THREADS) { float p = PROB(i); if (p >= bound) s += p; }
            if (block_sum(s, shf) / mk >= want) lo = mid; else hi = mid;
        }
        tp = __uint_as_float(lo);
    }
    const float thr = fmaxf(fmaxf(kth, tp), min_p[row] * p_max);

    // Inverse CDF in vocabulary order: each thread owns one contiguous segment.
    const long long seg = (vocab + THREADS - 1) / THREADS;
    const long long begin = tid * seg;
    const long long end = begin + seg < vocab ? begin + seg : vocab;
    float local = 0.0f;
    long long last = -1;
    for (long long i = begin; i < end; ++i) { float p = PROB(i); if (p >= thr) { local += p; last = i; } }
    prefix[tid] = local;
    __syncthreads();
    if (tid == 0) { float run = 0.0f; for (int j = 0; j < THREADS; ++j) { float v = prefix[j]; prefix[j] = run; run += v; } shf[0] = run; }
    __syncthreads();
    const float target = uniforms[row] * shf[0];
    long long found = vocab;
    float run = prefix[tid];
    if (run <= target && run + local > target) {
        for (long long i = begin; i < end; ++i) {
            float p = PROB(i);
            if (p >= thr) { run += p; if (run > target) { found = i; break; } }
        }
        // Summed one by one, the segment can fall just short of the total that put the target
        // inside it; its last kept token is then the one meant.
        if (found == vocab) found = last;
    }
    __syncthreads();
    found = block_min_ll(found, shl);
    last = block_max_ll(last, shl);
    // Rounding can put the target at the very top of the CDF; the last kept token is then meant.
    if (tid == 0) out[row] = found < vocab ? found : last;
}
