"""Images made in the tests (Pillow): photos with GPS EXIF and an orientation, bombs,
garbage."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(width: int = 1200, height: int = 800, *, orientation: int = 6, gps: bool = True,
          fmt: str = "JPEG", seed: int = 1) -> bytes:
    """A smooth colour picture with a blue band along its top edge (so orientation can be
    checked), GPS coordinates and an EXIF orientation."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 6))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(48)])
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    image.paste((0, 0, 255), (0, 0, width, max(1, height // 10)))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Roost Test Camera"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "E", 4: (0.0, 7.0, 39.0)}
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes(), **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def gif(width: int = 60, height: int = 40, frames: int = 3) -> bytes:
    """An animated GIF; its first frame is red."""
    images = [Image.new("P", (width, height), color) for color in range(frames)]
    images[0].putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100)
    return out.getvalue()
