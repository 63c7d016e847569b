"""Explore, the first screen: a large image of the current latent, its best directions as sliders, and a
strip of samples to start from. Also owns the position plumbing other views use to send a latent here."""
from __future__ import annotations

import html
import json
import math
import random

import gradio as gr

from genlab.explore import ExploreRequest, ExplorerError, SampleRequest
from genlab.ui.common import (FAST, GLOSSARY, HEAVY, METHOD_LABELS, N_DIRS, N_RAW, SHOWN_DIRS, Shared, dumps_latent,
                              image, position, push, show, split_values, thumbs, user_errors)
from genlab.ui.drag import SLIDER_GRID

STRIP_TILES = 12
TEXT = ("The big picture is what the model draws from the **current latent** (a list of numbers). Drag a slider "
        "to move the latent in one direction and watch the picture change; click a small picture below to start "
        "from it instead.")


class ExploreView:
    id, title = "explore", "Explore"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    # ---- positions (used by every view that sends a latent here) -------------------------------
    def methods(self, model_id: str) -> list[tuple[str, str]]:
        from genlab.directions import methods_for

        builtin = [(METHOD_LABELS.get(k, k), k) for k in methods_for(self.ex.generative(model_id).manifest)]
        custom = self.ex.custom_directions(model_id)
        return builtin + [(f"Your direction: {m[7:]}", m) for m in custom]

    def direction_names(self, model_id: str, method: str) -> list[tuple[str, str]]:
        """(readable name, technical caption) per direction of ``method``."""
        return [(r, t if t != r else "") for r, t in self.ex.direction_labels(model_id, method)]

    def slider_updates(self, model_id: str, method: str, values=None) -> list:
        """Direction sliders relabelled for ``method`` (hidden past the available count), raw sliders for z."""
        d = self.ex.generative(model_id).manifest.latent_size
        names = self.direction_names(model_id, method) if method else []
        values = values or {}
        w = values.get("w", [0] * N_DIRS)
        dirs = []
        for i in range(N_DIRS):
            label, caption = names[i] if i < len(names) else (f"direction {i + 1}", "")
            dirs.append(gr.Slider(label=label, info=caption or None, visible=i < len(names), value=w[i]))
        raw = values.get("raw", [0] * N_RAW)
        raws = [gr.Slider(label=f"latent number z[{i}]", visible=i < d, value=raw[i]) for i in range(N_RAW)]
        pick = values.get("pick", [0, 0])
        return dirs + raws + [gr.Slider(maximum=d - 1, value=min(pick[0], d - 1)), gr.Slider(value=pick[1])]

    def render_position(self, model_id: str, pos: dict, history: dict) -> list:
        """Outputs for a new position: base, method, sliders, current latent, history, image."""
        res = self.ex.explore(self.request(model_id, pos))
        return [pos["base"], gr.Dropdown(choices=self.methods(model_id), value=pos["method"]),
                *self.slider_updates(model_id, pos["method"], pos), dumps_latent(res.data["latent"]), history,
                show(res.image)]

    @staticmethod
    def request(model_id: str, pos: dict) -> ExploreRequest:
        return ExploreRequest(model_id, pos["base"], pos["method"], tuple(pos["w"]), tuple(pos["raw"]), *pos["pick"])

    def seed_latent(self, model_id: str, seed) -> str:
        """The latent a seed gives (the first tile of that seed's sample grid)."""
        return dumps_latent(self.ex.tile_by_position(SampleRequest(model_id, int(seed or 0), 1), 0)[0])

    def fresh(self, model_id: str, base: str, history: dict | None) -> list:
        pos = position(base, self.methods(model_id)[0][1], [0] * N_DIRS, [0] * N_RAW, 0, 0)
        hist = {"past": [pos], "future": []} if history is None else push(history, pos)
        return self.render_position(model_id, pos, hist)

    def jump(self, model_id: str, base: str, history: dict, note: str) -> list:
        return self.fresh(model_id, base, history) + [note]

    # ---- events -------------------------------------------------------------------------------
    @user_errors
    def select_model(self, model_id: str, seed: float) -> list:
        """Model picked (or the page opened): fresh base latent from ``seed``, sliders at zero."""
        return self.fresh(model_id, self.seed_latent(model_id, seed), None)

    @user_errors
    def open_page(self, model_id: str, seed: float, url_pos: dict | None) -> list:
        """The page opened: the link's position when it carries one that fits the model, else the seed's."""
        if url_pos:
            try:
                pos = dict(url_pos)
                if pos["method"] not in [m for _, m in self.methods(model_id)]:
                    pos["method"] = self.methods(model_id)[0][1]
                return self.render_position(model_id, pos, {"past": [pos], "future": []})
            except (ExplorerError, KeyError, TypeError, ValueError):
                pass  # a link for another model or a damaged one: open on the seed instead
        return self.fresh(model_id, self.seed_latent(model_id, seed), None)

    @user_errors
    def explore(self, model_id, base, method, *values):
        """The slider path: one image for base + offsets. Nothing else happens here."""
        w, raw, pick = split_values(values)
        return show(self.ex.explore(ExploreRequest(model_id, base, method, tuple(w), tuple(raw), *pick)).image)

    def sweep(self, model_id, base, method, *values_and_request):
        """The drag preview (``genlab.ui.drag``): every frame of one slider as a hidden PNG strip. It never
        shows an error (the ``explore`` event that follows on release reports bad inputs)."""
        from genlab.ui import drag

        *values, request = values_and_request
        try:
            k, token = drag.parse_request(request)
            w, raw, pick = split_values(values)
            req = ExploreRequest(model_id, base, method, tuple(w), tuple(raw), *pick)
            return drag.sweep_html(self.ex.sweep(req, k, drag.SWEEP_VALUES), k, token)
        except (ExplorerError, ValueError):
            return ""

    def page_data(self, model_id, base, method, *values) -> str:
        """What the page needs to compose latents itself (genlab.js, decoder.js): the base latent, the first
        ``N_DIRS`` direction vectors and sigmas of ``method`` (float32 values) and the sliders' values, in a hidden
        ``<div>``. Sent when the model, base, method or current latent changes (after a release), never during a drag. Empty (the page then draws through the
        server) when the position is not valid."""
        try:
            zero = ExploreRequest(model_id, base, method, (0.0,) * N_DIRS, (0.0,) * N_RAW, 0, 0)
            z = self.ex.compose(zero)  # the parsed base exactly: zero offsets add nothing
            w, raw, pick = split_values(values) if values else ([0.0] * N_DIRS, [0.0] * N_RAW, (0, 0.0))
            # the sliders' values too: those in folded accordions are not on the page (Gradio does not render them)
            data = {"model": model_id, "method": method or "", "d": int(z.shape[0]), "base": z.tolist(),
                    "k": 0, "vectors": [], "sigmas": [], "values": [*map(float, w), *map(float, raw), float(pick[1])],
                    "pick_dim": int(pick[0])}
            if method:
                dirs = self.ex.directions(model_id, method)
                k = min(N_DIRS, int(dirs.vectors.shape[0]))
                data.update(k=k, vectors=dirs.vectors[:k].reshape(-1).tolist(), sigmas=dirs.sigmas[:k].tolist())
        except (ExplorerError, ValueError, KeyError, TypeError):
            return ""
        return f'<div class="genlab-page-data" data-json="{html.escape(json.dumps(data), quote=True)}"></div>'

    @user_errors
    def commit(self, model_id, base, method, *values_and_history):
        """Slider released: record the position in the history and publish the composed latent."""
        *values, history = values_and_history
        pos = position(base, method, *split_values(values)[:2], *split_values(values)[2])
        z = self.ex.compose(self.request(model_id, pos))
        return dumps_latent(z), push(history, pos)

    @user_errors
    def change_method(self, model_id, base, method, history):
        past = (history or {}).get("past") or []
        if past and past[-1].get("method") == method and past[-1].get("base") == base:
            # the dropdown reports its own value when it closes: nothing changed, keep the sliders
            return [gr.skip()] * (N_DIRS + N_RAW + 6)
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        return self.render_position(model_id, pos, push(history, pos))

    @user_errors
    def randomize(self, model_id, method, history):
        base = self.seed_latent(model_id, random.randint(0, 2**31 - 1))
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

    @user_errors
    def strip(self, model_id, seed):
        """A row of samples from the seed to start from (clicking one makes it the current latent)."""
        res = self.ex.samples(SampleRequest(model_id, int(seed or 0), STRIP_TILES))
        tiles = res.data.get("tiles")
        if tiles is None:  # cut the grid's tiles back out: same pixels, one per thumbnail
            tiles = self._tiles(res)
        return gr.Gallery(value=[show(t) for t in tiles], selected_index=None)

    @staticmethod
    def _tiles(res) -> list:
        img, scale, tile = res.image, res.data["scale"], res.data["tile"]
        size, pad, out = tile * scale, 2, []
        n = len(res.data["order"])
        cols = math.ceil(math.sqrt(n))  # render.grid's default layout
        for i in range(n):
            r, c = divmod(i, cols)
            y, x = pad + r * (size + pad), pad + c * (size + pad)
            out.append(img[y : y + size : scale, x : x + size : scale])
        return out

    @user_errors
    def pick_strip(self, model_id, seed, history, evt: gr.SelectData):
        z, idx = self.ex.tile_by_position(SampleRequest(model_id, int(seed or 0), STRIP_TILES), int(evt.index))
        return self.jump(model_id, dumps_latent(z), history, f"Started from sample {idx + 1} of seed {int(seed or 0)}.")

    # ---- layout -------------------------------------------------------------------------------
    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            gr.Markdown(TEXT, elem_classes=["genlab-lead"])
            with gr.Row(equal_height=False):
                with gr.Column(scale=5, min_width=260):
                    img = image("Current image", "explore-image", height=380)
                    # the drag preview's request and answer (genlab.ui.drag): in the page, never shown
                    sweep_request = gr.Textbox(elem_id="sweep-request", elem_classes=["genlab-hidden"],
                                               show_label=False, container=False)
                    sweep_html = gr.HTML(elem_id="explore-sweep", elem_classes=["genlab-hidden"])
                    # page decoding (static/genlab.js): the base and direction vectors, and the readout + setting
                    page_html = gr.HTML(elem_id="explore-page-data", elem_classes=["genlab-hidden"])
                    gr.HTML('<div id="genlab-readout-box"></div>', elem_id="explore-readout",
                            elem_classes=["genlab-readout"])
                    with gr.Row(elem_classes=["genlab-buttons"]):
                        undo, redo = gr.Button("Undo", size="sm"), gr.Button("Redo", size="sm")
                        reset = gr.Button("Sliders to 0", size="sm")
                        randomize = gr.Button("Random latent", size="sm", elem_id="randomize")
                with gr.Column(scale=6, min_width=280):
                    # A dropdown that accepts any value: a Radio would check API calls against the choices this
                    # session last showed (another model's); the explorer validates methods itself.
                    method = gr.Dropdown([], label="Directions to move in", allow_custom_value=True, elem_id="method",
                                         info="Each slider moves the latent along one direction, in units of "
                                              "typical spread (-3 to +3).")
                    dirs = [gr.Slider(value=0, **SLIDER_GRID, label=f"direction {i + 1}", elem_id=f"dir-{i}")
                            for i in range(SHOWN_DIRS)]
                    with gr.Accordion("More directions", open=False):
                        dirs += [gr.Slider(value=0, **SLIDER_GRID, label=f"direction {i + 1}", elem_id=f"dir-{i}")
                                 for i in range(SHOWN_DIRS, N_DIRS)]
                    with gr.Accordion("Single latent numbers", open=False):
                        gr.Markdown(f"The {GLOSSARY['latent']}. These sliders add to one number at a time.")
                        raws = [gr.Slider(value=0, **SLIDER_GRID, label=f"latent number z[{i}]", elem_id=f"raw-{i}")
                                for i in range(N_RAW)]
                        with gr.Row():
                            pick_dim = gr.Slider(0, 99, 0, step=1, label="Which number", elem_id="pick-dim")
                            pick_value = gr.Slider(value=0, **SLIDER_GRID, label="Add to that number",
                                                   elem_id="pick-value")
            strip = thumbs("Start from one of these samples (click one; the seed above chooses them)",
                           "explore-strip", columns=STRIP_TILES, height=110)
            with gr.Accordion("The latent as numbers (copy it, or paste one and press Enter)", open=False):
                s.base.render()
                s.current.render()
            with gr.Accordion("Traversal sheet: one direction from -3 to +3 for several latents", open=False):
                with gr.Row():
                    trav_index = gr.Number(0, label="Direction (0 = first slider)", precision=0, minimum=0)
                    trav_btn = gr.Button("Draw traversal")
                trav_img = image("Traversal", height=420)
                trav_info = gr.Markdown("")
        self.tab, self.img, self.strip_gallery = tab, img, strip
        s.position_outputs[:] = [s.base, method, *dirs, *raws, pick_dim, pick_value, s.current, s.history, img]
        s.slider_inputs[:] = [s.model, s.base, method, *dirs, *raws, pick_dim, pick_value]
        self.method = method
        self.wire(s, dirs, raws, pick_value, method, sweep_request, sweep_html, undo, redo, reset, randomize,
                  trav_index, trav_btn, trav_img, trav_info, strip)
        gr.on([s.model.change, s.base.change, method.change, s.current.change], self.page_data, s.slider_inputs,
              page_html, api_name=False, **FAST)

    def wire(self, s, dirs, raws, pick_value, method, sweep_request, sweep_html, undo, redo, reset, randomize,
             trav_index, trav_btn, trav_img, trav_info, strip) -> None:
        po, si = s.position_outputs, s.slider_inputs
        for i, sl in enumerate([*dirs, *raws, pick_value]):
            sl.input(self.explore, si, self.img, api_name="explore" if i == 0 else False, **FAST)
            sl.release(self.commit, [*si, s.history], [s.current, s.history],
                       api_name="commit" if i == 0 else False, **FAST)
        # the drag preview's sweep: queued with the sliders (bounded work under many users), never shown
        sweep_request.change(self.sweep, [*si, sweep_request], sweep_html, api_name=False, **FAST)
        method.input(self.change_method, [s.model, s.base, method, s.history], po, api_name="change_method")
        s.base.submit(self.reset, [s.model, s.base, method, s.history], po, api_name="set_latent")
        reset.click(self.reset, [s.model, s.base, method, s.history], po, api_name="reset")
        randomize.click(self.randomize, [s.model, method, s.history], po, api_name="randomize")
        undo.click(self.undo, [s.model, s.history], po, api_name="undo")
        redo.click(self.redo, [s.model, s.history], po, api_name="redo")
        trav_btn.click(self.traversal, [s.model, s.current, method, trav_index], [trav_img, trav_info],
                       api_name="traversal", **HEAVY)
        strip.select(self.pick_strip, [s.model, s.seed, s.history], po + [s.status], api_name=False)
