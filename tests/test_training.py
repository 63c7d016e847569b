"""Training CLI: a 2-step smoke run per family writes a loadable checkpoint; resume continues exactly."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from genlab.checkpoints import load_checkpoint, parse_manifest
from genlab.cli import main as cli_main
from genlab.configs import DCGANConfig
from genlab.models.dcgan import Discriminator, Generator
from genlab.training.loops import GANTrainer, flat_state

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory) -> Path:
    """A folder of 64 real digits as PNGs (class subfolders): a tiny dataset the CLI reads like any user's."""
    d = np.load(REPO / "checkpoints/mnist-digits/digits.npz", allow_pickle=False)
    root = tmp_path_factory.mktemp("digits")
    for k, i in enumerate(d["train_idx"][::140][:64]):
        (root / str(d["labels"][i])).mkdir(exist_ok=True)
        Image.fromarray(d["images"][i]).save(root / str(d["labels"][i]) / f"{k}.png")
    return root


def train(out: Path, *args) -> int:
    return cli_main(["train", *args, "--out", str(out), "--epochs", "1", "--batch-size", "32", "--limit", "64",
                     "--no-eval", "--threads", "1"])


@pytest.mark.parametrize("family,extra", [
    ("dcgan", ["--ngf", "4", "--ndf", "4", "--nz", "8"]),
    ("dcgan", ["--ngf", "4", "--ndf", "4", "--nz", "8", "--loss", "wgan-gp", "--ema", "0.9"]),
    ("dcgan", ["--ngf", "4", "--ndf", "4", "--nz", "8", "--ema", "0.99", "--augment", "translation,cutout"]),
    ("vae", ["--z-dim", "3", "--base", "4", "--hidden", "8"]),
    ("vae", ["--arch", "mlp", "--z-dim", "2", "--hidden", "8", "--likelihood", "gaussian"]),
    ("classifier", []),
    ("ae", ["--z-dim", "2", "--base", "4", "--hidden", "8"]),
    ("mlp-gan", ["--nz", "8", "--width", "4", "--ema", "0.9"]),
])
def test_two_step_smoke_run_writes_a_loadable_checkpoint(tmp_path, digit_folder, family, extra):
    out = tmp_path / "m"
    assert train(out, family, "--dataset", f"folder:{digit_folder}", *extra) == 0
    ck = load_checkpoint(out)
    m = ck.manifest
    assert m.id == "m" and (out / "README.md").is_file() and (out / "preview.png").is_file()
    assert m.raw["training"]["steps"] == 2 and "python -m genlab train" in m.raw["training"]["command"]
    assert not (out / ".train").exists()  # resume state is removed after a finished run
    if family == "ae":  # no prior: a Gaussian fitted to the training codes, stated in manifest and card
        assert m.family == "ae" and m.raw["latent"]["prior"] == "fitted_normal"
        assert not torch.equal(ck.model.prior_scale, torch.eye(2)) and "no prior" in (out / "README.md").read_text()
    if family == "mlp-gan":
        assert m.architecture == "mlp_gan" and m.family == "gan" and "discriminator" in ck.aux
    if family == "dcgan":
        assert "discriminator" in ck.aux
        aug = extra[extra.index("--augment") + 1].split(",") if "--augment" in extra else []
        assert m.raw["training"]["augment"] == aug  # the complete recipe is recorded, and shown on the card
        if aug:
            assert f"- augment: {aug}" in (out / "README.md").read_text()


def test_offline_mnist_dataset_and_snapshots(tmp_path):
    out = tmp_path / "gan"
    rc = cli_main(["train", "dcgan", "--dataset", "mnist-offline", "--out", str(out), "--epochs", "2",
                   "--batch-size", "32", "--limit", "64", "--ngf", "4", "--ndf", "4", "--nz", "8",
                   "--snapshots", "1", "--no-eval", "--threads", "1"])
    assert rc == 0
    m = parse_manifest(out)
    assert [f.epoch for f in m.snapshots] == [1]
    assert m.dataset["name"] == "mnist-offline" and m.dataset["n_train"] == 64
    snap = load_file(out / m.snapshots[0].path)
    assert all(t.dtype == torch.float16 for t in snap.values() if t.is_floating_point())


def test_resume_continues_where_it_stopped(tmp_path):
    """Two epochs in one go == one epoch, stop, resume for the second (same RNG, same optimizer state)."""
    cfg = DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)
    data = torch.rand(64, 1, 28, 28) * 2 - 1

    def run(epochs, state=None):
        t = GANTrainer(Generator(cfg), Discriminator(cfg), batch_size=32, seed=3)
        if state is not None:
            t.load_state(state)
        for _ in range(epochs):
            list(t.epoch(data))
        return t

    straight = run(2)
    resumed = run(1, state=run(1).state())
    for k, v in flat_state("G", straight.G).items():
        assert torch.allclose(v.float(), flat_state("G", resumed.G)[k].float(), atol=1e-6), k


def test_lr_decay_is_linear_after_its_epoch_and_a_stopped_run_resumes_into_it():
    from genlab.training.loops import lr_factor

    assert [lr_factor(e, 6, 3) for e in range(1, 7)] == [1, 1, 1, 0.75, 0.5, 0.25]
    assert lr_factor(5, 6, 0) == 1  # off
    for bad in (-1, 6, 7):  # before the first epoch / at or after the last: it could never start
        with pytest.raises(ValueError, match="--lr-decay-from"):
            lr_factor(1, 6, bad)
    cfg = DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)
    data = torch.rand(64, 1, 28, 28) * 2 - 1

    def run(first, last, state=None):
        t = GANTrainer(Generator(cfg), Discriminator(cfg), batch_size=32, seed=3, lr=1e-3)
        if state is not None:
            t.load_state(state)
        for epoch in range(first, last + 1):
            t.set_lr_scale(lr_factor(epoch, 3, 1))
            list(t.epoch(data))
        return t

    straight = run(1, 3)
    assert straight.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)
    assert straight.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)
    # epoch 1 at the full rate, stopped, then resumed into the decay: the same run
    resumed = run(2, 3, state=run(1, 1).state())
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)
    for k, v in flat_state("G", straight.G).items():
        assert torch.allclose(v.float(), flat_state("G", resumed.G)[k].float(), atol=1e-6), k


def test_cli_resume_flag(tmp_path, digit_folder):
    out = tmp_path / "r"
    args = ["train", "vae", "--dataset", f"folder:{digit_folder}", "--out", str(out), "--batch-size", "32",
            "--limit", "64", "--z-dim", "2", "--base", "4", "--hidden", "8", "--no-eval", "--threads", "1", "--keep-state"]
    assert cli_main(args + ["--epochs", "1"]) == 0  # a constant-rate first segment, as the DCGAN was trained
    first = json.loads((out / ".train/state.json").read_text())
    assert first["epoch"] == 1 and first["steps"] == 2 and first["seconds"] >= 0  # rounded to 0.1 s
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "genlab", *args, "--epochs", "2", "--lr-decay-from", "1", "--resume"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stderr and "epoch 2" in proc.stderr and "epoch 1:" not in proc.stderr
    training = parse_manifest(out).raw["training"]
    assert training["resumed_from_epoch"] == 1
    # the card records the whole run's cost, not just the resumed segment's
    assert training["steps"] == 4 and training["seconds"] >= first["seconds"]
    assert training["lr"] == 1e-3  # the VAE's default rate, recorded as used (not "None")
    assert training["lr_decay_from"] == 1 and "--lr-decay-from 1" in training["command"]
    assert "lr_decay_from: 1" in (out / "README.md").read_text()


def test_unreachable_dataset_is_a_clear_error(tmp_path, capsys):
    rc = cli_main(["train", "vae", "--dataset", "nope", "--out", str(tmp_path / "x"), "--epochs", "1"])
    assert rc == 2 and "nope" in capsys.readouterr().err


@pytest.mark.parametrize("decay_from", ["-1", "3", "9"])
def test_a_decay_that_cannot_start_is_a_clear_error(tmp_path, capsys, decay_from):
    out = tmp_path / "x"
    rc = cli_main(["train", "vae", "--out", str(out), "--epochs", "3", "--lr-decay-from", decay_from])
    err = capsys.readouterr().err
    assert rc == 2 and f"--lr-decay-from {decay_from} must be 0 (no decay) or an epoch before the last (3)" in err
    assert not out.exists()  # refused before any work


def test_ema_generator_tracks_the_average():
    cfg = DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)
    t = GANTrainer(Generator(cfg), Discriminator(cfg), batch_size=32, seed=0, ema=0.5)
    start = {k: v.clone() for k, v in t.G_ema.state_dict().items()}
    list(t.epoch(torch.rand(64, 1, 28, 28) * 2 - 1))
    w_live, w_ema, w0 = t.G.main[0].weight, t.G_ema.main[0].weight, start["main.0.weight"]
    assert not torch.equal(w_ema, w0) and not torch.equal(w_ema, w_live)
    assert t.export_generator() is t.G_ema and not w_ema.requires_grad
    off = GANTrainer(Generator(cfg), Discriminator(cfg))
    assert off.export_generator() is off.G  # ema off: the live G


def test_bn_recalibration_matches_the_weights():
    """After recalibration, eval-mode outputs use statistics of the generator's own activations."""
    from genlab.training.loops import recalibrate_bn

    cfg = DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)
    g = Generator(cfg)
    bn = g.main[1]
    bn.running_mean.fill_(5.0)  # stale statistics, as copied from another generator
    recalibrate_bn(g, 8, batches=8, batch_size=128)
    with torch.no_grad():
        acts = g.main[0](torch.randn(2048, 8, 1, 1))
    assert torch.allclose(bn.running_mean, acts.mean((0, 2, 3)), atol=0.05)
    assert not g.training and bn.momentum == 0.1


def test_ema_warms_up_and_its_step_count_resumes():
    """Early averages must not be made of the random initial weights (flat 0.999 kept half of them at epoch 5)."""
    cfg = DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)
    t = GANTrainer(Generator(cfg), Discriminator(cfg), batch_size=32, seed=0, ema=0.999)
    assert t.ema_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    list(t.epoch(torch.rand(64, 1, 28, 28) * 2 - 1))
    assert t.ema_step == 2 and t.ema_decay() == pytest.approx(3 / 12)
    t.ema_step = 10_000
    assert t.ema_decay() == 0.999
    again = GANTrainer(Generator(cfg), Discriminator(cfg), batch_size=32, seed=0, ema=0.999)
    again.load_state(t.state())
    assert again.ema_step == 10_000


def test_diff_augment_moves_digits_keeps_shape_and_gradients():
    from genlab.training.loops import diff_augment

    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 1, 28, 28), -1.0)
    x[:, :, 10:18, 10:18] = 1.0
    y = diff_augment(x, ("translation",), g)
    assert y.shape == x.shape and set(y.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal((y > 0).sum((1, 2, 3)), (x > 0).sum((1, 2, 3)))  # an 8x8 square shifted by <= 4 px stays whole
    centres = torch.stack([(im[0] > 0).nonzero().float().mean(0) for im in y])
    assert (centres - 13.5).abs().max() <= 4 and centres.std(0).min() > 1  # moved, differently per image
    z = diff_augment(torch.ones(64, 1, 28, 28), ("cutout",), g)
    holes = (z < 0).sum((1, 2, 3))
    assert holes.max() == 14 * 14 and holes.min() > 0  # a 14x14 square, clipped at the borders
    x.requires_grad_(True)
    diff_augment(x, ("translation", "cutout"), g).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown augmentation"):
        GANTrainer(Generator(DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)),
                   Discriminator(DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4)), augment=("flip",))


def test_every_training_family_is_one_table_row():
    """A family is one registered row (build / trainer / record), and the table refuses duplicates."""
    from genlab.training.families import FAMILIES, Family, get_family, register

    assert {"dcgan", "mlp-gan", "vae", "ae", "classifier"} <= set(FAMILIES)
    with pytest.raises(ValueError, match="already registered"):
        register(Family("ae", FAMILIES["ae"].build, FAMILIES["ae"].trainer, FAMILIES["ae"].record))
    with pytest.raises(KeyError, match="unknown training family"):
        get_family("nope")


def test_ae_snapshots_get_their_own_fitted_prior(tmp_path, digit_folder):
    out = tmp_path / "ae"
    rc = cli_main(["train", "ae", "--dataset", f"folder:{digit_folder}", "--out", str(out), "--epochs", "2",
                   "--batch-size", "32", "--limit", "64", "--z-dim", "2", "--base", "4", "--hidden", "8",
                   "--snapshots", "1", "--no-eval", "--threads", "1"])
    assert rc == 0
    m = parse_manifest(out)
    snap = load_file(out / m.snapshots[0].path)
    assert not torch.equal(snap["prior_scale"].float(), torch.eye(2))  # fitted to epoch 1's codes, not N(0, I)


def test_kl_warmup_scales_the_kl_term_by_epoch_and_is_recorded(tmp_path, digit_folder):
    from genlab.configs import ConvVAEConfig
    from genlab.models.vae import ConvVAE
    from genlab.training.loops import VAETrainer

    t = VAETrainer(ConvVAE(ConvVAEConfig(z_dim=2, base=4, hidden=8)), beta=4.0, kl_warmup=4)
    scales = []
    for epoch in (1, 2, 4, 9):
        t.start_epoch(epoch)
        scales.append(t.kl_scale)
    assert scales == [0.25, 0.5, 1.0, 1.0]  # a resumed run gets the same weight for the same epoch
    out = tmp_path / "w"
    assert cli_main(["train", "vae", "--dataset", f"folder:{digit_folder}", "--out", str(out), "--epochs", "1",
                     "--batch-size", "32", "--limit", "64", "--z-dim", "2", "--base", "4", "--hidden", "8",
                     "--beta", "4", "--kl-warmup", "3", "--no-eval", "--threads", "1"]) == 0
    assert parse_manifest(out).raw["training"]["kl_warmup"] == 3 and "kl_warmup: 3" in (out / "README.md").read_text()
