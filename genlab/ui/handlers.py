"""Event handlers: widget values -> explorer requests -> Gradio outputs. No torch here.

Explore-view "positions" are plain dicts ``{"base", "method", "w", "raw", "pick"}``: the base latent
plus slider offsets. A per-session history of positions gives undo/redo.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import random

import gradio as gr

from genlab import plots
from genlab.explore import Explorer, ExploreRequest, ExplorerError, SampleRequest
from genlab.ui.files import FileStore

log = logging.getLogger("genlab.ui")
N_DIRS = 8  # direction sliders
N_RAW = 4  # raw-dimension sliders z[0..3]
HISTORY = 100
METHOD_LABELS = {"ganspace": "GANSpace: PCA of layer-1 activations", "sefa": "SeFa: first-layer weights",
                 "kl_dims": "Latent dimensions by KL", "pca_encodings": "PCA of held-out encodings"}
TABLE_HEADERS = ["id", "family", "architecture", "dataset", "image", "latent", "params", "metrics", "status"]


def public(text: str, roots) -> str:
    """``text`` with the server's checkpoint roots shown by their folder name only: remote users see
    ``checkpoints/my-model/manifest.json``, never where the server keeps its files."""
    for root in sorted((str(r) for r in roots or ()), key=len, reverse=True):
        parent = os.path.dirname(root.rstrip(os.sep))
        if parent and parent != os.sep:
            text = text.replace(parent + os.sep, "")
    return text


def _roots(args) -> list:
    """The registry roots of the Handlers a wrapped method was called on (none for plain functions)."""
    return getattr(getattr(getattr(args[0], "ex", None), "registry", None), "roots", []) if args else []


def user_errors(fn):
    """Explorer errors become gr.Error (a visible message in the UI, an error for API clients)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ExplorerError as exc:
            raise gr.Error(public(str(exc), _roots(args)), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as exc:  # keep serving; say what happened
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(public(f"Unexpected error ({type(exc).__name__}): {exc}", _roots(args)),
                           print_exception=False) from None

    return wrapper


def show(img):
    """uint8 [H, W, C] -> what gr.Image takes: [H, W] for gray, as is for RGB (None passes)."""
    return img[..., 0] if img is not None and img.ndim == 3 and img.shape[-1] == 1 else img


def dumps_latent(z) -> str:
    return json.dumps([float(v) for v in z])


def empty_history() -> dict:
    return {"past": [], "future": []}


def position(base, method, weights, raw, pick_dim, pick_value) -> dict:
    return {"base": base, "method": method or "", "w": [float(w or 0) for w in weights],
            "raw": [float(r or 0) for r in raw], "pick": [int(pick_dim or 0), float(pick_value or 0)]}


class Handlers:
    """Bound to one explorer; each public method is an event function."""

    def __init__(self, explorer: Explorer, files: FileStore | None = None):
        self.ex = explorer
        self.files = files or FileStore()

    # ---- models -------------------------------------------------------------------------------
    def default_model(self) -> str | None:
        ids = self.ex.model_ids()
        return next((i for i in ("mnist-dcgan", "mnist-vae") if i in ids), ids[0] if ids else None)

    def model_choices(self) -> list[tuple[str, str]]:
        out = []
        for i in self.ex.model_ids():
            m = self.ex.registry.manifest(i)
            out.append((f"{m.title} [{i}]", i))
        return out

    @user_errors
    def models_table(self) -> list[list]:
        roots = self.ex.registry.roots
        return [[public(str(row.get(h, "")), roots) if h == "status" else row.get(h, "") for h in TABLE_HEADERS]
                for row in self.ex.models_table()]

    @user_errors
    def model_card(self, model_id: str):
        """(card Markdown, preview image)."""
        return self.ex.card(model_id), self.ex.preview(model_id)

    def methods(self, model_id: str) -> list[tuple[str, str]]:
        from genlab.directions import methods_for

        builtin = [(METHOD_LABELS.get(k, k), k) for k in methods_for(self.ex.generative(model_id).manifest)]
        custom = getattr(self.ex, "custom_directions", lambda _: [])(model_id)
        return builtin + [(f"Your direction: {m[7:]}", m) for m in custom]

    def slider_updates(self, model_id: str, method: str, values=None) -> list:
        """Direction sliders relabelled for ``method`` (hidden past the available count), raw sliders for z."""
        d = self.ex.generative(model_id).manifest.latent_size
        names = list(self.ex.directions(model_id, method).names) if method else []
        values = values or {}
        dirs = [gr.Slider(label=names[i] if i < len(names) else f"direction {i + 1}", visible=i < len(names),
                          value=values.get("w", [0] * N_DIRS)[i]) for i in range(N_DIRS)]
        raws = [gr.Slider(label=f"z[{i}]", visible=i < d, value=values.get("raw", [0] * N_RAW)[i]) for i in range(N_RAW)]
        pick = values.get("pick", [0, 0])
        return dirs + raws + [gr.Slider(maximum=d - 1, value=min(pick[0], d - 1)), gr.Slider(value=pick[1])]

    def render_position(self, model_id: str, pos: dict, history: dict) -> list:
        """Outputs for a new position: base, method, sliders, current latent, history, image."""
        res = self.ex.explore(self.request(model_id, pos))
        return [pos["base"], gr.Dropdown(choices=self.methods(model_id), value=pos["method"]),
                *self.slider_updates(model_id, pos["method"], pos), dumps_latent(res.data["latent"]), history, show(res.image)]

    def request(self, model_id: str, pos: dict) -> ExploreRequest:
        return ExploreRequest(model_id, pos["base"], pos["method"], tuple(pos["w"]), tuple(pos["raw"]), *pos["pick"])

    @user_errors
    def select_model(self, model_id: str, seed: float) -> list:
        """Model picked (or the page opened): fresh base latent from ``seed``, sliders at zero."""
        m = self.ex.generative(model_id).manifest
        from genlab import latent

        base = dumps_latent(latent.sample(1, m.latent_size, int(seed or 0))[0])
        method = self.methods(model_id)[0][1]
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, {"past": [pos], "future": []})

    # ---- samples ------------------------------------------------------------------------------
    @user_errors
    def samples(self, model_id, seed, n, psi, temperature, labels, realism, sort):
        res = self.ex.samples(SampleRequest(model_id, seed, n, psi, temperature, bool(labels), bool(realism), bool(sort)))
        return show(res.image), res.info

    def new_seed(self) -> int:
        return random.randint(0, 2**31 - 1)

    @user_errors
    def tile_latent(self, model_id: str, seed: int, n: int, psi: float, temperature: float, sort: bool, index: int) -> str:
        """API: the latent of tile ``index`` (display order) of a sample grid, as JSON."""
        req = SampleRequest(model_id, seed, n, psi, temperature, sort_by_realism=bool(sort))
        return dumps_latent(self.ex.tile_by_position(req, index)[0])

    @user_errors
    def pick_tile(self, model_id, seed, n, psi, temperature, labels, realism, sort, history, evt: gr.SelectData):
        """Click on a tile: its latent becomes the current latent (sliders reset, history pushed)."""
        x, y = evt.index
        req = SampleRequest(model_id, seed, n, psi, temperature, bool(labels), bool(realism), bool(sort))
        z, idx = self.ex.tile_latent(req, x, y)
        return self.jump(model_id, dumps_latent(z), history, f"picked tile {idx} of seed {int(seed)}")

    def jump(self, model_id: str, base: str, history: dict, note: str) -> list:
        method = self.methods(model_id)[0][1]
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos)) + [note]

    # ---- explore ------------------------------------------------------------------------------
    @user_errors
    def explore(self, model_id, base, method, *values):
        """The slider path: one image for base + offsets. Nothing else happens here."""
        w, raw, pick = values[:N_DIRS], values[N_DIRS : N_DIRS + N_RAW], values[N_DIRS + N_RAW :]
        return show(self.ex.explore(ExploreRequest(model_id, base, method, tuple(w), tuple(raw), *pick)).image)

    def sweep(self, model_id, base, method, *values_and_request):
        """The drag preview (``genlab.ui.drag``): every frame of one slider as a hidden PNG strip.

        A helper the page calls when a slider is pressed; it never shows an error (the ``explore`` event
        that follows on release reports bad inputs), it answers an empty string instead."""
        from genlab.ui import drag

        *values, request = values_and_request
        try:
            k, token = drag.parse_request(request)
            w, raw, pick = values[:N_DIRS], values[N_DIRS : N_DIRS + N_RAW], values[N_DIRS + N_RAW :]
            req = ExploreRequest(model_id, base, method, tuple(w), tuple(raw), *pick)
            return drag.sweep_html(self.ex.sweep(req, k, drag.SWEEP_VALUES), k, token)
        except (ExplorerError, ValueError):
            return ""

    @user_errors
    def commit(self, model_id, base, method, *values_and_history):
        """Slider released: record the position in the history and publish the composed latent."""
        *values, history = values_and_history
        pos = position(base, method, values[:N_DIRS], values[N_DIRS : N_DIRS + N_RAW], *values[N_DIRS + N_RAW :])
        z = self.ex.compose(self.request(model_id, pos))
        return dumps_latent(z), push(history, pos)

    @user_errors
    def change_method(self, model_id, base, method, history):
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos))

    @user_errors
    def randomize(self, model_id, method, history):
        from genlab import latent

        seed = self.new_seed()
        base = dumps_latent(latent.sample(1, self.ex.generative(model_id).manifest.latent_size, seed)[0])
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos))

    @user_errors
    def reset(self, model_id, base, method, history):
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos))

    @user_errors
    def undo(self, model_id, history):
        return self.step_history(model_id, history, back=True)

    @user_errors
    def redo(self, model_id, history):
        return self.step_history(model_id, history, back=False)

    def step_history(self, model_id: str, history: dict, back: bool) -> list:
        past, future = list(history.get("past", [])), list(history.get("future", []))
        if back and len(past) > 1:
            future.insert(0, past.pop())
        elif not back and future:
            past.append(future.pop(0))
        else:
            raise ExplorerError("nothing to undo" if back else "nothing to redo")
        return self.render_position(model_id, past[-1], {"past": past, "future": future})

    @user_errors
    def traversal(self, model_id, current, method, index):
        res = self.ex.traversal(model_id, current, method, int(index or 0))
        return show(res.image), res.info

    # ---- interpolate --------------------------------------------------------------------------
    @user_errors
    def interpolate(self, model_id, keyframes, mode, steps, fps, current):
        res = self.ex.interpolate(model_id, keyframes, mode, steps, current=current, fps=fps)
        gif = self.files.put(res.data["gif"], ".gif", stem="interpolation")
        fig = plots.path_probabilities(res.data.get("probs"), res.data.get("realism"))
        return show(res.image), gif, gif, fig, res.info

    def seeds_keyframes(self, a, b) -> str:
        return f"{int(a or 0)}, {int(b or 0)}"

    @user_errors
    def add_keyframe(self, keyframes: str, current: str) -> str:
        from genlab.explore.paths import parse_keyframe_text

        items = parse_keyframe_text(keyframes) if (keyframes or "").strip() else []
        if not (current or "").strip():
            raise ExplorerError("no current latent yet: pick a tile or use the Explore tab first")
        items.append(json.loads(current))
        return json.dumps(items)

    @user_errors
    def add_image_keyframe(self, model_id: str, keyframes: str, upload) -> str:
        from genlab.explore.paths import parse_keyframe_text

        if upload is None:
            raise ExplorerError("upload an image first")
        mu, _, _, _ = self.ex.encode_image(model_id, upload)
        items = parse_keyframe_text(keyframes) if (keyframes or "").strip() else []
        items.append([float(v) for v in mu.tolist()])
        return json.dumps(items)

    # ---- reconstruct --------------------------------------------------------------------------
    @user_errors
    def reconstruct(self, model_id, upload, sketch, n_samples):
        self.ex.generative(model_id, "vae")  # the wrong kind of model is the first thing to say
        source = upload if upload is not None else sketch_or_none(sketch)
        if source is None:
            raise ExplorerError("upload an image or draw a digit on the sketchpad first")
        res = self.ex.reconstruct(model_id, source, int(n_samples or 0))
        notes = "; ".join(res.data["notes"])
        info = res.info + (f"\n\npreprocessing: {notes}" if notes else "")
        fig = plots.posterior_bars(res.data["mu"], res.data["sigma"])
        return (show(res.data["input"]), show(res.image), info, fig, show(res.data.get("samples")),
                dumps_latent(res.data["latent"]))

    @user_errors
    def send_to_explore(self, model_id, encoding, history):
        if not (encoding or "").strip():
            raise ExplorerError("reconstruct an image first")
        return self.jump(model_id, encoding, history, "encoding sent to Explore")

    # ---- URL state ----------------------------------------------------------------------------
    def from_url(self, request: gr.Request):
        """``?model=ID&seed=N`` -> (model, seed); unknown values fall back to the defaults."""
        params = dict(request.query_params) if request is not None else {}
        model = params.get("model")
        model = model if model in self.ex.model_ids() else self.default_model()
        try:
            seed = max(0, min(int(params.get("seed", 0)), 2**31 - 1))
        except ValueError:
            seed = 0
        return model, seed


def sketch_or_none(sketch):
    """A Sketchpad value with something drawn, or None."""
    if not isinstance(sketch, dict):
        return sketch
    if sketch.get("composite") is None and not sketch.get("layers"):
        return None
    comp = sketch.get("composite")
    try:
        import numpy as np

        if comp is not None and np.asarray(comp).size and np.ptp(np.asarray(comp)) == 0:
            return None  # an untouched canvas
    except (TypeError, ValueError):
        pass
    return sketch


def push(history: dict, pos: dict) -> dict:
    past = list((history or {}).get("past", []))
    if past and past[-1] == pos:
        return {"past": past, "future": []}
    return {"past": (past + [pos])[-HISTORY:], "future": []}
