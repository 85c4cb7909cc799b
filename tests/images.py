"""Images made in the tests (Pillow): photos with GPS EXIF and an orientation, bombs,
garbage, and the less common kinds (16-bit, CMYK, palette with transparency, grey with
alpha, animated)."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

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


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _chunk(b"IEND", b""))


def png16(width: int, height: int, rgb: tuple[int, int, int] | None = None) -> bytes:
    """A 16-bit-per-channel PNG, written by hand (Pillow writes none): grey rising from
    0 at the left edge to 65535 at the right one, or ``rgb`` (16-bit values) all over."""
    if rgb is None:
        row = b"".join(struct.pack(">H", x * 65535 // (width - 1)) for x in range(width))
    else:
        row = struct.pack(">HHH", *rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 16, 0 if rgb is None else 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def cmyk_jpeg(width: int, height: int, cmyk: tuple[int, int, int, int] = (0, 255, 255, 0)
              ) -> bytes:
    """A CMYK JPEG (Adobe marker, as Photoshop writes them); the default ink is red."""
    out = io.BytesIO()
    Image.new("CMYK", (width, height), cmyk).save(out, "JPEG", quality=90)
    return out.getvalue()


def palette_png(width: int, height: int) -> bytes:
    """A palette PNG: its left half palette entry 1 (green), declared transparent
    (``tRNS``), its right half entry 0 (opaque red)."""
    image = Image.new("P", (width, height), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, width // 2, height))
    out = io.BytesIO()
    image.save(out, "PNG", transparency=1)
    return out.getvalue()


def grey_alpha_png(width: int, height: int, grey: int = 100, alpha: int = 128) -> bytes:
    """An LA (grey + alpha) PNG of one grey and one opacity."""
    out = io.BytesIO()
    Image.new("LA", (width, height), (grey, alpha)).save(out, "PNG")
    return out.getvalue()


def gif(width: int = 60, height: int = 40, frames: int = 3) -> bytes:
    """An animated GIF; its first frame is red."""
    images = [Image.new("P", (width, height), color) for color in range(frames)]
    images[0].putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100)
    return out.getvalue()


@dataclass(frozen=True)
class Uncommon:
    """A less common input and what each stored variant of it must be: its content type,
    an 8-bit sRGB mode (``RGB``, or ``RGBA`` for transparency), and ``pixels``: at
    (x, y) as fractions of the width and height, the colour within ``tolerance`` (a
    fully transparent pixel: its alpha only)."""

    name: str
    make: Callable[[int, int], bytes]
    content_type: str
    mode: str
    pixels: dict[tuple[float, float], tuple[int, ...]]
    tolerance: int = 3

    def check(self, data: bytes, size: tuple[int, int]) -> None:
        """Assert ``data`` is a stored variant of this input of ``size`` pixels."""
        image = Image.open(io.BytesIO(data))
        image.load()
        assert Image.MIME[image.format or ""] == self.content_type, image.format
        assert (image.mode, image.size) == (self.mode, size), (image.mode, image.size)
        assert not {"icc_profile", "exif", "transparency", "gamma"} & set(image.info)
        for (fx, fy), want in self.pixels.items():
            at = (min(size[0] - 1, int(fx * size[0])), min(size[1] - 1, int(fy * size[1])))
            got = image.getpixel(at)
            assert isinstance(got, tuple), got
            if len(want) == 4 and want[3] == 0:
                assert got[3] == 0, (self.name, at, got)
            else:
                assert all(abs(g - w) <= self.tolerance for g, w in zip(got, want, strict=True)
                           ), (self.name, at, got, want)


UNCOMMON = [
    Uncommon("png16-grey", png16, "image/png", "RGB",
             {(0, .5): (0, 0, 0), (.5, .5): (128, 128, 128), (.999, .5): (255, 255, 255)}),
    Uncommon("png16-rgb", lambda w, h: png16(w, h, (65535, 32896, 0)), "image/png", "RGB",
             {(.5, .5): (255, 128, 0)}),
    Uncommon("cmyk-jpeg", cmyk_jpeg, "image/jpeg", "RGB", {(.5, .5): (255, 0, 0)}, 12),
    Uncommon("palette-transparent-png", palette_png, "image/png", "RGBA",
             {(.25, .5): (0, 255, 0, 0), (.75, .5): (255, 0, 0, 255)}),
    Uncommon("grey-alpha-png", grey_alpha_png, "image/png", "RGBA",
             {(.5, .5): (100, 100, 100, 128)}),
    Uncommon("animated-gif", gif, "image/png", "RGB", {(.5, .5): (255, 0, 0)}),
]
"""Each is stored and served as 8-bit sRGB (none is refused)."""
