"""A short soak in the default test run: 10 gradio_client users for ~30 s against a real `python app.py`.

The full one is `make soak` (30 users, 5 minutes, the shipped models; results in bench/results/soak.json).
Here the models are tiny, so the server is busy with Gradio itself: queueing, files, uploads, sessions.
"""
import json
from pathlib import Path

import pytest

from bench.soak import run_soak, table
from conftest import make_checkpoint

pytestmark = pytest.mark.server
ARTIFACTS = Path(__file__).resolve().parents[1] / "tests" / "artifacts"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("soak-root")
    make_checkpoint(root, "soak-gan", "dcgan")
    make_checkpoint(root, "soak-vae", "conv_vae", seed=1)
    res = run_soak(users=10, seconds=25, checkpoints=[root], gan="soak-gan", vae="soak-vae", warmup_s=5,
                   max_rss_growth_mb=100, max_temp_files=2500, workdir=tmp_path_factory.mktemp("soak"), log=lambda *a: None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "soak_short.json").write_text(json.dumps(res, indent=2) + "\n")
    print("\n" + table(res))
    return res


def test_no_request_lost_or_failed(result):
    assert result["errors"] == 0, result["error_messages"]
    assert result["hung_users"] == 0 and result["setup_errors"] == 0
    for name in ("explore", "samples", "interpolate", "reconstruct"):
        assert result["endpoints"][name]["requests"] > 0, f"no {name} requests: the mix is broken"


def test_server_memory_and_temp_dir_stay_bounded(result):
    assert result["rss_mb"]["growth_after_warmup"] < 100, result["rss_mb"]
    assert result["temp_dir"]["max_files_sampled"] <= 2500, result["temp_dir"]


def test_server_log_is_clean(result):
    assert result["server_log_tracebacks"] == 0
