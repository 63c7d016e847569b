"""Tabs and wiring of the part-2 views; called by build_app inside its Tabs, with the shared components."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from genlab.ui.handlers_tools import ToolHandlers
from genlab.ui.layout import _image, upload_or_draw

HEAVY = dict(concurrency_limit=2, concurrency_id="heavy")
LIVE = dict(trigger_mode="always_last", show_progress="hidden", concurrency_limit=8, concurrency_id="fast")


def map_tab(h: ToolHandlers, c: SimpleNamespace) -> None:
    with gr.Tab("Map", id="map"):
        gr.Markdown("Held-out digits encoded by a VAE and projected to 2-D. Click the atlas to decode that point.")
        with gr.Row():
            method = gr.Dropdown(["pca"], value="pca", label="Projection", allow_custom_value=True, elem_id="map-method")
            go = gr.Button("Compute map", variant="primary", elem_id="map-btn")
        with gr.Row():
            atlas = _image("Atlas: decoded tiles over the plane, dots are held-out digits (click it)", "map-atlas",
                           height=680, clickable=True)
            scatter = gr.Plot(label="Held-out digits by label", elem_id="map-scatter")
        info = gr.Markdown("")
        with gr.Row():
            picked = _image("Decoded at the clicked point", "map-picked")
            with gr.Column():
                picked_info = gr.Markdown("")
                picked_latent = gr.Textbox(label="Latent at that point", lines=2, max_lines=4, elem_id="map-latent")
                use = gr.Button("Use as current latent")
        with gr.Accordion("Region: the digits inside a rectangle of the plane", open=False):
            with gr.Row():
                x0, y0 = gr.Number(-1, label="x0"), gr.Number(-1, label="y0")
                x1, y1 = gr.Number(1, label="x1"), gr.Number(1, label="y1")
                region_btn = gr.Button("Show region")
            region_img, region_info = _image("Reconstructions of the digits in the region"), gr.Markdown("")
            region_latent = gr.Textbox(visible=False)
        with gr.Accordion("Manifold of a 2-D VAE (current latent boxed)", open=False):
            with gr.Row():
                span = gr.Slider(0.5, 5, 3, step=0.1, label="Span (+- sigma)")
                n = gr.Slider(5, 30, 20, step=1, label="Tiles per side")
                man_btn = gr.Button("Draw manifold", elem_id="manifold-btn")
            man_img, man_info = _image("Decoded latent plane", "manifold", height=560), gr.Markdown("")
    c.model.change(h.map_methods, c.model, method, api_name=False)
    go.click(h.latent_map, [c.model, method], [atlas, scatter, info], api_name="latent_map", **HEAVY)
    atlas.select(h.map_click, [c.model, method], [picked, picked_info, picked_latent], api_name=False)
    region_btn.click(h.map_region, [c.model, method, x0, y0, x1, y1], [region_img, region_info, region_latent],
                     api_name="map_region", **HEAVY)
    man_btn.click(h.manifold, [c.model, span, n, c.current], [man_img, man_info], api_name="manifold", **HEAVY)
    use.click(h.use_latent, [c.model, picked_latent, c.history], c.position_outputs + [c.status], api_name=False)


def training_tab(h: ToolHandlers, c: SimpleNamespace) -> None:
    with gr.Tab("Training", id="training"):
        gr.Markdown("The same latent rendered through the weights saved at each training epoch.")
        with gr.Row():
            # static max: API sessions never see the per-model update, and the handler clamps
            epoch = gr.Slider(0, 64, 0, step=1, label="Epoch index", elem_id="epoch-slider")
            use_current = gr.Checkbox(True, label="Use the current latent")
            seed = gr.Number(0, label="...or seed", precision=0, minimum=0)
            n = gr.Slider(1, 64, 1, step=1, label="Latents (a grid when > 1)")
        with gr.Row():
            frame = _image("This epoch", "scrub-image")
            info = gr.Markdown("")
        with gr.Row():
            fps = gr.Slider(0.5, 10, 3, step=0.5, label="GIF frames per second")
            evo_btn = gr.Button("Evolution strip and GIF", elem_id="evolution-btn")
        strip = _image("Through every epoch", "evolution-strip", height=200)
        with gr.Row():
            gif = gr.Image(label="Evolution", format="gif", type="filepath", interactive=False, height=200,
                           elem_classes=["pixelated"])
            gif_file = gr.File(label="Download GIF")
        evo_info = gr.Markdown("")
    c.model.change(h.scrub_setup, c.model, epoch, api_name=False)
    c.demo.load(h.scrub_setup, c.model, epoch, api_name=False)
    inputs = [c.model, epoch, use_current, c.current, seed, n]
    epoch.input(h.scrub, inputs, [frame, info], api_name="scrub", **LIVE)
    epoch.release(h.scrub, inputs, [frame, info], api_name=False, **LIVE)
    evo_btn.click(h.evolution, [c.model, use_current, c.current, seed, n, fps], [strip, gif, gif_file, evo_info],
                  api_name="evolution", **HEAVY)


def inversion_tab(h: ToolHandlers, c: SimpleNamespace) -> None:
    with gr.Tab("Invert", id="invert"):
        gr.Markdown("Find the GAN latent whose image best matches yours (pixel + classifier-feature loss), "
                    "next to the VAE's reconstruction of the same image.")
        upload, sketch = upload_or_draw("invert-upload")
        with gr.Row():
            steps = gr.Slider(10, 500, 150, step=10, label="Step budget")
            go = gr.Button("Invert", variant="primary", elem_id="invert-btn")
            stop = gr.Button("Stop", elem_id="invert-stop")
            send = gr.Button("Send latent to Explore")
        result = _image("Target | GAN inversion | VAE reconstruction", "invert-result")
        info = gr.Markdown("", elem_id="invert-info")
        latent = gr.Textbox(label="Found latent", lines=2, max_lines=4)
    go.click(h.invert, [c.model, upload, sketch, steps], [result, info, latent], api_name="invert",
             concurrency_limit=1, concurrency_id="invert")
    stop.click(h.stop, None, info, api_name="stop_inversion", queue=False)
    send.click(h.use_latent, [c.model, latent, c.history], c.position_outputs + [c.status], api_name=False)


def tools_tab(h: ToolHandlers, c: SimpleNamespace) -> None:
    with gr.Tab("Arithmetic", id="arithmetic"):
        with gr.Accordion("Nearest training digits (is the current image new or copied?)", open=True):
            with gr.Row():
                k = gr.Slider(1, 16, 5, step=1, label="Neighbours")
                nn_btn = gr.Button("Find nearest training digits", elem_id="nearest-btn")
            nn_img, nn_info = _image("Query | nearest (features) / nearest (pixels)", "nearest"), gr.Markdown("")
        with gr.Accordion("Towards a digit", open=True):
            with gr.Row():
                label = gr.Dropdown([str(i) for i in range(10)], value="7", label="Digit")
                amount = gr.Slider(-1, 1.5, 0.5, step=0.05, label="Amount (1 = the digit's mean latent)")
                toward_btn = gr.Button("Move towards it")
        with gr.Accordion("A - B + C", open=True):
            with gr.Row():
                a = gr.Textbox("label:7", label="A (seed, label:N, or a latent)")
                b = gr.Textbox("label:1", label="B")
                cc = gr.Textbox("3", label="C")
                scale = gr.Slider(-2, 3, 1, step=0.1, label="Scale of A - B")
                arith_btn = gr.Button("Compute")
        out_img, out_info = _image("Result", "arith-result"), gr.Markdown("")
        out_latent = gr.Textbox(label="Result latent", lines=2, max_lines=4)
        use = gr.Button("Use result as current latent")
        with gr.Accordion("Make a direction from two groups of latents", open=False):
            gr.Markdown("Click a tile in Samples (it becomes the current latent), then add it to a group.")
            with gr.Row():
                add_a, add_b = gr.Button("Add current latent to group A"), gr.Button("Add current latent to group B")
            group_a = gr.Textbox(label="Group A (JSON list of latents)", lines=2, max_lines=3)
            group_b = gr.Textbox(label="Group B (JSON list of latents)", lines=2, max_lines=3)
            with gr.Row():
                name = gr.Textbox("smile", label="Direction name")
                make = gr.Button("Make direction (A -> B) and use it in Explore")
            group_info = gr.Markdown("")
    with gr.Tab("Share", id="share"):
        gr.Markdown("A recipe holds the model and its weights' sha256, the latent, the sliders, the interpolation "
                    "keyframes and the sampling settings: loading it elsewhere reproduces the same image.")
        with gr.Row():
            save = gr.Button("Make recipe of the current state", elem_id="recipe-save")
            recipe_file = gr.File(label="Recipe (download)", elem_id="recipe-file")
        with gr.Row():
            recipe_up = gr.File(label="Load a recipe", file_types=[".json"], type="filepath", elem_id="recipe-upload")
            load = gr.Button("Load recipe", elem_id="recipe-load")
        recipe_info = gr.Markdown("", elem_id="recipe-info")
    nn_btn.click(h.nearest, [c.model, c.current, k], [nn_img, nn_info], api_name="nearest", **HEAVY)
    toward_btn.click(h.toward_label, [c.model, c.current, label, amount], [out_img, out_info, out_latent],
                     api_name="toward_label", **HEAVY)
    arith_btn.click(h.arithmetic, [c.model, a, b, cc, scale], [out_img, out_info, out_latent], api_name="arithmetic",
                    **HEAVY)
    use.click(h.use_latent, [c.model, out_latent, c.history], c.position_outputs + [c.status], api_name=False)
    add_a.click(h.add_to_group, [group_a, c.current], [group_a, group_info], api_name=False)
    add_b.click(h.add_to_group, [group_b, c.current], [group_b, group_info], api_name=False)
    make.click(h.make_direction, [c.model, group_a, group_b, name, c.base, c.history],
               c.position_outputs + [group_info], api_name="make_direction")
    save.click(h.save_recipe, [*c.slider_inputs, c.keyframes, c.mode, c.steps, c.psi, c.temperature, c.seed],
               recipe_file, api_name="save_recipe")
    load.click(h.load_recipe, [recipe_up, c.history], [c.model] + c.position_outputs + [recipe_info],
               api_name="load_recipe")


def register_apis(h: ToolHandlers) -> None:
    """API-only endpoints (outside any Tabs: gr.api adds no component)."""
    gr.api(h.map_point, api_name="map_point")
    gr.api(h.render_recipe_api, api_name="render_recipe")


def build_tools(h: ToolHandlers, c: SimpleNamespace) -> None:
    """Add the part-2 tabs inside the open Tabs context of build_app."""
    map_tab(h, c)
    training_tab(h, c)
    inversion_tab(h, c)
    tools_tab(h, c)
