"""What crosses the service boundary: the user-facing error, the result type, requests, the slider
``Position`` and the input checks every view shares. Plain data only; no gradio."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genlab import latent
from genlab.latent import LatentError

ENCODER_FAMILIES = ("vae", "ae")  # models with an encoder: VAEs and plain autoencoders
GENERATIVE_FAMILIES = ("gan", *ENCODER_FAMILIES)
MAX_TILES = 256
MAX_STEPS = 64
MAX_SWEEP = 256  # frames in one slider sweep (the drag preview)
MAX_SEED = 2**31 - 1
MAX_WEIGHTS = 64  # direction sliders in one position
MAX_RAW = 4096  # raw-dimension offsets in one position (the UI sends zeros past the latent size)
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


@dataclass(frozen=True)
class Position:
    """The slider state of Explore, the one shape it takes everywhere (requests, recipes, the UI's state).

    base: the latent ``[D]`` the sliders start from (list or JSON text, checked when composed);
    method: the direction method ("" for none); weights: per-direction offsets in sigma units;
    raw: offsets of z[0], z[1], ...; pick_dim / pick_value: the dimension picker's coordinate and offset.
    Values are not checked here: ``compose`` checks them against the model, so a bad one is an ExplorerError.
    """

    base: Any = None
    method: str = ""
    weights: tuple = ()
    raw: tuple = ()
    pick_dim: int = 0
    pick_value: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready: {"latent", "method", "weights", "raw", "pick": [dim, value]} (the recipe's field names)."""
        base = self.base.tolist() if isinstance(self.base, torch.Tensor) else self.base
        return {"latent": base, "method": self.method or "", "weights": list(self.weights), "raw": list(self.raw),
                "pick": [self.pick_dim, self.pick_value]}

    @classmethod
    def from_dict(cls, d: dict) -> Position:
        """The inverse of ``to_dict`` (a recipe dict works too); fields missing from ``d`` take their defaults."""
        if not isinstance(d, dict):
            raise ExplorerError(f"a slider position is a JSON object, got {type(d).__name__}")
        pick = d.get("pick") or (0, 0.0)
        if not isinstance(pick, (list, tuple)) or len(pick) != 2:
            raise ExplorerError(f"pick must be [dimension, value], got {short(pick)}")
        weights, raw = d.get("weights") or (), d.get("raw") or ()
        if not isinstance(weights, (list, tuple)) or not isinstance(raw, (list, tuple)):
            raise ExplorerError("slider values must be lists of numbers")
        return cls(d.get("latent"), d.get("method") or "", tuple(weights), tuple(raw), pick[0], pick[1])

    def replace_slider(self, slider: int, value: float) -> Position:
        """This position with slider ``slider`` set to ``value``: direction sliders first (``weights``),
        then the raw ones (``raw``), then the dimension picker's offset. ``slider`` is checked by the caller."""
        nw, nr = len(self.weights), len(self.raw)
        if slider < nw:
            return _replace(self, weights=self.weights[:slider] + (value,) + self.weights[slider + 1:])
        if slider < nw + nr:
            k = slider - nw
            return _replace(self, raw=self.raw[:k] + (value,) + self.raw[k + 1:])
        return _replace(self, pick_value=value)


def _replace(pos: Position, **change) -> Position:
    import dataclasses

    return dataclasses.replace(pos, **change)


@dataclass
class ExploreRequest:
    """A model id plus a ``Position``, in the flat shape the UI and API build:
    ``ExploreRequest(model, base, method, weights, raw, pick_dim, pick_value)``."""

    model: str
    base: Any  # latent [D] (list/JSON) the sliders start from
    method: str = ""  # directions method ("" for none)
    weights: tuple = ()  # per-direction offsets in sigma units
    raw: tuple = ()  # offsets of z[0], z[1], ... (first N raw dimensions)
    pick_dim: int = 0  # the dimension-picker slider's coordinate
    pick_value: float = 0.0

    @property
    def position(self) -> Position:
        return Position(self.base, self.method, self.weights, self.raw, self.pick_dim, self.pick_value)

    @classmethod
    def of(cls, model: str, pos: Position) -> ExploreRequest:
        return cls(model, pos.base, pos.method, pos.weights, pos.raw, pos.pick_dim, pos.pick_value)


# ---- input checks -------------------------------------------------------------------------------
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
    if not math.isfinite(v) or not lo <= v <= hi:
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
