"""Tensor -> uint8 pixels, grids, heatmaps, PNG and GIF bytes.

The ONLY place for value-range maths: everything upstream speaks in the model's output range
(from the manifest), everything downstream in uint8 ``[H, W, C]`` arrays.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def to_uint8_tensor(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """``[B, C, H, W]`` in ``value_range`` -> uint8 ``[B, H, W, C]`` on the same device."""
    lo, hi = value_range
    y = (x.float() - lo) * (255.0 / (hi - lo))
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def to_uint8(x: torch.Tensor, value_range: tuple[float, float]) -> np.ndarray:
    """``[B, C, H, W]`` in ``value_range`` -> numpy uint8 ``[B, H, W, C]``."""
    return to_uint8_tensor(x, value_range).cpu().numpy()


def from_uint8(images: np.ndarray, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 ``[B, H, W, C]`` -> float32 ``[B, C, H, W]`` in ``value_range``."""
    lo, hi = value_range
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return t * ((hi - lo) / 255.0) + lo


def to_unit(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """``x`` in ``value_range`` -> the same tensor mapped to [0, 1] (clamped)."""
    lo, hi = value_range
    return ((x.float() - lo) / (hi - lo)).clamp(0, 1)


def grid_shape(n: int, nrow: int | None = None) -> tuple[int, int]:
    """(rows, cols) for n tiles; ``nrow`` is the number of tiles per row (default: near-square)."""
    cols = nrow or int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def grid(tiles: np.ndarray, nrow: int | None = None, padding: int = 2, pad_value: int = 40) -> np.ndarray:
    """uint8 ``[B, H, W, C]`` -> one uint8 ``[rows*(H+p)+p, cols*(W+p)+p, C]`` image."""
    b, h, w, c = tiles.shape
    rows, cols = grid_shape(b, nrow)
    out = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.uint8)
    for i in range(b):
        r, k = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + k * (w + padding)
        out[y : y + h, x : x + w] = tiles[i]
    return out


def tile_at(x: int, y: int, n: int, tile: int, nrow: int | None = None, padding: int = 2, scale: int = 1) -> int | None:
    """Index of the tile under pixel (x, y) of a ``grid(...)`` upscaled by ``scale``, or None (padding)."""
    rows, cols = grid_shape(n, nrow)
    x, y = x // scale, y // scale
    step = tile + padding
    c, r = (x - padding) // step, (y - padding) // step
    inside = (x - padding) % step < tile and (y - padding) % step < tile
    i = r * cols + c
    return i if inside and 0 <= c < cols and 0 <= r < rows and i < n and x >= padding and y >= padding else None


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of uint8 ``[H, W, C]`` (crisp pixels for small digits)."""
    if factor <= 1:
        return img
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


def upscale_tiles(tiles: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of a batch ``[B, H, W, C]``."""
    return tiles if factor <= 1 else tiles.repeat(factor, axis=1).repeat(factor, axis=2)


def display_scale(size: int) -> int:
    """Upscale factor that brings a small tile to >= ~56 px for clickable grids (browsers never upscale them)."""
    return max(1, 64 // size)


def to_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img


def _label_font(tile_px: int):
    """A font readable on a projector: ~1/5 of the tile (11 px on a 56-px tile), never below 10 px."""
    try:
        return ImageFont.load_default(size=max(10, round(tile_px / 5)))
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int) -> str:
    """``text`` with its words on as many lines as the tile's width needs."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width - 2:
            lines.append(line)
            line = word
        else:
            line = trial
    return "\n".join(lines + [line])


def label_tiles(tiles: np.ndarray, labels: list[str], scale: int = 1) -> np.ndarray:
    """Upscale tiles ``[B, H, W, C]`` by ``scale`` and write a short label in each one's corner (RGB); long
    labels wrap onto a second line rather than run off the tile."""
    font = _label_font(tiles.shape[2] * scale)
    out = []
    for tile, text in zip(tiles, labels):
        im = Image.fromarray(to_rgb(upscale(tile, scale)))
        draw = ImageDraw.Draw(im)
        text = _wrap(draw, text, font, im.width)
        box = draw.multiline_textbbox((1, 0), text, font=font, spacing=1)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.multiline_text((1, 0), text, fill=(255, 220, 0), font=font, spacing=1)
        out.append(np.asarray(im))
    return np.stack(out)


# A perceptual dark-to-bright ramp (approximates matplotlib's "inferno") for error heatmaps.
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float64)


def heatmap(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Non-negative ``[H, W]`` -> RGB uint8 ``[H, W, 3]``; 0 is black, ``vmax`` (default max) is pale yellow."""
    v = np.nan_to_num(np.asarray(values, np.float64))
    top = vmax if vmax else max(float(v.max()), 1e-12)
    pos = np.clip(v / top, 0, 1) * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(int), len(_RAMP) - 2)
    f = (pos - i)[..., None]
    return (_RAMP[i] * (1 - f) + _RAMP[i + 1] * f).round().astype(np.uint8)


def hstack(images: list[np.ndarray], gap: int = 4, pad_value: int = 255) -> np.ndarray:
    """Side-by-side RGB uint8 images of possibly different heights, top-aligned."""
    imgs = [to_rgb(i) for i in images]
    h = max(i.shape[0] for i in imgs)
    w = sum(i.shape[1] for i in imgs) + gap * (len(imgs) - 1)
    out = np.full((h, w, 3), pad_value, np.uint8)
    x = 0
    for i in imgs:
        out[: i.shape[0], x : x + i.shape[1]] = i
        x += i.shape[1] + gap
    return out


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)


def png_bytes(img: np.ndarray, compress_level: int = 1) -> bytes:
    buf = io.BytesIO()
    _pil(img).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def gif_bytes(frames: list[np.ndarray] | np.ndarray, fps: float = 12.0, loop: int = 0, boomerang: bool = False) -> bytes:
    """Animated GIF from uint8 ``[H, W, C]`` frames; ``boomerang`` plays forward then back."""
    frames = list(frames)
    if boomerang and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    ims = [_pil(f) for f in frames]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=loop)
    return buf.getvalue()
