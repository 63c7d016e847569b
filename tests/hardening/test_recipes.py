"""Recipes: malformed and oversized JSON is an ExplorerError, a good recipe round-trips, the app answers the
same, and users never see where the server keeps checkpoints."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file

from conftest import make_checkpoint
from genlab.views import Explorer, ExplorerError
from genlab.registry import Registry
from hardening.helpers import (in_thread, MAX_MESSAGE, still_serving, answered, Z4)


def _recipe(explorer) -> dict:
    return json.loads(explorer.recipe_json("tiny-vae", Z4, "kl_dims", (1.0,)))


BAD_RECIPES = {
    "not JSON": (lambda r: b"{recipe", "not valid JSON"),
    "not UTF-8": (lambda r: b"\xff\xfe{}", "not UTF-8"),
    "over 1 MB": (lambda r: json.dumps({**r, "pad": "x" * (1 << 20)}).encode(), "the limit is 1024 KB"),
    "nested 100,000 deep": (lambda r: b"[" * 100_000 + b"]" * 100_000, "nested too deeply|the limit"),
    "nested 5,000 deep": (lambda r: b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    "NaN in latent": (lambda r: json.dumps({**r, "latent": [float("nan")] * 4}).encode(), "NaN"),
    "Infinity constant": (lambda r: json.dumps(r).replace("1.0", "Infinity", 1).encode(), "Infinity|finite"),
    "a JSON array": (lambda r: b"[1, 2, 3]", "must be a JSON object"),
    "wrong version": (lambda r: json.dumps({**r, "genlab_recipe": 2}).encode(), "not a genlab recipe"),
    "unknown field": (lambda r: json.dumps({**r, "exec": "rm -rf /"}).encode(), "unknown field"),
    "missing model": (lambda r: json.dumps({**r, "model": "nope"}).encode(), "not installed"),
    "model with path": (lambda r: json.dumps({**r, "model": "../tiny-vae"}).encode(), "not installed"),
    "other weights": (lambda r: json.dumps({**r, "model_sha256": "0" * 64}).encode(), "different version"),
    "bad sha": (lambda r: json.dumps({**r, "model_sha256": "zz"}).encode(), "64 hex digits"),
    "latent too short": (lambda r: json.dumps({**r, "latent": [0, 0]}).encode(), "length 4"),
    "latent as text": (lambda r: json.dumps({**r, "latent": "[0,0,0,0]"}).encode(), "must be a list"),
    "65 weights": (lambda r: json.dumps({**r, "weights": [0.0] * 65}).encode(), "at most 64"),
    "weight 1e9": (lambda r: json.dumps({**r, "weights": [1e9]}).encode(), "between -10 and 10"),
    "pick past the latent": (lambda r: json.dumps({**r, "pick": [9, 1.0]}).encode(), "model has 4"),
    "1 keyframe": (lambda r: json.dumps({**r, "keyframes": [Z4]}).encode(), "2 to 16"),
    "steps 1000": (lambda r: json.dumps({**r, "keyframes": [Z4, Z4], "steps": 1000}).encode(), "between 2 and 64"),
    "5000-digit seed": (lambda r: (json.dumps(r)[:-1] + ', "seed": ' + "9" * 5000 + "}").encode(), "seed|digits|limit"),
    "400-digit seed": (lambda r: (json.dumps(r)[:-1] + ', "seed": ' + "9" * 400 + "}").encode(), "seed"),
}
BAD_RECIPE_BUGS: dict[str, str] = {}  # case -> reason, for a bug found here and not yet fixed


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_bad_recipes_are_explorer_errors(explorer, case):
    if case in BAD_RECIPE_BUGS:
        pytest.xfail(BAD_RECIPE_BUGS[case])  # not strict: covered strictly by TestExplorerBoundaryRegressions
    make, words = BAD_RECIPES[case]
    data = make(_recipe(explorer))
    status, value = in_thread(lambda: explorer.load_recipe(data), 20)
    assert status == "raised", f"{case}: {status}"
    assert isinstance(value, ExplorerError), f"{case}: {type(value).__name__}: {value}"
    assert re.search(words, str(value)), str(value)
    assert len(str(value)) <= MAX_MESSAGE


def test_a_good_recipe_round_trips(explorer):
    text = explorer.recipe_json("tiny-vae", Z4, "kl_dims", (1.0,))
    res = explorer.render_recipe(text)
    assert res.data["matches"] and res.image.dtype == np.uint8


@pytest.mark.server
def test_recipes_through_the_app(client, app_root, tmp_path):
    good = Explorer(Registry([app_root])).recipe_json("tiny-vae", Z4, "", ())
    png, info = client.predict(good, api_name="/render_recipe")
    assert Path(png).is_file() and "tiny-vae" in info
    for case in ("not JSON", "nested 5,000 deep", "over 1 MB", "unknown field", "other weights"):
        make, words = BAD_RECIPES[case]
        data = make(json.loads(good)).decode("utf-8", "replace")
        msg = answered(client, f"recipe {case} (text)", "/render_recipe", data)
        assert re.search(words, msg), msg
        path = tmp_path / f"{case.replace(' ', '-')}.json"
        path.write_bytes(make(json.loads(good)))
        msg = answered(client, f"recipe {case} (upload)", "/load_recipe", handle_file(str(path)))
        assert re.search(words, msg), msg
    (tmp_path / "recipe.png").write_bytes(b"\x89PNG not a recipe")
    msg = answered(client, "recipe upload with a .png name", "/load_recipe", handle_file(str(tmp_path / "recipe.png")))
    assert "Invalid file type" in msg or "recipe" in msg, msg
    still_serving(client)


def test_users_never_see_where_the_server_keeps_checkpoints(tmp_path):
    """Unavailable models and failed loads name the folder under its root, not the server's absolute path."""
    import gradio as gr

    from genlab.views import Explorer
    from genlab.registry import Registry
    from genlab.ui.app import UI

    root = tmp_path / "secret-place" / "models"
    make_checkpoint(root, "good", "conv_vae")
    make_checkpoint(root, "broken", "conv_vae")
    (root / "broken" / "manifest.json").write_text("{not json")
    make_checkpoint(root, "tampered", "conv_vae")
    with open(root / "tampered" / "model.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    ui = UI(Explorer(Registry([root])))
    table = {row[0]: row[-1] for row in ui.views["models"].models_table()}
    assert table["good"] == "ok"
    assert "models/broken/manifest.json" in table["broken"] and str(tmp_path) not in table["broken"]
    with pytest.raises(gr.Error) as err:
        ui.views["samples"].samples("tampered", 0, 4, 1.0, 1.0, False, False, False)
    assert "models/tampered/model.safetensors" in str(err.value) and str(tmp_path) not in str(err.value)
