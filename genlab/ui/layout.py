"""The one layout builder: components and explicit event wiring (inputs, outputs, api_name)."""
from __future__ import annotations

import gradio as gr

from genlab.explore import MAX_STEPS, MAX_TILES
from types import SimpleNamespace

from genlab.ui.drag import SLIDER_GRID, drag_js, slider_ids
from genlab.ui.handlers import N_DIRS, N_RAW, TABLE_HEADERS, Handlers, empty_history

# Models draw 28-64 px images: send them at native size (cheap, exact PNG) and let the browser
# scale them up with crisp pixels to fill their component.
CSS = """
.pixelated img { image-rendering: pixelated; width: 100% !important; height: 100% !important; object-fit: contain; }
.crisp img { image-rendering: pixelated; width: auto !important; height: auto !important;
             max-width: 100% !important; max-height: 100% !important; }
.genlab-hidden { display: none !important; }
"""
# What every launch() of the app passes (app.py, the tests' and the bench's servers).
LAUNCH = dict(css=CSS, js=drag_js(slider_ids(N_DIRS, N_RAW)))

# Slider path: only the latest value is computed, no progress overlay (it hides the image).
FAST = dict(trigger_mode="always_last", show_progress="hidden", concurrency_limit=8, concurrency_id="fast")
HEAVY = dict(concurrency_limit=2, concurrency_id="heavy")


def _image(label, elem_id=None, height=260, clickable=False):
    """A PNG output. Clickable images are drawn large enough server-side: Gradio maps clicks correctly
    only on images the browser does not scale up, so only the others fill their box via CSS."""
    return gr.Image(label=label, format="png", interactive=False, elem_id=elem_id, height=height,
                    elem_classes=["crisp" if clickable else "pixelated"], buttons=["download"])


def upload_or_draw(upload_id: str) -> tuple[gr.File, gr.Sketchpad]:
    """A row with an image upload and a sketchpad (reconstruction and inversion take either)."""
    with gr.Row():
        upload = gr.File(label="Upload an image", file_types=["image"], type="filepath", elem_id=upload_id)
        sketch = gr.Sketchpad(label="...or draw a digit", type="numpy", canvas_size=(280, 280))
    return upload, sketch


def build_app(h: Handlers) -> gr.Blocks:
    default = h.default_model()
    with gr.Blocks(title="genlab: latent space explorer") as demo:
        gr.Markdown("# genlab\nExplore the latent spaces of pretrained GANs and VAEs.")
        with gr.Row():
            model = gr.Dropdown(h.model_choices(), value=default, label="Model", scale=3, elem_id="model")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=2**31 - 1, scale=1)
            new_seed = gr.Button("New seed", scale=0)
        status = gr.Markdown("", elem_id="status")
        history = gr.State(empty_history())
        with gr.Accordion("Current latent (JSON; copy it, or paste one to go there)", open=False):
            base = gr.Textbox(label="Base latent (the sliders move from here)", lines=2, max_lines=6)
            current = gr.Textbox(label="Current latent (base + slider offsets)", lines=2, max_lines=6,
                                 elem_id="current-latent")
        with gr.Tabs():
            with gr.Tab("Models", id="models"):
                table = gr.Dataframe(headers=TABLE_HEADERS, value=h.models_table(), interactive=False, wrap=True, elem_id="models-table")
                card_model = gr.Dropdown([e[0] for e in h.models_table()], value=default, label="Model card")
                with gr.Row():
                    card = gr.Markdown(h.ex.card(default) if default else "")
                    card_preview = gr.Image(h.ex.preview(default) if default else None, label="Preview",
                                            interactive=False, format="png", height=360)
            with gr.Tab("Samples", id="samples"):
                with gr.Row():
                    n = gr.Slider(1, MAX_TILES, 64, step=1, label="Tiles")
                    psi = gr.Slider(0, 1, 1, step=0.01, label="Truncation psi (1 = none)")
                    temperature = gr.Slider(0, 3, 1, step=0.05, label="Temperature")
                with gr.Row():
                    labels = gr.Checkbox(False, label="Classifier label + confidence")
                    realism = gr.Checkbox(False, label="Realism (discriminator)")
                    sort = gr.Checkbox(False, label="Sort by realism")
                    draw = gr.Button("Draw samples", variant="primary", elem_id="draw-btn")
                grid = _image("Samples (click a tile to make it the current latent)", "samples-grid", height=640,
                              clickable=True)
                grid_info = gr.Markdown("")
            with gr.Tab("Explore", id="explore"):
                with gr.Row():
                    with gr.Column(scale=1):
                        explore_img = _image("Current image", "explore-image", height=300)
                        # the drag preview's request and answer (genlab.ui.drag): in the page, never shown
                        sweep_request = gr.Textbox(elem_id="sweep-request", elem_classes=["genlab-hidden"],
                                                   show_label=False, container=False)
                        sweep_html = gr.HTML(elem_id="explore-sweep", elem_classes=["genlab-hidden"])
                        with gr.Row():
                            undo, redo = gr.Button("Undo"), gr.Button("Redo")
                            reset, randomize = gr.Button("Reset sliders"), gr.Button("Randomize")
                    with gr.Column(scale=2):
                        # A dropdown that accepts any value: a Radio would check API calls against the choices this
                        # session last showed (another model's), the explorer validates methods itself.
                        method = gr.Dropdown([], label="Directions", allow_custom_value=True, elem_id="method")
                        dirs = [gr.Slider(value=0, **SLIDER_GRID, label=f"direction {i + 1}", elem_id=f"dir-{i}") for i in range(N_DIRS)]
                with gr.Accordion("Raw latent dimensions", open=False):
                    raws = [gr.Slider(value=0, **SLIDER_GRID, label=f"z[{i}]", elem_id=f"raw-{i}") for i in range(N_RAW)]
                    with gr.Row():
                        pick_dim = gr.Slider(0, 99, 0, step=1, label="Dimension")
                        pick_value = gr.Slider(value=0, **SLIDER_GRID, label="Offset of that dimension",
                                               elem_id="pick-value")
                with gr.Accordion("Traversal sheet", open=False):
                    with gr.Row():
                        trav_index = gr.Number(0, label="Direction index (0 = first slider)", precision=0, minimum=0)
                        trav_btn = gr.Button("Draw traversal (-3 to +3 sigma)")
                    trav_img = _image("Traversal", height=420)
                    trav_info = gr.Markdown("")
            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row():
                    seed_a = gr.Number(1, label="Seed A", precision=0, minimum=0)
                    seed_b = gr.Number(2, label="Seed B", precision=0, minimum=0)
                    use_seeds = gr.Button("Use seeds A and B")
                    add_current = gr.Button("Add current latent")
                keyframes = gr.Textbox("1, 2", label="Keyframes: seeds, 'current', or a JSON list mixing seeds and latents")
                with gr.Row():
                    key_upload = gr.File(label="Image keyframe (VAE-encoded)", file_types=["image"], type="filepath")
                    add_image = gr.Button("Add uploaded image")
                with gr.Row():
                    mode = gr.Radio(["slerp", "lerp"], value="slerp", label="Mode")
                    steps = gr.Slider(2, MAX_STEPS, 16, step=1, label="Frames")
                    fps = gr.Slider(1, 30, 12, step=1, label="GIF frames per second")
                    interp_btn = gr.Button("Interpolate", variant="primary", elem_id="interp-btn")
                strip = _image("Frames", "interp-strip", height=200)
                with gr.Row():
                    gif_view = gr.Image(label="Animation", format="gif", interactive=False, type="filepath",
                                        elem_classes=["pixelated"], height=200)
                    gif_file = gr.File(label="Download GIF")
                interp_plot = gr.Plot(label="Classifier along the path", elem_id="interp-plot")
                interp_info = gr.Markdown("")
            with gr.Tab("Reconstruct", id="reconstruct"):
                upload, sketch = upload_or_draw("recon-upload")
                with gr.Row():
                    n_post = gr.Slider(0, 16, 6, step=1, label="Posterior samples")
                    recon_btn = gr.Button("Reconstruct", variant="primary", elem_id="recon-btn")
                    send = gr.Button("Send encoding to Explore")
                with gr.Row():
                    recon_input = _image("What the model sees", "recon-input", height=220)
                    recon_cmp = _image("Input | reconstruction | error heatmap", "recon-compare", height=220)
                recon_info = gr.Markdown("")
                recon_plot = gr.Plot(label="Posterior")
                recon_samples = _image("Samples from q(z|x)", height=140)
                encoding = gr.Textbox(label="Encoding (posterior mean)", lines=2, max_lines=4)

            position_outputs = [base, method, *dirs, *raws, pick_dim, pick_value, current, history, explore_img]
            slider_inputs = [model, base, method, *dirs, *raws, pick_dim, pick_value]
            sample_inputs = [model, seed, n, psi, temperature, labels, realism, sort]
            if hasattr(h, "latent_map"):  # the part-2 views
                from genlab.ui.layout_tools import build_tools

                build_tools(h, SimpleNamespace(
                    demo=demo, model=model, seed=seed, base=base, current=current, history=history, status=status,
                    position_outputs=position_outputs, slider_inputs=slider_inputs, keyframes=keyframes, mode=mode,
                    steps=steps, psi=psi, temperature=temperature))

        # Models
        card_model.change(h.model_card, card_model, [card, card_preview], api_name="model_card")
        demo.load(h.models_table, None, table, api_name="models_table")
        # Model / URL state
        demo.load(h.from_url, None, [model, seed], api_name=False).then(
            h.select_model, [model, seed], position_outputs, api_name=False).then(
            h.samples, sample_inputs, [grid, grid_info], api_name=False)
        model.input(h.select_model, [model, seed], position_outputs, api_name="select_model").then(
            h.samples, sample_inputs, [grid, grid_info], api_name=False)
        # Samples
        new_seed.click(h.new_seed, None, seed, api_name="new_seed").then(
            h.samples, sample_inputs, [grid, grid_info], api_name=False)
        draw.click(h.samples, sample_inputs, [grid, grid_info], api_name="samples", **HEAVY)
        grid.select(h.pick_tile, [*sample_inputs, history], position_outputs + [status], api_name=False)
        gr.api(h.tile_latent, api_name="tile_latent")
        if hasattr(h, "latent_map"):
            from genlab.ui.layout_tools import register_apis

            register_apis(h)
        # Explore: every slider renders on input (latest value only) and records history on release
        for i, s in enumerate([*dirs, *raws, pick_value]):
            s.input(h.explore, slider_inputs, explore_img, api_name="explore" if i == 0 else False, **FAST)
            s.release(h.commit, [*slider_inputs, history], [current, history],
                      api_name="commit" if i == 0 else False, **FAST)
        # the drag preview's sweep: queued with the sliders (bounded work under many users), never shown
        sweep_request.change(h.sweep, [*slider_inputs, sweep_request], sweep_html, api_name=False, **FAST)
        method.input(h.change_method, [model, base, method, history], position_outputs, api_name="change_method")
        base.submit(h.reset, [model, base, method, history], position_outputs, api_name="set_latent")
        reset.click(h.reset, [model, base, method, history], position_outputs, api_name="reset")
        randomize.click(h.randomize, [model, method, history], position_outputs, api_name="randomize")
        undo.click(h.undo, [model, history], position_outputs, api_name="undo")
        redo.click(h.redo, [model, history], position_outputs, api_name="redo")
        trav_btn.click(h.traversal, [model, current, method, trav_index], [trav_img, trav_info], api_name="traversal", **HEAVY)
        # Interpolate
        use_seeds.click(h.seeds_keyframes, [seed_a, seed_b], keyframes, api_name=False)
        add_current.click(h.add_keyframe, [keyframes, current], keyframes, api_name=False)
        add_image.click(h.add_image_keyframe, [model, keyframes, key_upload], keyframes, api_name="image_keyframe")
        interp_btn.click(h.interpolate, [model, keyframes, mode, steps, fps, current],
                         [strip, gif_view, gif_file, interp_plot, interp_info], api_name="interpolate", **HEAVY)
        # Reconstruct
        recon_btn.click(h.reconstruct, [model, upload, sketch, n_post],
                        [recon_input, recon_cmp, recon_info, recon_plot, recon_samples, encoding],
                        api_name="reconstruct", **HEAVY)
        send.click(h.send_to_explore, [model, encoding, history], position_outputs + [status], api_name="send_to_explore")
    return demo
