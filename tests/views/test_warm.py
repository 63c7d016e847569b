"""warm(): the caches a first user would wait for are built once, thread-safely; a second call is cheap."""
from __future__ import annotations

import threading
import time

import pytest

from genlab.views import ExplorerError


def test_warm_builds_the_caches_then_is_cheap(ex):
    seen = []
    times = ex.warm(["tiny-gan", "tiny-vae"], progress=lambda i, n, name: seen.append((i, n, name)))
    assert any("tiny-gan directions ganspace" == k for k in times) and "nearest training digits" in times
    assert "tiny-vae map pca" in times and "tiny-gan map pca" in times and "tiny-gan label vectors" in times
    assert [s[0] for s in seen] == list(range(1, len(times) + 1))
    keys = set(ex._cache)
    assert {("directions", "tiny-gan", "sefa"), ("map", "tiny-vae", "pca"), ("train-reference",),
            ("label-vectors", "tiny-vae"), ("direction-labels", "tiny-vae", "kl_dims")} <= keys
    t0 = time.perf_counter()
    again = ex.warm(["tiny-gan", "tiny-vae"])
    assert time.perf_counter() - t0 < 2.0 and set(again) == set(times) and max(again.values()) < 0.5
    assert set(ex._cache) == keys  # nothing rebuilt, nothing new


def test_warm_in_threads_shares_the_builds(ex):
    from genlab.views import Explorer

    fresh = Explorer(ex.registry, ex.engine)
    errors = []

    def run():
        try:
            fresh.warm(["tiny-vae2"], maps=["pca", "latent"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert not errors and fresh.latent_map("tiny-vae2", "latent").data["method"] == "latent"
    maps = [k for k in fresh._cache if k[0] == "map"]
    assert sorted(maps) == [("map", "tiny-vae2", "latent"), ("map", "tiny-vae2", "pca")]


@pytest.mark.parametrize("models,maps,message", [("tiny-gan", ["pca"], "list of at most"),
                                                 (["nope"], ["pca"], "no model"),
                                                 (["tiny-gan"], ["isomap"], "map methods")])
def test_bad_arguments(ex, models, maps, message):
    with pytest.raises(ExplorerError, match=message):
        ex.warm(models, maps=maps)
