"""Importer: files made here by modules defined exactly like the PyTorch DCGAN and VAE examples."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlab.checkpoints import load_checkpoint
from genlab.importers import ImportError_, import_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- pytorch/examples dcgan/main.py, verbatim apart from sizes passed as arguments ---
class Generator(nn.Module):
    def __init__(self, ngpu, nz, ngf, nc):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu, nc, ndf):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


# --- pytorch/examples vae/main.py ---
class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))


def trained_like(module, x):
    """A few train-mode passes so BatchNorm running stats are not the defaults."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(x)
    return module.eval()


@pytest.fixture
def example_nets():
    torch.manual_seed(0)
    g = trained_like(Generator(1, nz=12, ngf=4, nc=3), torch.randn(8, 12, 1, 1))
    d = trained_like(Discriminator(1, nc=3, ndf=4), torch.randn(8, 3, 64, 64))
    return g, d


def _same_outputs(folder, g, d=None):
    ck = load_checkpoint(folder)
    z = torch.randn(5, ck.manifest.latent_size)
    with torch.no_grad():
        assert torch.allclose(ck.model.decode(z), g(z[:, :, None, None]), atol=1e-6)
        if d is not None:
            x = g(z[:, :, None, None])
            assert torch.allclose(ck.aux["discriminator"](x), d(x), atol=1e-6)
    return ck


def test_plain_netg_with_netd(tmp_path, example_nets):
    g, d = example_nets
    torch.save(g.state_dict(), tmp_path / "netG_epoch_24.pth")
    torch.save(d.state_dict(), tmp_path / "netD_epoch_24.pth")
    folder, report = import_checkpoint(tmp_path / "netG_epoch_24.pth", "my-gan", tmp_path / "reg",
                                       discriminator=tmp_path / "netD_epoch_24.pth")
    ck = _same_outputs(folder, g, d)
    cfg = ck.manifest.config
    assert (cfg.image_size, cfg.channels, cfg.nz, cfg.ngf, cfg.ndf) == (64, 3, 12, 4, 4)
    assert any("ok          main.12.weight" in line for line in report)


def test_dataparallel_module_prefix(tmp_path, example_nets):
    g, _ = example_nets
    wrapped = nn.DataParallel(g)  # keys become module.main.N...
    torch.save(wrapped.state_dict(), tmp_path / "netG.pth")
    assert next(iter(torch.load(tmp_path / "netG.pth"))).startswith("module.")
    _same_outputs(import_checkpoint(tmp_path / "netG.pth", "dp", tmp_path / "reg")[0], g)


def test_dict_wrapping_netg_and_netd(tmp_path, example_nets):
    g, d = example_nets
    torch.save({"netG": g.state_dict(), "netD": d.state_dict(), "epoch": 3}, tmp_path / "both.pth")
    folder, _ = import_checkpoint(tmp_path / "both.pth", "both", tmp_path / "reg")
    _same_outputs(folder, g, d)


def test_vae_example_state_dict(tmp_path):
    torch.manual_seed(1)
    vae = VAE().eval()
    torch.save(vae.state_dict(), tmp_path / "vae.pth")
    folder, _ = import_checkpoint(tmp_path / "vae.pth", "vae-example", tmp_path / "reg")
    ck = load_checkpoint(folder)
    assert ck.manifest.architecture == "mlp_vae" and ck.manifest.latent_size == 20
    z, x = torch.randn(4, 20), torch.rand(4, 784)
    with torch.no_grad():
        assert torch.allclose(ck.model.decode(z).flatten(1), vae.decode(z), atol=1e-6)
        for a, b in zip(ck.model.encode(x.view(4, 1, 28, 28)), vae.encode(x)):
            assert torch.allclose(a, b, atol=1e-6)


class Payload:
    """Unpickling this runs a shell command: the importer must refuse it without running it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"main.0.weight": Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ImportError_, match="needs code execution") as info:
        import_checkpoint(tmp_path / "evil.pth", "evil", tmp_path / "reg")
    assert "state_dict()" in str(info.value)  # it says how to re-save
    assert not marker.exists()
    assert not (tmp_path / "reg" / "evil").exists()


def test_cli_reports_and_refuses(tmp_path, example_nets):
    g, _ = example_nets
    torch.save(g.state_dict(), tmp_path / "netG.pth")
    env = {**os.environ, "PYTHONPATH": REPO}
    ok = subprocess.run([sys.executable, "-m", "genlab", "import", str(tmp_path / "netG.pth"), "--name", "cli-gan",
                         "--out", str(tmp_path / "reg")], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "ok          main.0.weight" in ok.stdout and (tmp_path / "reg/cli-gan/preview.png").is_file()
    marker = tmp_path / "pwned2"
    torch.save(Payload(marker), tmp_path / "evil.pth")
    bad = subprocess.run([sys.executable, "-m", "genlab", "import", str(tmp_path / "evil.pth"), "--name", "x",
                          "--out", str(tmp_path / "reg")], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "needs code execution" in bad.stderr and not marker.exists()


def test_unrecognised_and_non_dict_files(tmp_path):
    torch.save({"foo.weight": torch.zeros(2)}, tmp_path / "a.pth")
    with pytest.raises(ImportError_, match="unrecognised state_dict"):
        import_checkpoint(tmp_path / "a.pth", "a", tmp_path / "reg")
    (tmp_path / "b.pth").write_bytes(b"not a zip")
    with pytest.raises(ImportError_, match="not a PyTorch weights file|needs code execution"):
        import_checkpoint(tmp_path / "b.pth", "b", tmp_path / "reg")
