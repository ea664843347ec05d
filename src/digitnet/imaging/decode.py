"""Open untrusted image bytes safely: what a file is and how big it is are settled before anything decodes.

Pillow reads some fifty formats, and a few of them hand the file to another program (EPS and PostScript go
to Ghostscript); any format can declare billions of pixels in a few hundred bytes. So :func:`open_image`
works in this order, and each step refuses before the next one runs:

1. **Signature.** The file's first bytes must be those of PNG, JPEG, GIF, BMP, TIFF or WebP. Anything else
   is refused with :class:`~digitnet.errors.ImageFormatError`, naming what it looks like (PostScript/EPS,
   PDF, SVG, ...) when that is recognisable (:mod:`digitnet.imaging.formats`). Pillow has not seen the
   file yet.
2. **Header only.** That format's own Pillow plugin class reads the header and nothing else (it is lazy);
   no other plugin is ever tried, and ``Image.open`` is not called at all.
3. **Size.** Width x height from the header must be at most :data:`MAX_PIXELS`, or
   :class:`~digitnet.errors.ImageTooLargeError`. A larger JPEG is decoded at 1/2, 1/4 or 1/8 scale instead
   (libjpeg's DCT scaling, Pillow's ``draft``) only when libjpeg decodes it in one pass, a band of rows at a
   time: a sequential frame (baseline or extended, SOF0/SOF1) whose first scan holds every colour
   component (read from its markers by :mod:`digitnet.imaging.jpeg`). Any other JPEG, progressive or with
   its components in separate scans, libjpeg holds whole as the full-size image's coefficients (2 bytes a
   pixel and component) at whatever scale it decodes, so it must fit at full size; and every scan is a pass
   over all of them, so it may hold at most :data:`MAX_JPEG_SCANS` scans. A TIFF's tiles may not be far
   larger than the image, as libtiff allocates a whole tile to decode one (:data:`MAX_TIFF_TILE_PIXELS`).
4. **Decode** the first frame, turn it upright by its EXIF orientation (phone photos); every failure of
   Pillow's becomes an :class:`~digitnet.errors.ImageError` with a clear message.

Pillow's warnings never reach the user, and no lock is held: any number of threads decode at once (the API
decodes in a thread pool). Pillow's decompression-bomb check, a warning above 89 megapixels, runs in
``Image.open`` once the header is read, so that is not called; our lower limit is checked instead. What
still warns, while the header is read or the image decoded (Pillow skipping corrupt metadata: a TIFF tag
or an EXIF block pointing past the end of the file, a broken APNG chunk; or the bomb warning for a GIF whose
first frame reaches far past its screen, before the size is ours to judge), is ignored by one warning
filter, added when this module is imported, that matches only in a thread inside :func:`open_image`. The
process's filters are not changed per call, Pillow's warnings elsewhere still show, and Pillow's global
settings are left alone. Decoding what the limits allow takes milliseconds to a few tenths of a second.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
    features,
)

from digitnet.errors import ImageError, ImageFormatError, ImageTooLargeError
from digitnet.files import file_problem
from digitnet.imaging.formats import sniff
from digitnet.imaging.jpeg import JpegScans, jpeg_scans

__all__ = ["MAX_JPEG_SCANS", "MAX_PIXELS", "MAX_TIFF_TILE_PIXELS", "open_image"]

# A 24 MP camera frame decodes whole, a 48-108 MP phone JPEG at 1/2 or 1/4; and `digitnet predict` peaks at
# about 20 bytes a pixel (Pillow's image and ink.py's float32 work), so at 0.5 GB here.
MAX_PIXELS = 25_000_000
# libjpeg writes 10 scans for a progressive colour JPEG; each scan is a pass over the whole image (up to 25 ms
# at 25 MP), so a file of repeated scans is a CPU bomb: 2,000 of them in 156 kB cost 19 s.
MAX_JPEG_SCANS = 50
MAX_TIFF_TILE_PIXELS = 1 << 20  # a TIFF tile may outgrow its image up to 1024x1024, the largest common tile
JPEG_SCALES = (2, 4, 8)  # the reductions libjpeg decodes cheaply, by scaling its inverse DCT


def open_image(
    source: bytes | str | os.PathLike, name: str | None = None, *, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode an untrusted image, refusing unknown formats and oversized images before decoding them.

    Parameters
    ----------
    source : bytes or str or path-like
        The file's bytes (an upload), or the path of a file.
    name : str, optional
        Names the image in error messages; default: the path, or ``"image"`` for bytes.
    max_pixels : int, optional
        The most pixels decoded, 1 to :data:`MAX_PIXELS` (the default); a server may ask for fewer.

    Returns
    -------
    PIL.Image.Image
        The first frame, fully loaded (the file may be closed), turned upright by its EXIF orientation,
        in the file's own mode. At most ``max_pixels`` pixels; a larger baseline JPEG comes back
        reduced by 2, 4 or 8 on each side.

    Raises
    ------
    ImageFormatError
        The file is not a PNG, JPEG, GIF, BMP, TIFF or WebP by its signature (checked before Pillow sees
        it): PostScript, EPS, PDF, SVG, text, an empty file, ...
    ImageTooLargeError
        Its header declares more than ``max_pixels`` pixels (for a baseline JPEG: even at 1/8 scale).
    ImageError
        The file cannot be read, or is truncated or corrupt, or is a JPEG with more than
        :data:`MAX_JPEG_SCANS` scans.
    ValueError
        ``max_pixels`` is not a whole number from 1 to :data:`MAX_PIXELS`.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (40, 30), 255).save(buffer, "PNG")
    >>> open_image(buffer.getvalue(), name="upload.png").size
    (40, 30)
    >>> open_image(b"%!PS-Adobe-3.0 EPSF-3.0\\n", name="x.eps")
    Traceback (most recent call last):
    ...
    digitnet.errors.ImageFormatError: x.eps: not an image digitnet accepts: it looks like a PostScript/EPS \
document; give a PNG, JPEG, GIF, BMP, TIFF or WebP file.
    """
    if not isinstance(max_pixels, int) or not 1 <= max_pixels <= MAX_PIXELS:
        raise ValueError(f"max_pixels must be a whole number from 1 to {MAX_PIXELS:,}, got {max_pixels!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_stream(io.BytesIO(bytes(source)), name or "image", max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be bytes or a path, got {type(source).__name__}")
    path = Path(source)
    label = name or str(path)
    problem = file_problem(path)  # a FIFO would block the open below, a device never end
    if problem not in (None, "does not exist") and not problem.startswith("is a folder"):
        raise ImageError(f"{label} {problem}; give an image file.")
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file; check the path and the spelling.") from None
    except IsADirectoryError:
        raise ImageError(f"{label}: is a folder, not an image; name an image file inside it.") from None
    except OSError as e:
        raise ImageError(f"{label}: cannot be read ({e.strerror or e}).") from None
    with stream:
        return _open_stream(stream, label, max_pixels)


def _open_stream(stream: BinaryIO, label: str, max_pixels: int) -> Image.Image:
    """Steps 1 to 4 on an open binary stream positioned at 0."""
    fmt = sniff(stream.read(1024), label)
    stream.seek(0)
    scans = jpeg_scans(stream, MAX_JPEG_SCANS) if fmt == "JPEG" else None
    stream.seek(0)
    with _inside_open_image(), _decoding(label, fmt):
        image = _header(stream, fmt, label, max_pixels)
        _fit(image, fmt, scans, label, max_pixels)
        image.load()  # the first frame: Pillow opens multi-frame files at frame 0
        ImageOps.exif_transpose(image, in_place=True)  # no copy: a 25 MP image is 100 MB
        return image


def _header(stream: BinaryIO, fmt: str, label: str, max_pixels: int) -> ImageFile.ImageFile:
    """Read the header with the one plugin class for ``fmt``; nothing is decoded yet.

    The class itself, not ``Image.open(..., formats=[fmt])``: that would do the same, then check the size
    against Pillow's own limit, which warns from 89 MP and refuses from 179 MP before the size is ours to
    judge (a baseline JPEG may still fit at 1/8 scale). For a JPEG it also gives the first frame of an MPO
    (a camera's multi-picture file) as the plain JPEG it begins with.
    """
    if fmt == "WEBP" and not features.check_module("webp"):
        raise ImageFormatError(
            f"{label}: a WebP image, but this installation's Pillow was built without WebP; give a PNG, "
            "JPEG, GIF, BMP or TIFF file."
        )
    try:
        return _PLUGINS[fmt](stream)
    except (SyntaxError, IndexError, TypeError, struct.error):  # what Image.open calls "cannot identify"
        raise ImageError(
            f"{label}: starts like a {_name(fmt)} file but its header is corrupt; save or export it again."
        ) from None
    except Image.DecompressionBombError as e:  # the plugin checks for itself (WebP): take its pixel count
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow decodes"
        raise ImageTooLargeError(_too_large(label, _name(fmt), size, max_pixels)) from None


def _fit(image: ImageFile.ImageFile, fmt: str, scans: JpegScans | None, label: str, max_pixels: int) -> None:
    """Refuse an image over ``max_pixels``, or set a one-pass JPEG to decode at a scale that fits."""
    width, height = image.size
    size = f"{width}x{height} = {width * height:,} pixels"
    if scans is not None and scans.count > MAX_JPEG_SCANS:
        raise ImageError(
            f"{label}: a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write about 10), which would "
            "take very long to decode. Save it again as a baseline JPEG or a PNG."
        )
    if fmt == "TIFF":
        _check_tiles(image, label)
    if width * height <= max_pixels:
        return
    if scans is None:
        raise ImageTooLargeError(_too_large(label, _name(fmt), size, max_pixels))
    if not scans.one_pass or image.info.get("progressive"):  # Pillow's reading of the frame must agree
        raise ImageTooLargeError(_whole_jpeg_too_large(image, scans, label, size, max_pixels))
    for scale in JPEG_SCALES:
        if -(-width // scale) * -(-height // scale) <= max_pixels:  # ceiling divisions: libjpeg's size
            image.draft(None, (max(1, width // scale), max(1, height // scale)))
            break
    if image.width * image.height > max_pixels:
        raise ImageTooLargeError(_too_large(label, "JPEG", size, max_pixels, " even decoded at 1/8 scale"))


def _whole_jpeg_too_large(
    image: ImageFile.ImageFile, scans: JpegScans, label: str, size: str, max_pixels: int
) -> str:
    """The refusal of a JPEG over ``max_pixels`` that libjpeg would hold whole, saying which kind it is."""
    held = ", and libjpeg holds it whole at full size, whatever the scale it decodes it at"
    if image.info.get("progressive") or scans.progressive:
        kind, why = "progressive JPEG", f" (it is progressive{held})"
    elif scans.sequential:
        kind, why = "multi-scan JPEG", f" (its colour components come in separate scans{held})"
    else:  # lossless, arithmetic-coded, hierarchical, or without a frame or scan libjpeg could start on
        kind, why = "JPEG", " (only a baseline JPEG is decoded at a reduced scale)"
    hint = ", or save it as a baseline JPEG, which digitnet decodes at a reduced scale"
    return _too_large(label, kind, size, max_pixels, why, hint)


def _too_large(
    label: str, kind: str, size: str, limit: int = MAX_PIXELS, why: str = "", hint: str = ""
) -> str:
    """The refusal of an image over ``limit`` pixels, in words that fit the CLI and the server alike."""
    article = "an" if kind[0] in "AEIOU" else "a"
    return (
        f"{label}: {article} {kind} of {size}, too large{why}. digitnet decodes at most {limit:,} "
        f"pixels: scale the image down to fit{hint}."
    )


def _check_tiles(image: ImageFile.ImageFile, label: str) -> None:
    """Refuse a TIFF whose tiles are far larger than the image: libtiff allocates a whole tile to decode one,
    so a 16x16 image in one 16384x16384 tile would cost 268 MB from a 175-byte file."""
    tile_width, tile_length = image.tag_v2.get(322), image.tag_v2.get(323)  # TileWidth, TileLength
    if not (isinstance(tile_width, int) and isinstance(tile_length, int)):
        return  # a striped TIFF, whose strips libtiff bounds by the image; or malformed, for Pillow to judge
    if tile_width * tile_length > max(image.width * image.height, MAX_TIFF_TILE_PIXELS):
        raise ImageTooLargeError(
            f"{label}: a TIFF of {image.width}x{image.height} pixels in tiles of {tile_width}x{tile_length}, "
            f"larger than the image and than {MAX_TIFF_TILE_PIXELS:,} pixels; save it again, untiled or as "
            "a PNG."
        )


_PLUGINS = {  # the class that reads each format's header: the one Image.open(..., formats=[name]) picks
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}

_DECODE_ERRORS = (
    OSError,  # UnidentifiedImageError, "image file is truncated", decoder errors
    EOFError,
    SyntaxError,  # Pillow's "not a <format> file" and broken headers
    ValueError,
    TypeError,  # a TIFF tag of the wrong type (a float strip offset) reaching Pillow's own code
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
    OverflowError,
)
"""What Pillow raises for bytes it cannot make sense of, found by fuzzing (tests/imaging/test_decode.py)."""


@contextmanager
def _decoding(label: str, fmt: str) -> Iterator[None]:
    """Turn Pillow's failures inside the block into :class:`~digitnet.errors.ImageError`.

    A warning can arrive here as an exception only where the process's own filters turn Pillow's warnings
    into errors ahead of this module's filter (a ``catch_warnings`` block with ``simplefilter("error")``
    around the call): it is a failure like any other.
    """
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # a caller lowered Pillow's limit
        raise ImageTooLargeError(
            f"{label}: the {_name(fmt)} image is larger than Pillow is set to decode; scale it down."
        ) from None
    except Warning as e:
        raise ImageError(
            f"{label}: could not decode the {_name(fmt)} image ({e}); the file may be corrupt, so save or "
            "export it again."
        ) from None
    except MemoryError:
        raise ImageError(f"{label}: ran out of memory decoding the {_name(fmt)} image.") from None
    except _DECODE_ERRORS as e:
        raise ImageError(
            f"{label}: could not decode the {_name(fmt)} image ({e}); the file may be truncated or corrupt, "
            "so save or export it again."
        ) from None


def _name(fmt: str) -> str:
    return "WebP" if fmt == "WEBP" else fmt


# Pillow's warnings, kept inside open_image without changing the process's filters per call.

_thread = threading.local()  # .decoding: how many open_image calls this thread is inside (0 or 1)


class _InOpenImage(type):
    """The metaclass that makes :class:`_AnyWarningInOpenImage` a category every warning belongs to, but
    only in a thread that is inside :func:`open_image`.

    The warnings machinery tests a filter's category with ``issubclass(category, filter_category)``, which
    asks this ``__subclasscheck__``: so one filter, added once, acts in some threads and not in others.
    """

    def __subclasscheck__(cls, subclass: type) -> bool:
        return getattr(_thread, "decoding", 0) > 0 and issubclass(subclass, Warning)


class _AnyWarningInOpenImage(Warning, metaclass=_InOpenImage):
    """Stands for every warning category inside :func:`open_image`, in a warning filter; never raised."""


def _install_warning_filter() -> None:
    """Ignore the warnings of Pillow's modules in threads inside :func:`open_image`; run once, at import.

    The filter goes in front of those already there (``python -W`` options included), as any filter added
    later will go in front of it. pytest sets import-time filters aside after collecting the tests, so the
    tests call this again, to decode in the order of filters a real process has.
    """
    warnings.filterwarnings("ignore", category=_AnyWarningInOpenImage, module=r"PIL\.")


_install_warning_filter()


@contextmanager
def _inside_open_image() -> Iterator[None]:
    """Mark this thread as decoding, for the warning filter above."""
    _thread.decoding = getattr(_thread, "decoding", 0) + 1
    try:
        yield
    finally:
        _thread.decoding -= 1
