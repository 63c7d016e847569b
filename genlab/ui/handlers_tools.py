"""Handlers for the part-2 views: maps, training scrubber, inversion, memorization, arithmetic, recipes."""
from __future__ import annotations

import json
import threading

import gradio as gr

from genlab import plots
from genlab.explore import ExplorerError
from genlab.ui.handlers import N_DIRS, N_RAW, Handlers, dumps_latent, position, push, show, sketch_or_none, user_errors


class ToolHandlers(Handlers):
    """Handlers plus the tools views. Stop flags for inversion are kept per browser session."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop: dict[str, threading.Event] = {}
        self._stop_lock = threading.Lock()

    # ---- map ----------------------------------------------------------------------------------
    @user_errors
    def map_methods(self, model_id):
        if self.ex.generative(model_id).manifest.family != "vae":
            return gr.Dropdown(choices=["pca"], value="pca", interactive=False)
        methods = self.ex.map_methods(model_id)
        return gr.Dropdown(choices=methods, value="latent" if "latent" in methods else "pca", interactive=True)

    @user_errors
    def latent_map(self, model_id, method):
        res = self.ex.latent_map(model_id, method)
        d = res.data
        return show(res.image), plots.latent_scatter(d["x"], d["y"], d["labels"], d["method"]), res.info

    @user_errors
    def map_click(self, model_id, method, evt: gr.SelectData):
        res = self.ex.map_select(model_id, method, *evt.index)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def map_point(self, model_id: str, method: str, px: float, py: float) -> list:
        """API: the latent under atlas pixel (px, py) of a map."""
        return self.ex.map_select(model_id, method, px, py).data["latent"]

    @user_errors
    def map_region(self, model_id, method, x0, y0, x1, y1):
        res = self.ex.map_region(model_id, method, x0, y0, x1, y1)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def manifold(self, model_id, span, n, current):
        res = self.ex.manifold(model_id, span, int(n), current or None)
        return show(res.image), res.info

    @user_errors
    def use_latent(self, model_id, latent, history):
        if not (latent or "").strip():
            raise ExplorerError("nothing selected yet")
        return self.jump(model_id, latent, history, "latent sent to Explore")

    # ---- training scrubber --------------------------------------------------------------------
    @user_errors
    def scrub_setup(self, model_id):
        epochs = self.ex.snapshots(model_id)
        if not epochs:
            return gr.Slider(minimum=0, maximum=1, value=0, interactive=False, label="Epoch (this model has no snapshots)")
        return gr.Slider(minimum=0, maximum=len(epochs) - 1, value=len(epochs) - 1, step=1, interactive=True,
                         label=f"Epoch index (epochs {', '.join(map(str, epochs))})")

    def _scrub_latent(self, use_current, current):
        return current if use_current and (current or "").strip() else None

    @user_errors
    def scrub(self, model_id, index, use_current, current, seed, n):
        epochs = self.ex.snapshots(model_id)
        if not epochs:
            raise ExplorerError(f"{model_id} has no training snapshots")
        epoch = epochs[max(0, min(int(index or 0), len(epochs) - 1))]
        res = self.ex.scrub(model_id, epoch, self._scrub_latent(use_current, current), int(seed or 0), int(n or 1))
        return show(res.image), res.info

    @user_errors
    def evolution(self, model_id, use_current, current, seed, n, fps):
        res = self.ex.evolution(model_id, self._scrub_latent(use_current, current), int(seed or 0), int(n or 1), fps)
        gif = self.files.put(res.data["gif"], ".gif", stem="evolution")
        return show(res.image), gif, gif, res.info

    # ---- inversion ----------------------------------------------------------------------------
    def _flag(self, request: gr.Request | None) -> threading.Event:
        key = getattr(request, "session_hash", None) or "api"
        with self._stop_lock:
            if len(self._stop) > 10_000:
                self._stop.clear()
            return self._stop.setdefault(key, threading.Event())

    @user_errors
    def invert(self, model_id, upload, sketch, steps, request: gr.Request, progress=gr.Progress()):
        self.ex.generative(model_id, "gan")
        source = upload if upload is not None else sketch_or_none(sketch)
        if source is None:
            raise ExplorerError("upload an image or draw a digit on the sketchpad first")
        flag = self._flag(request)
        flag.clear()

        def report(i, total, loss):
            progress((i, total), desc=f"step {i}/{total}, loss {loss:.4f}")

        res = self.ex.invert(model_id, source, int(steps), progress=report, should_stop=flag.is_set)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    def stop(self, request: gr.Request):
        self._flag(request).set()
        return "stopping after the current step..."

    # ---- memorization -------------------------------------------------------------------------
    @user_errors
    def nearest(self, model_id, current, k):
        res = self.ex.nearest(model_id, latent=current, k=int(k))
        return show(res.image), res.info

    # ---- arithmetic ---------------------------------------------------------------------------
    @user_errors
    def toward_label(self, model_id, current, label, amount):
        res = self.ex.toward_label(model_id, current, int(label), amount)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def arithmetic(self, model_id, a, b, c, scale):
        items = [a.strip() if isinstance(a, str) else a for a in (a, b, c)]
        res = self.ex.arithmetic(model_id, *items, scale)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def add_to_group(self, group, current):
        items = json.loads(group) if (group or "").strip() else []
        if not (current or "").strip():
            raise ExplorerError("no current latent: click a tile in Samples first")
        items.append(json.loads(current))
        return json.dumps(items), f"{len(items)} latent(s) in this group"

    @user_errors
    def make_direction(self, model_id, group_a, group_b, name, base, history):
        load = lambda g: json.loads(g) if (g or "").strip() else []  # noqa: E731
        dirs = self.ex.group_direction(model_id, load(group_a), load(group_b), (name or "custom").strip())
        method = f"custom:{dirs.names[0]}"  # how the explorer stores a group direction
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos)) + [f"direction {method} added to Explore"]

    # ---- recipes ------------------------------------------------------------------------------
    @user_errors
    def save_recipe(self, model_id, base, method, *values):
        *sliders, keyframes, mode, steps, psi, temperature, seed = values
        w, raw, pick = sliders[:N_DIRS], sliders[N_DIRS : N_DIRS + N_RAW], sliders[N_DIRS + N_RAW :]
        from genlab.explore.paths import parse_keyframe_text

        keys = parse_keyframe_text(keyframes) if (keyframes or "").strip() else None
        text = self.ex.recipe_json(model_id, base, method, list(w), list(raw), list(pick), keyframes=keys,
                                   mode=mode, steps=int(steps), psi=psi, temperature=temperature, seed=int(seed or 0))
        return self.files.put(text.encode(), ".json", stem=f"recipe-{model_id}")

    @user_errors
    def load_recipe(self, upload, history):
        if upload is None:
            raise ExplorerError("upload a recipe JSON file first")
        path = upload if isinstance(upload, str) else getattr(upload, "name", upload)
        with open(path, "rb") as f:
            data = f.read(self.max_recipe_bytes() + 1)
        res = self.ex.render_recipe(data)
        r = res.data["recipe"]
        w = list(r["weights"]) + [0.0] * (N_DIRS - len(r["weights"]))
        raw = list(r["raw"]) + [0.0] * (N_RAW - len(r["raw"]))
        pos = position(dumps_latent(r["latent"]), r["method"], w[:N_DIRS], raw[:N_RAW], *r["pick"])
        model_id = r["model"]
        return [gr.Dropdown(value=model_id)] + self.render_position(model_id, pos, push(history, pos)) + [res.info]

    @staticmethod
    def max_recipe_bytes() -> int:
        from genlab.explore import MAX_RECIPE_BYTES

        return MAX_RECIPE_BYTES

    @user_errors
    def render_recipe_api(self, recipe: str) -> tuple[str, str]:
        """API: recipe JSON text -> (PNG path of the image, info)."""
        res = self.ex.render_recipe(recipe.encode() if isinstance(recipe, str) else recipe)
        from genlab.render import png_bytes

        return self.files.put(png_bytes(res.image), ".png", stem="recipe"), res.info
