"""``color-recognition``: dominant colours by median-cut quantisation, with no weights.

Each colour comes with the nearest named CSS colour (the W3C list), matched by distance in
CIELAB, where equal distances look about equally different to a person (plain RGB distance
calls many browns "olive" or "maroon").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from clarion.inference.base import ColorScore, Prediction

# Five, as in the team's reference measurements (MODELS.md); more splits one hue into shades.
DEFAULT_MAX_COLORS = 5
# Dominant colours do not need every pixel; a thumbnail keeps the cost at a few milliseconds.
DEFAULT_SAMPLE_SIZE = 150
# Pixels at least this opaque count; a transparent background is not a colour of the image.
_OPAQUE = 128

# The CSS named colours (CSS Color Module Level 4), without the "grey" spellings, which
# repeat the "gray" ones. Where two names share a value (aqua/cyan, fuchsia/magenta), the
# first listed wins.
CSS_COLORS: tuple[tuple[str, str], ...] = (
    ("aliceblue", "#f0f8ff"), ("antiquewhite", "#faebd7"), ("aqua", "#00ffff"),
    ("aquamarine", "#7fffd4"), ("azure", "#f0ffff"), ("beige", "#f5f5dc"),
    ("bisque", "#ffe4c4"), ("black", "#000000"), ("blanchedalmond", "#ffebcd"),
    ("blue", "#0000ff"), ("blueviolet", "#8a2be2"), ("brown", "#a52a2a"),
    ("burlywood", "#deb887"), ("cadetblue", "#5f9ea0"), ("chartreuse", "#7fff00"),
    ("chocolate", "#d2691e"), ("coral", "#ff7f50"), ("cornflowerblue", "#6495ed"),
    ("cornsilk", "#fff8dc"), ("crimson", "#dc143c"), ("cyan", "#00ffff"),
    ("darkblue", "#00008b"), ("darkcyan", "#008b8b"), ("darkgoldenrod", "#b8860b"),
    ("darkgray", "#a9a9a9"), ("darkgreen", "#006400"), ("darkkhaki", "#bdb76b"),
    ("darkmagenta", "#8b008b"), ("darkolivegreen", "#556b2f"), ("darkorange", "#ff8c00"),
    ("darkorchid", "#9932cc"), ("darkred", "#8b0000"), ("darksalmon", "#e9967a"),
    ("darkseagreen", "#8fbc8f"), ("darkslateblue", "#483d8b"), ("darkslategray", "#2f4f4f"),
    ("darkturquoise", "#00ced1"), ("darkviolet", "#9400d3"), ("deeppink", "#ff1493"),
    ("deepskyblue", "#00bfff"), ("dimgray", "#696969"), ("dodgerblue", "#1e90ff"),
    ("firebrick", "#b22222"), ("floralwhite", "#fffaf0"), ("forestgreen", "#228b22"),
    ("fuchsia", "#ff00ff"), ("gainsboro", "#dcdcdc"), ("ghostwhite", "#f8f8ff"),
    ("gold", "#ffd700"), ("goldenrod", "#daa520"), ("gray", "#808080"),
    ("green", "#008000"), ("greenyellow", "#adff2f"), ("honeydew", "#f0fff0"),
    ("hotpink", "#ff69b4"), ("indianred", "#cd5c5c"), ("indigo", "#4b0082"),
    ("ivory", "#fffff0"), ("khaki", "#f0e68c"), ("lavender", "#e6e6fa"),
    ("lavenderblush", "#fff0f5"), ("lawngreen", "#7cfc00"), ("lemonchiffon", "#fffacd"),
    ("lightblue", "#add8e6"), ("lightcoral", "#f08080"), ("lightcyan", "#e0ffff"),
    ("lightgoldenrodyellow", "#fafad2"), ("lightgray", "#d3d3d3"), ("lightgreen", "#90ee90"),
    ("lightpink", "#ffb6c1"), ("lightsalmon", "#ffa07a"), ("lightseagreen", "#20b2aa"),
    ("lightskyblue", "#87cefa"), ("lightslategray", "#778899"), ("lightsteelblue", "#b0c4de"),
    ("lightyellow", "#ffffe0"), ("lime", "#00ff00"), ("limegreen", "#32cd32"),
    ("linen", "#faf0e6"), ("magenta", "#ff00ff"), ("maroon", "#800000"),
    ("mediumaquamarine", "#66cdaa"), ("mediumblue", "#0000cd"), ("mediumorchid", "#ba55d3"),
    ("mediumpurple", "#9370db"), ("mediumseagreen", "#3cb371"), ("mediumslateblue", "#7b68ee"),
    ("mediumspringgreen", "#00fa9a"), ("mediumturquoise", "#48d1cc"),
    ("mediumvioletred", "#c71585"), ("midnightblue", "#191970"), ("mintcream", "#f5fffa"),
    ("mistyrose", "#ffe4e1"), ("moccasin", "#ffe4b5"), ("navajowhite", "#ffdead"),
    ("navy", "#000080"), ("oldlace", "#fdf5e6"), ("olive", "#808000"),
    ("olivedrab", "#6b8e23"), ("orange", "#ffa500"), ("orangered", "#ff4500"),
    ("orchid", "#da70d6"), ("palegoldenrod", "#eee8aa"), ("palegreen", "#98fb98"),
    ("paleturquoise", "#afeeee"), ("palevioletred", "#db7093"), ("papayawhip", "#ffefd5"),
    ("peachpuff", "#ffdab9"), ("peru", "#cd853f"), ("pink", "#ffc0cb"),
    ("plum", "#dda0dd"), ("powderblue", "#b0e0e6"), ("purple", "#800080"),
    ("rebeccapurple", "#663399"), ("red", "#ff0000"), ("rosybrown", "#bc8f8f"),
    ("royalblue", "#4169e1"), ("saddlebrown", "#8b4513"), ("salmon", "#fa8072"),
    ("sandybrown", "#f4a460"), ("seagreen", "#2e8b57"), ("seashell", "#fff5ee"),
    ("sienna", "#a0522d"), ("silver", "#c0c0c0"), ("skyblue", "#87ceeb"),
    ("slateblue", "#6a5acd"), ("slategray", "#708090"), ("snow", "#fffafa"),
    ("springgreen", "#00ff7f"), ("steelblue", "#4682b4"), ("tan", "#d2b48c"),
    ("teal", "#008080"), ("thistle", "#d8bfd8"), ("tomato", "#ff6347"),
    ("turquoise", "#40e0d0"), ("violet", "#ee82ee"), ("wheat", "#f5deb3"),
    ("white", "#ffffff"), ("whitesmoke", "#f5f5f5"), ("yellow", "#ffff00"),
    ("yellowgreen", "#9acd32"),
)  # fmt: skip


class ColorRunner:
    """Finds up to ``max_colors`` dominant colours per image, largest share first."""

    def __init__(
        self, *, max_colors: int = DEFAULT_MAX_COLORS, sample_size: int = DEFAULT_SAMPLE_SIZE
    ) -> None:
        if max_colors < 1 or sample_size < 1:
            raise ValueError("max_colors and sample_size must be at least 1")
        self._max_colors = max_colors
        self._sample_size = sample_size

    def predict(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Return one prediction per image, with ``colors`` set and summing to 1."""
        return [
            Prediction(colors=dominant_colors(image, self._max_colors, self._sample_size))
            for image in images
        ]


def dominant_colors(
    image: Image.Image,
    max_colors: int = DEFAULT_MAX_COLORS,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> tuple[ColorScore, ...]:
    """Return the image's dominant colours with their share of opaque pixels, largest first.

    An image with no opaque pixel has no colours.
    """
    rgb, opaque = _sample(image, sample_size)
    quantized = rgb.quantize(colors=max_colors, method=Image.Quantize.MEDIANCUT)
    counts = np.bincount(np.asarray(quantized)[opaque], minlength=256)
    palette = quantized.getpalette() or []
    shares: dict[str, int] = {}
    for index in np.flatnonzero(counts).tolist():
        # Two palette entries may print the same; their pixels belong to one colour.
        hex_value = _hex(palette[3 * index : 3 * index + 3])
        shares[hex_value] = shares.get(hex_value, 0) + int(counts[index])
    total = sum(shares.values())
    ranked = sorted(shares.items(), key=lambda item: (-item[1], item[0]))
    return tuple(_score(hex_value, count / total) for hex_value, count in ranked)


def _sample(image: Image.Image, size: int) -> tuple[Image.Image, npt.NDArray[np.bool_]]:
    """Shrink the image to at most ``size`` pixels a side; return RGB and its opaque mask."""
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    if max(image.size) > size:
        scale = size / max(image.size)
        small = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(small, Image.Resampling.BILINEAR, reducing_gap=2.0)
    rgba = image.convert("RGBA")
    opaque = np.asarray(rgba.getchannel("A")) >= _OPAQUE
    return rgba.convert("RGB"), opaque


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def _score(hex_value: str, share: float) -> ColorScore:
    name, w3c_hex = nearest_css_color(hex_value)
    return ColorScore(hex=hex_value, w3c_hex=w3c_hex, w3c_name=name, value=share)


def nearest_css_color(hex_value: str) -> tuple[str, str]:
    """Return ``(name, hex)`` of the CSS named colour nearest to ``#rrggbb`` in CIELAB."""
    target = _srgb_to_lab(np.array([_rgb(hex_value)], dtype=np.float64))
    distances = np.sum((_css_lab() - target) ** 2, axis=1)
    return CSS_COLORS[int(np.argmin(distances))]


def _rgb(hex_value: str) -> tuple[int, int, int]:
    value = hex_value.removeprefix("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {hex_value!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@functools.cache
def _css_lab() -> npt.NDArray[np.float64]:
    return _srgb_to_lab(np.array([_rgb(hex_value) for _, hex_value in CSS_COLORS], np.float64))


# sRGB (D65) linear RGB -> CIE XYZ, and the D65 reference white.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def _srgb_to_lab(rgb: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Convert rows of 0-255 sRGB to CIELAB (D65)."""
    c = rgb / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ _RGB_TO_XYZ.T) / _D65_WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    lightness = 116.0 * f[:, 1] - 16.0
    result: npt.NDArray[np.float64] = np.stack(
        [lightness, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], axis=1
    )
    return result
