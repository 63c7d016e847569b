"""The share view: a recipe, a small JSON object that reproduces one Explore ``Position`` exactly.

A recipe holds the model id and weight sha256, the position (base latent as float lists: float32 values written
as JSON doubles round-trip exactly; direction method, slider values, the dimension picker), optional
interpolation keyframes and sampling metadata. A recipe made with other weights (sha256 differs) is refused by
default: reproduction is its whole point, and a silently different picture is worse than a clear message.
``allow_other_version=True`` loads it anyway, with a warning.
"""
from __future__ import annotations

import json
import math
import os
import re

import torch

from genlab.checkpoints import Checkpoint
from genlab.directions import Directions, methods_for
from genlab.views.context import Context
from genlab.views.explore import ExploreView
from genlab.views.interpolate import InterpolateView
from genlab.views.interpolate import keyframes as _keyframes
from genlab.views.types import (MAX_RAW, MAX_SEED, MAX_STEPS, MAX_WEIGHTS, ExploreRequest, ExplorerError, Position,
                                RenderResult, as_numbers, check_float, check_int, check_method, parse_latent, short)

RECIPE_VERSION = 1
MAX_RECIPE_BYTES = 1 << 20
RECIPE_FIELDS = {"genlab_recipe", "model", "model_sha256", "latent", "composed", "method", "weights", "raw",
                 "pick", "custom", "keyframes", "mode", "steps", "psi", "temperature", "seed",
                 "warning"}  # warning: set by load_recipe(allow_other_version=True), ignored on input


class ShareView:
    """Recipes: written from a position (composed by the explore view), rendered back through it."""

    def __init__(self, ctx: Context, explore: ExploreView, interpolate: InterpolateView):
        self.ctx, self.explore_view, self.interpolate_view = ctx, explore, interpolate

    def make_recipe(self, model_id: str, latent, method: str = "", weights=(), raw=(), pick=None, keyframes=None,
                    mode=None, steps=None, psi=None, temperature=None, seed=None) -> dict:
        """A JSON-ready recipe for one Explore position (``latent`` is the sliders' base latent [D]).

        pick: (dim, value) of the dimension picker or None; keyframes: interpolation items (seeds,
        "current" = ``latent``, latents), stored resolved to exact latents.
        """
        ckpt = self.ctx.generative(model_id)
        m = ckpt.manifest
        z = parse_latent(latent, m.latent_size)
        dim, value = _pick(pick)
        method = check_method(method)
        weights, raw = as_numbers("slider values", weights, MAX_WEIGHTS), as_numbers("raw slider values", raw, MAX_RAW)
        if any(raw[m.latent_size:]):
            raise ExplorerError(f"the latent has {m.latent_size} dimensions; got offsets for {len(raw)}")
        raw = raw[: m.latent_size]  # the UI's hidden sliders past the latent size send zeros
        if steps is not None:
            steps = check_int("steps", steps, 2, MAX_STEPS)
        pos = Position(z.tolist(), method or "", tuple(float(w) for w in weights), tuple(float(r) for r in raw),
                       dim, value)
        composed = self.explore_view.compose_position(model_id, m.latent_size, pos)
        out = {"genlab_recipe": RECIPE_VERSION, "model": model_id, "model_sha256": m.file("model").sha256,
               **pos.to_dict(), "composed": composed.tolist()}
        if method and method.startswith("custom:"):
            d = self.ctx.directions(model_id, method)
            out["custom"] = {"name": d.names[0], "vector": d.vectors[0].tolist(), "sigma": float(d.sigmas[0])}
        if keyframes is not None:
            out["keyframes"] = _keyframes(ckpt, keyframes, z.tolist()).tolist()
            out["mode"], out["steps"] = mode or "slerp", int(steps or 16)
        for key, val in (("psi", psi), ("temperature", temperature), ("seed", seed)):
            if val is not None:
                out[key] = val
        return self.validate_recipe(out)

    def recipe_json(self, *args, **kwargs) -> str:
        """``make_recipe(...)`` as JSON text (NaN/inf are impossible: validated first)."""
        return json.dumps(self.make_recipe(*args, **kwargs), allow_nan=False)

    def load_recipe(self, source, allow_other_version: bool = False) -> dict:
        """Recipe text / bytes / dict -> a validated recipe dict, or ExplorerError saying what is wrong."""
        if isinstance(source, dict):
            return self.validate_recipe(source, allow_other_version)
        if isinstance(source, os.PathLike):  # an uploaded recipe file
            source = _read_capped(source)
        if isinstance(source, str):
            source = source.encode("utf-8")
        if not isinstance(source, (bytes, bytearray)):
            raise ExplorerError(f"a recipe is JSON text, got {type(source).__name__}")
        if len(source) > MAX_RECIPE_BYTES:
            raise ExplorerError(f"recipe is {math.ceil(len(source) / 1024)} KB; the limit is "
                                f"{MAX_RECIPE_BYTES // 1024} KB")
        try:
            obj = json.loads(bytes(source).decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise ExplorerError("recipe is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ExplorerError(f"recipe is not valid JSON: {exc.msg} ({where})") from None
        except ValueError as exc:
            raise ExplorerError(str(exc)) from None
        except RecursionError:
            raise ExplorerError("recipe JSON is nested too deeply") from None
        return self.validate_recipe(obj, allow_other_version)

    def validate_recipe(self, obj, allow_other_version: bool = False) -> dict:
        """Check every field of a parsed recipe against the installed model; returns a normalised copy."""
        if not isinstance(obj, dict):
            raise ExplorerError("a recipe must be a JSON object")
        if obj.get("genlab_recipe") != RECIPE_VERSION:
            raise ExplorerError(f"not a genlab recipe (needs \"genlab_recipe\": {RECIPE_VERSION}, "
                                f"got {obj.get('genlab_recipe')!r})")
        unknown = sorted(set(obj) - RECIPE_FIELDS)
        if unknown:
            raise ExplorerError(f"recipe has unknown field(s): {', '.join(unknown)}")
        ckpt, warning = self._recipe_model(obj, allow_other_version)
        d = ckpt.manifest.latent_size
        out = {"genlab_recipe": RECIPE_VERSION, "model": obj["model"], "model_sha256": obj["model_sha256"],
               "latent": _latent("latent", obj.get("latent"), d).tolist()}
        if obj.get("composed") is not None:
            out["composed"] = _latent("composed", obj["composed"], d).tolist()
        out.update(_sliders(obj, d))
        known = methods_for(ckpt.manifest)
        if out["method"] and out["method"] not in known and not out["method"].startswith("custom:"):
            raise ExplorerError(f"recipe uses direction method {out['method']!r}, unknown for {out['model']} "
                                f"(known: {', '.join(known)}, custom:NAME)")
        if out["method"].startswith("custom:"):
            out["custom"] = _custom(obj.get("custom"), out["method"], d)
        if obj.get("keyframes") is not None:
            out.update(_path(obj, d))
        out.update(_sampling(obj))
        if warning:
            out["warning"] = warning
        return out

    def _recipe_model(self, obj: dict, allow_other_version: bool) -> tuple[Checkpoint, str | None]:
        mid, sha = obj.get("model"), obj.get("model_sha256")
        if not isinstance(mid, str) or not mid:
            raise ExplorerError("recipe has no model id (field 'model')")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ExplorerError("recipe field 'model_sha256' must be 64 hex digits")
        if mid not in self.ctx.model_ids():
            raise ExplorerError(f"this recipe needs model {mid}, which is not installed here "
                                f"(available: {', '.join(self.ctx.model_ids()) or 'none'})")
        ckpt = self.ctx.generative(mid)
        here = ckpt.manifest.file("model").sha256
        if here == sha:
            return ckpt, None
        msg = (f"this recipe was made with a different version of {mid} (weights sha256 {sha[:12]}.. here "
               f"{here[:12]}..): the image may differ")
        if not allow_other_version:
            raise ExplorerError(msg)
        return ckpt, msg

    def render_recipe(self, recipe, allow_other_version: bool = False) -> RenderResult:
        """The recipe's (text or dict) Explore image via ``explore``, plus its interpolation strip and GIF.

        data: latent (composed), matches (it equals the recipe's composed latent), recipe, strip, gif.
        """
        r = self.load_recipe(recipe, allow_other_version)
        note = ""
        if "custom" in r:
            c = r["custom"]
            note = f"; custom direction {r['method']!r} loaded from the recipe"
            self.ctx.store_custom(r["model"], r["method"][7:], Directions(
                "custom", (c["name"],), torch.tensor([c["vector"]]), torch.tensor([c["sigma"]]), torch.ones(1)))
        n = len(r["weights"])
        res = self.explore_view.explore(ExploreRequest.of(r["model"], Position.from_dict(r)))
        same = "composed" not in r or res.data["latent"] == r["composed"]
        info = f"recipe for {r['model']}: {r['method'] or 'no directions'}" + (f", {n} slider(s)" if n else "") + note
        if not same:
            info += "; WARNING: the composed latent differs from the recipe's (directions changed?)"
        if r.get("warning"):
            info += f"; WARNING: {r['warning']}"
        data = {"latent": res.data["latent"], "matches": same, "recipe": r}
        if "keyframes" in r:
            path = self.interpolate_view.interpolate(r["model"], r["keyframes"], r["mode"], r["steps"])
            data.update(strip=path.image, gif=path.data["gif"])
        return RenderResult(res.image, info, data=data)


# ---- field checks (pure) -------------------------------------------------------------------------
def _read_capped(path) -> bytes:
    """A recipe file's bytes; reads at most one byte past the cap, so the size message stays exact enough."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise ExplorerError(f"cannot read the recipe file: {exc.strerror}") from None
    if len(data) > MAX_RECIPE_BYTES:
        raise ExplorerError(f"recipe is {math.ceil(os.path.getsize(path) / 1024)} KB; the limit is "
                            f"{MAX_RECIPE_BYTES // 1024} KB")
    return data


def _no_constant(name: str):
    raise ValueError(f"recipe holds {name}, which is not allowed (numbers must be finite)")


def _pick(pick) -> tuple[int, float]:
    if pick is None:
        return 0, 0.0
    if isinstance(pick, dict):
        pick = (pick.get("dim"), pick.get("value"))
    if not isinstance(pick, (list, tuple)) or len(pick) != 2:
        raise ExplorerError(f"pick must be [dimension, value], got {short(pick)}")
    return check_int("picked dimension", pick[0], 0, 1 << 16), check_float("picked value", pick[1], -10, 10)


def _latent(name: str, value, d: int) -> torch.Tensor:
    if not isinstance(value, list):
        raise ExplorerError(f"recipe field {name!r} must be a list of {d} numbers")
    try:
        return parse_latent(value, d)
    except ExplorerError as exc:
        raise ExplorerError(f"recipe field {name!r}: {exc}") from None


def _numbers(name: str, value, max_len: int, lo: float, hi: float) -> list[float]:
    if not isinstance(value, list) or len(value) > max_len:
        raise ExplorerError(f"recipe field {name!r} must be a list of at most {max_len} numbers")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ExplorerError(f"recipe field {name!r} must hold numbers only")
    return [check_float(f"{name} value", v, lo, hi) for v in value]


def _sliders(obj: dict, d: int) -> dict:
    method = obj.get("method", "")
    if not isinstance(method, str) or len(method) > 100:
        raise ExplorerError("recipe field 'method' must be a direction method name")
    pick = obj.get("pick", [0, 0.0])
    dim, value = _pick(pick)
    if dim >= d:
        raise ExplorerError(f"recipe picks dimension {dim}; the model has {d}")
    return {"method": method, "weights": _numbers("weights", obj.get("weights", []), 64, -10, 10),
            "raw": _numbers("raw", obj.get("raw", []), d, -10, 10), "pick": [dim, value]}


def _custom(c, method: str, d: int) -> dict:
    if not isinstance(c, dict) or not isinstance(c.get("name"), str):
        raise ExplorerError(f"recipe uses {method} but does not carry it (field 'custom' with name, vector, sigma)")
    sigma = check_float("custom direction sigma", c.get("sigma"), 1e-6, 1e3)
    return {"name": c["name"][:40], "vector": _latent("custom.vector", c.get("vector"), d).tolist(), "sigma": sigma}


def _path(obj: dict, d: int) -> dict:
    keys = obj["keyframes"]
    if not isinstance(keys, list) or not 2 <= len(keys) <= 16:
        raise ExplorerError("recipe field 'keyframes' must be a list of 2 to 16 latents")
    mode = obj.get("mode", "slerp")
    if mode not in ("lerp", "slerp"):
        raise ExplorerError(f"recipe mode must be 'lerp' or 'slerp', got {short(mode)}")
    return {"keyframes": [_latent("keyframes", k, d).tolist() for k in keys], "mode": mode,
            "steps": check_int("steps", obj.get("steps", 16), 2, MAX_STEPS)}


def _sampling(obj: dict) -> dict:
    out = {}
    for key, lo, hi in (("psi", 0.0, 1.0), ("temperature", 0.0, 3.0)):
        if obj.get(key) is not None:
            out[key] = check_float(key, obj[key], lo, hi)
    if obj.get("seed") is not None:
        out["seed"] = check_int("seed", obj["seed"], 0, MAX_SEED)
    return out
