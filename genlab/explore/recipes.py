"""Explorer: latent arithmetic (label vectors, a - b + c, custom group directions) and shareable recipes.

A recipe is a small JSON object that reproduces one Explore position exactly: model id and weight
sha256, the base latent as float lists (float32 values written as JSON doubles round-trip exactly),
the direction method and slider values, optional interpolation keyframes and sampling metadata.
A recipe made with other weights (sha256 differs) is refused by default: reproduction is its whole
point, and a silently different picture is worse than a clear message. ``allow_other_version=True``
loads it anyway, with a warning.
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint
from genlab.directions import Directions, from_groups, methods_for
from genlab.explore.base import (short, MAX_SEED, MAX_STEPS, ExploreRequest, ExplorerError, RenderResult, as_numbers,
                                 check_float, check_int, check_method, parse_latent)

RECIPE_VERSION = 1
MAX_RECIPE_BYTES = 1 << 20
LABEL_SAMPLES = 4000  # prior samples classified to find a GAN's per-label mean latents
LABEL_CONFIDENCE = 0.9
MAX_GROUP = 256
NAME_RE = re.compile(r"^[A-Za-z0-9 _.+-]{1,40}$")
RECIPE_FIELDS = {"genlab_recipe", "model", "model_sha256", "latent", "composed", "method", "weights", "raw",
                 "pick", "custom", "keyframes", "mode", "steps", "psi", "temperature", "seed",
                 "warning"}  # warning: set by load_recipe(allow_other_version=True), ignored on input


class Recipes:
    """Explorer mixin; comes before Core in the bases because it extends ``directions`` with "custom:NAME"."""

    # ---- label vectors and arithmetic ---------------------------------------------------------
    def label_vectors(self, model_id: str) -> dict[int, list[float]]:
        """Mean latent per digit label: a VAE's mean encoding (mu) of the 9,000 training digits; a GAN's
        mean of the prior samples (4,000, seed 0) the classifier calls that label with p > 0.9.

        Labels without any such sample are missing from a GAN's dict.
        """
        ckpt = self.generative(model_id)
        return self.cached(("label-vectors", model_id), lambda: self._label_means(ckpt))

    def _label_means(self, ckpt: Checkpoint) -> dict[int, list[float]]:
        from genlab import data as gdata

        m = ckpt.manifest
        if m.family == "vae":
            zs, _ = self.engine.encode(ckpt, self.reference_images(ckpt, "train"))
            labels = torch.as_tensor(np.asarray(gdata.load_offline_mnist().train()[1]))
        else:
            self._need_classifier(f"label vectors for {m.id}")
            z = latent.sample(LABEL_SAMPLES, m.latent_size, seed=0)
            probs = self.classify(self.engine.decode(ckpt, z), m)
            conf, labels = probs.max(1)
            zs, labels = z[conf > LABEL_CONFIDENCE], labels[conf > LABEL_CONFIDENCE]
        return {int(c): zs[labels == c].mean(0).tolist() for c in range(10) if bool((labels == c).any())}

    def _label_vector(self, model_id: str, label) -> torch.Tensor:
        label = check_int("label", label, 0, 9)
        vecs = self.label_vectors(model_id)
        if label not in vecs:
            raise ExplorerError(f"{model_id} has no confident samples of a {label}: no label vector "
                                f"(have {', '.join(map(str, sorted(vecs))) or 'none'})")
        return torch.tensor(vecs[label], dtype=torch.float32)

    def resolve_latent(self, model_id: str, item) -> torch.Tensor:
        """One latent ``[D]`` from a seed (int, "N" or "seed:N"), "label:N", or a latent (list / JSON)."""
        ckpt = self.generative(model_id)
        if isinstance(item, str) and item.strip().lower().startswith("label:"):
            return self._label_vector(model_id, item.split(":", 1)[1].strip())
        if isinstance(item, str) and item.strip().lower() == "current":
            raise ExplorerError("'current' is not a latent here: pass the current latent itself")
        return self.keyframe(ckpt, item, None)

    def toward_label(self, model_id: str, latent, label, amount) -> RenderResult:
        """``z + amount * (label_mean - z)`` decoded: 0 keeps z, 1 lands on the label's mean latent."""
        ckpt = self.generative(model_id)
        z = parse_latent(latent, ckpt.manifest.latent_size)
        amount = check_float("amount", amount, -2.0, 2.0)
        target = self._label_vector(model_id, label)
        out = z + amount * (target - z)
        img = self.engine.decode_uint8(ckpt, out[None])[0]
        return RenderResult(img, f"{amount:g} of the way towards the mean latent of {int(label)}",
                            data={"latent": out.tolist()})

    def arithmetic(self, model_id: str, a, b, c, scale: float = 1.0) -> RenderResult:
        """``c + scale * (a - b)`` (a - b + c at scale 1); each term a seed, "label:N" or a latent.

        Image: [a | b | c | result] labelled.
        """
        ckpt = self.generative(model_id)
        scale = check_float("scale", scale, -5.0, 5.0)
        za, zb, zc = (self.resolve_latent(model_id, t) for t in (a, b, c))
        out = latent.combine([(scale, za), (-scale, zb), (1.0, zc)])
        tiles = self.engine.decode_uint8(ckpt, torch.stack([za, zb, zc, out]))
        s = max(1, 64 // ckpt.manifest.image_size)
        image = render.grid(render.label_tiles(tiles, ["a", "b", "c", "a-b+c" if scale == 1 else "result"], s), nrow=4)
        return RenderResult(image, f"c + {scale:g} * (a - b)", data={"latent": out.tolist()})

    # ---- custom directions --------------------------------------------------------------------
    def _group(self, model_id: str, items, which: str) -> torch.Tensor:
        from genlab.explore.paths import parse_keyframe_text

        items = parse_keyframe_text(items) if isinstance(items, str) else items
        if not isinstance(items, (list, tuple)) or not items:
            raise ExplorerError(f"group {which} needs at least one latent (a seed, 'label:N' or a latent list)")
        if len(items) > MAX_GROUP:
            raise ExplorerError(f"group {which} has {len(items)} latents; the limit is {MAX_GROUP}")
        return torch.stack([self.resolve_latent(model_id, it) for it in items])

    def group_direction(self, model_id: str, group_a, group_b, name: str = "custom") -> Directions:
        """A direction from group a's mean latent towards group b's, stored as method "custom:NAME"."""
        self.generative(model_id)
        if not isinstance(name, str) or not NAME_RE.match(name.strip()):
            raise ExplorerError("direction name must be 1-40 letters, digits, spaces or _ . + -")
        name = name.strip()
        a, b = self._group(model_id, group_a, "A"), self._group(model_id, group_b, "B")
        try:
            dirs = from_groups(a, b, name)
        except ValueError as exc:
            raise ExplorerError(str(exc)) from None
        self._store_custom(model_id, name, dirs)
        return dirs

    def _store_custom(self, model_id: str, name: str, dirs: Directions) -> None:
        with self._lock:  # overwrite on purpose: re-defining a name replaces it (cached() would keep the first)
            self._cache[("custom-direction", model_id, name)] = dirs

    def custom_directions(self, model_id: str) -> list[str]:
        """Method names ("custom:NAME") of the custom directions defined for a model."""
        with self._lock:
            return sorted(f"custom:{k[2]}" for k in self._cache if k[:2] == ("custom-direction", model_id))

    def directions(self, model_id: str, method: str):
        """Custom directions by "custom:NAME"; every other method falls through to the built-in ones."""
        if isinstance(method, str) and method.startswith("custom:"):
            self.generative(model_id)
            with self._lock:
                dirs = self._cache.get(("custom-direction", model_id, method[7:]))
            if dirs is None:
                have = ", ".join(self.custom_directions(model_id)) or "none"
                raise ExplorerError(f"no custom direction {method!r} for {model_id} (defined: {have}); "
                                    "make one from two groups of latents first")
            return dirs
        return super().directions(model_id, method)

    # ---- recipes ------------------------------------------------------------------------------
    def make_recipe(self, model_id: str, latent, method: str = "", weights=(), raw=(), pick=None, keyframes=None,
                    mode=None, steps=None, psi=None, temperature=None, seed=None) -> dict:
        """A JSON-ready recipe for one Explore position (``latent`` is the sliders' base latent [D]).

        pick: (dim, value) of the dimension picker or None; keyframes: interpolation items (seeds,
        "current" = ``latent``, latents), stored resolved to exact latents.
        """
        ckpt = self.generative(model_id)
        m = ckpt.manifest
        z = parse_latent(latent, m.latent_size)
        dim, value = _pick(pick)
        method = check_method(method)
        weights, raw = as_numbers("slider values", weights, 64), as_numbers("raw slider values", raw, 4096)
        if any(raw[m.latent_size:]):
            raise ExplorerError(f"the latent has {m.latent_size} dimensions; got offsets for {len(raw)}")
        raw = raw[: m.latent_size]  # the UI's hidden sliders past the latent size send zeros
        if steps is not None:
            steps = check_int("steps", steps, 2, MAX_STEPS)
        req = ExploreRequest(model_id, z.tolist(), method, tuple(weights), tuple(raw), dim, value)
        out = {"genlab_recipe": RECIPE_VERSION, "model": model_id, "model_sha256": m.file("model").sha256,
               "latent": z.tolist(), "composed": self.compose(req).tolist(), "method": method or "",
               "weights": [float(w) for w in weights], "raw": [float(r) for r in raw], "pick": [dim, value]}
        if method and method.startswith("custom:"):
            d = self.directions(model_id, method)
            out["custom"] = {"name": d.names[0], "vector": d.vectors[0].tolist(), "sigma": float(d.sigmas[0])}
        if keyframes is not None:
            out["keyframes"] = self.keyframes(ckpt, keyframes, z.tolist()).tolist()
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
        if mid not in self.model_ids():
            raise ExplorerError(f"this recipe needs model {mid}, which is not installed here "
                                f"(available: {', '.join(self.model_ids()) or 'none'})")
        ckpt = self.generative(mid)
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
            self._store_custom(r["model"], r["method"][7:], Directions(
                "custom", (c["name"],), torch.tensor([c["vector"]]), torch.tensor([c["sigma"]]), torch.ones(1)))
        (dim, value), n = r["pick"], len(r["weights"])
        req = ExploreRequest(r["model"], r["latent"], r["method"], tuple(r["weights"]), tuple(r["raw"]), dim, value)
        res = self.explore(req)
        same = "composed" not in r or res.data["latent"] == r["composed"]
        info = f"recipe for {r['model']}: {r['method'] or 'no directions'}" + (f", {n} slider(s)" if n else "") + note
        if not same:
            info += "; WARNING: the composed latent differs from the recipe's (directions changed?)"
        if r.get("warning"):
            info += f"; WARNING: {r['warning']}"
        data = {"latent": res.data["latent"], "matches": same, "recipe": r}
        if "keyframes" in r:
            path = self.interpolate(r["model"], r["keyframes"], r["mode"], r["steps"])
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
