/* digitnet's compiled kernels: the memory-bound passes of training and inference, beside the NumPy layers.
 *
 * Every function here has a NumPy twin, named in its comment, that is the reference: the layer a learner
 * reads, checked against finite differences and PyTorch. tests/kernels/ checks each kernel against its
 * twin on random shapes. One thread each, no global state: the BLAS keeps the cores it was given, and
 * concurrent calls (the server's predictions) never meet.
 *
 * body.h holds the kernels once, written for a type `real`; it is included twice, for float (names ending
 * in _f32) and double (_f64, what `digitnet gradcheck` runs in).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIGITNET_KERNELS_ABI 1
/* Values per plane that 2x2 max-pooling stages on the stack (inputs up to 64x64): 24 kB for double, little
 * even for a thread with a small stack. Larger planes take the general loop. */
#define POOL_SCRATCH 2048

int digitnet_kernels_abi(void) { return DIGITNET_KERNELS_ABI; }

#define real float
#define bits uint32_t /* the same bits as an unsigned integer */
#define sqrt_real sqrtf
#define SUFFIX(name) name##_f32
#include "body.h"
#undef real
#undef bits
#undef sqrt_real
#undef SUFFIX

#define real double
#define bits uint64_t
#define sqrt_real sqrt
#define SUFFIX(name) name##_f64
#include "body.h"
#undef real
#undef bits
#undef sqrt_real
#undef SUFFIX
