"""Read Unix ``compress`` (``.Z``) files: the LZW code in which the UCI archive serves pen digits.

A ``.Z`` stream is the magic bytes ``1f 9d``, a flags byte (its low 5 bits the largest code width
``maxbits``, 9 to 16; bit 7 "block mode": code 256 clears the table), then LZW codes packed
least-significant bit first. Codes start 9 bits wide and widen by one each time the table fills the
current width, up to ``maxbits``. Two quirks of the original program must be copied to read its files:

* codes are written in groups of 8; when the width changes (or the table is cleared), the rest of the
  current group of 8 codes at the old width is padding and skipped;
* after a clear code the table restarts at 257 entries and the width at 9;
* the table stops growing at ``2 ** maxbits`` entries; the width grows whenever the table has outgrown
  it, and stops growing once it has reached ``maxbits``; so with ``maxbits`` 9 the codes become 10 bits
  wide when the table fills, as the original program reads and writes them.

Decoding: each code is either in the table (emit its string; add previous string + its first byte) or
the one code not yet added, the KwKwK case (emit previous string + its own first byte).
"""

from __future__ import annotations

from digitnet.errors import DataError

__all__ = ["MAGIC", "decompress"]

MAGIC = b"\x1f\x9d"
"""The first two bytes of every ``.Z`` file."""

_CLEAR = 256  # block mode: this code clears the table


def decompress(data: bytes, *, limit: int = 64 << 20) -> bytes:
    """The content of a ``.Z`` file.

    Parameters
    ----------
    data : bytes
        The whole file, magic bytes included.
    limit : int, optional
        Largest output in bytes (default 64 MiB): a small crafted file cannot fill the memory.

    Raises
    ------
    DataError
        If the data is not a ``.Z`` stream, is damaged, or decompresses to more than ``limit`` bytes.
    """
    if len(data) < 3 or data[:2] != MAGIC:
        raise DataError("not a Unix compress (.Z) file: it does not start with the bytes 1f 9d")
    flags = data[2]
    maxbits, block_mode = flags & 0x1F, bool(flags & 0x80)
    if not 9 <= maxbits <= 16:
        raise DataError(f"damaged .Z file: its largest code width is {maxbits} bits, not 9 to 16")
    body = bytes(data[3:]) + b"\0\0"  # padded so that three bytes can always be read
    total_bits = 8 * (len(data) - 3)
    table: list[bytes] = [bytes([i]) for i in range(256)] + ([b""] if block_mode else [])
    full = 1 << maxbits  # the table never grows past this many entries
    out, previous = bytearray(), b""
    width, position, group_start = 9, 0, 0
    largest = (1 << width) - 1  # once the table holds more codes than this, the width grows
    while position + width <= total_bits:
        at = position >> 3  # a code of up to 16 bits lies within 3 bytes from here
        code = (int.from_bytes(body[at : at + 3], "little") >> (position & 7)) & ((1 << width) - 1)
        position += width
        if block_mode and code == _CLEAR:
            table, previous = table[:257], b""
            position = _next_group(position, group_start, width)  # skip the group's padding
            width, group_start = 9, position
            largest = (1 << width) - 1
            continue
        if code < len(table):
            entry = table[code]
            if previous and len(table) < full:
                table.append(previous + entry[:1])
        elif code == len(table) < full and previous:
            entry = previous + previous[:1]  # KwKwK: the code being defined right now
            table.append(entry)
        else:
            raise DataError(f"damaged .Z file: code {code} at bit {position - width} is not yet defined")
        out += entry
        if len(out) > limit:
            raise DataError(f"the .Z file expands to more than {limit:,} bytes; refused")
        previous = entry
        if len(table) > largest:  # as the original reads it: the new width applies from the next group
            position = _next_group(position, group_start, width)
            width, group_start = width + 1, position
            largest = full if width >= maxbits else (1 << width) - 1
    return bytes(out)


def _next_group(position: int, group_start: int, width: int) -> int:
    """The bit where the next group of 8 codes of ``width`` bits starts, counted from ``group_start``."""
    group = 8 * width
    return group_start + -(-(position - group_start) // group) * group
