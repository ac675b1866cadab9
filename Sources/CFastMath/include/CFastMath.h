#pragma once
/// Vector operations that Swift's SIMD types have no spelling for, inlined into the Swift
/// kernels that call them (static inline: clang compiles them with the Swift build's target
/// CPU, so `-target-cpu native` on an AVX-512 machine selects the AVX-512 instruction).

/// 16 Float32 lanes; Swift sees it as `SIMD16<Float>`.
typedef float tapestry_float16 __attribute__((ext_vector_type(16)));
typedef int tapestry_int16 __attribute__((ext_vector_type(16)));

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/// x·2ⁿ lane by lane, for integral n in [−252, 254], rounded once (to +∞ on overflow,
/// gradually to 0 below the normal range), as `ldexpf` does. AVX-512's `vscalefps` where the
/// build targets it; elsewhere two products by 2^⌊n/2⌋ and 2^(n − ⌊n/2⌋), each a normal
/// power of two, so only the second rounds.
static inline __attribute__((always_inline)) tapestry_float16 tapestry_scale16(tapestry_float16 x, tapestry_float16 n) {
#if defined(__AVX512F__)
    return (tapestry_float16)_mm512_scalef_ps((__m512)x, (__m512)n);
#else
    tapestry_int16 k = __builtin_convertvector(n, tapestry_int16);
    tapestry_int16 half = k >> 1, rest = k - half;
    return x * (tapestry_float16)((half + 127) << 23) * (tapestry_float16)((rest + 127) << 23);
#endif
}
