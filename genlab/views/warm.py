"""Warm-up: build, ahead of the first user, the caches a first call would otherwise wait 5-13 s for.

Each task goes through the context's per-key build locks, so a user request arriving mid-warm-up waits for the
same build instead of starting a second one, and a second ``warm`` finds everything cached (milliseconds).
Safe to run in a background thread: the UI starts it after launch and keeps serving.
"""
from __future__ import annotations

import importlib.util
import time
from typing import TYPE_CHECKING, Callable

from genlab import render
from genlab.views.types import ENCODER_FAMILIES, ExplorerError, short

if TYPE_CHECKING:
    from genlab.views import Explorer

MAX_MODELS = 32
WARM_MAPS = ("pca", "tsne", "umap", "latent")
_NEEDS = {"tsne": "sklearn", "umap": "umap"}


def _tasks(ex: Explorer, model_id: str, maps) -> list[tuple[str, Callable[[], object]]]:
    """(name, call) per cache a first user of ``model_id`` would wait for, cheapest first."""
    from genlab import directions as gdir

    ckpt = ex.generative(model_id)
    m = ckpt.manifest
    tasks = []
    for method in gdir.methods_for(m):
        tasks.append((f"{model_id} directions {method}", lambda method=method: ex.directions(model_id, method)))
        if ex.has_classifier():
            tasks.append((f"{model_id} direction names {method}",
                          lambda method=method: ex.direction_labels(model_id, method)))
    for name in maps:
        usable = name in ex.map_methods(model_id) and (name not in _NEEDS or importlib.util.find_spec(_NEEDS[name]))
        if usable:
            tasks.append((f"{model_id} map {name}", lambda name=name: ex.latent_map(model_id, name)))
    if m.family in ENCODER_FAMILIES or ex.has_classifier():
        tasks.append((f"{model_id} label vectors", lambda: ex.label_vectors(model_id)))
    if m.family == "gan":
        # the first inversion pays for autograd's first backward pass and the comparison VAE's load
        def invert_once():
            probe = render.to_uint8(ex.reference_images(ckpt, "test")[:1], m.output_range)[0]  # a real digit
            return ex.invert(model_id, probe, steps=2, restarts=1).data["steps_run"]

        # cached under its own key, so a second warm() does not invert again
        tasks.append((f"{model_id} inversion", lambda: ex.cached(("warm-inversion", model_id), invert_once)))
    return tasks


def warm(ex: Explorer, models=None, progress=None, maps=("pca",)) -> dict[str, float]:
    """Build the caches for ``models`` (default: every generative model) and the memorization check's training
    reference. ``maps``: map methods to precompute (those a model cannot use are skipped).
    ``progress(done, total, name)`` after each task. Returns {task: seconds} (0.0-ish when already cached); a
    task that fails with an ExplorerError (a broken checkpoint, say) is listed as "<task> (failed: <why>)"."""
    if models is None:
        models = ex.model_ids()
    if isinstance(models, str) or not isinstance(models, (list, tuple)) or len(models) > MAX_MODELS:
        raise ExplorerError(f"models must be a list of at most {MAX_MODELS} model ids, got {short(models)}")
    if isinstance(maps, str) or not isinstance(maps, (list, tuple)) or any(mp not in WARM_MAPS for mp in maps):
        raise ExplorerError(f"maps must be a list of map methods ({', '.join(WARM_MAPS)}), got {short(maps)}")
    if progress is not None and not callable(progress):
        raise ExplorerError("progress must be a callable")
    tasks = []
    for mid in models:
        tasks += _tasks(ex, ex.load_id(mid), maps)
    if ex.has_classifier():
        tasks.append(("nearest training digits", ex.nearest_view.train_reference))
    times = {}
    for i, (name, call) in enumerate(tasks):
        t0 = time.perf_counter()
        try:
            call()
        except ExplorerError as exc:  # warm-up never stops the app: the user's own call will say it again
            name = f"{name} (failed: {exc})"
        times[name] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress(i + 1, len(tasks), name)
    return times
