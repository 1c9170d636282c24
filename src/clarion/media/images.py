"""Decode untrusted image bytes into an upright RGB picture, refusing what should not be decoded.

The steps, in the order that keeps a hostile file cheap to refuse:
1. identify the format from the header only (``Image.open`` reads no pixels), trying only the
   allowed formats' plugins, so no other Pillow plugin ever parses the bytes;
2. check ``width * height``, and the bytes those pixels take in the file's mode, against our
   own limits before any pixel is decoded;
3. decode the first frame, noticing truncation ourselves rather than trusting
   ``ImageFile.LOAD_TRUNCATED_IMAGES`` (a process-wide switch some other code may have set);
4. apply the EXIF orientation and convert to 8-bit RGB, compositing transparency on white.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from clarion.codes import INPUT_INVALID_ARGUMENT, INPUT_OVER_LIMIT, INPUT_UNSUPPORTED_FORMAT

ALLOWED_FORMATS: Final = frozenset({"JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"})
MAX_PIXELS: Final = 85_000_000
# The most bytes a decoded picture may take: as many as the largest RGB picture accepted. A
# 16-bit or RGBA picture takes more a pixel, and converting it more again.
MAX_DECODED_BYTES: Final = MAX_PIXELS * 3
# The longest side of the thumbnail hosted images offer (``tiny``).
TINY_THUMBNAIL_SIDE: Final = 256


# The order Image.open tries them in; the most common formats first.
_OPEN_ORDER: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_FORMAT_LIST: Final = "JPEG, PNG, TIFF, BMP, WEBP or GIF"
# A multi-picture JPEG (what many phone cameras write) opens as MPO; it is a JPEG to us.
_FORMAT_ALIASES: Final = {"MPO": "JPEG"}
_WHITE: Final = (255, 255, 255)
# The bytes one pixel of a mode takes as the file holds it (what decoding it must hold at
# least); modes not named take 4 (RGBA, CMYK, 32-bit and float greyscale).
_BYTES_PER_PIXEL: Final = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "La": 2,
    "PA": 2,
    "I;16": 2,
    "I;16L": 2,
    "I;16B": 2,
    "I;16N": 2,
    "RGB": 3,
    "YCbCr": 3,
    "LAB": 3,
    "HSV": 3,
}
# EXIF orientation -> the transpose that makes the picture upright (ImageOps.exif_transpose's
# table; done here so that only the cheap EXIF read happens under _WARNINGS_LOCK).
_ORIENTATION_FIXES: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# warnings.catch_warnings swaps process-wide state; serialising our own uses keeps the
# save/restore pairs properly nested when several worker threads decode at once.
_WARNINGS_LOCK = threading.Lock()


class ImageRejected(Exception):
    """The bytes cannot be used as an image; ``code`` is the Clarifai status to report."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright 8-bit RGB picture (first frame) and the format its bytes were in."""

    image: Image.Image
    width: int
    height: int
    format: str


def decode_image(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_decoded_bytes: int = MAX_DECODED_BYTES
) -> DecodedImage:
    """Decode ``data`` as an RGB image with EXIF orientation applied.

    Raises ``ImageRejected`` with 30101 for a format outside ``ALLOWED_FORMATS``, 30105 for
    more than ``max_pixels`` pixels or pixels that take more than ``max_decoded_bytes`` in
    the file's mode (both checked before decoding), and 30104 for empty,
    truncated or corrupt bytes. No Pillow exception or warning escapes.

    Our limit holds whatever ``Image.MAX_IMAGE_PIXELS`` is; where that global is lower,
    Pillow's own check refuses first (also 30105), so the limit is the smaller of the two.
    """
    if not data:
        raise ImageRejected(INPUT_INVALID_ARGUMENT, "the image is empty (0 bytes)")
    source = _EofWatchingBytes(data)
    opened = _identify(source, data)
    image: Image.Image | None = None
    try:
        image_format = _FORMAT_ALIASES.get(str(opened.format), str(opened.format))
        _check_pixels(opened.size, max_pixels)
        _check_decoded_bytes(opened.size, opened.mode, max_decoded_bytes)
        image = _decode_first_frame(opened, source, image_format)
    finally:
        # The decoded pixels no longer need the file; an RGB upright picture *is* `opened`.
        if image is not opened:
            opened.close()
        source.close()
    return DecodedImage(image=image, width=image.width, height=image.height, format=image_format)


def thumbnail_jpeg(image: Image.Image, max_side: int = TINY_THUMBNAIL_SIDE) -> bytes:
    """Return JPEG bytes of ``image`` scaled down (never up) to fit ``max_side`` pixels.

    The aspect ratio is kept and ``image`` itself is left untouched.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    rgb = _to_rgb(image)
    scale = max_side / max(rgb.width, rgb.height)
    if scale < 1:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        # reducing_gap shrinks by whole factors first: fast on big pictures, same quality.
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()


class _EofWatchingBytes(io.BytesIO):
    """Bytes that note when a decoder asks for more data than the file has.

    With ``ImageFile.LOAD_TRUNCATED_IMAGES`` set, Pillow pads a cut-off image silently; a
    complete file never makes its decoder read at the end of the data, so such a read is how
    we tell truncation regardless of that switch.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.watching = False
        self.read_past_end = False

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if self.watching and not chunk and size != 0:
            self.read_past_end = True
        return chunk


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Make Pillow's decompression-bomb warning an exception and drop its other warnings.

    The other warnings are about metadata (odd EXIF or TIFF tags) and say nothing a caller
    could act on. Only warnings raised from Pillow's modules are affected, so other threads'
    warnings keep their usual handling while this is active.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _identify(source: _EofWatchingBytes, data: bytes) -> ImageFile.ImageFile:
    """Open the header with the allowed formats' plugins only; nothing is decoded yet."""
    try:
        with _quiet_pillow():
            return Image.open(source, formats=_OPEN_ORDER)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(INPUT_OVER_LIMIT, _too_many_pixels_message(str(exc))) from None
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except Exception as exc:
        if _allowed_format_by_magic(data) is None:
            # A plugin took a weak signature (a text starting "BM") and then choked on it.
            raise _unidentified(data) from None
        raise ImageRejected(INPUT_INVALID_ARGUMENT, _corrupt_message(None, exc)) from None


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageRejected(INPUT_INVALID_ARGUMENT, f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageRejected(
            INPUT_OVER_LIMIT,
            f"the image is {width}x{height} pixels ({_megapixels(width * height)}); "
            f"at most {_megapixels(max_pixels)} are accepted, so scale it down and try again",
        )


def _check_decoded_bytes(size: tuple[int, int], mode: str, max_bytes: int) -> None:
    """Refuse a picture whose pixels would take more than ``max_bytes`` decoded: a small file
    of 16-bit or four-channel pixels decodes to more than its pixel count suggests."""
    width, height = size
    decoded = width * height * _BYTES_PER_PIXEL.get(mode, 4)
    if decoded > max_bytes:
        raise ImageRejected(
            INPUT_OVER_LIMIT,
            f"the image is {width}x{height} pixels of mode {mode}, which decode to "
            f"{_megabytes(decoded)}; at most {_megabytes(max_bytes)} are accepted (an RGB "
            f"picture of {_megapixels(max_bytes // 3)}), so scale it down or convert it to "
            "8-bit RGB and try again",
        )


def _decode_first_frame(
    opened: ImageFile.ImageFile, source: _EofWatchingBytes, image_format: str
) -> Image.Image:
    """Decode the frame Image.open positioned on (the first), then orient and convert it."""
    try:
        source.watching = True
        opened.load()
        source.watching = False
        if source.read_past_end:
            raise OSError("image file is truncated")
        return _to_rgb(_upright(opened))
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(INPUT_OVER_LIMIT, _too_many_pixels_message(str(exc))) from None
    except Exception as exc:
        raise ImageRejected(INPUT_INVALID_ARGUMENT, _corrupt_message(image_format, exc)) from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a picture with unreadable EXIF is used as stored."""
    try:
        with _quiet_pillow():
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        # Broken EXIF is common in camera and editor output and says nothing about pixels.
        return image
    method = _ORIENTATION_FIXES.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Return an 8-bit RGB image, compositing any transparency onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return _scale_to_eight_bits(image).convert("RGB")
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("PA", "LA", "La"):
        image = image.convert("RGBA")
    if image.mode == "RGBa":
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, _WHITE)
        background.paste(image, mask=image.getchannel("A"))
        return background
    # CMYK, YCbCr, L, 1, P and RGBX: Pillow converts these directly.
    return image.convert("RGB")


def _scale_to_eight_bits(image: Image.Image) -> Image.Image:
    """Map 16-bit, 32-bit and float greyscale onto 0..255 (Pillow's convert would clip).

    Pillow's own loops do it (extrema, then one linear map and a clip to 8 bits), so the
    cost is one more picture of the input's mode: numpy's float64 copies took 8 bytes a pixel
    each, 1.5 GB for a 117 KB 16-bit PNG of 60 megapixels.
    """
    extrema = image.getextrema()  # one band: (low, high)
    assert isinstance(extrema[0], int | float) and isinstance(extrema[1], int | float)
    low, high = float(extrema[0]), float(extrema[1])
    if image.mode == "F" and low >= 0.0 and high <= 1.0:
        low, full_scale = 0.0, 1.0
    elif low >= 0.0 and high <= 255.0 and image.mode in ("I", "F"):
        low, full_scale = 0.0, 255.0
    elif low >= 0.0 and high <= 65535.0:
        low, full_scale = 0.0, 65535.0
    else:
        # Values outside any usual range: stretch what is there.
        full_scale = max(high - low, 1.0)
    scale = 255.0 / full_scale
    offset = 0.5 - low * scale  # + 0.5: the conversion to 8 bits truncates; this rounds
    return image.point(lambda value: value * scale + offset).convert("L")


def _unidentified(data: bytes) -> ImageRejected:
    """Say what the bytes look like when no allowed plugin recognised them."""
    known = _allowed_format_by_magic(data)
    if known is not None:
        # The signature is right but the header is not: a damaged file, not a wrong format.
        return ImageRejected(INPUT_INVALID_ARGUMENT, f"the {known} data is corrupt or truncated")
    looks_like = _describe_bytes(data)
    if looks_like.endswith(" image"):
        return ImageRejected(
            INPUT_UNSUPPORTED_FORMAT,
            f"unsupported image format: the bytes look like {looks_like}; "
            f"convert it to {_FORMAT_LIST}",
        )
    suffix = f" (they look like {looks_like})" if looks_like else ""
    return ImageRejected(
        INPUT_UNSUPPORTED_FORMAT, f"not an image: the bytes are not {_FORMAT_LIST}{suffix}"
    )


_ALLOWED_MAGIC: Final = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)

_OTHER_MAGIC: Final = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"8BPS", "a Photoshop (PSD) image"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"\xffO\xffQ", "a JPEG 2000 image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
)

_FTYP_BRANDS: Final = {
    b"avif": "an AVIF image",
    b"avis": "an AVIF image",
    b"heic": "a HEIC image",
    b"heix": "a HEIC image",
    b"mif1": "a HEIF image",
    b"msf1": "a HEIF image",
}


def _allowed_format_by_magic(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM") and data[6:10] != bytes(4):
        return None  # "BM" alone is too weak; a BMP header's reserved bytes are zero
    return next((name for magic, name in _ALLOWED_MAGIC if data.startswith(magic)), None)


def _describe_bytes(data: bytes) -> str:
    """A short guess at what non-image bytes are ("" when there is no good guess)."""
    described = next((what for magic, what in _OTHER_MAGIC if data.startswith(magic)), None)
    if described is not None:
        return described
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "an MP4/QuickTime video")
    return _describe_text(data[:1024])


def _describe_text(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n").lower()
    # A character cut at the end of the sample is fine; a bad byte elsewhere means binary.
    if "\ufffd" in text[:-3] or "\x00" in text:
        return ""
    if "<svg" in text:
        return "an SVG image"
    if text.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if text.startswith("<"):
        return "an XML document"
    if text.startswith(("{", "[")):
        return "JSON"
    printable = all(char.isprintable() or char in "\t\r\n\ufffd" for char in text)
    return "text" if printable else ""


def _too_many_pixels_message(pillow_message: str) -> str:
    # Pillow's own limit tripped while it read the header; its message holds the pixel count.
    counted = re.search(r"\((\d+) pixels\)", pillow_message)
    size = f" ({_megapixels(int(counted.group(1)))})" if counted else ""
    return (
        f"the image has more pixels than can be decoded safely{size}; scale it down and try again"
    )


def _corrupt_message(image_format: str | None, exc: BaseException) -> str:
    what = f"{image_format} image" if image_format else "image"
    reason = str(exc) or type(exc).__name__
    return f"the {what} could not be decoded; it is probably truncated or corrupt ({reason})"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.3g} MB"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.3g} megapixels"
