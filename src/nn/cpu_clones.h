#pragma once
// REPUX_CLONES before a function compiles it twice on x86-64, for AVX2 and for any x86-64 CPU, and the
// loader picks the one this CPU runs (GCC's target_clones): vectorised loops get 8-wide registers where
// the CPU has them without making AVX2 a requirement of the build. Elsewhere: nothing.
#if defined(__x86_64__)
#define REPUX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define REPUX_CLONES
#endif
