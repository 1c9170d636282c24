from __future__ import annotations

import io
import random
import struct
import time
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile

from clarion.media import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    DecodedImage,
    ImageRejected,
    decode_image,
    thumbnail_jpeg,
)

UNSUPPORTED = 30101
INVALID = 30104
OVER_LIMIT = 30105

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def halves(
    size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]
) -> Image.Image:
    """An RGB picture whose left half is ``left`` and right half ``right``."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def png_bytes(width: int, height: int, *, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A PNG written by hand, so its header can claim any size without Pillow allocating it.

    The rows are all zero, so even a 20000 x 20000 picture compresses to a few tens of KB.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = bytes(1 + (width * bit_depth + 7) // 8)  # filter byte + packed samples
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    return png_bytes(20_000, 20_000)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every full decode (ImageFile.load) made during the test."""
    calls: list[object] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def rejected(data: bytes, **options: Any) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **options)
    return caught.value


# -- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", sorted(ALLOWED_FORMATS))
def test_each_allowed_format_decodes(image_format: str) -> None:
    data = encode(halves((64, 48), RED, BLUE), image_format)
    decoded = decode_image(data)
    assert isinstance(decoded, DecodedImage)
    assert (decoded.width, decoded.height, decoded.format) == (64, 48, image_format)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (64, 48)
    assert_close(decoded.image.getpixel((4, 24)), RED)
    assert_close(decoded.image.getpixel((60, 24)), BLUE)


def test_a_multi_picture_jpeg_is_a_jpeg() -> None:
    frames = [Image.new("RGB", (32, 16), RED), Image.new("RGB", (32, 16), BLUE)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    decoded = decode_image(data)
    assert (decoded.format, decoded.width, decoded.height) == ("JPEG", 32, 16)
    assert_close(decoded.image.getpixel((5, 5)), RED)


@pytest.mark.parametrize("image_format", ["GIF", "WEBP"])
def test_animations_give_their_first_frame(image_format: str) -> None:
    frames = [Image.new("RGB", (20, 10), RED), Image.new("RGB", (20, 10), BLUE)]
    data = encode(frames[0], image_format, save_all=True, append_images=frames[1:], duration=100)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    decoded = decode_image(data)
    assert (decoded.width, decoded.height, decoded.format) == (20, 10, image_format)
    assert_close(decoded.image.getpixel((5, 5)), RED)


def assert_close(pixel: Any, expected: tuple[int, int, int], tolerance: int = 12) -> None:
    assert all(abs(int(got) - want) <= tolerance for got, want in zip(pixel, expected, strict=True))


# -- orientation and colour ---------------------------------------------------------------


def test_exif_orientation_6_turns_the_picture_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    data = encode(halves((40, 20), RED, BLUE), "JPEG", exif=exif.tobytes())
    decoded = decode_image(data)
    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.image.size == (20, 40)
    # Clockwise: what was the left (red) is now the top.
    assert_close(decoded.image.getpixel((10, 5)), RED)
    assert_close(decoded.image.getpixel((10, 35)), BLUE)


def test_orientation_1_leaves_the_picture_alone() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    decoded = decode_image(encode(halves((40, 20), RED, BLUE), "JPEG", exif=exif.tobytes()))
    assert (decoded.width, decoded.height) == (40, 20)


def test_transparency_is_composited_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (5, 0, 10, 10))
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.image.mode == "RGB"
    assert decoded.image.getpixel((2, 2)) == RED
    assert decoded.image.getpixel((7, 2)) == WHITE


def test_half_transparent_pixels_are_blended_with_white() -> None:
    decoded = decode_image(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), "PNG"))
    assert_close(decoded.image.getpixel((1, 1)), (127, 127, 127), tolerance=1)


def test_a_palette_with_a_transparent_colour_is_composited_on_white() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 4, 8))
    for image_format in ("PNG", "GIF"):
        decoded = decode_image(encode(image, image_format, transparency=0))
        assert decoded.image.getpixel((1, 1)) == WHITE
        assert decoded.image.getpixel((6, 1)) == RED


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    pixels = np.array([[0, 32896, 65535]], dtype=np.uint16)
    for image_format in ("PNG", "TIFF"):
        decoded = decode_image(encode(Image.fromarray(pixels), image_format))
        values = [decoded.image.getpixel((x, 0)) for x in range(3)]
        assert values == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_cmyk_jpeg_becomes_rgb() -> None:
    decoded = decode_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    assert decoded.image.mode == "RGB"
    assert_close(decoded.image.getpixel((4, 4)), RED)


@pytest.mark.parametrize("mode", ["L", "1", "LA", "P", "I", "F"])
def test_other_modes_become_rgb(mode: str) -> None:
    image = Image.new("RGB", (6, 6), WHITE).convert(mode)
    decoded = decode_image(encode(image, "TIFF"))
    assert decoded.image.mode == "RGB"
    assert decoded.image.getpixel((3, 3)) == WHITE


# -- limits -------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_before_decoding(
    bomb_png: bytes, loads: list[object]
) -> None:
    assert len(bomb_png) < 100_000  # 400 megapixels in a small file
    started = time.perf_counter()
    error = rejected(bomb_png)
    assert error.code == OVER_LIMIT
    assert "400 megapixels" in error.description
    assert loads == []
    assert time.perf_counter() - started < 1.0


def test_the_pixel_limit_does_not_rely_on_pillows_global(
    bomb_png: bytes, loads: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    error = rejected(bomb_png)
    assert error.code == OVER_LIMIT
    assert "20000x20000" in error.description
    assert loads == []


def test_a_size_that_makes_pillow_warn_is_refused_without_a_warning(loads: list[object]) -> None:
    # 90 megapixels: above our 85 and above Pillow's warning threshold (about 89.5).
    # The suite turns warnings into errors, so an escaping warning would fail this test.
    assert MAX_PIXELS < 90_000_000 < 2 * (Image.MAX_IMAGE_PIXELS or 0)
    data = png_bytes(10_000, 9_000)
    assert rejected(data).code == OVER_LIMIT
    # Pillow's threshold is lower than this max_pixels: Pillow's check refuses, quietly.
    assert rejected(data, max_pixels=200_000_000).code == OVER_LIMIT
    assert loads == []


def test_max_pixels_is_checked_before_decoding(loads: list[object]) -> None:
    data = encode(Image.new("RGB", (300, 300), RED), "PNG")
    error = rejected(data, max_pixels=89_999)
    assert error.code == OVER_LIMIT
    assert "300x300" in error.description
    assert loads == []
    assert decode_image(data, max_pixels=90_000).width == 300


# -- bad bytes ----------------------------------------------------------------------------


def test_empty_bytes() -> None:
    assert rejected(b"").code == INVALID


def test_a_truncated_jpeg_is_refused() -> None:
    data = encode(noise((120, 90)), "JPEG")
    error = rejected(data[: len(data) // 2])
    assert error.code == INVALID
    assert "JPEG" in error.description


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "GIF", "BMP", "TIFF"])
def test_truncation_is_caught_even_when_pillow_is_told_to_allow_it(
    image_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some other code in the process may have flipped this global; we must not depend on it.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(noise((120, 90)), image_format)
    assert rejected(data[: len(data) * 3 // 5]).code == INVALID


def test_a_damaged_header_with_a_known_signature_is_corrupt_not_unsupported() -> None:
    error = rejected(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert error.code == INVALID
    assert "PNG" in error.description


def test_a_pdf_is_not_an_image() -> None:
    error = rejected(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    assert error.code == UNSUPPORTED
    assert error.description.startswith("not an image")
    assert "PDF" in error.description
    assert "JPEG, PNG, TIFF, BMP, WEBP or GIF" in error.description


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        pytest.param(b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML", id="html"),
        pytest.param(b"<?xml version='1.0'?><svg xmlns='x'/>", "SVG", id="svg"),
        pytest.param(b"just some words\n", "text", id="text"),
        pytest.param(b"BMW owners club newsletter\n", "text", id="text-like-bmp"),
        pytest.param(b'{"error": "nope"}', "JSON", id="json"),
    ],
)
def test_text_posing_as_an_image_says_what_it_is(data: bytes, looks_like: str) -> None:
    error = rejected(data)
    assert error.code == UNSUPPORTED
    assert looks_like in error.description


def test_another_image_format_is_unsupported() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    error = rejected(heic)
    assert error.code == UNSUPPORTED
    assert "HEIC" in error.description


def test_formats_outside_the_allow_list_are_not_opened() -> None:
    # Pillow can read ICO and TGA, but they are not on the allow-list.
    for image_format in ("ICO", "TGA", "PPM"):
        data = encode(Image.new("RGB", (16, 16), RED), image_format)
        assert rejected(data).code == UNSUPPORTED


def test_random_bytes() -> None:
    assert rejected(bytes(random.Random(1).randrange(256) for _ in range(500))).code == UNSUPPORTED


def test_no_pillow_exception_escapes_on_damaged_files() -> None:
    rng = random.Random(7)
    for image_format in sorted(ALLOWED_FORMATS):
        original = encode(noise((40, 30)), image_format)
        for _ in range(25):
            damaged = bytearray(original)
            for _ in range(rng.randrange(1, 12)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            cut = rng.choice([len(damaged), rng.randrange(1, len(damaged))])
            try:
                decoded = decode_image(bytes(damaged[:cut]))
            except ImageRejected as error:
                assert error.code in (UNSUPPORTED, INVALID, OVER_LIMIT)
            else:
                assert decoded.image.mode == "RGB"


def noise(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


# -- thumbnails ---------------------------------------------------------------------------


def test_thumbnail_fits_the_longest_side() -> None:
    image = halves((1000, 500), RED, BLUE)
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(image)))
    assert thumb.format == "JPEG"
    assert thumb.size == (256, 128)
    assert image.size == (1000, 500)  # the original is left alone
    assert_close(thumb.getpixel((10, 64)), RED)


def test_thumbnail_of_a_tall_picture_with_a_custom_size() -> None:
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(Image.new("RGB", (300, 900), RED), 90)))
    assert thumb.size == (30, 90)


def test_thumbnail_never_scales_up() -> None:
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(Image.new("RGB", (40, 20), RED))))
    assert thumb.size == (40, 20)


def test_thumbnail_of_a_transparent_picture() -> None:
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(Image.new("RGBA", (600, 600), (0, 0, 0, 0)))))
    assert (thumb.size, thumb.mode) == ((256, 256), "RGB")
    assert_close(thumb.getpixel((100, 100)), WHITE, tolerance=2)


def test_thumbnail_of_a_decoded_image() -> None:
    decoded = decode_image(encode(noise((700, 350)), "PNG"))
    assert Image.open(io.BytesIO(thumbnail_jpeg(decoded.image))).size == (256, 128)


def test_thumbnail_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        thumbnail_jpeg(Image.new("RGB", (4, 4)), 0)
