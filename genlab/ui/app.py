"""The app: a compact header (model, seed), then one tab per view, each built by its own module in
``genlab.ui.views``. Owns the queue and launch settings used by app.py, the tests and the bench.

Every view shows something the moment it opens: a view's ``refresh`` runs when its tab is selected and,
for the open tab, when the model or seed changes; the other views are cleared on a model change (they never
show the previous model's results) and refresh when next opened.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import gradio as gr
import numpy as np

from genlab.explore import ExplorerError
from genlab.ui.common import N_DIRS, N_RAW, Shared, empty_history, note, public
from genlab.ui.drag import slider_ids
from genlab.ui.files import FileStore

STATIC = Path(__file__).resolve().parent / "static"
QUEUE = dict(default_concurrency_limit=2, max_size=256)
# show_error: Gradio's own input checks (types, ranges, file types) reach API clients verbatim.
LAUNCH = dict(max_file_size="20mb", show_error=True, css_paths=[STATIC / "genlab.css"],
              head=None, footer_links=["api", "gradio"])
MAX_SEED = 2**31 - 1


def page_head() -> str:
    """The page script: the slider ids it needs, then the script file itself (a real file, linted)."""
    js = (STATIC / "genlab.js").read_text(encoding="utf-8")
    ids = json.dumps(slider_ids(N_DIRS, N_RAW))
    return f"<script>window.GENLAB_SLIDER_IDS = {ids};</script>\n<script>{js}</script>"


def launch_kwargs() -> dict:
    return {**LAUNCH, "head": page_head()}


class UI:
    """The views of one explorer; ``build()`` returns the Blocks."""

    def __init__(self, explorer, files: FileStore | None = None):
        from genlab.ui.views import VIEWS

        self.ex = explorer
        self.files = files or FileStore()
        self.views = {cls.id: cls(self) for cls in VIEWS}
        self.explore = self.views["explore"]

    # ---- shared helpers for the views ----------------------------------------------------------
    def default_model(self) -> str | None:
        ids = self.ex.model_ids()
        return next((i for i in ("mnist-dcgan", "mnist-vae") if i in ids), ids[0] if ids else None)

    def model_choices(self) -> list[tuple[str, str]]:
        return [(f"{self.ex.registry.manifest(i).title} [{i}]", i) for i in self.ex.model_ids()]

    def family(self, model_id) -> str:
        try:
            return self.ex.registry.manifest(model_id).family
        except Exception:  # noqa: BLE001 - unknown or broken ids are reported by the views
            return ""

    def same_shape(self, a: str, b: str) -> bool:
        ma, mb = self.ex.registry.manifest(a), self.ex.registry.manifest(b)
        return (ma.image_size, ma.channels) == (mb.image_size, mb.channels)

    def models_with(self, pred) -> list[str]:
        return [i for i in self.ex.model_ids() if pred(self.ex.registry.manifest(i))]

    @staticmethod
    def highlight(img: np.ndarray, data: dict, index) -> np.ndarray:
        """The sample grid with tile ``index`` (display order) outlined in orange."""
        if index is None or img is None:
            return img
        import math

        n, size, pad = len(data["order"]), data["tile"] * data["scale"], 2
        cols = math.ceil(math.sqrt(n))
        r, c = divmod(int(index), cols)
        y, x = pad + r * (size + pad), pad + c * (size + pad)
        out = img.copy() if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
        if out.shape[-1] == 1:
            out = np.repeat(out, 3, -1)
        colour, t = np.array([255, 140, 0], np.uint8), max(2, size // 20)
        y0, x0, y1, x1 = max(0, y - pad), max(0, x - pad), y + size + pad, x + size + pad
        out[y0 : y0 + t, x0:x1] = colour
        out[y1 - t : y1, x0:x1] = colour
        out[y0:y1, x0 : x0 + t] = colour
        out[y0:y1, x1 - t : x1] = colour
        return out

    # ---- page state ----------------------------------------------------------------------------
    def from_url(self, request: gr.Request):
        """``?model=ID&seed=N&tab=T...`` -> (model, seed, tab, link position, link parameters); unknown values
        fall back to the defaults."""
        params = dict(request.query_params) if request is not None else {}
        model = params.get("model")
        model = model if model in self.ex.model_ids() else self.default_model()
        try:
            seed = max(0, min(int(params.get("seed", 0)), MAX_SEED))
        except ValueError:
            seed = 0
        tab = params.get("tab") if params.get("tab") in self.views else ("lesson" if "lesson" in params else "explore")
        from genlab.ui.views.share import url_position

        small = {k: str(v)[:2000] for k, v in list(params.items())[:32]}  # what views read from the link
        return model, seed, tab, url_position(params), small

    def new_seed(self) -> int:
        return random.randint(0, MAX_SEED)

    def clamp_seed(self, seed) -> int:
        try:
            return max(0, min(int(float(seed or 0)), MAX_SEED))
        except (TypeError, ValueError, OverflowError):
            return 0

    # ---- refresh machinery -----------------------------------------------------------------------
    def refresher(self, view):
        """The event function that refreshes ``view``: computes its default when it is the open tab and its
        inputs changed, clears it when it shows another model's results, else changes nothing."""
        n_out = len(view.refresh_outputs)

        def refresh(tab, key, model_id, seed, current, *extra, request: gr.Request = None):
            # the view's own inputs count too (a lesson step may set them while the model stays the same)
            own = hashlib.sha1(repr(extra).encode("utf-8", "replace")).hexdigest()[:16]
            new = json.dumps([model_id, seed, current, own])
            if tab != view.id:
                stale = key and json.loads(key)[0] != model_id
                return ["", *view.cleared()] if stale else [gr.skip()] * (n_out + 1)
            if key == new:
                return [gr.skip()] * (n_out + 1)
            try:
                kw = {"request": request} if getattr(view, "wants_request", False) else {}
                return [new, *view.refresh(model_id, seed, current, *extra, **kw)]
            except ExplorerError as exc:
                return ["", *view.cleared(public(str(exc), self.ex.registry.roots))]
            except gr.Error as exc:
                return ["", *view.cleared(str(exc.message))]

        refresh.__name__ = f"refresh_{view.id}"
        return refresh

    # ---- layout --------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        default = self.default_model()
        with gr.Blocks(title="genlab: latent space explorer") as demo:
            with gr.Row(elem_id="genlab-header", equal_height=True):
                gr.Markdown("**genlab** · explore what generative models have learned", elem_id="genlab-title")
                model = gr.Dropdown(self.model_choices(), value=default, label="Model", scale=4, elem_id="model",
                                    min_width=220)
                seed = gr.Number(0, label="Seed (Enter applies)", precision=0, minimum=0, maximum=MAX_SEED,
                                 scale=1, min_width=110, elem_id="seed")
                new_seed = gr.Button("New seed", scale=0, min_width=90, elem_id="new-seed")
            status = gr.Markdown("", elem_id="status")
            s = Shared(demo=demo, model=model, seed=seed, status=status,
                       base=gr.Textbox(label="Base latent (the sliders move from here)", lines=2, max_lines=6,
                                       render=False, elem_id="base-latent"),
                       current=gr.Textbox(label="Current latent (base + slider offsets)", lines=2, max_lines=6,
                                          elem_id="current-latent", render=False),
                       history=gr.State(empty_history()), tab=gr.State("explore"))
            s.extra["url_params"] = gr.State({})
            # phones: Gradio folds tabs that do not fit into a menu; this picker (shown on narrow screens only)
            # reaches every view in one tap
            picker = gr.Dropdown([(v.title, v.id) for v in self.views.values()], value="explore", label="View",
                                 elem_id="view-picker", interactive=True)
            with gr.Tabs(selected="explore", elem_id="genlab-tabs") as tabs:
                s.extra["tabs"] = tabs
                for view in self.views.values():
                    view.build(s)
            for view in self.views.values():  # API-only endpoints (gr.api adds no component: outside the Tabs)
                if hasattr(view, "apis"):
                    view.apis()
            picker.input(lambda v: (gr.Tabs(selected=v), v), picker, [tabs, s.tab], api_name=False)
            s.extra["picker"] = picker
            self.wire(s, demo, tabs, new_seed)
        return demo

    def wire(self, s: Shared, demo, tabs, new_seed) -> None:
        self._shared = s
        self._refreshable = [v for v in self.views.values() if hasattr(v, "refresh")]
        self._keys = {v.id: gr.State("") for v in self._refreshable}
        ex = self.explore
        url_pos, params = gr.State(None), s.extra["url_params"]
        opened = demo.load(self.from_url, None, [s.model, s.seed, s.tab, url_pos, params], api_name=False).then(
            ex.open_page, [s.model, s.seed, url_pos], s.position_outputs, api_name=False)
        for v in self.views.values():  # views that read their own state from the link (compare, lesson)
            if hasattr(v, "from_params"):
                opened = opened.then(v.from_params, params, v.from_params_outputs, api_name=False)
        # the link's tab last: selecting it runs that view's refresh, which must see the link's state (the page
        # opens on Explore anyway: no selection then, so a tab clicked meanwhile stays selected)
        opened = opened.then(lambda tab: gr.Tabs(selected=tab) if tab != "explore" else gr.skip(), s.tab, tabs,
                             api_name=False)
        self.after_model_change(opened, select=False)
        picked = s.model.input(ex.select_model, [s.model, s.seed], s.position_outputs, api_name="select_model")
        self.after_model_change(picked, select=False)
        self.after_seed_change(s.seed.submit(self.clamp_seed, s.seed, s.seed, api_name=False))
        self.after_seed_change(new_seed.click(self.new_seed, None, s.seed, api_name="new_seed"))
        for v in self._refreshable:
            v.tab.select(lambda vid=v.id: (vid, vid), None, [s.tab, s.extra["picker"]], api_name=False).then(
                self.refresher(v), *self._refresh_io(v), api_name=False, **v.refresh_queue)
        for v in self.views.values():
            if hasattr(v, "wire_shared"):
                v.wire_shared(s)

    def _refresh_io(self, v) -> tuple[list, list]:
        s = self._shared
        return [s.tab, self._keys[v.id], s.model, s.seed, s.current, *v.refresh_inputs], \
            [self._keys[v.id], *v.refresh_outputs]

    def refresh_all(self, dep):
        for v in self._refreshable:
            dep = dep.then(self.refresher(v), *self._refresh_io(v), api_name=False, **v.refresh_queue)
        return dep

    def after_seed_change(self, dep):
        """A new seed: a new current latent and sample strip, then the open view's default."""
        s, ex = self._shared, self.explore
        dep = dep.then(ex.select_model, [s.model, s.seed], s.position_outputs, api_name=False).then(
            ex.strip, [s.model, s.seed], ex.strip_gallery, api_name=False)
        return self.refresh_all(dep)

    def after_model_change(self, dep, select: bool = True):
        """A new model (picked, switched to from a view, or the page opened): every view follows it."""
        s, ex = self._shared, self.explore
        if select:
            dep = dep.then(ex.select_model, [s.model, s.seed], s.position_outputs, api_name=False)
        dep = dep.then(ex.strip, [s.model, s.seed], ex.strip_gallery, api_name=False)
        for v in self.views.values():
            if hasattr(v, "model_controls"):
                dep = dep.then(v.model_controls, s.model, v.model_control_outputs, api_name=False)
        return self.refresh_all(dep)


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, auth=None, block: bool = True,
          registry=None, **extra):
    """Queue and launch with the one configuration app.py, the tests and the bench all use. With ``registry``,
    the page-decoding routes are mounted too (the vendored onnxruntime-web and sha256-checked decoders)."""
    if registry is not None:
        from genlab.ui.decoders import DecoderRoutes

        extra.setdefault("app_kwargs", {})["routes"] = DecoderRoutes(registry).routes()
    demo.queue(**QUEUE)
    demo.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=not block, **launch_kwargs(),
                **extra)
    return demo


def build_app(explorer, files: FileStore | None = None) -> tuple[gr.Blocks, UI]:
    ui = UI(explorer, files)
    return ui.build(), ui


__all__ = ["UI", "build_app", "serve", "QUEUE", "LAUNCH", "launch_kwargs", "note"]
