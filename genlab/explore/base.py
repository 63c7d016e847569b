"""Explorer plumbing: the user-facing error, the result type, request dataclasses, input checks."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genlab import latent
from genlab.latent import LatentError

MAX_TILES = 256
MAX_STEPS = 64
MAX_SWEEP = 256  # frames in one slider sweep (the drag preview)
MAX_SEED = 2**31 - 1
CLASSIFIER_ID = "mnist-classifier"
DIGITS_ID = "mnist-digits"


class ExplorerError(ValueError):
    """A user-facing problem with a request; the message is shown verbatim in the UI and the API."""

    MAX_LEN = 500  # a person reads it: never echo a 100 kB input back

    def __init__(self, message: str):
        message = str(message)
        super().__init__(message if len(message) <= self.MAX_LEN else message[: self.MAX_LEN - 3] + "...")


def short(value, n: int = 60) -> str:
    """repr() of a user value for a message: bounded, and safe for absurd nesting or 5,000-digit ints."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= n else text[:n] + "..."


@dataclass
class RenderResult:
    image: np.ndarray | None = None  # uint8 [H, W, C]
    info: str = ""
    error: str | None = None
    data: dict = field(default_factory=dict)


# ---- requests -----------------------------------------------------------------------------------
@dataclass
class SampleRequest:
    model: str
    seed: int = 0
    n: int = 16
    psi: float = 1.0
    temperature: float = 1.0
    labels: bool = False  # classifier label + confidence per tile
    realism: bool = False  # discriminator score per tile (DCGAN with discriminator)
    sort_by_realism: bool = False


@dataclass
class ExploreRequest:
    model: str
    base: Any  # latent [D] (list/JSON) the sliders start from
    method: str = ""  # directions method ("" for none)
    weights: tuple = ()  # per-direction offsets in sigma units
    raw: tuple = ()  # offsets of z[0], z[1], ... (first N raw dimensions)
    pick_dim: int = 0  # the dimension-picker slider's coordinate
    pick_value: float = 0.0


def check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and not lo <= value <= hi:
        raise ExplorerError(f"{name} must be between {lo} and {hi} (got {short(value)})")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise ExplorerError(f"{name} must be a whole number, got {short(value)}") from None
    if not np.isfinite(v) or v != int(v):
        raise ExplorerError(f"{name} must be a whole number, got {short(value)}")
    if not lo <= v <= hi:
        raise ExplorerError(f"{name} must be between {lo} and {hi} (got {int(v)})")
    return int(v)


def check_float(name: str, value, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise ExplorerError(f"{name} must be a number, got {short(value)}") from None
    if not np.isfinite(v) or not lo <= v <= hi:
        raise ExplorerError(f"{name} must be a number between {lo:g} and {hi:g} (got {short(value)})")
    return v


def as_numbers(name: str, values, max_len: int, lo: float = -10.0, hi: float = 10.0) -> list[float]:
    """A list of finite numbers in [lo, hi] from a list/tuple, or ExplorerError."""
    if not isinstance(values, (list, tuple)) or len(values) > max_len:
        raise ExplorerError(f"{name} must be a list of at most {max_len} numbers")
    return [check_float(name, v, lo, hi) for v in values]


def check_method(method) -> str:
    if method is None:
        return ""
    if not isinstance(method, str) or len(method) > 100:
        raise ExplorerError(f"direction method must be a short string, got {type(method).__name__}")
    return method


def parse_latent(value, dim: int) -> torch.Tensor:
    """A ``[dim]`` float32 latent from a list or a JSON string, or ExplorerError."""
    if isinstance(value, str):
        if len(value) > 200_000:
            raise ExplorerError("latent text is too long (limit 200,000 characters)")
        try:
            value = json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise ExplorerError(f"latent is not valid JSON: {exc.msg}") from None
        except (ValueError, RecursionError):  # 5,000-digit numbers, absurd nesting
            raise ExplorerError("latent is not valid JSON (numbers too long or nesting too deep)") from None
    if value is None:
        raise ExplorerError("no current latent: draw samples and click a tile, or press Randomize")
    try:
        return latent.validate(value, dim).reshape(dim)
    except LatentError as exc:
        raise ExplorerError(str(exc)) from None
