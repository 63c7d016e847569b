"""The Gradio UI: handlers (widget values -> explorer -> outputs) and one layout builder."""
