"""What an image file is, by its first bytes: the formats digitnet decodes, and words for the rest.

:func:`sniff` is step 1 of :func:`~digitnet.imaging.decode.open_image`: a file whose first bytes are not
those of PNG, JPEG, GIF, BMP, TIFF or WebP is refused before Pillow sees it, with
:class:`~digitnet.errors.ImageFormatError` naming what it looks like (PostScript/EPS, PDF, SVG, ...) when
:func:`looks_like` recognises it. Only the first few bytes are read; nothing is decoded.
"""

from __future__ import annotations

from digitnet.errors import ImageFormatError

__all__ = ["ACCEPTED", "looks_like", "sniff"]

ACCEPTED = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""Pillow's names of the formats digitnet decodes; everything else is refused by its signature."""

_ACCEPTED_TEXT = "PNG, JPEG, GIF, BMP, TIFF or WebP"

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


def sniff(head: bytes, label: str) -> str:
    """Pillow's name of the format whose signature ``head`` starts with; refuse every other file."""
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if not head:
        raise ImageFormatError(f"{label}: the file is empty (0 bytes); give a {_ACCEPTED_TEXT} file.")
    kind = looks_like(head)
    what = f"it looks like {kind}" if kind else "its first bytes match none of the formats digitnet reads"
    raise ImageFormatError(f"{label}: not an image digitnet accepts: {what}; give a {_ACCEPTED_TEXT} file.")


def looks_like(head: bytes) -> str | None:
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
