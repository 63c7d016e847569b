"""The temp-folder janitor (genlab.ui.files.trim_tree) against Gradio's way of caching outputs: one folder per
content hash, reused whenever the same image is returned again."""
from __future__ import annotations

import os
import time

from genlab.ui.files import FOLDER_GRACE_S, trim_tree


def _age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_old_files_go_and_old_empty_folders_follow(tmp_path):
    old = tmp_path / "aaa" / "image.png"
    old.parent.mkdir()
    old.write_bytes(b"x")
    _age(old, 1000)
    fresh = tmp_path / "bbb" / "image.png"
    fresh.parent.mkdir()
    fresh.write_bytes(b"y")
    assert trim_tree(tmp_path, max_age_s=900, max_files=100) == 1
    assert not old.exists() and fresh.exists()
    assert old.parent.is_dir()  # just emptied: Gradio may be about to write the same content into it again
    _age(old.parent, FOLDER_GRACE_S + 1)
    trim_tree(tmp_path, max_age_s=900, max_files=100)
    assert not old.parent.exists() and fresh.parent.is_dir()


def test_a_folder_gradio_just_made_is_not_removed_under_it(tmp_path):
    """Gradio does mkdir(hash) and then writes the file: an empty new folder must survive a pass."""
    made = tmp_path / "ccc"
    made.mkdir()
    trim_tree(tmp_path, max_age_s=900, max_files=100)
    assert made.is_dir()
    (made / "image.png").write_bytes(b"z")  # the write that failed with FileNotFoundError before


def test_oldest_beyond_the_cap_go_first(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"d{i}" / "image.png"
        p.parent.mkdir()
        p.write_bytes(b"x")
        _age(p, 100 - i)
        paths.append(p)
    assert trim_tree(tmp_path, max_age_s=900, max_files=3) == 2
    assert [p.exists() for p in paths] == [False, False, True, True, True]
