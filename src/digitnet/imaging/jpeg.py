"""What a JPEG's marker segments say about how libjpeg will decode it, read without decoding anything.

libjpeg decodes a JPEG in one pass, a band of rows at a time, only when its frame is sequential (baseline or
extended, SOF0/SOF1) and its first scan holds every colour component; that is the only kind it can decode
at 1/2, 1/4 or 1/8 scale in memory to match. Any other, progressive (SOF2) or with its components in
separate scans, it buffers whole, as the coefficients of the full-size image (2 bytes a pixel and
component), even when the file ends after its first scan; and each scan is another pass over all of them.
:func:`jpeg_scans` reads the frame, the first scan and the number of scans from the markers alone, for
:mod:`digitnet.imaging.decode` to judge the file before libjpeg sees it.
"""

from __future__ import annotations

import io
import mmap
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, NamedTuple

__all__ = ["JpegScans", "jpeg_scans"]

# JPEG's marker segments. Each starts 0xFF, a code, then (except the standalone ones) a 2-byte big-endian
# length that counts itself. After a start-of-scan (SOS) segment comes entropy-coded data, in which 0xFF is
# always followed by 0x00 (a stuffed byte) or a restart marker RSTn (0xD0..0xD7). Like libjpeg, the walk
# looks for the next marker by skipping anything else, fill bytes (more 0xFF), stuffed bytes and
# the standalone markers (TEM, SOI, RSTn) included, so garbage between segments cannot hide a scan.
# A start-of-frame (SOFn) segment holds the precision, height, width, then Nf, the number of colour
# components; an SOS segment starts with Ns, the number of components in that scan.
_SOS, _EOI = 0xDA, 0xD9
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # 0xC4 (DHT), 0xC8 (JPG), 0xCC (DAC) are not frames
_SEQUENTIAL = frozenset({0xC0, 0xC1})  # baseline and extended sequential, Huffman-coded
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})  # the ones Pillow marks info["progressive"]
_NEXT_MARKER = re.compile(rb"\xff+([^\x00\x01\xd0-\xd8\xff])")


class JpegScans(NamedTuple):
    """What a JPEG's markers say about how libjpeg will decode it (:func:`jpeg_scans`)."""

    count: int  # scans of the main image, counted up to the walk's limit + 1
    frames: tuple[int, ...]  # its start-of-frame markers, 0xC0 to 0xCF: one in a file libjpeg decodes
    components: int  # colour components of its last frame (Nf); 0 if none could be read
    first_scan_components: int  # colour components in its first scan (Ns); 0 if there is none

    @property
    def sequential(self) -> bool:
        """One frame, baseline or extended sequential (SOF0, SOF1)."""
        return len(self.frames) == 1 and self.frames[0] in _SEQUENTIAL

    @property
    def progressive(self) -> bool:
        return not _PROGRESSIVE.isdisjoint(self.frames)

    @property
    def one_pass(self) -> bool:
        """libjpeg decodes it in one pass, a band of rows at a time: a sequential frame whose first scan holds
        every component. Anything else (libjpeg's ``has_multiple_scans``) it buffers whole, as the
        coefficients of the full-size image, even when the file ends after one scan."""
        return self.sequential and 0 < self.components == self.first_scan_components


def jpeg_scans(stream: BinaryIO, limit: int) -> JpegScans:
    """Walk a JPEG's marker segments up to its first EOI, counting at most ``limit + 1`` scans.

    Thumbnails inside APPn segments are skipped with them. The walk stops at anything malformed, which
    libjpeg refuses too. The stream is read from its start, and left anywhere.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (32, 32)).save(buffer, "JPEG", progressive=True)
    >>> scans = jpeg_scans(buffer, limit=50)
    >>> scans.count > 1, scans.progressive, scans.one_pass
    (True, True, False)
    """
    with _contents(stream) as data:
        count, frames, components, first_scan, i, n = 0, [], 0, 0, 2, len(data)  # from after SOI
        while count <= limit:
            found = _NEXT_MARKER.search(data, i)
            if found is None or found.group(1)[0] == _EOI or found.end() + 2 > n:
                break
            marker, start = found.group(1)[0], found.end()
            length = int.from_bytes(data[start : start + 2], "big")
            if length < 2:  # libjpeg: "bogus marker length"
                break
            if marker == _SOS:
                if count == 0 and start + 3 <= n:
                    first_scan = data[start + 2]
                count += 1
            elif marker in _SOF:
                frames.append(marker)
                components = data[start + 7] if start + 8 <= n else 0
            i = start + length
        return JpegScans(count, tuple(frames), components, first_scan)


@contextmanager
def _contents(stream: BinaryIO) -> Iterator[bytes | mmap.mmap]:
    """The whole file's bytes, not copied: a BytesIO's own buffer, or a file mapped read-only into memory
    (read, where it cannot be mapped)."""
    if isinstance(stream, io.BytesIO):
        yield stream.getvalue()  # no copy: the BytesIO shares the bytes it was made from
        return
    try:
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, io.UnsupportedOperation):  # not a regular file, or an empty one
        mapped = None
    if mapped is None:
        yield stream.read()
        return
    with mapped:
        yield mapped
