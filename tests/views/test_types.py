"""The one slider-position type: Position round trips, ExploreRequest <-> Position, recipes carry it."""
from __future__ import annotations

import json

import pytest

from genlab.views import ExploreRequest, ExplorerError, Position


def test_position_round_trips_through_a_dict_and_json():
    pos = Position([0.25, -1.5, 3.0, 0.0], "kl_dims", (1.25, -0.5), (0.1, 0.0, -0.3), 2, 0.7)
    assert Position.from_dict(pos.to_dict()) == pos
    assert Position.from_dict(json.loads(json.dumps(pos.to_dict()))) == Position(
        [0.25, -1.5, 3.0, 0.0], "kl_dims", (1.25, -0.5), (0.1, 0.0, -0.3), 2, 0.7)
    assert Position.from_dict({"latent": [1.0]}) == Position([1.0])


def test_position_is_frozen_and_replaces_one_slider():
    pos = Position([0.0] * 4, "m", (1.0, 2.0), (3.0,), 1, 4.0)
    with pytest.raises(AttributeError):
        pos.method = "x"
    assert pos.replace_slider(1, 9.0).weights == (1.0, 9.0)
    assert pos.replace_slider(2, 9.0).raw == (9.0,)
    assert pos.replace_slider(3, 9.0).pick_value == 9.0 and pos.weights == (1.0, 2.0)


def test_explore_request_is_a_model_plus_a_position():
    req = ExploreRequest("m", [0.0, 1.0], "sefa", (0.5,), (0.1,), 1, 0.2)
    assert req.position == Position([0.0, 1.0], "sefa", (0.5,), (0.1,), 1, 0.2)
    assert ExploreRequest.of("m", req.position) == req


@pytest.mark.parametrize("bad", [[1, 2], {"pick": [1]}, {"weights": 3}])
def test_bad_position_dicts(bad):
    with pytest.raises(ExplorerError):
        Position.from_dict(bad)


def test_a_recipe_is_a_position_plus_its_model(ex):
    pos = Position([0.5, -0.25, 1.0, 0.0], "kl_dims", (1.5,), (0.0, 0.2), 3, -0.4)
    recipe = ex.make_recipe("tiny-vae", pos.base, pos.method, pos.weights, pos.raw, (pos.pick_dim, pos.pick_value))
    assert Position.from_dict(recipe) == pos
    assert ex.render_recipe(recipe).data["latent"] == ex.explore(ExploreRequest.of("tiny-vae", pos)).data["latent"]
