"""The explore view's readable direction names ("3 -> 8"), on tiny models and the shipped ones."""
from __future__ import annotations

import re

import pytest

from genlab.views import ExplorerError

READABLE = re.compile(r"^(\d -> \d|same digit, new style)$")


def test_direction_labels_pair_readable_and_technical_names(ex):
    labels = ex.direction_labels("tiny-gan", "sefa")
    dirs = ex.directions("tiny-gan", "sefa")
    assert [t for _, t in labels] == list(dirs.names)
    assert all(READABLE.match(r) for r, _ in labels)
    assert ex.direction_labels("tiny-gan", "sefa") is labels  # cached


def test_custom_directions_are_named_too(ex):
    ex.group_direction("tiny-vae", [1, 2], [3], name="named")
    (readable, technical), = ex.direction_labels("tiny-vae", "custom:named")
    assert technical == ex.directions("tiny-vae", "custom:named").names[0] and READABLE.match(readable)


def test_unknown_method(ex):
    with pytest.raises(ExplorerError, match="unknown direction method"):
        ex.direction_labels("tiny-gan", "kl_dims")


@pytest.mark.parametrize("model,method", [("mnist-dcgan", "ganspace"), ("mnist-dcgan", "sefa"),
                                          ("mnist-vae", "kl_dims"), ("mnist-vae-2d", "pca_encodings")])
def test_shipped_models_get_digit_names(shipped, model, method):
    labels = shipped.direction_labels(model, method)
    print(model, method, labels)
    assert all(READABLE.match(r) for r, _ in labels)
    # trained models: most discovered directions turn one digit into another
    assert sum("->" in r for r, _ in labels) >= len(labels) // 2
