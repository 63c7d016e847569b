"""The explorer service: what the UI and the HTTP API both call.

Plain request dataclasses in, ``RenderResult`` out (uint8 image, info text, error text, plain data).
No gradio here. Models come from the registry; per-model derived data (directions, reference
encodings, projections) is computed once and cached. Every user-facing failure is an
``ExplorerError`` whose message is shown as is.
"""
from genlab.explore.base import (MAX_STEPS, MAX_TILES, ExploreRequest, ExplorerError, RenderResult, SampleRequest,
                                 parse_latent)
from genlab.explore.core import Core
from genlab.explore.paths import Paths


class Explorer(Core, Paths):
    """Every view's operations on one registry and engine."""


__all__ = ["Explorer", "ExplorerError", "RenderResult", "SampleRequest", "ExploreRequest", "parse_latent",
           "MAX_TILES", "MAX_STEPS"]
