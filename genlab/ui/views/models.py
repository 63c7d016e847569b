"""Models: every checkpoint the server found (with reasons for the ones it cannot load) and its model card."""
from __future__ import annotations

import gradio as gr

from genlab.ui.common import GLOSSARY, REFRESH, Shared, intro, public, user_errors

TABLE_HEADERS = ["id", "family", "architecture", "dataset", "image", "latent", "params", "metrics", "status"]
TEXT = (f"The checkpoints this server has. Metrics, in short: {GLOSSARY['fid']}; {GLOSSARY['elbo']}; "
        f"'{GLOSSARY['held-out']}'. The classifier is not a generative model: genlab uses it to read digits.")


class ModelsView:
    id, title = "models", "Models"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    @user_errors
    def models_table(self) -> list[list]:
        roots = self.ex.registry.roots
        return [[public(str(row.get(h, "")), roots) if h == "status" else row.get(h, "") for h in TABLE_HEADERS]
                for row in self.ex.models_table()]

    @user_errors
    def model_card(self, model_id: str):
        """(card Markdown, preview image)."""
        return self.ex.card(model_id), self.ex.preview(model_id)

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT, open=False)
            table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, wrap=True, elem_id="models-table")
            card_model = gr.Dropdown([], label="Model card", allow_custom_value=True, elem_id="card-model")
            with gr.Row():
                card = gr.Markdown("", elem_id="model-card")
                preview = gr.Image(label="Preview", interactive=False, format="png", height=360,
                                   elem_classes=["pixelated"], elem_id="card-preview")
        self.tab = tab
        self.refresh_inputs = []
        self.refresh_outputs = [table, card_model, card, preview]
        self.refresh_queue = REFRESH
        card_model.change(self.model_card, card_model, [card, preview], api_name="model_card")
        s.demo.load(self.models_table, None, table, api_name="models_table")

    def refresh(self, model_id, seed, current):
        ids = [row[0] for row in self.models_table()]
        card, preview = self.model_card(model_id)
        return [self.models_table(), gr.Dropdown(choices=ids, value=model_id), card, preview]

    def cleared(self, message: str = ""):
        return [gr.skip(), gr.skip(), message, None]
