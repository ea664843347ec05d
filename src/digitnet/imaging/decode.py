"""Open untrusted image bytes safely: what a file is and how big it is are settled before anything decodes.

Pillow reads some fifty formats, and a few of them hand the file to another program (EPS and PostScript go
to Ghostscript); any format can declare billions of pixels in a few hundred bytes. So :func:`open_image`
works in this order, and each step refuses before the next one runs:

1. **Signature.** The file's first bytes must be those of PNG, JPEG, GIF, BMP, TIFF or WebP. Anything else
   is refused with :class:`~digitnet.errors.ImageFormatError`, naming what it looks like (PostScript/EPS,
   PDF, SVG, ...) when that is recognisable. Pillow has not seen the file yet.
2. **Header only.** ``Image.open(..., formats=[that format])`` reads the header and nothing else (it is
   lazy), and cannot pick another plugin.
3. **Size.** Width x height from the header must be at most :data:`MAX_PIXELS`, or
   :class:`~digitnet.errors.ImageTooLargeError`. A larger baseline JPEG is decoded at 1/2, 1/4 or 1/8 scale
   instead (libjpeg's DCT scaling, Pillow's ``draft``), so it is refused only when even 1/8 is too large.
   A progressive (multi-scan) JPEG must fit at full size: libjpeg keeps every coefficient of the full-size
   image in memory, at whatever scale it decodes, and every scan is a pass over all of them, so it may
   hold at most :data:`MAX_JPEG_SCANS` scans. A TIFF's tiles may not be far larger than the image, as
   libtiff allocates a whole tile to decode one (:data:`MAX_TIFF_TILE_PIXELS`).
4. **Decode** the first frame, turn it upright by its EXIF orientation (phone photos); every failure of
   Pillow's becomes an :class:`~digitnet.errors.ImageError` with a clear message.

Pillow's own decompression-bomb check (a warning above 89 megapixels, an error above 179) never reaches the
user: our limit is lower and checked first, the warning is silenced only inside this module's calls, and
Pillow's refusal is turned into ours. Pillow's global settings are left alone. The warning filters that
``warnings.catch_warnings`` sets are process-wide, so two threads decoding at once would undo each other's
(and could leave them in place for good): decoding holds a lock, and the API's worker threads decode one
image at a time. Decoding what the limits allow takes milliseconds to a few tenths of a second.
"""

from __future__ import annotations

import contextlib
import io
import mmap
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
)

from digitnet.errors import ImageError, ImageFormatError, ImageTooLargeError

__all__ = ["ACCEPTED", "MAX_JPEG_SCANS", "MAX_PIXELS", "MAX_TIFF_TILE_PIXELS", "open_image"]

# A 24 MP camera frame decodes whole, a 48-108 MP phone JPEG at 1/2 or 1/4; and `digitnet predict` peaks at
# about 20 bytes a pixel (Pillow's image and ink.py's float32 work), so at 0.5 GB here.
MAX_PIXELS = 25_000_000
# libjpeg writes 10 scans for a progressive colour JPEG; each scan is a pass over the whole image (up to 25 ms
# at 25 MP), so a file of repeated scans is a CPU bomb: 2,000 of them in 156 kB cost 19 s.
MAX_JPEG_SCANS = 50
MAX_TIFF_TILE_PIXELS = 1 << 20  # a TIFF tile may outgrow its image up to 1024x1024, the largest common tile
JPEG_SCALES = (2, 4, 8)  # the reductions libjpeg decodes cheaply, by scaling its inverse DCT

ACCEPTED = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""Pillow's names of the formats digitnet decodes; everything else is refused by its signature."""

_ACCEPTED_TEXT = "PNG, JPEG, GIF, BMP, TIFF or WebP"
_WARNING_FILTERS = threading.Lock()  # held while this module's warning filters are in place

_SIGNATURES = (  # (first bytes, Pillow's format name); WebP is "RIFF", a length, then "WEBP"
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),  # little-endian; Pillow would also take byte-swapped and BigTIFF headers
    (b"MM\x00*", "TIFF"),  # big-endian
)

_LOOKALIKES = (  # (first bytes, what the file looks like), for the refusal's message only
    (b"%!PS", "a PostScript/EPS document"),
    (b"%!", "a PostScript document"),
    (b"\xc5\xd0\xd3\xc6", "an EPS document (DOS binary)"),
    (b"%PDF", "a PDF document"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"\x00\x00\x01\x00", "a Windows icon (ICO)"),
    (b"icns", "an Apple icon (ICNS)"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"II+\x00", "a BigTIFF image"),
    (b"MM\x00+", "a BigTIFF image"),
    (b"\xd7\xcd\xc6\x9a", "a Windows metafile (WMF)"),
    (b"\x8aMNG", "an MNG animation"),
    (b"qoif", "a QOI image"),
    (b"DDS ", "a DirectDraw surface (DDS)"),
    (b"v/1\x01", "an OpenEXR image"),
    (b"PK\x03\x04", "a ZIP archive (or an office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)


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
        The most pixels decoded (default :data:`MAX_PIXELS`); a server may ask for fewer.

    Returns
    -------
    PIL.Image.Image
        The first frame, fully loaded (the file may be closed), turned upright by its EXIF orientation,
        in the file's own mode. At most :data:`MAX_PIXELS` pixels; a larger baseline JPEG comes back
        reduced by 2, 4 or 8 on each side.

    Raises
    ------
    ImageFormatError
        The file is not a PNG, JPEG, GIF, BMP, TIFF or WebP by its signature (checked before Pillow sees
        it): PostScript, EPS, PDF, SVG, text, an empty file, ...
    ImageTooLargeError
        Its header declares more than :data:`MAX_PIXELS` pixels (for a baseline JPEG: even at 1/8 scale).
    ImageError
        The file cannot be read, or is truncated or corrupt, or is a JPEG with more than
        :data:`MAX_JPEG_SCANS` scans.

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
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_stream(io.BytesIO(bytes(source)), name or "image", max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be bytes or a path, got {type(source).__name__}")
    path = Path(source)
    label = name or str(path)
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
    fmt = _sniff(stream.read(1024), label)
    stream.seek(0)
    scans = _count_jpeg_scans(stream) if fmt == "JPEG" else 0
    stream.seek(0)
    with _WARNING_FILTERS, warnings.catch_warnings():
        # Pillow warns above its own limit, 89 MP (ours is lower and checked right after the header), and
        # about corrupt metadata it skips; the caller gets an image or an ImageError, never a raw warning.
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _decoding(label, fmt):
            image = _header(stream, fmt, label, max_pixels)
            _fit(image, fmt, scans, label, max_pixels)
            image.load()  # the first frame: Pillow opens multi-frame files at frame 0
            ImageOps.exif_transpose(image, in_place=True)  # no copy: a 25 MP image is 100 MB
            return image


def _sniff(head: bytes, label: str) -> str:
    """Pillow's name of the format whose signature ``head`` starts with; refuse every other file."""
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if not head:
        raise ImageFormatError(f"{label}: the file is empty (0 bytes); give a {_ACCEPTED_TEXT} file.")
    kind = _looks_like(head)
    what = f"it looks like {kind}" if kind else "its first bytes match none of the formats digitnet reads"
    raise ImageFormatError(f"{label}: not an image digitnet accepts: {what}; give a {_ACCEPTED_TEXT} file.")


def _looks_like(head: bytes) -> str | None:
    """A few words on what a refused file seems to be, from its first bytes; None when unrecognisable."""
    for signature, kind in _LOOKALIKES:
        if head.startswith(signature):
            return kind
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
            return "a HEIC/HEIF image (save it as JPEG on the phone or computer)"
        return "an MP4/QuickTime-style media file"
    if head[:4] == b"RIFF":
        return "a RIFF file (audio or video)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()  # a UTF-8 byte-order mark and white space
    if text.startswith(b"<"):
        if b"<svg" in text:
            return "an SVG drawing"
        return "an HTML page" if b"<html" in text or b"<!doctype html" in text else "an XML document"
    if head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "a Netpbm (PBM/PGM/PPM) image"
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as e:
        decoded = head[: e.start].decode("utf-8") if e.start > len(head) - 4 else ""  # a cut-off character
    if decoded and all(c.isprintable() or c in "\t\r\n" for c in decoded):
        return "plain text"
    return None


def _header(stream: BinaryIO, fmt: str, label: str, max_pixels: int) -> ImageFile.ImageFile:
    """Read the header with the one plugin for ``fmt``; nothing is decoded yet."""
    try:
        return Image.open(stream, formats=[fmt])
    except Image.UnidentifiedImageError:
        raise ImageError(
            f"{label}: starts like a {_name(fmt)} file but its header is corrupt; save or export it again."
        ) from None
    except Image.DecompressionBombError:
        pass
    # Pillow refuses above 179 MP before handing the image back: read the header with the same plugin's class,
    # without that check, so that the size is ours to judge (a baseline JPEG may still fit at 1/8 scale).
    stream.seek(0)
    try:
        return _PLUGINS[fmt](stream)
    except Image.DecompressionBombError as e:  # the plugin checks for itself (WebP): take its pixel count
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow decodes"
        raise ImageTooLargeError(_too_large(label, _name(fmt), size, max_pixels)) from None


def _fit(image: ImageFile.ImageFile, fmt: str, scans: int, label: str, max_pixels: int) -> None:
    """Refuse an image over ``max_pixels``, or set a baseline JPEG to decode at a scale that fits."""
    width, height = image.size
    size = f"{width}x{height} = {width * height:,} pixels"
    if fmt == "JPEG" and scans > MAX_JPEG_SCANS:
        raise ImageError(
            f"{label}: a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write about 10), which would "
            "take very long to decode. Save it again as a baseline JPEG or a PNG."
        )
    if fmt == "TIFF":
        _check_tiles(image, label)
    if width * height <= max_pixels:
        return
    if fmt == "JPEG" and scans <= 1:
        for scale in JPEG_SCALES:
            if -(-width // scale) * -(-height // scale) <= max_pixels:  # ceiling divisions: libjpeg's size
                image.draft(None, (max(1, width // scale), max(1, height // scale)))
                break
        if image.width * image.height <= max_pixels:
            return
        raise ImageTooLargeError(_too_large(label, "JPEG", size, max_pixels, " even decoded at 1/8 scale"))
    if fmt == "JPEG":
        why = " (a progressive JPEG is held in memory at full size, whatever the scale it is decoded at)"
        raise ImageTooLargeError(_too_large(label, "progressive JPEG", size, max_pixels, why))
    raise ImageTooLargeError(_too_large(label, _name(fmt), size, max_pixels))


def _too_large(label: str, kind: str, size: str, limit: int = MAX_PIXELS, why: str = "") -> str:
    article = "an" if kind[0] in "AEIOU" else "a"
    return (
        f"{label}: {article} {kind} of {size}, too large{why}; digitnet decodes at most "
        f"{limit:,} pixels. Scale the image down and send it again."
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


_PLUGINS = {  # the class Image.open(..., formats=[name]) uses, for a header read without its size check
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
    """Turn Pillow's failures inside the block into :class:`~digitnet.errors.ImageError`."""
    try:
        yield
    except ImageError:
        raise
    except Image.DecompressionBombError:  # only if a caller lowered Pillow's limit below ours
        raise ImageTooLargeError(
            f"{label}: the {_name(fmt)} image is larger than Pillow is set to decode; scale it down."
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


# JPEG's marker segments. Each starts 0xFF, a code, then (except the standalone ones) a 2-byte big-endian
# length that counts itself. After a start-of-scan (SOS) segment comes entropy-coded data, in which 0xFF is
# always followed by 0x00 (a stuffed byte) or a restart marker RSTn (0xD0..0xD7). Like libjpeg, the walk
# looks for the next marker by skipping anything else, fill bytes (more 0xFF), stuffed bytes and
# the standalone markers (TEM, SOI, RSTn) included, so garbage between segments cannot hide a scan.
_SOS, _EOI = 0xDA, 0xD9
_NEXT_MARKER = re.compile(rb"\xff+([^\x00\x01\xd0-\xd8\xff])")


def _count_jpeg_scans(stream: BinaryIO) -> int:
    """The number of scans of a JPEG's main image (up to its first EOI), counting at most MAX_JPEG_SCANS + 1.

    One scan means baseline (libjpeg decodes it a band of rows at a time); more mean progressive or
    otherwise multi-scan, which libjpeg buffers whole. Thumbnails inside APPn segments are skipped with
    them. The walk stops at anything malformed, which libjpeg refuses too.
    """
    data = stream.getvalue() if isinstance(stream, io.BytesIO) else None  # no copy: BytesIO shares it
    with contextlib.ExitStack() as stack:
        if data is None:
            data = _mapped(stream, stack)
        scans, i, n = 0, 2, len(data)  # after SOI
        while scans <= MAX_JPEG_SCANS:
            found = _NEXT_MARKER.search(data, i)
            if found is None or found.group(1)[0] == _EOI or found.end() + 2 > n:
                break
            length = int.from_bytes(data[found.end() : found.end() + 2], "big")
            if length < 2:  # libjpeg: "bogus marker length"
                break
            i = found.end() + length
            scans += found.group(1)[0] == _SOS
        return scans


def _mapped(stream: BinaryIO, stack: contextlib.ExitStack) -> bytes | mmap.mmap:
    """A file's bytes mapped read-only into memory (not copied), or read when it cannot be mapped."""
    try:
        return stack.enter_context(mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError, io.UnsupportedOperation):  # not a regular file, or an empty one
        return stream.read()
