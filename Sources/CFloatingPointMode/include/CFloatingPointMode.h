#pragma once
#include <stdbool.h>
#include <stdint.h>

/// The calling thread's floating-point control word: MXCSR on x86-64, FPCR on AArch64
/// (0 on other architectures, where nothing can be set).
uint64_t tapestry_fp_control(void);
/// Sets the calling thread's control word (read with `tapestry_fp_control`).
void tapestry_set_fp_control(uint64_t word);
/// `word` with subnormal inputs read as zero and subnormal results flushed to zero
/// (x86-64: MXCSR's DAZ and FTZ bits; AArch64: FPCR's FZ bit), or without them.
uint64_t tapestry_fp_control_flushing(uint64_t word, bool flush);
/// Whether this architecture can flush subnormals (x86-64 and AArch64).
bool tapestry_fp_can_flush(void);
