"""Arithmetic: move towards a digit, A - B + C, and directions made from two groups of examples."""
from __future__ import annotations

import json

import gradio as gr

from genlab.explore import ExploreRequest, ExplorerError
from genlab.ui.common import (HEAVY, N_DIRS, N_RAW, REFRESH, Shared, dumps_latent, image, intro, note, position,
                              push, show, thumbs, user_errors)

TEXT = ("Latents can be added and subtracted like arrows. **Towards a digit** moves the current latent towards "
        "the average latent of that digit; **A - B + C** adds the difference between two latents to a third. "
        "To make your own slider, collect examples of two kinds (groups A and B, e.g. thin and thick) from "
        "Samples or here: the direction from A's average to B's becomes a slider in Explore.")


class ArithmeticView:
    id, title = "arithmetic", "Arithmetic"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    @user_errors
    def toward_label(self, model_id, current, label, amount):
        res = self.ex.toward_label(model_id, current, int(label), amount)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def arithmetic(self, model_id, a, b, c, scale):
        items = [a.strip() if isinstance(a, str) else a for a in (a, b, c)]
        res = self.ex.arithmetic(model_id, *items, scale)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    def group_thumbs(self, model_id, group) -> list:
        try:
            items = json.loads(group) if (group or "").strip() else []
            return [show(self.ex.explore(ExploreRequest(model_id, z)).image) for z in items[:32]]
        except (ValueError, ExplorerError):
            return []

    @user_errors
    def add_to_group(self, model_id, group, current):
        items = json.loads(group) if (group or "").strip() else []
        if not (current or "").strip():
            raise ExplorerError("no current latent: click a picture in Samples first")
        items.append(json.loads(current))
        text = json.dumps(items)
        return text, self.group_thumbs(model_id, text), f"{len(items)} example(s) in this group"

    @user_errors
    def make_direction(self, model_id, group_a, group_b, name, base, history):
        load = lambda g: json.loads(g) if (g or "").strip() else []  # noqa: E731
        dirs = self.ex.group_direction(model_id, load(group_a), load(group_b), (name or "custom").strip())
        method = f"custom:{dirs.names[0]}"  # how the explorer stores a group direction
        pos = position(base, method, [0] * N_DIRS, [0] * N_RAW, 0, 0)
        out = self.ui.explore.render_position(model_id, pos, push(history, pos))
        return out + [f"direction {method} added to Explore: its first slider moves from A towards B"]

    @user_errors
    def use_latent(self, model_id, latent, history):
        if not (latent or "").strip():
            raise ExplorerError("compute a result first")
        return self.ui.explore.jump(model_id, latent, history, "latent sent to Explore")

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT, open=False)
            with gr.Row():
                label = gr.Dropdown([str(i) for i in range(10)], value="7", label="Towards the digit")
                amount = gr.Slider(-1, 1.5, 0.5, step=0.05, label="How far (1 = all the way to its average)")
                toward_btn = gr.Button("Move towards it", elem_id="toward-btn")
            with gr.Accordion("A - B + C", open=False):
                with gr.Row():
                    a = gr.Textbox("label:7", label="A (a seed, label:N for a digit's average, or a latent)")
                    b = gr.Textbox("label:1", label="B")
                    cc = gr.Textbox("3", label="C")
                    scale = gr.Slider(-2, 3, 1, step=0.1, label="How much of A - B")
                    arith_btn = gr.Button("Compute")
            with gr.Row():
                out_img = image("Result", "arith-result", height=240)
                with gr.Column():
                    out_info = gr.Markdown("", elem_id="arith-info")
                    use = gr.Button("Explore the result", size="sm")
            out_latent = gr.Textbox(label="Result latent", lines=2, max_lines=4, elem_classes=["genlab-hidden"])
            with gr.Accordion("Make your own slider from two groups of examples", open=True):
                gr.Markdown("Pick a picture (in Samples, or Explore), then add it to a group here or with the "
                            "buttons under the sample grid.")
                with gr.Row():
                    add_a = gr.Button("Add the current latent to group A", size="sm", elem_id="add-a")
                    add_b = gr.Button("Add the current latent to group B", size="sm", elem_id="add-b")
                with gr.Row():
                    thumbs_a = thumbs("Group A", "group-a", columns=8, height=100)
                    thumbs_b = thumbs("Group B", "group-b", columns=8, height=100)
                with gr.Row():
                    name = gr.Textbox("my direction", label="Name of the slider")
                    make = gr.Button("Make the slider (A -> B) and use it in Explore", elem_id="make-direction")
                group_info = gr.Markdown("")
                with gr.Accordion("Groups as numbers", open=False):
                    group_a = gr.Textbox(label="Group A (JSON list of latents)", lines=2, max_lines=3)
                    group_b = gr.Textbox(label="Group B (JSON list of latents)", lines=2, max_lines=3)
        self.tab = tab
        self.groups = {"a": (group_a, thumbs_a), "b": (group_b, thumbs_b)}
        self.group_info = group_info
        self.refresh_inputs = [label, amount, group_a, group_b]
        self.refresh_outputs = [out_img, out_info, out_latent, thumbs_a, thumbs_b, group_a, group_b]
        self.refresh_queue = REFRESH
        toward_btn.click(self.toward_label, [s.model, s.current, label, amount], [out_img, out_info, out_latent],
                         api_name="toward_label", **HEAVY)
        arith_btn.click(self.arithmetic, [s.model, a, b, cc, scale], [out_img, out_info, out_latent],
                        api_name="arithmetic", **HEAVY)
        use.click(self.use_latent, [s.model, out_latent, s.history], s.position_outputs + [s.status], api_name=False)
        add_a.click(self.add_to_group, [s.model, group_a, s.current], [group_a, thumbs_a, group_info], api_name=False)
        add_b.click(self.add_to_group, [s.model, group_b, s.current], [group_b, thumbs_b, group_info], api_name=False)
        make.click(self.make_direction, [s.model, group_a, group_b, name, s.base, s.history],
                   s.position_outputs + [group_info], api_name="make_direction")

    def wire_shared(self, s: Shared) -> None:
        """Samples' "...to group A/B" buttons: the picked tile is the current latent."""
        for key, btn_name in (("a", "tile_to_a"), ("b", "tile_to_b")):
            btn = s.extra.get(btn_name)
            group, view = self.groups[key]
            if btn is not None:
                btn.click(self.add_to_group, [s.model, group, s.current], [group, view, self.group_info],
                          api_name=False).then(lambda k=key: f"Added to group {k.upper()} (see Arithmetic).", None,
                                               s.status, api_name=False)

    # ---- refresh ---------------------------------------------------------------------------------
    def refresh(self, model_id, seed, current, label, amount, group_a, group_b):
        img, info, z = self.toward_label(model_id, current, label, amount)
        ta, tb = self.group_thumbs(model_id, group_a), self.group_thumbs(model_id, group_b)
        # groups of another model's latents do not fit this one: start them again
        ga = group_a if ta or not (group_a or "").strip() else ""
        gb = group_b if tb or not (group_b or "").strip() else ""
        return [img, info, z, ta, tb, ga, gb]

    def cleared(self, message: str = ""):
        return [None, note(message) if message else "", "", [], [], gr.skip(), gr.skip()]
