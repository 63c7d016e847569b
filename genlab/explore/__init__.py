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
from genlab.explore.recipes import MAX_RECIPE_BYTES, Recipes
from genlab.explore.maps import atlas_pixel, atlas_point
from genlab.explore.tools import MAX_INVERSION_STEPS, Tools


class Explorer(Tools, Recipes, Core, Paths):
    """Every view's operations on one registry and engine (Recipes before Core: it extends ``directions``)."""


__all__ = ["Explorer", "ExplorerError", "RenderResult", "SampleRequest", "ExploreRequest", "parse_latent",
           "MAX_TILES", "MAX_STEPS",
           "MAX_INVERSION_STEPS", "MAX_RECIPE_BYTES", "atlas_point", "atlas_pixel"]
