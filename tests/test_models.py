"""Every architecture: output shape and value range, for every size and channel count."""
import pytest
import torch

from genlab.configs import ClassifierConfig, ConfigError, ConvVAEConfig, DCGANConfig, MLPVAEConfig
from genlab.models import ARCHITECTURES, Architecture, get_architecture, register
from genlab.models.classifier import Classifier
from genlab.models.dcgan import Discriminator, Generator
from genlab.models.vae import ConvVAE, MLPVAE

SIZES = [(s, c) for s in (28, 32, 64) for c in (1, 3)]


@pytest.mark.parametrize("size,ch", SIZES)
def test_dcgan_shapes_and_ranges(size, ch):
    cfg = DCGANConfig(image_size=size, channels=ch, nz=10, ngf=4, ndf=4)
    g, d = Generator(cfg).eval(), Discriminator(cfg).eval()
    x = g(torch.randn(3, 10) * 5)
    assert x.shape == (3, ch, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert g(torch.randn(3, 10, 1, 1)).shape == x.shape  # the example's [B, nz, 1, 1] input works too
    p = d(x)
    assert p.shape == (3,) and (p >= 0).all() and (p <= 1).all()
    assert torch.allclose(torch.sigmoid(d.logits(x)), p)


@pytest.mark.parametrize("size,ch", SIZES)
def test_conv_vae_shapes_and_ranges(size, ch):
    vae = ConvVAE(ConvVAEConfig(image_size=size, channels=ch, z_dim=5, base=4, hidden=8)).eval()
    x = torch.rand(2, ch, size, size)
    recon, mu, logvar = vae(x)
    assert recon.shape == x.shape and mu.shape == logvar.shape == (2, 5)
    assert recon.min() >= 0 and recon.max() <= 1
    assert torch.equal(vae(x, sample=False)[0], vae.decode(mu))


def test_mlp_vae_is_the_pytorch_example():
    vae = MLPVAE(MLPVAEConfig()).eval()
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert shapes == {"fc1.weight": (400, 784), "fc1.bias": (400,), "fc21.weight": (20, 400), "fc21.bias": (20,),
                      "fc22.weight": (20, 400), "fc22.bias": (20,), "fc3.weight": (400, 20), "fc3.bias": (400,),
                      "fc4.weight": (784, 400), "fc4.bias": (784,)}
    out = vae.decode(torch.randn(4, 20))
    assert out.shape == (4, 1, 28, 28) and 0 <= out.min() and out.max() <= 1


def test_dcgan64_matches_the_example_layout():
    g = Generator(DCGANConfig())
    convs = [k for k in g.state_dict() if k.endswith("weight") and g.state_dict()[k].dim() == 4]
    assert convs == ["main.0.weight", "main.3.weight", "main.6.weight", "main.9.weight", "main.12.weight"]
    assert sum(p.numel() for p in g.parameters()) == 3_576_704  # the example's netG (nz 100, ngf 64, nc 3)
    d = Discriminator(DCGANConfig())
    dconvs = [k for k in d.state_dict() if d.state_dict()[k].dim() == 4]
    assert dconvs == ["main.0.weight", "main.2.weight", "main.5.weight", "main.8.weight", "main.11.weight"]


def test_classifier_logits_and_features():
    clf = Classifier(ClassifierConfig(width=4, features=8)).eval()
    x = torch.rand(2, 1, 28, 28)
    assert clf(x).shape == (2, 10) and clf.features(x).shape == (2, 8)


def test_registry_of_architectures_refuses_duplicates_and_unknown():
    assert set(ARCHITECTURES) >= {"dcgan", "conv_vae", "mlp_vae", "classifier"}
    with pytest.raises(ValueError, match="already registered"):
        register(Architecture("dcgan", "gan", DCGANConfig, Generator, (-1, 1), {}))
    with pytest.raises(KeyError, match="unknown architecture 'nope'"):
        get_architecture("nope")


@pytest.mark.parametrize("bad", [{"image_size": 48}, {"channels": 2}, {"nz": 0}, {"nz": "10"}, {"d_norm": "x"}, {"wat": 1}])
def test_config_validation(bad):
    with pytest.raises(ConfigError):
        DCGANConfig.from_dict({**DCGANConfig().to_dict(), **bad})
