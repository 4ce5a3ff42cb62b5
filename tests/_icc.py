"""A minimal ICC v4 RGB matrix/TRC profile, built byte by byte for tests (no profile files ship here).

``rgb_profile(colorants)`` returns the bytes of a display profile whose red, green and blue colorants
are the given D50 XYZ triples, each channel with the sRGB tone curve (parametric curve type 3). With
sRGB's own colorants it is sRGB under another name; with red and green swapped, a pixel (r, g, b) of
that space is the sRGB colour (g, r, b), which a test can check without any colour science.
"""

from __future__ import annotations

import struct

#: sRGB's colorants adapted to D50 (Bradford), as in the ICC's sRGB profiles.
SRGB_RED = (0.4360747, 0.2225045, 0.0139322)
SRGB_GREEN = (0.3850649, 0.7168786, 0.0971045)
SRGB_BLUE = (0.1430804, 0.0606169, 0.7141733)
D50 = (0.9642, 1.0, 0.8249)
# sRGB's curve: Y = (aX + b)^g for X >= d, else cX (IEC 61966-2-1)
_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(triple) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in triple)


def _para() -> bytes:
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in _SRGB_CURVE)


def _mluc(text: str) -> bytes:
    body = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(body), 28) + body


def rgb_profile(red=SRGB_RED, green=SRGB_GREEN, blue=SRGB_BLUE, *, description: str = "test RGB") -> bytes:
    """The bytes of an ICC v4 RGB display profile with these colorants and the sRGB tone curve."""
    curve = _para()
    tags = [(b"desc", _mluc(description)), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(red)),
            (b"gXYZ", _xyz(green)), (b"bXYZ", _xyz(blue)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        padded = body + bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = 128 + table_size + len(data)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x04300000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 12, 4, 0, 0, 0) + b"acsp" + bytes(24) + struct.pack(">I", 0)
              + b"".join(_s15(v) for v in D50) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + table + data
