"""Compiled kernels for the memory-bound passes, beside the NumPy layers that stay the reference.

The layers in :mod:`digitnet.nn` are written in NumPy, and that is the code to read. Where this process
has the compiled kernels (``DIGITNET_KERNELS``, :mod:`digitnet.kernels.choice`), a layer hands the passes
over memory to them (max-pooling, batch normalisation, the convolution's im2col and col2im, softmax with
cross-entropy, dropout, the optimisers' updates) and keeps the BLAS products; each kernel's comment in
``c/body.h`` names its NumPy twin, and ``tests/kernels`` checks every one against it.
"""

from digitnet.kernels.choice import PATHS, description, environment, for_arrays, native, path_name

__all__ = ["PATHS", "description", "environment", "for_arrays", "native", "path_name"]
