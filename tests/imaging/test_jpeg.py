"""jpeg_scans: a JPEG's frame and scans read from its markers, through thumbnails and garbage."""

import io
import struct

from imaging_helpers import digit, encode

from digitnet.imaging import decode, open_image
from digitnet.imaging.jpeg import jpeg_scans


def test_scans_are_counted_through_thumbnails_and_garbage():
    plain = encode(digit("RGB", (64, 64)), "JPEG")
    progressive = encode(digit("RGB", (64, 64)), "JPEG", progressive=True)
    thumbnail = encode(digit("RGB", (16, 16)), "JPEG")  # its own scan, inside an APP1 segment
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumbnail) + 2) + thumbnail
    with_thumbnail = plain[:2] + app1 + plain[2:]
    with_garbage = progressive[:2] + b"\x00\x17\xff\x00junk" + progressive[2:]  # libjpeg skips this
    found = [
        jpeg_scans(io.BytesIO(d), decode.MAX_JPEG_SCANS)
        for d in (plain, progressive, with_thumbnail, with_garbage)
    ]
    assert [scans.count for scans in found[::2]] == [1, 1] and found[1].count > 1 and found[3] == found[1]
    assert [scans.one_pass for scans in found] == [True, False, True, False]
    assert found[0].frames == found[2].frames == (0xC0,) and found[1].frames == (0xC2,)
    assert found[0].components == found[0].first_scan_components == 3  # YCbCr, interleaved in one scan
    assert open_image(with_thumbnail).size == (64, 64)
