"""Just enough PNG decoding for tests to look at a screenshot's pixels (8-bit RGB/RGBA,
not interlaced: what Chromium writes), with the standard library only."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type → bytes per pixel at bit depth 8


@dataclass(frozen=True, slots=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes] = field(repr=False)  # unfiltered scanlines

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        at = x * self.channels
        return tuple(self.rows[y][at : at + self.channels])

    def colours(self, left: int, top: int, right: int, bottom: int) -> set[tuple[int, ...]]:
        """The distinct colours in the box [left, right) × [top, bottom)."""
        return {self.pixel(x, y) for y in range(top, bottom) for x in range(left, right)}


def decode(data: bytes, rows: int | None = None) -> Image:
    """The image, with only its first `rows` scanlines when given (they are cheaper)."""
    assert data[:8] == SIGNATURE, "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour in CHANNELS, colour
    bpp = CHANNELS[colour]
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    lines: list[bytes] = []
    prior = bytearray(stride)
    for y in range(height if rows is None else min(rows, height)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
            else:
                assert kind == 0, f"unknown PNG filter {kind}"
        lines.append(bytes(line))
        prior = line
    return Image(width, height, bpp, lines)
