"""Staff image uploads: the type is sniffed from the bytes (Pillow), never trusted from the name or header.

Accepted: JPEG, PNG, WebP up to MAX_UPLOAD_BYTES and MAX_PIXELS. Every image is re-encoded (which drops EXIF,
GPS and any payload riding along), turned upright from its EXIF orientation first, shrunk to fit
MAX_SIDE × MAX_SIDE, and stored as a JPEG under MEDIA_DIR/products/<product_id>/ with a random name.
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from app.catalog.errors import ImageTooLarge, InvalidImage
from app.config import get_settings
from app.kit import storage

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1600
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
MEDIA_URL = "/media/"


def process(data: bytes) -> bytes:
    """Validated, re-encoded JPEG bytes of an uploaded image."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(f"Images may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise InvalidImage("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise InvalidImage(
                        f"Only JPEG, PNG and WebP are accepted, not {probe.format or 'this file'}."
                    )
                if probe.width * probe.height > MAX_PIXELS:
                    raise ImageTooLarge("The image has too many pixels.")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "P"):
                    image = image.convert("RGBA")
                    background = Image.new("RGB", image.size, (255, 255, 255))
                    background.paste(image, mask=image.getchannel("A"))
                    image = background
                elif image.mode != "RGB":
                    image = image.convert("RGB")
                image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
                return out.getvalue()
    except (InvalidImage, ImageTooLarge):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("The image has too many pixels.") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage("The file is not a readable JPEG, PNG or WebP image.") from exc


def store(product_id: int, jpeg: bytes, name: str | None = None) -> str:
    """Write the image under MEDIA_DIR; returns its public URL."""
    relative = Path("products") / str(product_id) / (name or f"{secrets.token_hex(12)}.jpg")
    storage.write(get_settings().media_dir / relative, jpeg)
    return MEDIA_URL + relative.as_posix()


def path_for(url: str) -> Path | None:
    if not url.startswith(MEDIA_URL):
        return None
    media = get_settings().media_dir.resolve()
    path = (media / url[len(MEDIA_URL) :]).resolve()
    return path if path.is_relative_to(media) else None
