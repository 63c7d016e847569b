"""Compatibility shim: the explorer service moved to ``genlab.views`` (one module per view on a shared Context).

Kept so ``from genlab.explore import Explorer, ...`` keeps working for the UI, the bench and older scripts.
"""
from genlab.views import (MAX_INVERSION_STEPS, MAX_RECIPE_BYTES, MAX_STEPS, MAX_TILES, ExploreRequest, Explorer,
                          ExplorerError, Position, RenderResult, SampleRequest, atlas_pixel, atlas_point, parse_latent)

__all__ = ["Explorer", "ExplorerError", "RenderResult", "SampleRequest", "ExploreRequest", "Position", "parse_latent",
           "MAX_TILES", "MAX_STEPS", "MAX_INVERSION_STEPS", "MAX_RECIPE_BYTES", "atlas_point", "atlas_pixel"]
