"""open_image: sizes judged from the header before anything decodes, decoder bombs, damaged files."""

import doctest
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging_helpers import digit, encode
from PIL import Image, ImageDraw, ImageFile, features

from digitnet.errors import ImageError, ImageTooLargeError
from digitnet.imaging import decode, jpeg, load_image, open_image
from digitnet.imaging.jpeg import jpeg_scans


def png_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes of PNG whose header declares ``width x height`` grey pixels; its data stops short."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    start = zlib.compressobj().compress(bytes(65536))  # the first few bytes of a stream of zero rows
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", start) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int, *, progressive: bool = False) -> bytes:
    """A 16x16 JPEG whose frame header (SOF0, or SOF2 if progressive) is rewritten to ``width x height``."""
    return resized(encode(digit(size=(16, 16)), "JPEG", progressive=progressive), width, height)


def resized(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG's bytes with the size in its frame header (its first SOF0, SOF1 or SOF2) rewritten."""
    data = bytearray(jpeg)
    sof = min(i for i in (data.find(bytes([0xFF, code])) for code in (0xC0, 0xC1, 0xC2)) if i > 0)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def first_scan_only(jpeg: bytes) -> bytes:
    """A JPEG cut after its first scan, as a truncated download would be, and closed with EOI."""
    first = jpeg.find(b"\xff\xda")
    return jpeg[: jpeg.find(b"\xff\xda", first + 2)] + b"\xff\xd9"


def jpeg_one_component_per_scan(planes: list[np.ndarray]) -> bytes:
    """A baseline (SOF0) YCbCr JPEG whose three components come in three scans, one each (non-interleaved).

    Pillow cannot write one, so it is spliced from three grey baseline JPEGs of the same size: their
    quantisation and Huffman tables are the same, and a one-component scan is coded alike in either file.
    libjpeg decodes it as a sequential JPEG, but buffers the whole image, as it does a progressive one.
    """
    grey = [encode(Image.fromarray(plane), "JPEG", quality=75) for plane in planes]  # each (H, W) uint8
    segments, i = {}, 2  # marker -> segment (marker included), up to the first SOS
    while grey[0][i + 1] != 0xDA:
        length = int.from_bytes(grey[0][i + 2 : i + 4], "big")
        segments.setdefault(grey[0][i + 1], []).append(grey[0][i : i + 2 + length])
        i += 2 + length
    height, width = planes[0].shape
    frame = struct.pack(">HBHHB", 8 + 3 * 3, 8, height, width, 3) + bytes(
        [1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]
    )
    out = b"\xff\xd8" + b"".join(segments[0xDB]) + b"\xff\xc0" + frame + b"".join(segments[0xC4])
    for component, data in enumerate(grey, start=1):
        scan = data.find(b"\xff\xda")
        entropy = data[scan + 2 + int.from_bytes(data[scan + 2 : scan + 4], "big") : -2]  # to EOI
        out += b"\xff\xda" + struct.pack(">HBBBBBB", 8, 1, component, 0x00, 0, 63, 0) + entropy
    return out + b"\xff\xd9"


def gif_with_first_frame(width: int, height: int) -> bytes:
    """A 16x16 GIF whose first frame, at (0, 0), is ``width x height``: Pillow grows the image to hold it."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x80, 0, 0) + bytes([0, 0, 0, 255, 255, 255])
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b";"


def tiff_tiled(width: int, height: int, tile: int) -> bytes:
    """A deflate-compressed grey TIFF of ``width x height`` in one ``tile x tile`` tile, written by hand."""
    data = zlib.compress(bytes(1024))
    start = 8 + 2 + 10 * 12 + 4  # header, entry count, 10 entries, next-IFD offset
    tags = {256: width, 257: height, 258: 8, 259: 8, 262: 1, 277: 1, 322: tile, 323: tile, 324: start}
    tags[325] = len(data)
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in sorted(tags.items()))
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + struct.pack("<I", 0) + data


@pytest.fixture
def forbid_decoding(monkeypatch):
    """A function that, once called, makes any attempt to decode pixel data fail the test loudly."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixel data was decoded")

    def forbid():
        monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
        monkeypatch.setattr(Image.Image, "load", refuse)

    return forbid


# Decoding: the first frame, and the errors of files that cannot be read.


def test_multi_frame_files_give_their_first_frame():
    first, second = digit(), Image.new("L", (40, 48), 0)
    for fmt in ("GIF", "TIFF", "PNG"):
        data = encode(first, fmt, save_all=True, append_images=[second])
        image = open_image(data)
        assert np.array_equal(np.asarray(image.convert("L")), np.asarray(first)), fmt


def test_load_image_keeps_its_file_messages(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="bytes or a path"):
        open_image(12)


def test_a_truncated_file_is_an_image_error_that_says_so():
    data = encode(digit(), "PNG")
    with pytest.raises(ImageError, match="truncated") as caught:
        open_image(data[: len(data) // 2], name="half.png")
    assert type(caught.value) is ImageError and "half.png" in str(caught.value)


# Sizes, judged from the header before anything decodes.


@pytest.mark.parametrize("side", [6300, 12000, 20000])
def test_huge_pngs_are_refused_from_their_header(side, forbid_decoding):
    data = png_claiming(side, side)
    assert len(data) < 200
    forbid_decoding()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw DecompressionBombWarning, nor anything else
        with pytest.raises(ImageTooLargeError, match=f"{side}x{side}") as caught:
            open_image(data, name="bomb.png")
    message = str(caught.value)
    assert "too large" in message and f"{decode.MAX_PIXELS:,}" in message and "corrupt" not in message
    assert "scale the image down" in message and "again" not in message  # fits `predict` and the server


@pytest.mark.parametrize("max_pixels", [0, -5, decode.MAX_PIXELS + 1, 2.5, "1000"])
def test_max_pixels_is_checked_where_it_enters(max_pixels):
    with pytest.raises(ValueError, match=f"max_pixels must be .* got {max_pixels!r}"):
        open_image(encode(digit(), "PNG"), max_pixels=max_pixels)


def test_a_400_megapixel_image_is_too_large_not_corrupt():
    with pytest.raises(ImageTooLargeError, match="20000x20000 = 400,000,000 pixels, too large"):
        open_image(png_claiming(20000, 20000))


def test_an_image_at_the_limit_is_decoded_and_one_over_is_not(forbid_decoding):
    side = int(decode.MAX_PIXELS**0.5)
    assert side * side <= decode.MAX_PIXELS < side * (side + 1)
    forbid_decoding()
    with pytest.raises(AssertionError, match="decoded"):  # passed the size check: it went on to decode
        open_image(png_claiming(side, side))
    with pytest.raises(ImageTooLargeError):
        open_image(png_claiming(side, side + 1))


def test_a_large_baseline_jpeg_is_decoded_at_a_reduced_scale():
    side = 9500  # 90 MP: above Pillow's warning limit, so this also checks that no warning escapes
    page = Image.new("L", (side, side), 255)
    ImageDraw.Draw(page).line([(side * 0.3, side * 0.2), (side * 0.6, side * 0.8)], fill=0, width=side // 40)
    data = encode(page, "JPEG", quality=50)
    del page
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = open_image(data)
    assert image.size == (side // 2, side // 2)  # 1/2 scale: 22.6 MP fits the limit
    assert np.asarray(image)[side // 4, round(0.45 * side / 2)] < 64  # the stroke crosses the middle


def test_a_jpeg_too_large_even_at_one_eighth_is_refused(forbid_decoding):
    data = jpeg_claiming(60000, 60000)
    forbid_decoding()
    with pytest.raises(ImageTooLargeError, match="60000x60000 .* even decoded at 1/8 scale"):
        open_image(data)


def test_a_large_progressive_jpeg_is_refused_at_full_size(forbid_decoding):
    # libjpeg keeps a progressive JPEG's coefficients at full size whatever the draft scale: this 600-byte
    # file would take 1 GB.
    data = jpeg_claiming(13000, 13000, progressive=True)
    forbid_decoding()
    with pytest.raises(ImageTooLargeError, match="progressive JPEG of 13000x13000") as caught:
        open_image(data)
    assert "save it as a baseline JPEG" in str(caught.value)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_progressive_jpeg_cut_after_its_first_scan_is_refused_at_full_size(mode, forbid_decoding):
    # One scan, but libjpeg buffers any progressive JPEG whole: a 16000x16000 one cut like this (500 kB)
    # peaked at 549 MB decoded at 1/8, where a baseline JPEG of that size peaks at 51 MB.
    cut = first_scan_only(encode(digit(mode, (64, 64)), "JPEG", progressive=True))
    assert open_image(cut).size == (64, 64)  # a small one decodes: it fits at full size
    data = resized(cut, 16000, 16000)
    assert jpeg_scans(io.BytesIO(data), decode.MAX_JPEG_SCANS).count == 1
    forbid_decoding()
    with pytest.raises(ImageTooLargeError, match="progressive JPEG of 16000x16000 = 256,000,000 pixels"):
        open_image(data)


def test_a_sequential_jpeg_with_its_components_in_separate_scans_is_refused_at_full_size(forbid_decoding):
    # Baseline frame, but only the luma in the first scan: libjpeg buffers the whole image, 1.5 GB for
    # 16000x16000 decoded at 1/8, with the file cut after that first scan or not.
    y = np.asarray(digit(size=(48, 64)))  # (64, 48) uint8
    chroma = np.full_like(y, 128)
    whole = jpeg_one_component_per_scan([y, chroma, chroma])
    image = open_image(whole)  # a real JPEG: libjpeg decodes it, grey as it was drawn
    assert image.mode == "RGB" and np.abs(np.asarray(image.convert("L"), float) - y).mean() < 2
    scans = jpeg_scans(io.BytesIO(whole), decode.MAX_JPEG_SCANS)
    assert (scans.count, scans.sequential, scans.one_pass) == (3, True, False)
    big = [resized(data, 16000, 16000) for data in (whole, first_scan_only(whole))]
    forbid_decoding()
    for data in big:
        with pytest.raises(ImageTooLargeError, match="multi-scan JPEG of 16000x16000 .* separate scans"):
            open_image(data)


def test_a_gif_whose_first_frame_outgrows_its_screen_is_judged_by_the_frame(strict_warnings, forbid_decoding):
    # Pillow grows the image to hold the frame, warning from 89 MP (this is 100 MP) inside its header read.
    forbid_decoding()
    with pytest.raises(ImageTooLargeError, match="GIF of 10000x10000 = 100,000,000 pixels, too large"):
        open_image(gif_with_first_frame(10000, 10000))
    with pytest.raises(ImageTooLargeError, match="400,000,000 pixels"):  # past Pillow's own refusal
        open_image(gif_with_first_frame(20000, 20000))


def test_a_warning_made_an_error_by_the_callers_filters_is_an_image_error(forbid_decoding):
    # With "error" in front of digitnet's filter (not so in a process started with -W error: digitnet's
    # filter comes first there), Pillow's warning is raised as an exception; it still becomes an ImageError.
    forbid_decoding()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError, match="larger than Pillow"):
            open_image(gif_with_first_frame(10000, 10000))


def test_a_jpeg_of_endless_scans_is_refused(forbid_decoding):
    data = encode(digit("RGB", (64, 64)), "JPEG", progressive=True)
    last_scan = data.rfind(b"\xff\xda")
    bomb = data[:-2] + data[last_scan:-2] * (decode.MAX_JPEG_SCANS + 10) + b"\xff\xd9"
    forbid_decoding()
    with pytest.raises(ImageError, match=f"more than {decode.MAX_JPEG_SCANS} scans"):
        open_image(bomb)


def test_a_tiff_with_a_huge_tile_for_a_tiny_image_is_refused(forbid_decoding):
    # 170 bytes: libtiff would allocate the whole 16384x16384 tile (268 MB) to decode 16x16 pixels.
    data = tiff_tiled(16, 16, 16384)
    forbid_decoding()
    with pytest.raises(ImageTooLargeError, match="tiles of 16384x16384"):
        open_image(data)


def test_a_tiff_with_an_ordinary_tile_decodes():
    assert open_image(tiff_tiled(16, 16, 32)).size == (16, 16)


def test_a_webp_canvas_over_pillows_own_limit_is_too_large():
    if not features.check("webp"):
        pytest.skip("this Pillow was built without WebP")
    frames = [digit("RGB", (16, 16)), Image.new("RGB", (16, 16))]
    data = bytearray(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True))
    vp8x = data.find(b"VP8X")
    data[vp8x + 12 : vp8x + 18] = (16000 - 1).to_bytes(3, "little") * 2  # canvas width - 1, height - 1
    with pytest.raises(ImageTooLargeError, match="256,000,000 pixels"):
        open_image(bytes(data))


# Fuzzing: damaged files of every accepted format give an image or an ImageError, nothing else.

SEEDS = [
    encode(digit(), "PNG"),
    encode(digit("RGBA"), "PNG"),
    encode(digit("RGB"), "JPEG"),
    encode(digit("RGB"), "JPEG", progressive=True),
    encode(digit("P"), "GIF"),
    encode(digit(), "BMP"),
    encode(digit("RGB"), "TIFF"),
    encode(digit(), "TIFF", compression="tiff_adobe_deflate"),
    encode(digit(), "TIFF", compression="packbits"),
] + (
    [encode(digit("RGB"), "WEBP"), encode(digit("RGBA"), "WEBP", lossless=True)]
    if features.check("webp")
    else []
)


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["flip", "byte", "cut", "insert"]))
        if edit == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif edit == "byte":
            data[where] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[where:]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            break
    return bytes(data)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(damaged())
def test_damaged_files_give_an_image_or_an_image_error(strict_warnings, data):
    try:  # Pillow's warnings about corrupt metadata stay inside too: any that escaped would be an error
        image = open_image(data)
    except ImageError:
        return
    assert isinstance(image, Image.Image) and image.width * image.height <= decode.MAX_PIXELS


@pytest.mark.parametrize("module", [decode, jpeg], ids=lambda module: module.__name__)
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
