"""Registry: scanning without loading, broken entries beside good ones, caching, thread safety."""
import threading

import pytest

from conftest import make_checkpoint
from genlab.checkpoints import CheckpointError
from genlab.registry import Registry, default_roots


def test_broken_entry_is_listed_with_its_reason_and_others_work(tmp_path):
    make_checkpoint(tmp_path, "good", "dcgan")
    bad = make_checkpoint(tmp_path, "bad", "dcgan")
    (bad / "manifest.json").write_text("{oops")
    reg = Registry([tmp_path])
    entries = {e.id: e for e in reg.entries()}
    assert entries["good"].available and not entries["bad"].available
    assert "bad JSON" in entries["bad"].error
    assert reg.ids() == ["good"]
    assert reg.get("good").manifest.id == "good"
    with pytest.raises(CheckpointError, match="unavailable"):
        reg.get("bad")
    with pytest.raises(KeyError, match="no model 'nope'.*available: good"):
        reg.get("nope")


def test_scanning_never_loads_weights(tmp_path):
    folder = make_checkpoint(tmp_path, "m", "dcgan")
    (folder / "model.safetensors").write_bytes(b"garbage")  # only a load would notice
    reg = Registry([tmp_path])
    assert reg.ids() == ["m"] and reg.load_count == 0
    with pytest.raises(CheckpointError, match="differs from the manifest"):
        reg.get("m")


def test_get_loads_once_per_device_and_caches(ckpt_root):
    reg = Registry([ckpt_root])
    a = reg.get("tiny-dcgan")
    assert reg.get("tiny-dcgan") is a and reg.load_count == 1
    assert reg.cached() == [("tiny-dcgan", "cpu")]


def test_concurrent_gets_of_the_same_model_load_it_once(ckpt_root):
    reg = Registry([ckpt_root])
    results, barrier = [], threading.Barrier(8)

    def worker(mid):
        barrier.wait()
        results.append(reg.get(mid))

    threads = [threading.Thread(target=worker, args=(("tiny-dcgan", "tiny-conv-vae")[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.load_count == 2
    assert len({id(r) for r in results}) == 2


def test_lru_cache_is_bounded_by_bytes(ckpt_root):
    reg = Registry([ckpt_root], cache_bytes=1)  # room for one model at a time
    reg.get("tiny-dcgan")
    reg.get("tiny-conv-vae")
    assert reg.cached() == [("tiny-conv-vae", "cpu")]
    reg.get("tiny-dcgan")
    assert reg.load_count == 3


def test_roots_from_env_and_duplicates(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    make_checkpoint(a, "same", "dcgan")
    make_checkpoint(b, "same", "dcgan")
    make_checkpoint(b, "other", "mlp_vae")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(a))
    roots = default_roots([b])
    assert roots[1:] == [a, b]
    reg = Registry([a, b])
    assert sorted(reg.ids()) == ["other", "same"]
    dup = [e for e in reg.entries() if not e.available]
    assert len(dup) == 1 and "duplicate id 'same'" in dup[0].error


def test_shipped_checkpoints_all_load():
    reg = Registry()
    assert not [e for e in reg.entries(None) if not e.available], "a shipped entry is broken"
    for mid in reg.ids():
        ckpt = reg.get(mid)
        assert sum(p.numel() for p in ckpt.model.parameters()) == ckpt.manifest.num_params


def test_files_changed_on_disk_are_noticed(tmp_path, monkeypatch):
    import genlab.registry as regmod

    monkeypatch.setattr(regmod, "RECHECK_S", 0.0)
    make_checkpoint(tmp_path, "a", "dcgan")
    make_checkpoint(tmp_path, "b", "conv_vae")
    reg = Registry([tmp_path])
    reg.get("a")
    reg.get("b")
    (tmp_path / "a" / "model.safetensors").write_bytes(b"corrupted while serving")
    with pytest.raises(CheckpointError, match="differs from the manifest|sha256"):
        reg.get("a")
    assert reg.get("b").manifest.id == "b"  # the others keep working
    (tmp_path / "b" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing weight file"):
        reg.get("b")
