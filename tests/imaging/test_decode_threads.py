"""open_image in threads, and Pillow's warnings: decodes run at once, and no warning of Pillow's escapes them.

Pillow warns about corrupt metadata it skips (a TIFF tag or an EXIF block pointing past the end of the
file). digitnet keeps those inside open_image with one filter added at import that acts only in threads
inside it, so nothing holds a lock while decoding and Pillow's warnings elsewhere still show.
"""

import io
import struct
import subprocess
import sys
import threading
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile, ImageOps

from digitnet.errors import ImageTooLargeError
from digitnet.imaging import decode, open_image

THREADS = 6


def digit_png() -> bytes:
    image = Image.new("L", (40, 48), 255)
    ImageDraw.Draw(image).line([(8, 7), (32, 7), (16, 41)], fill=0, width=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def broken_exif() -> bytes:
    """EXIF (a TIFF directory) holding orientation 6, "rotate 90 clockwise to view", and a 100-byte
    description said to lie at byte 5000 of an 38-byte block: Pillow skips that tag with a warning."""
    entries = struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<HHII", 270, 2, 100, 5000)
    return b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 2) + entries + struct.pack("<I", 0)


def with_broken_exif(fmt: str) -> bytes:
    image = Image.new("L", (40, 24), 255)
    ImageDraw.Draw(image).rectangle([0, 0, 9, 23], fill=0)  # a bar on the left: upright, it is on top
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=broken_exif())
    return buffer.getvalue()


def tiff_with_broken_tag() -> bytes:
    """A 16x16 grey TIFF, written by hand, whose description tag points far past the end of the file."""
    pixels = zlib.compress(bytes(range(0, 256)))
    start = 8 + 2 + 11 * 12 + 4  # header, entry count, 11 entries, next-directory offset
    tags = {256: 16, 257: 16, 258: 8, 259: 8, 262: 1, 273: start, 277: 1, 278: 16, 279: len(pixels), 284: 1}
    entries = [struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags.items()]
    entries.append(struct.pack("<HHII", 270, 2, 100, 1_000_000))  # 100 ASCII bytes, at byte 1,000,000
    entries.sort()
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + b"\x00" * 4 + pixels


def progressive_first_scan(side: int) -> bytes:
    """A progressive JPEG cut after its first scan, its header rewritten to ``side x side``."""
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 200).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    cut = bytearray(data[: data.find(b"\xff\xda", data.find(b"\xff\xda") + 2)] + b"\xff\xd9")
    sof = cut.find(b"\xff\xc2")
    cut[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(cut)


def png_claiming(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(bytes(16))) + chunk(b"IEND", b"")


def warned_files() -> dict[str, bytes]:
    """Files that make Pillow warn, each still a good image."""
    return {
        "tiff": tiff_with_broken_tag(),
        "jpeg": with_broken_exif("JPEG"),
        "png": with_broken_exif("PNG"),
    }


def pillow_alone(data: bytes) -> Image.Image:
    """What open_image does, by Pillow alone (no signature or size checks, no warning filter)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return ImageOps.exif_transpose(image)


def outcome(data: bytes) -> np.ndarray | str:
    try:
        return np.asarray(open_image(data))
    except ImageTooLargeError:
        return "too large"


def test_the_test_files_make_pillow_warn():
    """The control for the tests below: Pillow on its own warns about each file, and reads it."""
    for name, data in warned_files().items():
        with pytest.warns(UserWarning):
            image = pillow_alone(data)
        assert image.size == ((16, 16) if name == "tiff" else (24, 40)), name  # EXIF turned upright


def test_pillows_warnings_stay_inside_and_the_image_comes_out(strict_warnings):
    for name, data in warned_files().items():
        image = open_image(data)  # any warning would be an error here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = pillow_alone(data)
        assert np.array_equal(np.asarray(image), np.asarray(expected)), name
    # The filter matches in this thread only while it decodes: Pillow called directly still warns.
    with pytest.raises(UserWarning):
        pillow_alone(warned_files()["tiff"])


def test_threads_decode_at_once_correctly_and_quietly():
    files = [*warned_files().values(), digit_png(), png_claiming(12000), progressive_first_scan(16000)]
    warned = warned_files()["tiff"]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        decode._install_warning_filter()  # in front, as importing put it in a real process
        expected = [outcome(data) for data in files]
        with warnings.catch_warnings(record=True) as direct:  # the same filters, recorded apart
            warnings.simplefilter("always")
            decode._install_warning_filter()
            pillow_alone(warned)
        per_call = len(direct)
        filters = list(warnings.filters)
        outcomes, calls = [], 0

        def work(turn: int) -> None:
            for k in range(30):
                data = files[(turn + k) % len(files)]
                outcomes.append((data, outcome(data)))

        threads = [threading.Thread(target=work, args=(turn,)) for turn in range(THREADS)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):  # Pillow used directly here, meanwhile
            pillow_alone(warned)
            calls += 1
        for thread in threads:
            thread.join()
        assert list(warnings.filters) == filters  # decoding changed no filter
    assert per_call > 0 and calls > 0
    assert len(shown) == calls * per_call  # every warning of this thread's Pillow calls, none of the decodes'
    assert all(w.filename.endswith("TiffImagePlugin.py") for w in shown)
    assert len(outcomes) == THREADS * 30
    for data, got in outcomes:
        want = expected[files.index(data)]
        assert got == want if isinstance(want, str) else np.array_equal(got, want)


def test_decodes_in_threads_are_not_serialised(monkeypatch):
    """Six threads are inside Pillow's decoder at the same moment: nothing holds a lock around it."""
    barrier = threading.Barrier(THREADS, timeout=20)
    real_load = ImageFile.ImageFile.load

    def load(self):
        if not getattr(self, "met", False):  # exif_transpose loads again: meet only the first time
            self.met = True
            barrier.wait()  # raises BrokenBarrierError unless all six threads get here together
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    data, sizes = digit_png(), []
    threads = [threading.Thread(target=lambda: sizes.append(open_image(data).size)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sizes == [(40, 48)] * THREADS


def test_a_process_run_with_warnings_as_errors_decodes_them_quietly(tmp_path):
    """In a real process the filter is installed at import, in front of ``-W error``: nothing is printed,
    nothing raised, and a plain Pillow decode in that process still fails on its warning."""
    paths = []
    for name, data in warned_files().items():
        paths.append(tmp_path / f"warned.{name}")
        paths[-1].write_bytes(data)
    code = (
        "import sys\nfrom digitnet.imaging import open_image\n"
        "for p in sys.argv[1:]: print(open_image(p).size)"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr, done.stdout.split("\n")) == (
        0,
        "",
        ["(16, 16)", "(24, 40)", "(24, 40)", ""],
    )
    plain = "import sys\nfrom PIL import Image\nImage.open(sys.argv[1]).load()"
    control = subprocess.run(
        [sys.executable, "-W", "error", "-c", plain, str(paths[0])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert control.returncode != 0 and "UserWarning" in control.stderr
