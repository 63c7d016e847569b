"""The shipped checkpoints: files, sizes, cards, and the quality bars recorded by `genlab eval`."""
import json
from pathlib import Path

import pytest

from genlab.checkpoints import load_checkpoint, parse_manifest
from genlab.evaluate import BARS, BASELINES
from genlab.registry import Registry

ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
# The lesson's sequence (issue 14): autoencoder -> VAE -> beta-VAE -> vanilla GAN, on the same digits.
# PENDING: lesson models whose training was still running when this file was last committed (their folders
# follow in a later commit). Remove an id once its folder is committed; test_pending_is_not_stale says when.
PENDING: set[str] = set()
LESSON = [m for m in ("mnist-ae-2d", "mnist-beta-vae-2d", "mnist-beta-vae", "mnist-gan-mlp") if m not in PENDING]
SHIPPED = ["mnist-dcgan", "mnist-vae", "mnist-vae-2d", "mnist-classifier", *LESSON]
PLANES = [m for m in ("mnist-ae-2d", "mnist-vae-2d", "mnist-beta-vae-2d") if m not in PENDING]  # 2-D: holes
# Bars the shipped model does not reach yet (numbers and what was tried: its model card and the README).
KNOWN_MISSES = json.loads((ROOT / "known_misses.json").read_text()) if (ROOT / "known_misses.json").is_file() else {}


@pytest.mark.parametrize("mid", SHIPPED)
def test_folder_is_complete_and_small(mid):
    folder = ROOT / mid
    m = parse_manifest(folder)
    assert m.id == mid and m.num_params > 0
    for name in ("manifest.json", "model.safetensors", "README.md", "preview.png"):
        assert (folder / name).is_file(), name
    listed = {f.path for f in m.files} | {"manifest.json", "README.md", "preview.png"}
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == listed, f"unlisted or missing files: {on_disk ^ listed}"
    for p in folder.rglob("*"):
        assert p.stat().st_size < 10 * 2**20, f"{p} is over 10 MB"
    card = (folder / "README.md").read_text()
    for words in ("python -m genlab", "## Data", "## Metrics", "License"):
        assert words in card, words
    assert m.dataset.get("name") == "mnist-offline" and m.dataset.get("n_train") == 9000


def test_whole_folder_under_budget():
    # 40 MB for the first four models; the lesson's four add ~50 MB (each with fp16 training snapshots, the GAN
    # with its discriminator for the realism meter); the browser decoders (issue 13) ~2.6-3.4 MB per model.
    # Every single file stays under 10 MB (above). .train/ (a run in progress) is git-ignored and never shipped.
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file() and ".train" not in p.parts)
    assert total < 130 * 2**20, f"checkpoints/ is {total / 2**20:.1f} MB"


def test_generative_models_have_snapshots_and_discriminator():
    m = parse_manifest(ROOT / "mnist-dcgan")
    assert len(m.snapshots) >= 4 and m.file("discriminator") is not None
    assert m.raw["latent"]["size"] == 100 and m.image_size in (28, 32)
    assert parse_manifest(ROOT / "mnist-vae").latent_size == 16
    assert parse_manifest(ROOT / "mnist-vae-2d").latent_size == 2


def test_pending_is_not_stale():
    done = sorted(m for m in PENDING if (ROOT / m / "README.md").is_file() and not (ROOT / m / ".train").exists())
    assert not done, f"{done} finished training: remove them from PENDING in tests/test_shipped.py"


@pytest.mark.skipif("mnist-ae-2d" in PENDING or "mnist-gan-mlp" in PENDING, reason="lesson model still training")
def test_lesson_models_are_what_the_lesson_says():
    ae = parse_manifest(ROOT / "mnist-ae-2d")
    assert (ae.family, ae.architecture, ae.latent_size) == ("ae", "conv_ae", 2)
    assert ae.raw["latent"]["prior"] == "fitted_normal"  # no prior of its own: a Gaussian fitted to its codes
    assert "no prior" in (ROOT / "mnist-ae-2d" / "README.md").read_text()
    vae2d = parse_manifest(ROOT / "mnist-vae-2d")
    same = {k: v for k, v in vae2d.raw["config"].items() if k != "beta"}
    assert ae.raw["config"] == same  # the same encoder/decoder shapes as the VAE it is compared with
    for mid, z in ((m, z) for m, z in (("mnist-beta-vae-2d", 2), ("mnist-beta-vae", 10)) if m not in PENDING):
        m = parse_manifest(ROOT / mid)
        assert m.architecture == "conv_vae" and m.latent_size == z and m.raw["config"]["beta"] == 4.0
        assert m.raw["training"]["beta"] == 4.0
    gan = parse_manifest(ROOT / "mnist-gan-mlp")
    assert (gan.family, gan.architecture, gan.latent_size) == ("gan", "mlp_gan", 100)
    assert gan.file("discriminator") is not None
    for mid in LESSON:
        assert parse_manifest(ROOT / mid).snapshots, f"{mid} has no training snapshots for the scrubber"


@pytest.mark.parametrize("mid", PLANES)
def test_every_2d_model_records_its_holes(mid):
    metrics = parse_manifest(ROOT / mid).metrics
    assert 0 <= metrics["holes_share"] <= 1 and 0 <= metrics["offdata_share"] <= 1
    x0, x1, y0, y1 = metrics["holes_extent"]
    assert x0 < x1 and y0 < y1 and metrics["holes_grid"] == 64 and metrics["holes_threshold"] == 0.5


@pytest.mark.parametrize("mid", sorted(set(BASELINES) - PENDING))
def test_bar_baselines_are_the_baseline_models_current_numbers(mid):
    """A bar against another model must compare with that model as shipped, not a stale copy."""
    base_id, keys = BASELINES[mid]
    recorded = parse_manifest(ROOT / mid).metrics["baseline"]
    theirs = parse_manifest(ROOT / base_id).metrics
    assert recorded["id"] == base_id
    for k in keys:
        assert recorded[k] == theirs[k], f"re-run python -m genlab eval {mid}: {base_id}'s {k} changed"


@pytest.mark.parametrize("mid", LESSON)
def test_lesson_models_load_through_the_registry_and_sample(mid):
    import torch

    from genlab.api import load
    from genlab.engine import Engine

    model = load(mid, device="cpu", roots=[ROOT])
    assert model.sample(4, seed=0).size[0] > 0
    z = Engine().latents(Registry([ROOT]).get(mid), 256, seed=0)
    assert torch.isfinite(z).all() and z.shape == (256, model.latent_size)
    if mid == "mnist-ae-2d":  # samples come from the Gaussian fitted to the codes, not from N(0, I)
        ckpt = model.ckpt
        assert torch.allclose(z.mean(0), ckpt.model.prior_mean, atol=0.3 * ckpt.model.prior_scale.diagonal().max())


BAR_CASES = [(mid, bar) for mid in SHIPPED for bar in BARS[mid]]


@pytest.mark.parametrize("mid,bar", BAR_CASES, ids=[f"{m}:{b}" for m, b in BAR_CASES])
def test_quality_bars(mid, bar):
    metrics = parse_manifest(ROOT / mid).metrics
    assert "bars" in metrics, f"{mid} was not evaluated: run python -m genlab eval {mid}"
    recomputed = BARS[mid][bar](metrics)  # the recorded verdict matches the recorded numbers
    assert metrics["bars"][bar] == recomputed
    if bar in KNOWN_MISSES.get(mid, {}):
        assert not recomputed, f"{mid} now meets {bar}: remove it from checkpoints/known_misses.json"
        pytest.xfail(KNOWN_MISSES[mid][bar])
    assert recomputed, f"{mid} misses {bar}: {json.dumps({k: v for k, v in metrics.items() if k != 'floor'})}"


def test_metrics_floor_recorded_beside_each_generative_model():
    for mid in ("mnist-dcgan", "mnist-vae", "mnist-vae-2d", *LESSON):
        floor = parse_manifest(ROOT / mid).metrics["floor"]
        assert floor["fid"] < 5 and floor["mean_confidence"] > 0.95


def test_classifier_loads_and_is_accurate_on_heldout():
    reg = Registry([ROOT])
    assert set(SHIPPED) <= set(reg.ids())
    ck = load_checkpoint(ROOT / "mnist-classifier")
    assert ck.manifest.metrics["heldout_accuracy"] >= 0.98


def test_metric_sanity_with_the_shipped_classifier():
    """FID of a set against itself ~0; pixel-shuffled digits score far worse than real ones."""
    import numpy as np

    from genlab import data as gdata
    from genlab import metrics
    from genlab.engine import Engine
    from genlab.evaluate import feats_probs

    clf, engine, digits = load_checkpoint(ROOT / "mnist-classifier"), Engine(), gdata.load_offline_mnist()
    test_x, _ = digits.test()
    train_x, _ = digits.train()
    f_test, _ = feats_probs(engine, clf, gdata.to_range(test_x))
    rng = np.random.default_rng(0)
    real = train_x[rng.choice(len(train_x), 1000, replace=False)]  # the set is ordered by digit
    f_real, p_real = feats_probs(engine, clf, gdata.to_range(real))
    shuffled = np.stack([rng.permutation(x.ravel()).reshape(28, 28) for x in real])
    f_noise, p_noise = feats_probs(engine, clf, gdata.to_range(shuffled))
    assert metrics.frechet_distance(f_test, f_test) < 1e-6
    fid_real, fid_noise = metrics.frechet_distance(f_real, f_test), metrics.frechet_distance(f_noise, f_test)
    assert fid_noise > 20 * fid_real, (fid_real, fid_noise)
    assert metrics.inception_score(p_real)[0] > 2 * metrics.inception_score(p_noise)[0]


@pytest.mark.parametrize("mid", LESSON)
def test_lesson_models_have_working_latent_directions(mid):
    """Every direction method offered for a lesson model computes (the views list them by family)."""
    import torch

    from genlab import data as gdata
    from genlab import directions
    from genlab.engine import Engine

    ckpt, engine = Registry([ROOT]).get(mid), Engine()
    images = gdata.to_range(gdata.load_offline_mnist().test()[0][:200])
    for method in directions.methods_for(ckpt.manifest):
        if method == "ganspace":
            d = directions.ganspace(ckpt, engine, k=4, n=500)
        elif method == "sefa":
            d = directions.sefa(ckpt, k=4)
        else:
            d = getattr(directions, method)(ckpt, engine, images, k=2)
        assert d.vectors.shape[1] == ckpt.manifest.latent_size and torch.isfinite(d.vectors).all(), method
