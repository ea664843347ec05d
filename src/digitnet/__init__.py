"""digitnet: the handwritten-digit network from the explainers, built from first principles in NumPy."""

__version__ = "0.1.0"
