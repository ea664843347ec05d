"""The exceptions digitnet raises for bad input, so callers (and the CLI) can tell them apart.

Every message says what was wrong and what to do about it. The command line prints the message of any
:class:`DigitnetError` without a traceback.
"""

__all__ = [
    "DataError",
    "DigitnetError",
    "ImageError",
    "ImageFormatError",
    "ImageTooLargeError",
    "KernelsError",
    "ModelFileError",
    "NonFiniteError",
    "NonFiniteOutputError",
    "OutputError",
]


class DigitnetError(Exception):
    """Base class of every error digitnet raises on purpose."""


class DataError(DigitnetError):
    """A data file is missing, truncated, corrupt or not what it claims to be, or a download failed."""


class ModelFileError(DigitnetError):
    """A model file is missing, truncated, foreign or has been tampered with."""


class ImageError(DigitnetError):
    """An image could not be read, or holds no ink to recognise."""


class ImageFormatError(ImageError):
    """The file is not in one of the image formats digitnet accepts (checked before any decoding)."""


class ImageTooLargeError(ImageError):
    """The image declares more pixels than digitnet decodes (checked from its header, before decoding)."""


class NonFiniteOutputError(DigitnetError, ArithmeticError):
    """A trained network's outputs came out NaN or infinite: weights too large for float32 (a damaged or
    crafted model file), so its answer would be meaningless."""


class OutputError(DigitnetError):
    """An output file or folder cannot be created or written (checked before long work starts)."""


class NonFiniteError(DigitnetError, ArithmeticError):
    """Training produced a NaN or infinite loss or gradient.

    Attributes
    ----------
    what : str
        ``"loss"`` or the name of the parameter array whose gradient went bad, e.g. ``"layers.2.W"``.
    epoch, batch : int
        Where it happened, both counted from 1.
    """

    def __init__(self, message: str, *, what: str, epoch: int, batch: int):
        super().__init__(message)
        self.what = what
        self.epoch = epoch
        self.batch = batch

    def __reduce__(self):
        """Pickled with its keywords, so it crosses to another process (a sweep's worker) intact."""
        return _rebuild_non_finite, (str(self), self.what, self.epoch, self.batch)


def _rebuild_non_finite(message: str, what: str, epoch: int, batch: int) -> NonFiniteError:
    return NonFiniteError(message, what=what, epoch=epoch, batch=batch)


class KernelsError(DigitnetError):
    """The compiled kernels were asked for (``DIGITNET_KERNELS=native``) and cannot be built or loaded, or
    ``DIGITNET_KERNELS`` holds a value that names no path."""
