#pragma once
#include <cblas.h>
#include <lapacke.h>

/* Stops OpenBLAS's thread pool (exported, not in cblas.h): its idle threads otherwise poll
   the processors they share with Tapestry's kernel threads. */
int blas_thread_shutdown_(void);
