"""Avatar images: an upload checked from its bytes, decoded safely and re-encoded as WebP.

Nothing of the upload but its pixels survives: the output is a fresh WebP per size with no
metadata (EXIF, XMP, ICC, comments and anything appended to the file are dropped), so a file
that is also something else (a polyglot) is stored as a plain image. The pixel count is
checked from the header before anything is decoded (a decompression bomb never is)."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from profilestore.platform.errors import ProblemError

SIZES = (64, 256, 512)
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 16_384
WEBP_QUALITY = 85

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


@dataclass(frozen=True)
class Rendition:
    """The avatar at every size, and a digest naming this version of it."""

    digest: str
    images: dict[int, bytes]


def sniff(data: bytes) -> str | None:
    """The image format by the file's first bytes (never by its name or declared type)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for signature, kind in _SIGNATURES if data.startswith(signature)), None)


def render(data: bytes) -> Rendition:
    """Decode ``data`` (JPEG, PNG, WebP or a GIF's first frame) and encode it as square WebP
    images at every size. CPU-bound: call it in a worker thread."""
    kind = sniff(data)
    if kind is None:
        raise _unsupported()
    pixels = _decode(data, kind)
    images = {size: _encode(pixels, size) for size in SIZES}
    digest = hashlib.sha256(images[SIZES[-1]]).hexdigest()[:20]
    return Rendition(digest=digest, images=images)


def _decode(data: bytes, kind: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                _check_dimensions(image.size)
                image.seek(0)  # an animation: its first frame
                image.load()
                return _normalised(ImageOps.exif_transpose(image))
    except ProblemError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProblemError(
            422, "invalid-image", f"The image cannot be decoded ({kind}): {exc}"
        ) from None


def _check_dimensions(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1 or max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise _too_many_pixels()


def _normalised(image: Image.Image) -> Image.Image:
    """RGB, or RGBA where the image has transparency (palette, grey, 16-bit and CMYK images
    converted; a 16-bit grey keeps its range by scaling, not clipping)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _encode(image: Image.Image, size: int) -> bytes:
    square = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _unsupported() -> ProblemError:
    return ProblemError(
        415, "unsupported-media-type", "Send a JPEG, PNG, WebP or GIF image (checked by content)."
    )


def _too_many_pixels() -> ProblemError:
    return ProblemError(
        422,
        "image-too-large",
        f"The image exceeds {MAX_PIXELS} pixels or {MAX_SIDE} pixels a side.",
    )
