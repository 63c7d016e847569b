"""The explorer service: what the UI and the HTTP API both call, one class per view on a shared ``Context``.

Plain requests in, ``RenderResult`` out (uint8 image, info text, plain data); no gradio. ``Explorer`` composes
the views and keeps the public API names stable: each public method delegates to the one view that owns it.
Every user-facing failure is an ``ExplorerError`` whose message is shown as is.
"""
from __future__ import annotations

import numpy as np
import torch

from genlab.checkpoints import Checkpoint, Manifest
from genlab.directions import Directions
from genlab.engine import Engine
from genlab.registry import Registry
from genlab.views import warm as _warm
from genlab.views.arithmetic import ArithmeticView
from genlab.views.compare import CompareView
from genlab.views.context import Context
from genlab.views.encode import ENCODE_STEPS, MAX_INVERSION_STEPS, EncodeView
from genlab.views.explore import ExploreView
from genlab.views.interpolate import InterpolateView, parse_keyframe_text
from genlab.views.map import MapView, atlas_pixel, atlas_point
from genlab.views.models import ModelsView
from genlab.views.nearest import NearestView
from genlab.views.samples import SamplesView
from genlab.views.share import MAX_RECIPE_BYTES, ShareView
from genlab.views.training import TrainingView
from genlab.views.types import (MAX_STEPS, MAX_TILES, ExploreRequest, ExplorerError, Position, RenderResult,
                                SampleRequest, parse_latent)


class Explorer:
    """Every view's operations on one registry and engine. Views share only the ``Context`` (caches included)."""

    def __init__(self, registry: Registry, engine: Engine | None = None):
        self.ctx = ctx = Context(registry, engine)
        self.models_view = ModelsView(ctx)
        self.samples_view = SamplesView(ctx)
        self.explore_view = ExploreView(ctx)
        self.interpolate_view = InterpolateView(ctx)
        self.encode_view = EncodeView(ctx)
        self.map_view = MapView(ctx)
        self.training_view = TrainingView(ctx)
        self.nearest_view = NearestView(ctx)
        self.arithmetic_view = ArithmeticView(ctx)
        self.share_view = ShareView(ctx, self.explore_view, self.interpolate_view)
        self.compare_view = CompareView(self)  # composes the other views' public operations

    @property
    def registry(self) -> Registry:
        return self.ctx.registry

    @property
    def engine(self) -> Engine:
        return self.ctx.engine

    @property
    def _cache(self) -> dict:  # the shared cache, for tests and the bench that drop a model's derived data
        return self.ctx.cache

    # ---- context ------------------------------------------------------------------------------
    def model_ids(self, family: str | None = None) -> list[str]:
        return self.ctx.model_ids(family)

    def load_id(self, model_id) -> str:
        return self.ctx.load_id(model_id)

    def load(self, model_id: str) -> Checkpoint:
        return self.ctx.load(model_id)

    def generative(self, model_id: str, family: str | None = None) -> Checkpoint:
        return self.ctx.generative(model_id, family)

    def cached(self, key: tuple, build):
        return self.ctx.cached(key, build)

    def has_classifier(self) -> bool:
        return self.ctx.has_classifier()

    def classifier(self) -> Checkpoint:
        return self.ctx.classifier()

    def classify(self, imgs: torch.Tensor, m: Manifest) -> torch.Tensor:
        return self.ctx.classify(imgs, m)

    def reference_images(self, ckpt: Checkpoint, split: str = "test") -> torch.Tensor:
        return self.ctx.reference_images(ckpt, split)

    def prepare_image(self, ckpt: Checkpoint, source):
        return self.ctx.prepare_image(ckpt, source)

    def warm(self, models=None, progress=None, maps=("pca",)) -> dict[str, float]:
        return _warm.warm(self, models, progress, maps)

    warm.__doc__ = _warm.warm.__doc__

    # ---- models -------------------------------------------------------------------------------
    def models_table(self) -> list[dict]:
        return self.models_view.models_table()

    def card(self, model_id: str) -> str:
        return self.models_view.card(model_id)

    def preview(self, model_id: str):
        return self.models_view.preview(model_id)

    # ---- samples ------------------------------------------------------------------------------
    def sample_latents(self, m: Manifest, req: SampleRequest) -> torch.Tensor:
        return self.samples_view.sample_latents(m, req)

    def sample_order(self, ckpt: Checkpoint, req: SampleRequest, z: torch.Tensor, imgs: torch.Tensor):
        return self.samples_view.sample_order(ckpt, req, z, imgs)

    def samples(self, req: SampleRequest) -> RenderResult:
        return self.samples_view.samples(req)

    def tile_latent(self, req: SampleRequest, x: int, y: int) -> tuple[list[float], int]:
        return self.samples_view.tile_latent(req, x, y)

    def tile_by_position(self, req: SampleRequest, i: int) -> tuple[list[float], int]:
        return self.samples_view.tile_by_position(req, i)

    # ---- explore ------------------------------------------------------------------------------
    def directions(self, model_id: str, method: str):
        return self.explore_view.directions(model_id, method)

    def direction_labels(self, model_id: str, method: str) -> list[tuple[str, str]]:
        return self.explore_view.direction_labels(model_id, method)

    def compose(self, req: ExploreRequest) -> torch.Tensor:
        return self.explore_view.compose(req)

    def explore(self, req: ExploreRequest) -> RenderResult:
        return self.explore_view.explore(req)

    def sweep(self, req: ExploreRequest, slider: int, values) -> np.ndarray:
        return self.explore_view.sweep(req, slider, values)

    def traversal(self, model_id: str, base, method: str, index: int, steps: int = 7, rows: int = 4) -> RenderResult:
        return self.explore_view.traversal(model_id, base, method, index, steps, rows)

    # ---- interpolate --------------------------------------------------------------------------
    def keyframe(self, ckpt: Checkpoint, item, current) -> torch.Tensor:
        return self.interpolate_view.keyframe(ckpt, item, current)

    def keyframes(self, ckpt: Checkpoint, items, current=None) -> torch.Tensor:
        return self.interpolate_view.keyframes(ckpt, items, current)

    def interpolate(self, model_id: str, items, mode: str = "slerp", steps: int = 16, current=None,
                    fps: float = 12.0) -> RenderResult:
        return self.interpolate_view.interpolate(model_id, items, mode, steps, current, fps)

    def default_interpolation(self, model_id: str, latent=None, seed: int = 1) -> RenderResult:
        return self.interpolate_view.default_interpolation(model_id, latent, seed)

    # ---- encode -------------------------------------------------------------------------------
    def encode_image(self, model_id: str, source) -> tuple[torch.Tensor, torch.Tensor, object, dict]:
        return self.encode_view.encode_image(model_id, source)

    def reconstruct(self, model_id: str, source, n_samples: int = 6, seed: int = 0) -> RenderResult:
        return self.encode_view.reconstruct(model_id, source, n_samples, seed)

    def invert(self, model_id: str, source, steps: int = 200, lr: float = 0.05, seed: int = 0,
               feature_weight: float = 0.01, restarts: int = 16, progress=None, should_stop=None,
               vae="auto") -> RenderResult:
        return self.encode_view.invert(model_id, source, steps, lr, seed, feature_weight, restarts, progress,
                                       should_stop, vae)

    def encode(self, model_id: str, source, steps: int = ENCODE_STEPS, restarts: int = 16, seed: int = 0,
               progress=None, should_stop=None) -> RenderResult:
        return self.encode_view.encode(model_id, source, steps, restarts, seed, progress, should_stop)

    # ---- map ----------------------------------------------------------------------------------
    def map_methods(self, model_id: str) -> list[str]:
        return self.map_view.map_methods(model_id)

    def latent_map(self, model_id: str, method: str = "pca") -> RenderResult:
        return self.map_view.latent_map(model_id, method)

    def map_select(self, model_id: str, method: str, px, py) -> RenderResult:
        return self.map_view.map_select(model_id, method, px, py)

    def map_region(self, model_id: str, method: str, x0, y0, x1, y1) -> RenderResult:
        return self.map_view.map_region(model_id, method, x0, y0, x1, y1)

    def manifold(self, model_id: str, span: float = 3.0, n: int = 20, current=None) -> RenderResult:
        return self.map_view.manifold(model_id, span, n, current)

    # ---- training -----------------------------------------------------------------------------
    def snapshots(self, model_id: str) -> list:
        return self.training_view.snapshots(model_id)

    def models_with_snapshots(self) -> list[str]:
        return self.training_view.models_with_snapshots()

    def scrub(self, model_id: str, epoch, latent=None, seed: int = 0, n: int = 1) -> RenderResult:
        return self.training_view.scrub(model_id, epoch, latent, seed, n)

    def evolution(self, model_id: str, latent=None, seed: int = 0, n: int = 16, fps: float = 4) -> RenderResult:
        return self.training_view.evolution(model_id, latent, seed, n, fps)

    # ---- nearest ------------------------------------------------------------------------------
    def nearest(self, model_id=None, latent=None, image=None, k: int = 5, space: str = "both") -> RenderResult:
        return self.nearest_view.nearest(model_id, latent, image, k, space)

    # ---- arithmetic ---------------------------------------------------------------------------
    def label_vectors(self, model_id: str) -> dict[int, list[float]]:
        return self.arithmetic_view.label_vectors(model_id)

    def resolve_latent(self, model_id: str, item) -> torch.Tensor:
        return self.arithmetic_view.resolve_latent(model_id, item)

    def toward_label(self, model_id: str, latent, label, amount) -> RenderResult:
        return self.arithmetic_view.toward_label(model_id, latent, label, amount)

    def arithmetic(self, model_id: str, a, b, c, scale: float = 1.0) -> RenderResult:
        return self.arithmetic_view.arithmetic(model_id, a, b, c, scale)

    def group_direction(self, model_id: str, group_a, group_b, name: str = "custom") -> Directions:
        return self.arithmetic_view.group_direction(model_id, group_a, group_b, name)

    def custom_directions(self, model_id: str) -> list[str]:
        return self.arithmetic_view.custom_directions(model_id)

    # ---- share --------------------------------------------------------------------------------
    def make_recipe(self, model_id: str, latent, method: str = "", weights=(), raw=(), pick=None, keyframes=None,
                    mode=None, steps=None, psi=None, temperature=None, seed=None) -> dict:
        return self.share_view.make_recipe(model_id, latent, method, weights, raw, pick, keyframes, mode, steps,
                                           psi, temperature, seed)

    def recipe_json(self, *args, **kwargs) -> str:
        return self.share_view.recipe_json(*args, **kwargs)

    def load_recipe(self, source, allow_other_version: bool = False) -> dict:
        return self.share_view.load_recipe(source, allow_other_version)

    def validate_recipe(self, obj, allow_other_version: bool = False) -> dict:
        return self.share_view.validate_recipe(obj, allow_other_version)

    def render_recipe(self, recipe, allow_other_version: bool = False) -> RenderResult:
        return self.share_view.render_recipe(recipe, allow_other_version)

    # ---- compare ------------------------------------------------------------------------------
    def compare(self, action: str, model_ids, **kwargs) -> list[RenderResult]:
        """The same action on 2-4 models, aligned (see ``genlab.views.compare``): one result per model."""
        return self.compare_view.run(action, model_ids, **kwargs)


# the views' docstrings are the facade's: one place to write them
for _name, _fn in list(vars(Explorer).items()):
    if callable(_fn) and not _name.startswith("_") and _fn.__doc__ is None:
        for _view in (ModelsView, SamplesView, ExploreView, InterpolateView, EncodeView, MapView, TrainingView,
                      NearestView, ArithmeticView, ShareView, Context):
            if getattr(_view, _name, None) is not None and getattr(_view, _name).__doc__:
                _fn.__doc__ = getattr(_view, _name).__doc__
                break

__all__ = ["Explorer", "ExplorerError", "RenderResult", "SampleRequest", "ExploreRequest", "Position",
           "parse_latent", "parse_keyframe_text", "MAX_TILES", "MAX_STEPS", "MAX_INVERSION_STEPS",
           "MAX_RECIPE_BYTES", "atlas_point", "atlas_pixel", "Context"]
