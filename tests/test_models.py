"""Every architecture: output shape and value range, for every size and channel count."""
import pytest
import torch

from genlab import latent
from genlab.checkpoints import load_checkpoint, save_checkpoint
from genlab.configs import (ClassifierConfig, ConfigError, ConvAEConfig, ConvVAEConfig, DCGANConfig, MLPGANConfig,
                            MLPVAEConfig)
from genlab.engine import Engine, prior_of
from genlab.models import ARCHITECTURES, Architecture, get_architecture, register
from genlab.models.ae import DETERMINISTIC_LOGVAR, ConvAE
from genlab.models.classifier import Classifier
from genlab.models.dcgan import Discriminator, Generator
from genlab.models.mlp_gan import MLPDiscriminator, MLPGenerator
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
    assert set(ARCHITECTURES) >= {"dcgan", "conv_vae", "mlp_vae", "classifier", "conv_ae", "mlp_gan"}
    assert get_architecture("conv_ae").family == "ae" and get_architecture("mlp_gan").family == "gan"
    with pytest.raises(ValueError, match="already registered"):
        register(Architecture("dcgan", "gan", DCGANConfig, Generator, (-1, 1), {}))
    with pytest.raises(KeyError, match="unknown architecture 'nope'"):
        get_architecture("nope")


@pytest.mark.parametrize("bad", [{"image_size": 48}, {"channels": 2}, {"nz": 0}, {"nz": "10"}, {"d_norm": "x"}, {"wat": 1}])
def test_config_validation(bad):
    with pytest.raises(ConfigError):
        DCGANConfig.from_dict({**DCGANConfig().to_dict(), **bad})


@pytest.mark.parametrize("size,ch", SIZES)
def test_conv_ae_has_the_conv_vae_shapes_with_one_deterministic_head(size, ch):
    kw = dict(image_size=size, channels=ch, z_dim=2, base=4, hidden=8)
    ae, vae = ConvAE(ConvAEConfig(**kw)).eval(), ConvVAE(ConvVAEConfig(**kw))
    x = torch.rand(3, ch, size, size)
    recon, z, logvar = ae(x)
    assert recon.shape == x.shape and z.shape == logvar.shape == (3, 2)
    assert recon.min() >= 0 and recon.max() <= 1
    assert torch.equal(logvar, torch.full_like(z, DETERMINISTIC_LOGVAR))  # sigma ~ 0: a point, not a posterior
    assert torch.equal(ae.encode(x)[0], z) and torch.equal(ae.decode(z), recon)  # deterministic
    shapes = {k: v.shape for k, v in ae.state_dict().items()}
    vae_shapes = {k.replace("fc_mu", "fc_code"): v.shape for k, v in vae.state_dict().items() if "fc_logvar" not in k}
    assert {k: v for k, v in shapes.items() if not k.startswith("prior_")} == vae_shapes


def test_ae_prior_is_the_gaussian_of_its_codes():
    ae = ConvAE(ConvAEConfig(z_dim=2, base=4, hidden=8))
    assert torch.equal(ae.prior_mean, torch.zeros(2)) and torch.equal(ae.prior_scale, torch.eye(2))  # before fitting
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(20000, 2, generator=g) @ torch.tensor([[2.0, 0.0], [1.0, 0.5]]) + torch.tensor([3.0, -1.0])
    ae.fit_prior(codes)
    z = latent.apply_prior(latent.sample(20000, 2, seed=1), ae.prior_mean, ae.prior_scale)
    assert torch.allclose(z.mean(0), codes.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(z.T), torch.cov(codes.T), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("size,ch", SIZES)
def test_mlp_gan_shapes_ranges_and_latent_forms(size, ch):
    cfg = MLPGANConfig(image_size=size, channels=ch, nz=10, width=4)
    g, d = MLPGenerator(cfg).eval(), MLPDiscriminator(cfg).eval()
    x = g(torch.randn(3, 10) * 5)
    assert x.shape == (3, ch, size, size) and x.min() >= -1 and x.max() <= 1
    assert g(torch.randn(3, 10, 1, 1)).shape == x.shape  # the DCGAN's [B, nz, 1, 1] works too
    assert torch.equal(g.decode(torch.ones(2, 10)), g(torch.ones(2, 10, 1, 1)))
    p = d(x)
    assert p.shape == (3,) and (p >= 0).all() and (p <= 1).all()
    assert torch.allclose(torch.sigmoid(d.logits(x)), p)
    assert torch.equal(d(x), d(x))  # eval mode: dropout off, the realism score is deterministic


def test_mlp_gan_is_the_vanilla_gan_layout():
    g, d = MLPGenerator(MLPGANConfig()), MLPDiscriminator(MLPGANConfig())
    lin = lambda m: [tuple(v.shape) for k, v in m.state_dict().items() if k.endswith("weight")]  # noqa: E731
    assert lin(g) == [(256, 100), (512, 256), (1024, 512), (784, 1024)]  # 100 -> 256 -> 512 -> 1024 -> 784
    assert lin(d) == [(1024, 784), (512, 1024), (256, 512), (1, 256)]  # mirrored


@pytest.mark.parametrize("arch,cfg", [("conv_ae", ConvAEConfig(z_dim=2, base=4, hidden=8)),
                                      ("mlp_gan", MLPGANConfig(nz=8, width=4))])
def test_new_architectures_round_trip_strictly_through_a_checkpoint(tmp_path, arch, cfg):
    torch.manual_seed(0)
    a = get_architecture(arch)
    model, aux = a.build(cfg).eval(), {role: make(cfg).eval() for role, make in a.aux.items()}
    if arch == "conv_ae":
        model.fit_prior(torch.randn(50, 2) * 3 + 1)
    save_checkpoint(tmp_path / "m", model, id="m", architecture=arch, aux=aux)
    ck = load_checkpoint(tmp_path / "m")
    z = torch.randn(4, cfg.latent_size)
    assert torch.equal(ck.model.decode(z), model.decode(z))
    assert set(ck.aux) == set(aux)
    for role, mod in aux.items():
        x = model.decode(z)
        assert torch.equal(ck.aux[role](x), mod(x))
    if arch == "conv_ae":  # the fitted prior travels in the safetensors
        assert torch.equal(ck.model.prior_mean, model.prior_mean)
        assert torch.equal(ck.model.prior_scale, model.prior_scale)


def test_engine_latents_use_the_fitted_prior_only_where_the_manifest_says_so(tmp_path):
    model = ConvAE(ConvAEConfig(z_dim=2, base=4, hidden=8)).eval()
    model.fit_prior(torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 0.1 + 5.0)
    save_checkpoint(tmp_path / "m", model, id="m", architecture="conv_ae")
    ck, engine = load_checkpoint(tmp_path / "m"), Engine()
    assert prior_of(ck) is None and torch.equal(engine.latents(ck, 4, seed=3), latent.sample(4, 2, seed=3))
    ck.manifest.raw["latent"]["prior"] = "fitted_normal"  # what `genlab train ae` writes
    z = engine.latents(ck, 1000, seed=3)
    assert torch.allclose(z.mean(0), torch.tensor([5.0, 5.0]), atol=0.05)  # sampled around the codes, not 0
    assert torch.equal(engine.latents(ck, 4, seed=3), engine.latents(ck, 4, seed=3))  # still a pure seed -> z
    shrunk = engine.latents(ck, 1000, seed=3, psi=0.0)
    assert torch.allclose(shrunk, ck.model.prior_mean.expand(1000, 2))  # psi 0: every draw at the fitted mean


@pytest.mark.parametrize("cls,bad", [(ConvAEConfig, {"z_dim": 0}), (ConvAEConfig, {"beta": 4}),
                                     (MLPGANConfig, {"width": 0}), (MLPGANConfig, {"dropout": 1.0})])
def test_new_config_validation(cls, bad):
    with pytest.raises(ConfigError):
        cls.from_dict({**cls().to_dict(), **bad})
