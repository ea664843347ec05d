"""Data parallelism on the CPU's cores: each mini-batch split between worker processes, one gradient.

Why it helps convolutional networks
-----------------------------------
NumPy runs every elementwise operation on one core; only the BLAS products use them all. A
convolutional network spends about half its step outside the products (im2col and col2im copies,
pooling, ReLU, the bias), so one of two cores idles for half the step. Here the batch is cut into W
shards: the calling process computes the first and W - 1 worker processes compute the others, each with
its own copy of the network and one BLAS thread, on its own core. Processes rather than threads: two
threads ran LeNet-5's halves in 8.7 ms per batch of 64 where two processes take the 5.9 ms that one half
takes alone, because a thread needs Python's GIL for the Python code around every NumPy call and for
setting each call up, and a LeNet-5 step makes hundreds of calls.

Measured on a 2-core machine with W = 2 (``benchmarks/speed.py``, and the presets' whole runs): see the
README's Performance section. An MLP loses (784-100-10 at batch 128: 848 µs per step with 2 workers,
587 µs with one): its step is nearly all BLAS products, which use both cores already, and each step
waits for the other process.

The maths
---------
Shard s has N_s of the batch's N examples (or the weight sum W_s of W, with per-example weights), and
its copy computes the gradient g_s of its shard's mean cost C_s. The batch's mean cost and gradient are
the shards' weighted means::

    C = Σ_s (N_s / N) C_s          dC/dθ = Σ_s (N_s / N) g_s

How the processes share the work
--------------------------------
The parameters live in shared memory for the whole of training: the model's ``parameters`` are packed anew
into a shared array (``parameters.values`` is that array), and every worker's network reads it, so the
optimiser's in-place update is seen by all with nothing copied. Each worker writes its gradient into a
shared (P,) array of its own and reads its shard's images from a shared input buffer; labels, weights,
losses and predictions travel through a pipe. Shared memory here is an unnamed temporary file in
``/dev/shm`` (memory, not disk), mapped by both processes through a file descriptor: nothing to name,
nothing left behind if a process dies. A worker is ``python -m digitnet.nn.parallel.worker``: a fresh
interpreter that imports only digitnet, whatever script started the training.

Where it differs from one worker
--------------------------------
* Batch normalisation normalises each shard by that shard's own mean and variance ("ghost" batch
  normalisation, as in PyTorch's DistributedDataParallel without SyncBatchNorm); the running statistics
  kept for inference are the first shard's, computed in the calling process.
* Dropout masks come from one generator per shard, split off the training generator once.
* The shards' gradients are added in a different order from one product over the whole batch.

So training with W workers is reproducible (same seed and W, same weights), but not bit-identical to
training with one.
"""

from digitnet.nn.parallel.replicas import Replicas

__all__ = ["Replicas"]
