"""The shared context of every view: the registry, the engine, one cache with per-key build locks, the
classifier and the derived data more than one view needs (reference digits, held-out encodings, directions).

Built once per ``Explorer`` and passed to every view, so views never reach into each other: a cache that two
views share lives here, under a key that names what it holds.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch

from genlab.checkpoints import Checkpoint, CheckpointError, Manifest
from genlab.engine import Engine
from genlab.registry import Registry
from genlab.views.types import CLASSIFIER_ID, ENCODER_FAMILIES, GENERATIVE_FAMILIES, ExplorerError, short

LRU_SIZE = 8  # slider-driven results kept (manifold grids): span/size sliders would otherwise grow the cache forever
DIRECTIONS_K = 10  # directions computed per method
LABEL_SAMPLES = 4000  # prior samples classified to find a GAN's per-label mean latents
LABEL_CONFIDENCE = 0.9


class Context:
    """Registry + engine + caches. Thread-safe: ``cached`` builds each key once, even under concurrent calls."""

    def __init__(self, registry: Registry, engine: Engine | None = None):
        self.registry = registry
        self.engine = engine or Engine()
        self.cache: dict[tuple, Any] = {}
        self._loaded: dict[str, Checkpoint] = {}  # the checkpoint object derived data was computed from
        self._locks: dict[tuple, threading.Lock] = {}
        self.lock = threading.Lock()

    # ---- models -------------------------------------------------------------------------------
    def model_ids(self, family: str | None = None) -> list[str]:
        ids = [i for i in self.registry.ids() if self.registry.manifest(i).family in GENERATIVE_FAMILIES]
        return [i for i in ids if family is None or self.registry.manifest(i).family == family]

    def load_id(self, model_id) -> str:
        """A registry id (string, known), or ExplorerError."""
        if not isinstance(model_id, str) or not model_id or len(model_id) > 100:
            raise ExplorerError(f"model must be a registry id, got {short(model_id)}")
        try:
            self.registry.entry(model_id)
        except KeyError as exc:
            raise ExplorerError(exc.args[0]) from None
        return model_id

    def load(self, model_id: str) -> Checkpoint:
        if not isinstance(model_id, str) or not model_id:
            raise ExplorerError("choose a model first" if not model_id else f"model must be an id, got {short(model_id)}")
        if len(model_id) > 100:
            raise ExplorerError(f"no model {short(model_id)} in the registry")
        try:
            ckpt = self.registry.get(model_id, str(self.engine.device))
        except KeyError as exc:
            raise ExplorerError(exc.args[0]) from None
        except CheckpointError as exc:
            raise ExplorerError(f"model {model_id!r} cannot be loaded: {exc}") from None
        with self.lock:
            prev = self._loaded.get(model_id)
            self._loaded[model_id] = ckpt
            if prev is not None and prev is not ckpt:  # weights reloaded from disk: derived data is stale
                keep = {k: v for k, v in self.cache.items() if k[0] == "custom-direction"}
                self.cache.clear()
                self.cache.update(keep)
        return ckpt

    def generative(self, model_id: str, family: str | None = None) -> Checkpoint:
        ckpt = self.load(model_id)
        fam = ckpt.manifest.family
        # family "vae" asks for an encoder: a plain autoencoder has one too
        fits = fam in ENCODER_FAMILIES if family == "vae" else (family is None or fam == family)
        if fam not in GENERATIVE_FAMILIES or not fits:
            want = {"vae": "a VAE or an autoencoder", "gan": "a GAN"}.get(family or "", "a GAN, a VAE or an autoencoder")
            raise ExplorerError(f"{model_id} is a {fam}; this view needs {want}")
        return ckpt

    def seed_latents(self, ckpt: Checkpoint, n: int, seed: int, psi: float = 1.0, temperature: float = 1.0):
        """``[n, D]`` latents of a seed from the model's prior (an autoencoder's: the Gaussian fitted to its
        training codes): the one place views turn seeds into latents (``Engine.latents``)."""
        return self.engine.latents(ckpt, n, seed, psi, temperature)

    # ---- caches -------------------------------------------------------------------------------
    def cached(self, key: tuple, build: Callable[[], Any]):
        """``build()`` once per key, even under concurrent requests (one lock per key: other keys proceed)."""
        with self.lock:
            if key in self.cache:
                return self.cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.cache:
                value = build()
                with self.lock:
                    self.cache[key] = value
            return self.cache[key]

    def is_cached(self, key: tuple) -> bool:
        with self.lock:
            return key in self.cache

    def lru(self, key: tuple, build: Callable[[], Any]):
        """Like ``cached`` but keeps only the last ``LRU_SIZE`` keys (for slider-driven keys)."""
        with self.lock:
            store = self.cache.setdefault(("tools-lru",), OrderedDict())
            if key in store:
                store.move_to_end(key)
                return store[key]
        value = build()
        with self.lock:
            store[key] = value
            while len(store) > LRU_SIZE:
                store.popitem(last=False)
        return value

    # ---- the classifier -----------------------------------------------------------------------
    def has_classifier(self) -> bool:
        return CLASSIFIER_ID in self.registry.ids()

    def classifier(self) -> Checkpoint:
        if not self.has_classifier():
            raise ExplorerError(f"the label overlay needs the {CLASSIFIER_ID} checkpoint, which is not installed")
        return self.registry.get(CLASSIFIER_ID, str(self.engine.device))

    def need_classifier(self, purpose: str) -> Checkpoint:
        if not self.has_classifier():
            raise ExplorerError(f"{purpose} needs the {CLASSIFIER_ID} checkpoint, which is not installed")
        return self.classifier()

    def classify(self, imgs: torch.Tensor, m: Manifest) -> torch.Tensor:
        """Class probabilities ``[N, 10]`` from the shipped classifier (images ``[N, C, H, W]`` in ``m``'s range)."""
        from genlab.evaluate import classifier_view

        clf = self.classifier()
        return torch.softmax(self.engine.apply(clf.model, classifier_view(imgs, m.output_range)), 1)

    # ---- shared derived data ------------------------------------------------------------------
    def reference_images(self, ckpt: Checkpoint, split: str = "test") -> torch.Tensor:
        """Real digits in the model's range and size ``[N, C, S, S]``: 1,000 held-out ("test") or 9,000 "train"."""
        from genlab import data as gdata

        m = ckpt.manifest

        def build():
            digits = gdata.load_offline_mnist()
            imgs = digits.test()[0] if split == "test" else digits.train()[0]
            return gdata.to_range(imgs, m.output_range, m.image_size, m.channels)

        return self.cached(("reference", m.id, split), build)

    def heldout_mu(self, ckpt: Checkpoint) -> torch.Tensor:
        """A VAE's encoder means ``[1000, Z]`` of the held-out digits (cached per model)."""
        return self.cached(("heldout-mu", ckpt.manifest.id),
                           lambda: self.engine.encode(ckpt, self.reference_images(ckpt, "test"))[0])

    def label_means(self, ckpt: Checkpoint) -> dict[int, list[float]]:
        """Mean latent per digit label: a VAE's mean encoding (mu) of the 9,000 training digits; a GAN's
        mean of the prior samples (4,000, seed 0) the classifier calls that label with p > 0.9.

        Labels without any such sample are missing from a GAN's dict. Used by "towards a digit", latent
        arithmetic and a GAN's map (its plane is the PCA of these means).
        """
        def build():
            from genlab import data as gdata

            m = ckpt.manifest
            if m.family in ENCODER_FAMILIES:
                zs, _ = self.engine.encode(ckpt, self.reference_images(ckpt, "train"))
                labels = torch.as_tensor(np.asarray(gdata.load_offline_mnist().train()[1]))
            else:
                self.need_classifier(f"label vectors for {m.id}")
                z = self.seed_latents(ckpt, LABEL_SAMPLES, seed=0)
                probs = self.classify(self.engine.decode(ckpt, z), m)
                conf, labels = probs.max(1)
                zs, labels = z[conf > LABEL_CONFIDENCE], labels[conf > LABEL_CONFIDENCE]
            return {int(c): zs[labels == c].mean(0).tolist() for c in range(10) if bool((labels == c).any())}

        return self.cached(("label-vectors", ckpt.manifest.id), build)

    def prepare_image(self, ckpt: Checkpoint, source):
        """Upload/sketch -> (uint8 [S, S, C] as the model sees it, notes), or ExplorerError."""
        from genlab.preprocess import ImageInputError, prepare_upload

        m = ckpt.manifest
        try:
            img, info = prepare_upload(source, m.image_size, m.channels)
        except ImageInputError as exc:
            raise ExplorerError(str(exc)) from None
        return img, info

    # ---- directions (built-in, and custom ones made from two groups) ---------------------------
    def directions(self, model_id: str, method: str):
        """Discovered directions for a model (computed once, cached), or a custom one by "custom:NAME"."""
        from genlab import directions as gdir

        if isinstance(method, str) and method.startswith("custom:"):
            self.generative(model_id)
            with self.lock:
                dirs = self.cache.get(("custom-direction", model_id, method[7:]))
            if dirs is None:
                have = ", ".join(self.custom_directions(model_id)) or "none"
                raise ExplorerError(f"no custom direction {method!r} for {model_id} (defined: {have}); "
                                    "make one from two groups of latents first")
            return dirs
        ckpt = self.generative(model_id)
        if method not in gdir.methods_for(ckpt.manifest):
            raise ExplorerError(f"unknown direction method {short(method)} for {model_id}; "
                                f"choose one of {gdir.methods_for(ckpt.manifest)}")

        def build():
            images = self.reference_images(ckpt) if ckpt.manifest.family in ENCODER_FAMILIES else None
            return gdir.compute(ckpt, self.engine, method, images01=images, k=DIRECTIONS_K, seed=0)

        return self.cached(("directions", model_id, method), build)

    def store_custom(self, model_id: str, name: str, dirs) -> None:
        with self.lock:  # overwrite on purpose: re-defining a name replaces it (cached() would keep the first)
            self.cache[("custom-direction", model_id, name)] = dirs

    def custom_directions(self, model_id: str) -> list[str]:
        """Method names ("custom:NAME") of the custom directions defined for a model."""
        with self.lock:
            return sorted(f"custom:{k[2]}" for k in self.cache if k[:2] == ("custom-direction", model_id))
