"""Plotly figures from plain data (lists of numbers). No gradio, no torch."""
from __future__ import annotations

import plotly.graph_objects as go

DIGIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=40, r=20, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25), template="plotly_white")
    return fig


def path_probabilities(probs: list[list[float]] | None, realism: list[float] | None = None) -> go.Figure:
    """Per-frame class probabilities (one line per class) and, for a DCGAN, realism along a path."""
    fig = go.Figure()
    frames = list(range(len(probs or realism or [])))
    for k in range(len(probs[0]) if probs else 0):
        fig.add_trace(go.Scatter(x=frames, y=[p[k] for p in probs], mode="lines", name=str(k),
                                 line=dict(color=DIGIT_COLORS[k % 10])))
    if realism:
        fig.add_trace(go.Scatter(x=frames, y=realism, mode="lines+markers", name="realism",
                                 line=dict(color="black", dash="dot")))
    fig.update_xaxes(title="frame")
    fig.update_yaxes(title="probability", range=[0, 1.02])
    return _layout(fig, "Classifier along the path")


def posterior_bars(mu: list[float], sigma: list[float]) -> go.Figure:
    """mu per latent dimension with +-sigma error bars (the encoder's posterior)."""
    dims = [f"z{i}" for i in range(len(mu))]
    fig = go.Figure(go.Bar(x=dims, y=mu, error_y=dict(type="data", array=sigma, visible=True), name="mu +- sigma",
                           marker_color="#4c78a8"))
    fig.update_yaxes(title="value")
    return _layout(fig, "Posterior q(z|x): mean and std per dimension")


def latent_scatter(x: list[float], y: list[float], labels: list[int], method: str) -> go.Figure:
    """Held-out digits projected to 2-D, one colour per label."""
    fig = go.Figure()
    for k in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == k]
        fig.add_trace(go.Scattergl(x=[x[i] for i in idx], y=[y[i] for i in idx], mode="markers", name=str(k),
                                   marker=dict(size=5, color=DIGIT_COLORS[k % 10], opacity=0.8)))
    fig.update_xaxes(title=f"{method} 1")
    fig.update_yaxes(title=f"{method} 2", scaleanchor="x")
    return _layout(fig, f"Held-out digits, {method} projection", height=460)
