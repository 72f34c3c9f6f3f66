"""Projector files, read back by TensorBoard's own projector plugin."""

import numpy as np
import pytest

from ssah_tf.evaluation.projector import Embedding, sprite, write_projector


def test_sprite_grid():
    images = np.stack([np.full((2, 2, 3), i, np.uint8) for i in range(5)])
    grid = sprite(images)
    assert grid.shape == (6, 6, 3)  # ceil(sqrt(5)) = 3 per side
    assert grid[0, 2, 0] == 1 and grid[2, 0, 0] == 3 and grid[4, 4, 0] == 0  # empty cell
    with pytest.raises(ValueError, match="sprite limit"):
        sprite(np.zeros((70 * 70, 128, 128, 3), np.uint8))


def test_tensorboard_projector_plugin_reads_the_files(tmp_path):
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    rng = np.random.default_rng(0)
    codes = rng.choice([-1.0, 1.0], size=(7, 16)).astype(np.float32)
    columns = {
        "id": [str(i) for i in range(7)],
        "labels": ["cat\tdog", *["cat"] * 6],
        "first_label": ["cat"] * 7,
    }
    thumbs = rng.integers(0, 255, (7, 4, 4, 3), dtype=np.uint8)
    write_projector(
        str(tmp_path),
        [
            Embedding("codes_image", codes, columns, thumbs),
            Embedding("features_image", rng.random((7, 5)).astype(np.float32), columns, thumbs),
            Embedding("codes_text", codes[:, :8], columns),
        ],
    )
    plugin = ProjectorPlugin(base_plugin.TBContext(logdir=str(tmp_path)))
    client = Client(_app(plugin), Response)
    info = client.get("/info?run=.").get_json()
    names = {e["tensorName"]: e for e in info["embeddings"]}
    assert set(names) == {
        "codes_image/.ATTRIBUTES/VARIABLE_VALUE",
        "features_image/.ATTRIBUTES/VARIABLE_VALUE",
        "codes_text/.ATTRIBUTES/VARIABLE_VALUE",
    }
    tensor = client.get("/tensor?run=.&name=codes_image/.ATTRIBUTES/VARIABLE_VALUE")
    assert tensor.status_code == 200
    np.testing.assert_array_equal(np.frombuffer(tensor.data, np.float32).reshape(7, 16), codes)
    metadata = client.get("/metadata?run=.&name=codes_image/.ATTRIBUTES/VARIABLE_VALUE")
    rows = metadata.data.decode().strip().split("\n")
    assert rows[0] == "id\tlabels\tfirst_label" and rows[1] == "0\tcat dog\tcat" and len(rows) == 8
    image = client.get("/sprite_image?run=.&name=codes_image/.ATTRIBUTES/VARIABLE_VALUE")
    assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert names["codes_image/.ATTRIBUTES/VARIABLE_VALUE"]["sprite"]["singleImageDim"] == [4, 4]
    assert "sprite" not in names["codes_text/.ATTRIBUTES/VARIABLE_VALUE"]


def _app(plugin):
    """A WSGI app routing the plugin's paths (as TensorBoard mounts them)."""
    routes = plugin.get_plugin_apps()

    def app(environ, start_response):
        return routes[environ["PATH_INFO"]](environ, start_response)

    return app
