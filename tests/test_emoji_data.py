"""The emoji-offline source on a tiny fixture (no network): cleaning, compositing, split, cache, errors,
and a 2-step training smoke run per family at 64x64x3; plus the shipped emoji-data checkpoint."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from genlab import data as gdata
from genlab import emoji as gemoji
from genlab.checkpoints import parse_manifest
from genlab.registry import Registry

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TARBALLS = [FIXTURES / n for n in ("emoji-twitter-mini.tgz", "emoji-google-mini.tgz", "fluent-emoji-3d-mini.tgz")]
SHIPPED = REPO / "checkpoints" / "emoji-data"


@pytest.fixture(scope="module")
def mini() -> gemoji.EmojiSet:
    return gemoji.build_emoji(TARBALLS)


def names(e, style):
    return sorted(e.name[e.style == gemoji.STYLES.index(style)].tolist())


def test_cleaning_drops_flags_components_and_duplicates(mini):
    fruit = ["grinning face", "hash key", "red apple", "waving hand sign"]
    assert names(mini, "Twemoji") == ["dog face", *fruit]  # green apple = red apple's image there: a duplicate
    assert names(mini, "Noto") == ["dog face", "green apple", *fruit]
    assert names(mini, "Fluent 3D") == ["green apple", *fruit]  # no dog file; "0023_20E3.webp" joined to 0023-FE0F-20E3
    assert len(mini) == 16 and not {"united states", "emoji modifier fitzpatrick type-1-2"} & set(mini.name.tolist())
    assert mini.category_names.tolist() == list(gemoji.CATEGORIES) and "Flags" not in gemoji.CATEGORIES
    assert mini.category_names[mini.category[mini.name == "dog face"][0]] == "Animals & Nature"
    assert mini.subcategory_names[mini.subcategory[mini.name == "red apple"][0]] == "food-fruit"


def test_rgba_composited_on_white_and_fluent_resized(mini):
    assert mini.images.shape[1:] == (64, 64, 3) and mini.images.dtype == np.uint8
    for im in mini.images:
        assert (im[0, -1] == 255).all()  # the transparent corner is white
    noto_apple = mini.images[(mini.name == "red apple") & (mini.style == 1)][0]
    assert noto_apple[32, 32].tolist() == [220, 20, 20]  # opaque stays as drawn
    assert np.abs(noto_apple[50, 32].astype(int) - [237, 137, 137]).max() <= 1  # alpha 128 over white
    fluent = mini.images[(mini.name == "red apple") & (mini.style == 2)][0]  # 256 px -> 64 px
    assert fluent[32, 32].tolist() == [220, 20, 20] and (fluent[2, 2] < 100).all()  # its style mark survives


def test_skin_tones_are_optional():
    e = gemoji.build_emoji(TARBALLS, skin_tones=True)
    tones = e.name[np.char.endswith(e.name, "(1f3fb)")]
    assert len(e) == 19 and len(tones) == 3
    assert set(e.category[np.char.endswith(e.name, "(1f3fb)")].tolist()) == {gemoji.CATEGORIES.index("People & Body")}


def test_norm_key_joins_fluent_names():
    assert gemoji.norm_key("0023-FE0F-20E3") == gemoji.norm_key("0023_20e3") == "23-20e3"
    assert gemoji.norm_key("1F44B-1F3FB") == "1f44b-1f3fb"


def test_split_is_seeded_disjoint_and_holds_out_whole_emoji():
    keys = np.repeat(np.array([f"k{i}" for i in range(60)]), 3)  # every emoji in three styles
    cat = np.repeat(np.arange(60) % 3, 3)
    tr, te = gemoji.group_split(keys, cat, 0.1, seed=0)
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(180))
    assert not set(keys[tr]) & set(keys[te])  # no drawing of a held-out emoji is trained on
    assert np.bincount(cat[te] , minlength=3).tolist() == [6, 6, 6]  # 10% of each category's 20 emoji x 3 styles
    assert np.array_equal(te, gemoji.group_split(keys, cat, 0.1, seed=0)[1])
    assert not np.array_equal(te, gemoji.group_split(keys, cat, 0.1, seed=1)[1])


def test_npz_round_trip_and_no_pickles(tmp_path, mini):
    path = gemoji.save_npz(tmp_path / "e.npz", mini.arrays())
    back = gemoji.load_npz(path)
    assert np.array_equal(back.images, mini.images) and back.name.tolist() == mini.name.tolist()
    assert gemoji.save_npz(tmp_path / "f.npz", mini.arrays()).read_bytes() == path.read_bytes()  # reproducible
    bad = {**mini.arrays(), "name": np.array(mini.name.tolist(), dtype=object)}
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="not a valid genlab emoji npz"):
        gemoji.load_npz(tmp_path / "bad.npz")


def test_no_npm_no_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gemoji.shutil, "which", lambda _: None)
    with pytest.raises(gdata.DataUnavailableError) as err:
        gemoji.load_offline_emoji(shipped_dir=tmp_path / "none")
    msg = str(err.value)
    assert "npm" in msg and str(tmp_path / "cache" / "emoji" / "npm") in msg and "emoji-datasource-twitter" in msg


def test_wrong_tarball_is_refused(tmp_path):
    (tmp_path / gemoji.PACKAGES[0].tarball).write_bytes(TARBALLS[0].read_bytes())
    with pytest.raises(ValueError, match="sha256"):
        gemoji.check_tarball(tmp_path / gemoji.PACKAGES[0].tarball, gemoji.PACKAGES[0])


def test_cached_npz_is_used_and_to_range(tmp_path, monkeypatch, mini):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    gemoji.save_npz(gemoji.cache_file(), mini.arrays())
    e = gemoji.load_offline_emoji(allow_fetch=False, shipped_dir=tmp_path / "none")
    assert len(e) == len(mini)
    x = gemoji.to_range(e.images[:4], (-1.0, 1.0), 64, 3)
    assert x.shape == (4, 3, 64, 64) and x.max() == 1.0 and x.min() >= -1.0
    assert gemoji.to_range(e.images[:4], (0.0, 1.0), 32, 3).shape == (4, 3, 32, 32)  # Lanczos downscale
    assert gemoji.to_range(e.images[:4], (0.0, 1.0), 28, 1).shape == (4, 1, 28, 28)


@pytest.fixture
def mini_shipped(tmp_path, monkeypatch, mini):
    """The fixture set, with a training split big enough for 2 steps, as the shipped emoji-data."""
    e = dataclasses.replace(mini, train_idx=np.arange(12), test_idx=np.arange(12, 16))
    gemoji.save_npz(tmp_path / "data" / gemoji.SHIPPED_NAME, e.arrays())
    monkeypatch.setattr(gemoji, "SHIPPED_DIR", tmp_path / "data")
    return e


def test_get_dataset_emoji(mini_shipped):
    ds = gdata.get_dataset("emoji-offline", "test", (0.0, 1.0), 32, 3)
    x, y = ds[0]
    assert len(ds) == 4 and x.shape == (3, 32, 32) and isinstance(y, int)


def test_shipped_emoji_data_checkpoint():
    m = parse_manifest(SHIPPED)
    assert m.kind == "dataset" and m.id == "emoji-data"
    assert "emoji-data" not in Registry([SHIPPED.parent]).ids()  # a dataset, like mnist-digits: not a model
    for p in SHIPPED.iterdir():
        assert p.stat().st_size < 20 * 2**20, p
    f = m.file("emoji")
    assert gdata.file_sha256(SHIPPED / f.path) == f.sha256
    e = gemoji.load_npz(SHIPPED / f.path)
    assert len(e) == 4839 and np.bincount(e.style).tolist() == [1610, 1631, 1598]
    assert m.dataset["n_train"] == len(e.train_idx) and m.dataset["n_test"] == len(e.test_idx)
    assert not set(e.key[e.train_idx].tolist()) & set(e.key[e.test_idx].tolist())
    card = (SHIPPED / "README.md").read_text()
    for words in ("Twemoji graphics (c) Twitter, Inc. and other contributors, licensed CC BY 4.0",
                  "creativecommons.org/licenses/by/4.0", "composited on", "Noto Emoji images (c) Google, Apache License 2.0",
                  "TERMS AND CONDITIONS FOR USE", "Fluent Emoji (c) Microsoft Corporation, MIT License",
                  "Permission is hereby granted"):
        assert words in card, words
    assert json.loads((SHIPPED / "manifest.json").read_text())["dataset"]["category_counts"]["People & Body"] == 1102


def test_uploaded_rgba_emoji_is_prepared_like_the_training_images(mini):
    """An RGBA emoji file through the upload path (genlab.preprocess, 3 channels) matches the data's pixels:
    transparency composited on white, Lanczos to 64 px."""
    from genlab.preprocess import prepare_upload

    members = gemoji.read_members(TARBALLS[1], lambda n: n.endswith("1f34e.png"))
    img, info = prepare_upload(next(iter(members.values())), 64, 3)
    ref = mini.images[(mini.name == "red apple") & (mini.style == 1)][0]
    assert img.shape == (64, 64, 3) and np.abs(img.astype(int) - ref).max() <= 1
    assert "transparency composited onto white" in info["notes"]
    members = gemoji.read_members(TARBALLS[2], lambda n: n.endswith("1f34e.webp"))  # 256-px Fluent
    img, _ = prepare_upload(next(iter(members.values())), 64, 3)
    ref = mini.images[(mini.name == "red apple") & (mini.style == 2)][0]
    assert np.abs(img.astype(int) - ref).mean() < 2
