"""Untrusted uploads and sketches -> safe uint8 RGB ``[H, W, 3]`` -> a model's uint8 ``[S, S, C]`` input.

Two steps, so the UI can show "what the model sees": ``decode_image_info`` (or ImageInputError with a
message a user can act on), then ``prepare``. numpy + Pillow only: the explorer service uses it too.
"""
import contextlib
import io
import math
import os
import re
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 20 * 2**20
MAX_PIXELS = 40_000_000
MAX_SIDE = 20_000

_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM")  # plain codecs; EPS would run Ghostscript
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, LookupError, TypeError, struct.error, zlib.error)  # fuzzing
_MNIST_WORK_SIDE = 1024  # bigger uploads are box-averaged first: a 28 px target needs no more
_MIN_INK = 24.0  # below this contrast (0..255) against the background the image counts as blank

NOT_IMAGE = "The file is not an image (could not identify its format). Upload a PNG, JPEG, WebP, BMP or GIF."
DAMAGED = "The image file is damaged or truncated (its pixels could not be decoded). Re-save it and try again."
NO_IMAGE = "No image given: upload a file or draw on the sketchpad."
BLANK = "The image looks blank: no strokes found."


class ImageInputError(ValueError):
    """A bad user image; ``str(err)`` is a short message that says what to do."""


def _too_big(size: str, n: int) -> ImageInputError:
    """The over-the-pixel-cap error; MP rounded up, so an image just over the cap never reads as the cap."""
    return ImageInputError(f"The image is {size}{math.ceil(n / 1e5) / 10:g} MP; the limit is "
                           f"{MAX_PIXELS // 10**6} MP. Resize it and try again.")


def _check_bytes(n: int) -> None:
    """Refuse empty or oversized files before anything parses them."""
    if n == 0:
        raise ImageInputError("The file is empty (0 bytes).")
    if n > MAX_UPLOAD_BYTES:
        mb = math.ceil(n / 2**20 * 10) / 10  # rounded up, like _too_big
        raise ImageInputError(f"The file is {mb:g} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")


def _check_dims(w: int, h: int) -> None:
    """Refuse empty or oversized images; called on header sizes, before pixels are decoded."""
    if w <= 0 or h <= 0:
        raise ImageInputError(f"The image is empty ({w}x{h} pixels).")
    if max(w, h) > MAX_SIDE:
        raise ImageInputError(f"The image is {w}x{h}; the longest side may be at most {MAX_SIDE} px. "
                              "Resize it and try again.")
    if w * h > MAX_PIXELS:
        raise _too_big(f"{w}x{h} = ", w * h)


@contextlib.contextmanager
def _decode_errors():
    """Turn Pillow's failures on hostile or broken files into ImageInputError."""
    try:
        yield
    except ImageInputError:
        raise
    except UnidentifiedImageError:
        raise ImageInputError(NOT_IMAGE) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # Pillow's caps, in Image.open
        m = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_big("", int(m[1])) if m else _too_big("over ", 2 * (Image.MAX_IMAGE_PIXELS or 0)) from None
    except _CORRUPT as e:
        raise ImageInputError(DAMAGED) from e


def decode_image(source) -> np.ndarray:
    """Any accepted source (see ``decode_image_info``) -> uint8 RGB ``[H, W, 3]``."""
    return decode_image_info(source)[0]


def decode_image_info(source) -> tuple[np.ndarray, list[str]]:
    """bytes | path | numpy array | PIL image | Sketchpad dict -> (uint8 RGB ``[H, W, 3]``, notes).

    notes are human-readable steps ("animated image: used the first of 12 frames")."""
    notes: list[str] = []
    pixels = _editor_pixels(source, notes) if isinstance(source, dict) else _pixels(source, notes)
    return _flatten(pixels, notes), notes


def _pixels(source, notes: list[str]) -> np.ndarray:
    """One source -> uint8 ``[H, W, C]``, C in 1..4, alpha still separate."""
    if source is None or (isinstance(source, str) and not source):
        raise ImageInputError(NO_IMAGE)
    if isinstance(source, np.ndarray):  # [H, W] or [H, W, 1|3|4], bool/int/float
        if not (source.ndim == 2 or (source.ndim == 3 and source.shape[2] in (1, 3, 4))):
            raise ImageInputError(f"Unsupported array shape {source.shape}: use [H, W] or [H, W, 1|3|4].")
        if source.dtype.kind not in "biuf":
            raise ImageInputError(f"Unsupported array dtype {source.dtype}: use uint8, bool or float.")
        _check_dims(source.shape[1], source.shape[0])
        return _values(source.reshape(source.shape[:2] + (-1,)), notes, bits16=source.dtype == np.uint16)
    if isinstance(source, (str, os.PathLike)):
        source = _read_file(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_bytes(len(source))
        with _decode_errors(), Image.open(io.BytesIO(source), formats=_FORMATS) as im:  # lazy: header only
            return _pil_pixels(im, notes)
    if isinstance(source, Image.Image):
        with _decode_errors():
            return _pil_pixels(source, notes)
    raise ImageInputError(f"Unsupported image input of type {type(source).__name__}.")


def _read_file(path) -> bytes:
    """Path -> its bytes, size-checked before reading (reads at most one byte past the limit)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ImageInputError(f"{os.path.basename(p)} is not a regular file. Upload an image file."
                              if os.path.exists(p) else f"File not found: {os.path.basename(p)}. Upload it again.")
    _check_bytes(os.path.getsize(p))
    try:
        with open(p, "rb") as f:
            return f.read(MAX_UPLOAD_BYTES + 1)
    except OSError as e:
        raise ImageInputError(f"Could not read the file ({e.strerror}). Upload it again.") from None


def _pil_pixels(im: Image.Image, notes: list[str]) -> np.ndarray:
    """(Possibly lazy) PIL image -> first frame, loaded, EXIF-upright, uint8 ``[H, W, C]``."""
    _check_dims(*im.size)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"animated image: used the first of {frames} frames")
    im.load()
    _check_dims(*im.size)  # some formats only know their true size after decoding
    if im.getexif().get(0x0112, 1) in range(2, 9):
        im = ImageOps.exif_transpose(im)
        notes.append("rotated per EXIF orientation")
    if im.mode.startswith("I") or im.mode == "F":  # 32-bit int/float; older Pillows open 16-bit PNGs as "I"
        a = np.asarray(im)
        bits16 = im.mode.startswith("I;16") or (im.mode == "I" and 0 <= a.min() and 255 < a.max() <= 65535)
        return _values(a, notes, bits16)[..., None]
    a = np.asarray(_convert(im, notes))
    return a[..., None] if a.ndim == 2 else a


def _convert(im: Image.Image, notes: list[str]) -> Image.Image:
    """Loaded PIL image of an 8-bit mode -> the same in L, LA, RGB or RGBA."""
    mode, keyed = im.mode, "transparency" in im.info
    if mode in ("L", "LA", "RGB", "RGBA") and not keyed:
        return im
    if mode not in ("L", "RGB"):  # L/RGB with a transparent colour key only gain alpha
        notes.append({"1": "1-bit image converted", "P": "palette image converted", "PA": "palette image converted",
                      "CMYK": "CMYK converted to RGB"}.get(mode, f"{mode} converted to RGB"))
    try:
        return im.convert("RGBA" if keyed or "A" in mode or "a" in mode else "RGB")
    except ValueError:
        raise ImageInputError(f"Images in {mode} colour mode are not supported. Save it as RGB.") from None


def _values(a: np.ndarray, notes: list[str], bits16: bool = False) -> np.ndarray:
    """bool/int/float ``[H, W(, C)]`` -> uint8. 16-bit data is scaled by >> 8 (65535 -> 255, not
    clipped); floats in [0, 1] are scaled by 255; anything else outside 0..255 is clipped."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ImageInputError("The image contains NaN or infinite values.")
    if bits16:
        notes.append("16-bit image converted to 8-bit")
        return (a.astype(np.uint32) >> 8).astype(np.uint8)
    lo, hi = a.min(), a.max()
    if a.dtype.kind == "f" and lo >= 0 and hi <= 1:
        return _to_u8(a * 255.0)
    if lo < 0 or hi > 255:
        notes.append("values outside 0..255 clipped")
    return _to_u8(a) if a.dtype.kind == "f" else np.clip(a, 0, 255).astype(np.uint8)


def _editor_pixels(d: dict, notes: list[str]) -> np.ndarray:
    """Gradio Sketchpad/ImageEditor value -> uint8 RGBA ``[H, W, 4]``: composite, else layers flattened."""
    if d.get("composite") is not None:
        return _pixels(d["composite"], notes)
    parts = [p for p in [d.get("background"), *(d.get("layers") or [])] if p is not None]
    if not parts:
        raise ImageInputError(NO_IMAGE)
    layers = [Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).convert("RGBA")  # [H, W, 2] -> "LA"
              for a in (_pixels(p, notes) for p in parts)]
    for layer in layers[1:]:
        layers[0].alpha_composite(layer)  # a layer larger than the background is cropped to it
    if len(parts) > 1:
        notes.append(f"flattened {len(parts)} sketchpad layers")
    return np.asarray(layers[0])


def _flatten(a: np.ndarray, notes: list[str]) -> np.ndarray:
    """uint8 ``[H, W, 1|2|3|4]`` -> uint8 RGB ``[H, W, 3]``, alpha composited onto white: a sketchpad's
    transparent background with black strokes must read as black-on-white."""
    c = a.shape[2]
    color = a[..., : 1 if c <= 2 else 3]
    if c in (2, 4) and (a[..., -1] < 255).any():
        alpha = a[..., -1:].astype(np.uint16)
        notes.append("transparency composited onto white")
        color = ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(color, 3 // color.shape[2], axis=2))


def _to_u8(x: np.ndarray) -> np.ndarray:
    """Float in ~0..255 -> uint8, rounded half up and clipped."""
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def prepare(rgb, image_size: int = 28, channels: int = 1, style: str = "auto") -> tuple[np.ndarray, dict]:
    """uint8 RGB ``[H, W, 3]`` -> (uint8 ``[image_size, image_size, channels]``, info).

    "mnist": light strokes on black, cropped to the strokes, fitted into a 20/28 box and centred by mass
    (how MNIST was made). "photo": centre square crop, resized. "auto": mnist for 1 channel, else photo.
    info: inverted, style, bbox (x0, y0, x1, y1) end-exclusive in the decoded image or None, original_size
    (w, h) and notes (human-readable steps).
    """
    rgb = decode_image(rgb)  # validates; a uint8 RGB array passes through unchanged (copied)
    style = ("mnist" if channels == 1 else "photo") if style == "auto" else style
    if channels not in (1, 3) or image_size < 8 or style not in ("mnist", "photo"):
        raise ValueError(f"need channels 1|3, image_size >= 8, style auto|mnist|photo: {channels, image_size, style}")
    info = {"style": style, "inverted": False, "bbox": None, "original_size": rgb.shape[1::-1], "notes": []}
    out = (_mnist if style == "mnist" else _photo)(rgb, image_size, info)
    if out.ndim == 3 and channels == 1:
        out = np.asarray(Image.fromarray(out).convert("L"))
        info["notes"].append("converted to grayscale")
    out = out.reshape(image_size, image_size, -1)
    return np.repeat(out, channels // out.shape[2], axis=2), info


def prepare_upload(source, image_size: int, channels: int, style: str = "auto") -> tuple[np.ndarray, dict]:
    """decode_image_info + prepare; info["notes"] lists the decoding steps first."""
    rgb, notes = decode_image_info(source)
    img, info = prepare(rgb, image_size, channels, style)
    return img, {**info, "notes": notes + info["notes"]}


def _photo(rgb: np.ndarray, size: int, info: dict) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` -> centre square crop resized to uint8 ``[size, size, 3]``; no inversion."""
    side = min(rgb.shape[:2])
    x0, y0 = (rgb.shape[1] - side) // 2, (rgb.shape[0] - side) // 2
    info["bbox"] = (x0, y0, x0 + side, y0 + side)
    info["notes"].append(f"centre-cropped to {side}x{side} and resized to {size}x{size}")
    crop = Image.fromarray(rgb[y0 : y0 + side, x0 : x0 + side])
    return np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0))


def _mnist(rgb: np.ndarray, size: int, info: dict) -> np.ndarray:
    """RGB -> uint8 ``[size, size]``: MNIST-style light digit on black, centred by mass."""
    h, w = rgb.shape[:2]
    factor = max(1, math.ceil(max(h, w) / _MNIST_WORK_SIDE))
    small = np.asarray(Image.fromarray(rgb).reduce(factor)) if factor > 1 else rgb
    info["notes"].append("converted to grayscale")
    ink = _ink(np.asarray(Image.fromarray(small).convert("L"), np.float32), info)  # ITU-R 601 luma
    rows, cols = np.nonzero((ink > 0.1 * 255).any(axis=1))[0], np.nonzero((ink > 0.1 * 255).any(axis=0))[0]
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    info["bbox"] = (x0 * factor, y0 * factor, min(w, x1 * factor), min(h, y1 * factor))
    info["notes"].append(f"cropped to the strokes and centred by mass in {size}x{size}")
    return _to_u8(_centre_by_mass(ink[y0:y1, x0:x1], size))


def _ink(gray: np.ndarray, info: dict) -> np.ndarray:
    """float ``[H, W]`` 0..255 -> ink float ``[H, W]``: strokes bright, background 0, strongest stroke 255."""
    k = max(1, round(0.1 * min(gray.shape)))
    frame = np.ones(gray.shape, bool)
    frame[k:-k, k:-k] = False  # the outer 10% of each side
    if np.median(gray[frame]) > 127:  # light paper, dark pen: MNIST is the other way round
        gray = 255.0 - gray
        info["inverted"] = True
        info["notes"].append("inverted (light background)")
    ink = np.clip(gray - np.median(gray[frame]), 0, None)  # grey paper or a dim photo is not ink
    peak = float(ink.max())
    if peak < _MIN_INK:
        raise ImageInputError(BLANK)
    if peak < 0.95 * 255:
        info["notes"].append("contrast stretched")
    return ink * (255.0 / peak)


def _centre_by_mass(crop: np.ndarray, size: int) -> np.ndarray:
    """float ``[h, w]`` -> float ``[size, size]``: Lanczos-scaled into a 20/28 box (aspect kept, ringing clipped),
    pasted with its centre of mass at size/2, where MNIST's sit (14, 14). Integer shifts keep strokes sharp
    and are clipped so the digit stays on the canvas."""
    scale = round(size * 20 / 28) / max(crop.shape)
    w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    digit = np.asarray(Image.fromarray(crop.astype(np.float32)).resize((w, h), Image.Resampling.LANCZOS)).clip(0, 255)
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum()
    oy = min(max(math.floor(size / 2 - cy + 0.5), 0), size - h)
    ox = min(max(math.floor(size / 2 - cx + 0.5), 0), size - w)
    canvas = np.zeros((size, size), np.float32)
    canvas[oy : oy + h, ox : ox + w] = digit
    return canvas
