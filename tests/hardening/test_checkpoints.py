"""Checkpoint safety: pickles disguised as weights, lying safetensors headers, hostile manifests, symlinks,
FIFOs and devices, through ``load_checkpoint`` and ``Registry.get``: nothing is ever unpickled or executed."""
from __future__ import annotations

import json
import os
import shutil
import stat
import time

import numpy as np
import pytest
import torch

from conftest import make_checkpoint
from genlab.checkpoints import (CheckpointError, load_checkpoint, parse_manifest, read_manifest, sha256_bytes,
                                write_manifest)
from genlab.views import Explorer, ExplorerError, SampleRequest
from genlab.registry import Registry
from hardening.helpers import (Payload, refit, pickled_payloads, markers, in_thread, safetensors_parts, safetensors_join)


class TestPicklesNeverRun:
    def test_pickle_disguised_as_model_safetensors(self, good, tmp_path, no_unpickling):
        for name, data in pickled_payloads(tmp_path).items():
            refit(good, "model.safetensors", data)
            reg = Registry([good.parent])
            assert reg.entry("good").available  # the manifest itself is fine: only the weights are hostile
            with pytest.raises(CheckpointError, match="not a safetensors file|unreadable safetensors") as info:
                reg.get("good")
            assert "model.safetensors" in str(info.value), name
            with pytest.raises(ExplorerError, match="cannot be loaded"):
                Explorer(reg).samples(SampleRequest("good", n=4))
        assert markers(tmp_path) == []

    def test_pickle_as_aux_and_snapshot_files(self, good, tmp_path, no_unpickling):
        payload = pickled_payloads(tmp_path)["torch.save zip"]
        refit(good, "snapshots/epoch-0001.safetensors", payload)
        ex = Explorer(Registry([good.parent]))
        ex.samples(SampleRequest("good", n=4))  # the final weights are fine
        with pytest.raises(ExplorerError, match="snapshot of epoch 1 cannot be loaded"):
            ex.scrub("good", 1)
        refit(good, "discriminator.safetensors", payload)
        with pytest.raises(ExplorerError, match="discriminator.safetensors"):
            Explorer(Registry([good.parent])).samples(SampleRequest("good", n=4))
        assert markers(tmp_path) == []

    @pytest.mark.parametrize("suffix", [".pth", ".pkl", ".pt", ".bin", ".ckpt"])
    def test_manifest_naming_a_pickle_file_is_refused(self, good, tmp_path, suffix, no_unpickling):
        payload = pickled_payloads(tmp_path)["torch.save zip"]
        (good / f"model{suffix}").write_bytes(payload)
        m = read_manifest(good)
        m["files"][0].update(path=f"model{suffix}", sha256=sha256_bytes(payload), bytes=len(payload))
        write_manifest(good, m)
        reg = Registry([good.parent])
        assert not reg.entry("good").available and "not a .safetensors file" in reg.entry("good").error
        with pytest.raises(ExplorerError, match=r"unavailable: .*not a \.safetensors file"):
            Explorer(reg).samples(SampleRequest("good", n=4))
        assert markers(tmp_path) == []

    def test_stray_pickles_next_to_a_manifest_are_never_opened(self, good, tmp_path, no_unpickling):
        for name in ("netG.pth", "evil.pkl", "model.pt", "manifest.json.pkl"):
            (good / name).write_bytes(pickled_payloads(tmp_path)["torch.save zip"])
        ex = Explorer(Registry([good.parent]))
        assert ex.samples(SampleRequest("good", n=4)).image.dtype == np.uint8
        assert ex.scrub("good", 1).image is not None
        assert markers(tmp_path) == []

    def test_npz_with_object_arrays_is_refused(self, tmp_path, no_unpickling):
        from genlab.data import load_digits_npz

        path = tmp_path / "digits.npz"
        with open(path, "wb") as f:  # np.savez would pickle the object array; np.load must refuse it
            np.savez(f, images=np.array([Payload(tmp_path / "pwned-npz")], dtype=object))
        with pytest.raises(Exception) as info:
            load_digits_npz(path)
        assert "pickle" in str(info.value).lower() or "object" in str(info.value).lower()
        assert markers(tmp_path) == []


class TestLyingSafetensors:
    def _lie(self, good, mutate):
        header, body = safetensors_parts((good / "model.safetensors").read_bytes())
        mutate(header, body)
        return header, body

    @pytest.mark.parametrize("case", ["end past the file", "start past end", "overlapping", "wrong length for shape",
                                      "negative offset", "offsets not ints", "dtype unknown"])
    def test_offsets_that_lie_are_refused(self, good, case):
        header, body = safetensors_parts((good / "model.safetensors").read_bytes())
        key = next(k for k in sorted(header) if k != "__metadata__" and header[k]["shape"])
        a, b = header[key]["data_offsets"]
        header[key]["data_offsets"] = {
            "end past the file": [a, len(body) + 10**6], "start past end": [b, a], "overlapping": [0, b - a],
            "wrong length for shape": [a, b - 4], "negative offset": [-8, b], "offsets not ints": ["0", "x"],
            "dtype unknown": [a, b]}[case]
        if case == "dtype unknown":
            header[key]["dtype"] = "PICKLE"
        refit(good, "model.safetensors", safetensors_join(header, body))
        status, value = in_thread(lambda: load_checkpoint(good), 20)
        assert status == "raised", f"{case}: loaded or hung ({status})"
        assert isinstance(value, CheckpointError), f"{case}: {type(value).__name__}: {value}"
        assert "model.safetensors" in str(value) and ("unreadable safetensors" in str(value) or "safetensors" in str(value))

    @pytest.mark.parametrize("header", ["[1, 2, 3]", '"just a string"', "{\"a\": 1}", "{}", "\u00ff\u00fe"])
    def test_headers_that_are_not_tensor_tables(self, good, header):
        body = safetensors_parts((good / "model.safetensors").read_bytes())[1]
        refit(good, "model.safetensors", safetensors_join(header, body))
        with pytest.raises(CheckpointError, match="safetensors|missing tensors|unexpected tensors"):
            load_checkpoint(good)

    def test_deeply_nested_header_is_a_checkpoint_error(self, good):
        body = safetensors_parts((good / "model.safetensors").read_bytes())[1]
        refit(good, "model.safetensors", safetensors_join("[" * 50_000 + "]" * 50_000, body))
        with pytest.raises(CheckpointError, match="safetensors"):
            load_checkpoint(good)


class TestHostileManifests:
    def test_manifest_over_1_mb_is_listed_unavailable(self, good, tmp_path):
        make_checkpoint(good.parent, "other", "conv_vae")
        m = read_manifest(good)
        m["extra"] = {"pad": "x" * (1 << 20)}
        write_manifest(good, m)
        t = time.perf_counter()
        reg = Registry([good.parent])
        assert time.perf_counter() - t < 5
        e = reg.entry("good")
        assert not e.available and "bytes (limit 1048576)" in e.error
        assert reg.get("other").manifest.id == "other"

    @pytest.mark.parametrize("nest", ["[", '{"a":'])
    def test_deeply_nested_manifest_is_listed_unavailable(self, good, nest):
        make_checkpoint(good.parent, "other", "conv_vae")
        closer = "]" if nest == "[" else "}"
        text = json.dumps(read_manifest(good))[:-1] + ', "extra": {"x": ' + nest * 30_000 + "1" + closer * 30_000 + "}}"
        assert len(text) < 1 << 20
        (good / "manifest.json").write_text(text)
        reg = Registry([good.parent])
        assert not reg.entry("good").available and "JSON" in reg.entry("good").error
        assert reg.get("other").manifest.id == "other"

    def test_integer_with_5000_digits_is_listed_unavailable(self, good):
        text = json.dumps(read_manifest(good))[:-1] + ', "num_params": ' + "9" * 5000 + "}"
        (good / "manifest.json").write_text(text)
        reg = Registry([good.parent])
        assert not reg.entry("good").available

    def test_nul_byte_in_a_file_path_is_listed_unavailable(self, good):
        make_checkpoint(good.parent, "other", "conv_vae")
        m = read_manifest(good)
        m["files"][0]["path"] = "model\u0000.safetensors"
        write_manifest(good, m)
        reg = Registry([good.parent])
        assert not reg.entry("good").available
        assert reg.get("other").manifest.id == "other"

    @pytest.mark.parametrize("bad_id", ["a/b", "../x", "..", "a\\b", "/abs", "a\x00b", "Upper", "x" * 65, "", "-lead",
                                        "a b", "a\nb", 7, None, ["a"]])
    def test_ids_with_path_separators_and_odd_characters_are_refused(self, good, bad_id):
        m = read_manifest(good)
        m["id"] = bad_id
        write_manifest(good, m)
        with pytest.raises(CheckpointError, match="must match"):
            parse_manifest(good)
        e = Registry([good.parent]).entries(None)[0]
        assert not e.available and e.id == "good"  # listed under its folder name, never under the bad id

    def test_id_with_trailing_newline_is_refused(self, good):
        m = read_manifest(good)
        m["id"] = "good\n"
        write_manifest(good, m)
        with pytest.raises(CheckpointError, match="must match"):
            parse_manifest(good)

    @pytest.mark.parametrize("edit,words", [
        (lambda m: m.update(files="model.safetensors"), "'files' must be a list"),
        (lambda m: m.update(files=[{"role": "model", "path": "model.safetensors"}] * 1001), "'files' must be a list"),
        (lambda m: m["files"][0].update(path="sub/../../x.safetensors"), "inside the checkpoint folder"),
        (lambda m: m["files"][0].update(bytes=True), "declared size"),
        (lambda m: m["files"][0].update(bytes=-1), "declared size"),
        (lambda m: m["files"][0].update(sha256="A" * 64), "64 hex digits"),
        (lambda m: m.update(title="t" * 201), "title"),
        (lambda m: m.update(output_range=[float("nan"), 1.0]), "output_range"),
        (lambda m: m.update(output_range=[1, 0]), "output_range"),
        (lambda m: m.update(config=[]), "config"),
        (lambda m: m.update(kind="script"), "kind must be"),
    ])
    def test_hostile_fields_are_checkpoint_errors(self, good, edit, words):
        m = read_manifest(good)
        edit(m)
        (good / "manifest.json").write_text(json.dumps(m))  # json.dumps: NaN allowed here on purpose
        with pytest.raises(CheckpointError, match=words):
            parse_manifest(good)


class TestSymlinksAndSpecialFiles:
    def test_symlinked_folder_is_allowed_when_its_files_stay_inside_it(self, tmp_path):
        """Decision: a registry entry may be a symlink to a folder elsewhere (shared model stores); its
        files are checked against the *resolved* folder, so they may not escape that folder."""
        real = make_checkpoint(tmp_path / "store", "linked", "dcgan")
        root = tmp_path / "root"
        root.mkdir()
        (root / "linked").symlink_to(real)
        reg = Registry([root])
        z = torch.randn(3, 8)
        assert torch.equal(reg.get("linked").model.decode(z), load_checkpoint(real).model.decode(z))

    def test_file_inside_a_symlinked_folder_may_not_escape(self, tmp_path):
        real = make_checkpoint(tmp_path / "store", "linked", "dcgan")
        shutil.move(real / "discriminator.safetensors", tmp_path / "elsewhere.safetensors")
        (real / "discriminator.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
        root = tmp_path / "root"
        root.mkdir()
        (root / "linked").symlink_to(real)
        e = Registry([root]).entry("linked")
        assert not e.available and "points outside its folder" in e.error

    def test_symlink_loops_and_dangling_links_do_not_break_the_scan(self, tmp_path):
        root = tmp_path / "root"
        make_checkpoint(root, "fine", "dcgan")
        (root / "loop").symlink_to(root / "loop")
        (root / "dangling").symlink_to(tmp_path / "nowhere")
        (root / "fine" / "model-link.safetensors").symlink_to(root / "fine" / "model-link.safetensors")
        assert Registry([root]).ids() == ["fine"]

    def test_weight_file_symlinked_to_a_device_is_refused(self, good):
        (good / "model.safetensors").unlink()
        (good / "model.safetensors").symlink_to("/dev/zero")
        e = Registry([good.parent]).entry("good")
        assert not e.available and "points outside its folder" in e.error

    @pytest.mark.parametrize("rel", ["model.safetensors", "discriminator.safetensors", "snapshots/epoch-0001.safetensors"])
    def test_fifo_weight_file_does_not_hang(self, good, rel):
        (good / rel).unlink()
        os.mkfifo(good / rel)  # a reader that opened it would block forever: nobody writes
        reg = Registry([good.parent])
        ex = Explorer(reg)
        call = (lambda: ex.scrub("good", 1)) if "snapshots" in rel else (lambda: ex.samples(SampleRequest("good", n=4)))
        status, value = in_thread(call, 15)
        assert status == "raised", f"{rel}: {status} (a FIFO must be refused, not read)"
        assert isinstance(value, ExplorerError) and rel in str(value)
        assert "missing weight file" in str(value) or "not a regular file" in str(value)

    def test_fifo_manifest_does_not_hang_the_scan(self, good):
        make_checkpoint(good.parent, "fifo", "dcgan", snapshots=())
        (good.parent / "fifo" / "manifest.json").unlink()
        os.mkfifo(good.parent / "fifo" / "manifest.json")
        status, reg = in_thread(lambda: Registry([good.parent]), 15)
        assert status == "ok", status
        assert reg.ids() == ["good"]  # skipped: a FIFO is not a manifest file

    def test_character_device_weight_file_is_refused(self, good):
        (good / "model.safetensors").unlink()
        try:
            os.mknod(good / "model.safetensors", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
        except (PermissionError, OSError) as exc:
            pytest.skip(f"cannot create a device node here: {exc}")
        status, value = in_thread(lambda: Registry([good.parent]).get("good"), 15)
        assert status == "raised" and isinstance(value, CheckpointError), (status, value)
