"""Discovered directions on tiny real checkpoints: GANSpace, SeFa, VAE KL order, PCA of encodings,
raw dims, custom group vectors, traversals and dispatch errors. Seeded, CPU, seconds."""
import pytest
import torch

from genlab import directions as D
from genlab import latent
from genlab.checkpoints import load_checkpoint
from genlab.engine import Engine
from conftest import make_checkpoint


@pytest.fixture(scope="module")
def engine():
    return Engine(max_batch=256)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirs")
    return {arch: load_checkpoint(make_checkpoint(root, arch.replace("_", "-"), arch))
            for arch in ("dcgan", "conv_vae", "mlp_vae")}


@pytest.fixture(scope="module")
def images():
    return torch.rand(64, 1, 28, 28, generator=latent.cpu_generator(0))


def orthonormal(v: torch.Tensor) -> bool:
    return torch.allclose(v @ v.T, torch.eye(v.shape[0]), atol=1e-5)


class TestGANSpace:
    def test_shapes_norms_scores_and_determinism(self, ckpts, engine):
        d = D.ganspace(ckpts["dcgan"], engine, k=5, n=1000, seed=1)
        assert d.method == "ganspace" and d.vectors.shape == (5, 8) and d.vectors.dtype == torch.float32
        assert torch.allclose(d.vectors.norm(dim=1), torch.ones(5), atol=1e-5)
        assert torch.equal(d.sigmas, torch.ones(5))
        assert torch.all(d.scores[:-1] >= d.scores[1:]) and 0 < d.scores.sum() <= 1
        assert d.names[0].startswith("GANSpace PC1 (") and d.names[0].endswith("% var)")
        again = D.ganspace(ckpts["dcgan"], engine, k=5, n=1000, seed=1)
        assert torch.equal(d.vectors, again.vectors) and torch.equal(d.scores, again.scores)

    def test_k_is_capped_at_the_latent_size(self, ckpts, engine):
        assert len(D.ganspace(ckpts["dcgan"], engine, k=50, n=500)) == 8

    def test_direction_j_moves_activation_pc_j_most(self, ckpts, engine):
        ck = ckpts["dcgan"]
        d = D.ganspace(ck, engine, k=8, n=2000, seed=0)
        block = D.first_block(ck)
        acts = block(latent.sample(2000, 8, 0)).double()  # same samples ganspace used
        mean, comps, _ = latent.pca(acts, 8)
        project = lambda z: (block(z).double() - mean.double()) @ comps.double().T  # noqa: E731
        z = latent.sample(16, 8, seed=7)
        for j in range(len(d)):
            delta = (project(z + 0.5 * d.vectors[j]) - project(z)).abs().mean(0)
            assert int(delta.argmax()) == j, (j, delta)


class TestTopPCA:
    def test_randomized_path_matches_exact_pca(self, monkeypatch):
        g = latent.cpu_generator(1)
        basis = torch.linalg.qr(torch.randn(300, 5, generator=g))[0].T  # [5, 300] orthonormal
        x = (torch.randn(400, 5, generator=g) * torch.tensor([10.0, 6, 4, 3, 2])) @ basis
        x = x + 0.1 * torch.randn(400, 300, generator=g) + 5.0
        exact = latent.pca(x, 4)
        monkeypatch.setattr(D, "_EXACT_PCA_MAX", 0)  # force the large-input path
        fast = D.top_pca(x, 4, seed=0)
        assert torch.allclose(fast[0], exact[0], atol=1e-4)
        assert torch.allclose((fast[1] * exact[1]).sum(1), torch.ones(4), atol=1e-4)  # same signs too
        assert torch.allclose(fast[2], exact[2], rtol=1e-4)
        assert all(torch.equal(a, b) for a, b in zip(fast, D.top_pca(x, 4, seed=0)))


class TestSeFa:
    @pytest.mark.parametrize("arch", ["dcgan", "conv_vae", "mlp_vae"])
    def test_eigenvectors_are_orthonormal_and_ranked(self, ckpts, arch):
        ck = ckpts[arch]
        d = D.sefa(ck, k=10)
        a = D.first_layer_matrix(ck).float()
        assert len(d) == ck.manifest.latent_size and orthonormal(d.vectors)
        gains = (d.vectors @ a.T).norm(dim=1)  # ||A v_j||
        assert torch.all(gains[:-1] >= gains[1:] - 1e-6)
        assert torch.allclose(gains**2, d.scores, rtol=1e-4)
        rand = torch.randn(200, a.shape[1], generator=latent.cpu_generator(3))
        rand = rand / rand.norm(dim=1, keepdim=True)
        assert torch.all(gains[0] >= (rand @ a.T).norm(dim=1) - 1e-6)
        top = d.vectors.gather(1, d.vectors.abs().argmax(1, keepdim=True))
        assert torch.all(top > 0)  # deterministic sign

    def test_dcgan_matrix_is_the_first_convtranspose(self, ckpts):
        ck = ckpts["dcgan"]
        z = latent.sample(3, 8, 0)
        a = D.first_layer_matrix(ck).float()
        direct = ck.model.main[0](z[:, :, None, None]).flatten(1)
        assert torch.allclose(z @ a.T, direct, atol=1e-5)


def _vae_with_dead_dims(tmp_path, active=(1, 3), dead=(0, 2)):
    """A tiny conv VAE whose ``dead`` dims give mu=0, logvar=0 (KL exactly 0) for every input."""
    ck = load_checkpoint(make_checkpoint(tmp_path, "kl-vae", "conv_vae"))
    with torch.no_grad():
        for layer in (ck.model.fc_mu, ck.model.fc_logvar):
            layer.weight[list(dead)] = 0
            layer.bias[list(dead)] = 0
        ck.model.fc_mu.weight[list(active)] *= 20  # spread the active means far from 0
        ck.model.fc_mu.bias[active[0]] = 3.0  # and make dim 1 the most informative
        ck.model.fc_logvar.bias[list(active)] = -2.0
    return ck


class TestKLDims:
    def test_active_dims_first_inactive_last(self, tmp_path, engine, images):
        d = D.kl_dims(_vae_with_dead_dims(tmp_path), engine, images)
        assert d.method == "kl_dims" and d.dims[:2] == (1, 3) and set(d.dims[2:]) == {0, 2}
        assert torch.all(d.scores[:2] > 0.5) and torch.allclose(d.scores[2:], torch.zeros(2), atol=1e-6)
        assert torch.equal(d.vectors, torch.eye(4)[[1, 3, 0, 2]]) and torch.equal(d.sigmas, torch.ones(4))
        assert d.names[0].startswith("z[1] (KL ") and d.names[-1] == "z[2] (KL 0.00 nats)"

    def test_k_keeps_the_top(self, tmp_path, engine, images):
        d = D.kl_dims(_vae_with_dead_dims(tmp_path), engine, images, k=1)
        assert d.dims == (1,) and d.vectors.shape == (1, 4)

    def test_gan_has_no_encoder(self, ckpts, engine, images):
        with pytest.raises(ValueError, match="no encoder"):
            D.kl_dims(ckpts["dcgan"], engine, images)


class TestPCAEncodings:
    @pytest.mark.parametrize("arch", ["conv_vae", "mlp_vae"])
    def test_sigmas_are_projected_std(self, ckpts, engine, images, arch):
        ck = ckpts[arch]
        d = D.pca_encodings(ck, engine, images, k=10)
        mu, _ = engine.encode(ck, images)
        assert len(d) == ck.manifest.latent_size and orthonormal(d.vectors)
        proj = (mu - mu.mean(0)) @ d.vectors.T
        assert torch.allclose(d.sigmas, proj.std(0), rtol=1e-4)
        assert torch.all(d.scores[:-1] >= d.scores[1:]) and abs(float(d.scores.sum()) - 1) < 1e-4
        assert d.names[0].startswith("PCA 1 of encodings (") and d.names[0].endswith("%)")


class TestSimpleDirections:
    def test_raw_dims_and_offset(self):
        d = D.raw_dims(5, [3, 0])
        assert d.dims == (3, 0) and d.names == ("z[3]", "z[0]")
        assert torch.equal(d.offset([2.0, -1.0]), torch.tensor([-1.0, 0, 0, 2.0, 0]))
        with pytest.raises(ValueError):
            D.raw_dims(5, [5])
        with pytest.raises(ValueError, match="slider weights"):
            d.offset([1.0])

    def test_offset_scales_by_sigma(self):
        d = D.Directions("custom", ("a", "b"), torch.eye(3)[:2], torch.tensor([2.0, 0.5]), torch.zeros(2))
        assert torch.equal(d.offset(torch.tensor([1.5, 2.0])), torch.tensor([3.0, 1.0, 0.0]))

    def test_from_groups(self):
        a = torch.tensor([[0.0, 0.0], [0.0, 2.0]])  # mean (0, 1)
        b = torch.tensor([[4.0, 1.0]])  # mean (4, 1): direction +x, gap 4
        d = D.from_groups(a, b, "smile")
        assert d.method == "custom" and d.names == ("smile",)
        assert torch.allclose(d.vectors, torch.tensor([[1.0, 0.0]]))
        assert torch.allclose(d.scores, torch.tensor([4.0]))
        # projections on +x: 0, 0, 4 -> population std sqrt(32/9)
        assert torch.allclose(d.sigmas, torch.tensor([(32 / 9) ** 0.5]))
        pair = D.from_groups(torch.zeros(1, 3), torch.tensor([[0.0, 6.0, 0.0]]), "x")
        assert torch.allclose(pair.sigmas, torch.tensor([3.0]))  # two points: +2 sigma goes a -> b
        assert torch.allclose(pair.offset([2.0]), torch.tensor([0.0, 6.0, 0.0]))

    def test_from_groups_errors(self):
        with pytest.raises(ValueError, match="same mean"):
            D.from_groups(torch.ones(2, 3), torch.ones(1, 3), "x")
        with pytest.raises(ValueError, match="non-empty"):
            D.from_groups(torch.ones(2, 3), torch.ones(2, 4), "x")

    def test_traversal(self):
        d = D.Directions("raw", ("z[1]",), torch.tensor([[0.0, 1.0]]), torch.tensor([2.0]), torch.zeros(1))
        t = D.traversal(torch.tensor([1.0, 1.0]), d, 0, steps=7, span=3.0)
        assert t.shape == (7, 2) and torch.all(t[:, 0] == 1)
        assert torch.allclose(t[:, 1], 1 + 2 * torch.linspace(-3, 3, 7))
        with pytest.raises(ValueError):
            D.traversal(torch.zeros(2), d, 1)

    def test_inconsistent_directions_are_refused(self):
        with pytest.raises(ValueError, match="inconsistent"):
            D.Directions("raw", ("a",), torch.eye(2), torch.ones(2), torch.ones(2))


class TestCompute:
    def test_methods_for_family(self, ckpts):
        assert D.methods_for(ckpts["dcgan"].manifest) == ["ganspace", "sefa"]
        assert D.methods_for(ckpts["conv_vae"].manifest) == ["kl_dims", "pca_encodings"]

    def test_dispatch(self, ckpts, engine, images):
        assert D.compute(ckpts["dcgan"], engine, "sefa", k=3).method == "sefa"
        assert len(D.compute(ckpts["conv_vae"], engine, "kl_dims", images01=images, k=2)) == 2
        assert D.compute(ckpts["dcgan"], engine, "raw", k=3).dims == (0, 1, 2)

    @pytest.mark.parametrize("method", ["kl_dims", "pca_encodings"])
    def test_missing_images(self, ckpts, engine, method):
        with pytest.raises(ValueError, match="held-out images"):
            D.compute(ckpts["conv_vae"], engine, method)

    def test_unknown_method(self, ckpts, engine):
        with pytest.raises(ValueError, match="unknown direction method 'nope'"):
            D.compute(ckpts["dcgan"], engine, "nope")
