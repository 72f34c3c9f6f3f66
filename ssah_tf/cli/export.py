"""ssah-export: a trained run -> SavedModel with encode_image/encode_text/encode_label.

  ssah-export --model_dir=RUN [--checkpoint=best|latest|PATH] --export_dir=EXPORT

The SavedModel needs only TensorFlow to load; each signature takes raw inputs
(uint8 images or feature vectors, bag-of-words texts, label vectors: the run's
input standardisation is inside) and returns hash and code.
"""

from __future__ import annotations

import os

from absl import flags

from ssah_tf.cli import common, tool
from ssah_tf.errors import UserError
from ssah_tf.workspace import WORKSPACE

FLAGS = flags.FLAGS
common.define_execution_flags()
flags.DEFINE_string("model_dir", None, "The training run to export.")
common.define_allow_data_change()
flags.DEFINE_string("checkpoint", "best", "best, latest, or a checkpoint path.")
flags.DEFINE_string("export_dir", None, "Output folder (default: workspace/exports/<run name>).")


def main(argv):
    if not FLAGS.model_dir:
        raise UserError("--model_dir is required")
    # Imported here, not at the top: --help and flag errors answer before TensorFlow starts.
    from ssah_tf.export import export_run
    from ssah_tf.training.runs import open_run

    export_dir = FLAGS.export_dir or os.path.join(
        WORKSPACE, "exports", os.path.basename(os.path.normpath(FLAGS.model_dir))
    )
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UserError(f"export directory {export_dir} is an existing file; choose a folder")
    if os.path.isdir(export_dir) and os.listdir(export_dir):
        raise UserError(f"export directory {export_dir} exists and is not empty")
    run = open_run(
        FLAGS.model_dir,
        FLAGS.checkpoint,
        allow_data_change=FLAGS.allow_data_change,
        **common.execution_overrides(),
    )
    export_run(run, export_dir)
    print(f"exported {run.checkpoint} to {export_dir}")
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
