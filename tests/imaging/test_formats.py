"""The format allow-list: other formats refused by their signature; each accepted one decodes."""

import os

import numpy as np
import pytest
from imaging_helpers import digit, encode
from PIL import EpsImagePlugin, Image, JpegImagePlugin, PngImagePlugin, features

from digitnet.errors import ImageFormatError
from digitnet.imaging import decode, formats, open_image, preprocess, preprocess_file

EPS = (  # 206 bytes, like the 217 the security review posted: Pillow hands it to Ghostscript to draw
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n%%Title: digit\n%%Creator: review\n"
    b"%%EndComments\nnewpath 14 4 moveto 14 24 lineto 3 setlinewidth stroke\n"
    b"newpath 8 20 moveto 14 24 lineto stroke\nshowpage\n%%EOF\n"
)
REFUSED = {  # bytes -> words the refusal must contain
    "eps": (EPS, "PostScript/EPS"),
    "postscript": (b"%!PS-Adobe-3.0\n/Times findfont 12 scalefont setfont\nshowpage\n", "PostScript"),
    "dos_eps": (b"\xc5\xd0\xd3\xc6" + bytes(28) + EPS, "EPS"),
    "pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", "PDF"),
    "svg": (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>',
        "SVG",
    ),
    "heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    "text": (b"not a picture\n", "plain text"),
    "random": (np.random.default_rng(0).integers(128, 256, 300, dtype=np.uint8).tobytes(), "first bytes"),
    "empty": (b"", "empty"),
}


@pytest.fixture
def fake_ghostscript(tmp_path, monkeypatch):
    """A ``gs`` first on PATH that leaves a marker file when anything runs it; yields the marker's path."""
    folder = tmp_path / "bin"
    folder.mkdir()
    marker = tmp_path / "gs-ran"
    script = folder / "gs"
    script.write_text(f"#!/bin/sh\necho \"$@\" > '{marker}'\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None, raising=False)  # Pillow caches where gs was found
    return marker


# Formats refused by their signature, before Pillow sees them.


@pytest.mark.parametrize("kind", REFUSED)
def test_other_formats_are_refused_by_their_signature(kind, tmp_path, monkeypatch, fake_ghostscript):
    data, words = REFUSED[kind]
    path = tmp_path / "digit.png"  # the name lies; the bytes decide
    path.write_bytes(data)

    def never(*args, **kwargs):
        raise AssertionError("Pillow was handed a refused file")

    monkeypatch.setattr(Image, "open", never)
    for source in (data, path):
        with pytest.raises(ImageFormatError, match=words) as caught:
            open_image(source, name="upload")
        assert str(caught.value).startswith("upload: ") and "PNG, JPEG, GIF, BMP, TIFF or WebP" in str(
            caught.value
        )
    with pytest.raises(ImageFormatError, match=words) as caught:
        preprocess_file(path)
    assert str(path) in str(caught.value)
    assert not fake_ghostscript.exists()


def test_plain_pillow_would_run_ghostscript_on_the_eps(tmp_path, fake_ghostscript):
    """The control for the test above: the fake gs is found and run when Pillow opens the EPS itself."""
    path = tmp_path / "digit.eps"
    path.write_bytes(EPS)
    with pytest.raises(Exception):  # noqa: B017 - whatever Pillow makes of a gs that fails
        Image.open(path).load()
    if not fake_ghostscript.exists():
        pytest.skip("this Pillow did not look for Ghostscript on PATH; the trap cannot be checked")


def test_only_the_plugin_of_the_format_its_signature_names_reads_the_file(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("Image.open was called: it tries other plugins, and warns at 89 MP")

    monkeypatch.setattr(Image, "open", never)
    path = tmp_path / "digit.jpg"  # the name lies; the bytes decide
    path.write_bytes(encode(digit(), "PNG"))
    assert type(open_image(path)) is PngImagePlugin.PngImageFile
    assert type(open_image(encode(digit("RGB"), "JPEG"))) is JpegImagePlugin.JpegImageFile
    assert set(formats.ACCEPTED) == {"PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"} == set(decode._PLUGINS)
    assert all(plugin.format == fmt for fmt, plugin in decode._PLUGINS.items())


# Every accepted format decodes, from bytes and from a file.

ROUND_TRIPS = {  # name: (Pillow's format, save options, lossy)
    "PNG": ("PNG", {}, False),
    "GIF": ("GIF", {}, False),
    "BMP": ("BMP", {}, False),
    "TIFF": ("TIFF", {"compression": "tiff_lzw"}, False),
    "WebP-lossless": ("WEBP", {"lossless": True}, False),
    "JPEG": ("JPEG", {"quality": 90}, True),
    "WebP": ("WEBP", {"quality": 90}, True),
}


@pytest.mark.parametrize("case", ROUND_TRIPS)
def test_each_accepted_format_round_trips(case, tmp_path):
    fmt, options, lossy = ROUND_TRIPS[case]
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("this Pillow was built without WebP")
    original = digit()
    data = encode(original if fmt != "JPEG" else original.convert("RGB"), fmt, **options)
    path = tmp_path / "digit.bin"
    path.write_bytes(data)
    for source in (data, path):
        image = open_image(source)
        assert image.size == original.size
        difference = np.abs(np.asarray(image.convert("L"), float) - np.asarray(original, float))
        assert difference.mean() < (4 if lossy else 1e-9), case
        assert preprocess(image).input.sum() > 10
