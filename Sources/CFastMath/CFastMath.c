/* CFastMath is its header's inline functions; this file gives the target its one source. */
#include "CFastMath.h"
