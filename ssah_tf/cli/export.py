"""ssah-export: a trained run -> SavedModel with encode_image/encode_text/encode_label.

  ssah-export --model_dir=RUN [--checkpoint=best|latest|PATH] --export_dir=EXPORT

The SavedModel needs only TensorFlow to load; each signature takes raw inputs
(uint8 images or feature vectors, bag-of-words texts, label vectors: the run's
input standardisation is inside) and returns hash and code.
"""

from __future__ import annotations

import os

from absl import flags

from ssah_tf.cli import common
from ssah_tf.errors import UserError

FLAGS = flags.FLAGS
common.define_execution_flags()
flags.DEFINE_string("model_dir", None, "The training run to export.")
flags.DEFINE_string("checkpoint", "best", "best, latest, or a checkpoint path.")
flags.DEFINE_string("export_dir", None, "Output folder (default: workspace/exports/<run name>).")


def main(argv):
    if not FLAGS.model_dir:
        raise UserError("--model_dir is required")
    from ssah_tf.export import export_saved_model
    from ssah_tf.training.runs import restore_networks, trainer_from_run

    trainer = trainer_from_run(FLAGS.model_dir, **common.execution_overrides())
    checkpoint = restore_networks(trainer, FLAGS.checkpoint)
    export_dir = FLAGS.export_dir or os.path.join(
        common.WORKSPACE, "exports", os.path.basename(os.path.normpath(FLAGS.model_dir)))
    network = trainer.config.ssah.network
    image_shape = None
    if trainer.has_image:
        size = trainer.config.run.image_size
        image_shape = ((size, size, 3) if trainer.pixel_images
                       else (trainer.feature_matrix.shape[1],))
    export_saved_model(trainer.networks, export_dir, num_labels=network.num_labels,
                       text_dim=network.text_dim if trainer.has_text else None,
                       image_shape=image_shape, pixels=trainer.pixel_images,
                       bits=network.bits, source=os.path.abspath(checkpoint),
                       vocabulary=trainer.data.tag_names)
    print(f"exported {checkpoint} to {export_dir}")
    return 0


run = common.entry_point(main)


if __name__ == "__main__":
    run()
