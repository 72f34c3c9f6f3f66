"""SavedModel export: serving signatures encode_image, encode_text, encode_label.

The SavedModel needs TensorFlow only (not ssah_tf): ``tf.saved_model.load(DIR)``
then ``.signatures['encode_text'](texts=...)`` returns ``hash`` (real-valued H)
and ``code`` ({-1, +1} int8, sign with 0 -> +1).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from ssah_tf.atomic import staged_directory
from ssah_tf.errors import UserError
from ssah_tf.models.networks import SSAHNetworks

EXPORT_INFO = "ssah_export.json"
VOCABULARY = "vocabulary.txt"


class _Encoders(tf.Module):
    def __init__(
        self,
        networks: SSAHNetworks,
        *,
        num_labels: int,
        text_dim: int | None,
        image_shape: tuple[int, ...] | None,
        image_dtype: tf.DType,
    ):
        super().__init__(name="ssah_encoders")
        self.labnet, self.txtnet, self.imgnet = networks.labnet, networks.txtnet, networks.imgnet
        self.serving = {}  # ("signatures" is reserved by tf.saved_model)

        def result(hash_output):
            code = tf.where(hash_output >= 0, tf.ones_like(hash_output), -tf.ones_like(hash_output))
            return {"hash": hash_output, "code": tf.cast(code, tf.int8)}

        @tf.function(input_signature=[tf.TensorSpec([None, num_labels], tf.float32, name="labels")])
        def encode_label(labels):
            return result(self.labnet(labels).hash)

        self.encode_label = encode_label
        self.serving["encode_label"] = encode_label
        if self.txtnet is not None:

            @tf.function(
                input_signature=[tf.TensorSpec([None, text_dim], tf.float32, name="texts")]
            )
            def encode_text(texts):
                return result(self.txtnet(texts).hash)

            self.encode_text = encode_text
            self.serving["encode_text"] = encode_text
        if self.imgnet is not None:
            # Pictures: uint8 RGB at the network's input size (decoded and resized), the
            # network's own scaling inside (the CNN-F mean image, the mlp's flattening and
            # standardisation, ...); mlp on features: the float feature vectors.
            @tf.function(
                input_signature=[tf.TensorSpec([None, *image_shape], image_dtype, name="images")]
            )
            def encode_image(images):
                return result(self.imgnet(self.imgnet.preprocess(images)).hash)

            self.encode_image = encode_image
            self.serving["encode_image"] = encode_image


def export_saved_model(
    networks: SSAHNetworks,
    export_dir: str,
    *,
    num_labels: int,
    text_dim: int | None,
    image_shape: tuple[int, ...] | None,
    pixels: bool,
    bits: int,
    source: str = "",
    vocabulary: tuple[str, ...] | None = None,
    label_names: tuple[str, ...] | None = None,
    image_background: str = "white",
) -> str:
    """Write the SavedModel to ``export_dir`` (all or nothing: staged, then renamed)."""

    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UserError(f"export directory {export_dir} is an existing file; choose a folder")
    if os.path.exists(export_dir) and os.listdir(export_dir):
        raise UserError(f"export directory {export_dir} exists and is not empty")
    module = _Encoders(
        networks,
        num_labels=num_labels,
        text_dim=text_dim,
        image_shape=image_shape,
        image_dtype=tf.uint8 if pixels else tf.float32,
    )
    with staged_directory(export_dir, ".export-") as staging:
        # Serving only: the custom gradients of the training path (folded TxtNet
        # layer, LRN, wide matmuls) are not needed and capture eager constants.
        tf.saved_model.save(
            module,
            staging,
            signatures=dict(module.serving),
            options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
        )
        # What ssah-encode needs besides the graph: input spec, identity, vocabulary.
        with open(os.path.join(staging, EXPORT_INFO), "w") as f:
            json.dump(
                {
                    "bits": bits,
                    "num_labels": num_labels,
                    "text_dim": text_dim,
                    "image_shape": list(image_shape) if image_shape else None,
                    "image_input": "pixels" if pixels else "features",
                    "source": source,
                    "signatures": sorted(module.serving),
                    "vocabulary": VOCABULARY if vocabulary else None,
                    "label_names": list(label_names) if label_names else None,
                    "image_background": image_background,
                },
                f,
                indent=1,
            )
        if vocabulary:
            with open(os.path.join(staging, VOCABULARY), "w") as f:
                f.write("\n".join(vocabulary) + "\n")
    return export_dir


def export_run(run, export_dir: str) -> str:
    """Export a loaded run (training.runs.open_run) to ``export_dir``: its networks with
    their input scaling, the run's input spec and vocabulary."""
    network, built, modalities = run.config.ssah.network, run.built, run.config.run.modalities
    image_shape = None
    if "image" in modalities:
        size = run.config.run.picture_size
        image_shape = (size, size, 3) if built.pixel_images else (built.feature_matrix.shape[1],)
    return export_saved_model(
        run.networks,
        export_dir,
        num_labels=network.num_labels,
        text_dim=network.text_dim if "text" in modalities else None,
        image_shape=image_shape,
        pixels=built.pixel_images,
        bits=network.bits,
        source=os.path.abspath(run.checkpoint),
        vocabulary=run.data.tag_names,
        label_names=run.data.label_names,
        image_background=getattr(run.data_config, "image_background", "white"),
    )
