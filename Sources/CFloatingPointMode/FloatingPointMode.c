#include "CFloatingPointMode.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
static const uint64_t flushBits = 0x8040;          /* MXCSR: FTZ (bit 15) | DAZ (bit 6) */
uint64_t tapestry_fp_control(void) { return _mm_getcsr(); }
void tapestry_set_fp_control(uint64_t word) { _mm_setcsr((unsigned int)word); }
bool tapestry_fp_can_flush(void) { return true; }
#elif defined(__aarch64__)
static const uint64_t flushBits = 1ull << 24;      /* FPCR: FZ */
uint64_t tapestry_fp_control(void) { uint64_t word; __asm__ volatile("mrs %0, fpcr" : "=r"(word)); return word; }
void tapestry_set_fp_control(uint64_t word) { __asm__ volatile("msr fpcr, %0" : : "r"(word)); }
bool tapestry_fp_can_flush(void) { return true; }
#else
static const uint64_t flushBits = 0;
uint64_t tapestry_fp_control(void) { return 0; }
void tapestry_set_fp_control(uint64_t word) { (void)word; }
bool tapestry_fp_can_flush(void) { return false; }
#endif

uint64_t tapestry_fp_control_flushing(uint64_t word, bool flush) {
    return flush ? (word | flushBits) : (word & ~flushBits);
}
