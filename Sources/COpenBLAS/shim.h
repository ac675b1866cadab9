#pragma once
#include <cblas.h>
#include <lapacke.h>

/* OpenBLAS's thread pool (exported, not in cblas.h): stopped, then started again from the
   calling thread so that its threads inherit that thread's floating-point control word. */
int blas_thread_shutdown_(void);
int blas_thread_init(void);
