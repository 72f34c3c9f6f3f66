"""ssah-train: train SSAH (both presets) and evaluate it after every epoch.

  ssah-train --flagfile=experiments/demo.flags          # the embedded demo, minutes
  ssah-train --dataset=mfeat --data_path=../shared/data/mfeat --bits=32
  ssah-train --model_dir=RUN --resume                   # continue a run (its settings)

Writes the run directory (WORKSPACE.md): config.json, split.npz, checkpoints/,
best/, tensorboard/, eval/ and results.json. With no flags it trains the demo
with the paper preset's defaults (20 epochs). SIGTERM or Ctrl-C checkpoints and
exits with status 3; a diverging run stops with status 4; --resume continues exactly.
The flags are the configuration's fields (ssah_tf.train takes the same names).
"""

from __future__ import annotations

import os
import sys

from absl import flags

from ssah_tf.cli import common, tool
from ssah_tf.config import RunConfig, ScheduleConfig
from ssah_tf.training.session import STRATEGIES
from ssah_tf.training.settings import check_start, setting_names

FLAGS = flags.FLAGS
common.define_data_flags()
common.define_model_flags()
common.define_execution_flags()
flags.DEFINE_enum(
    "modalities",
    "both",
    ["both", "text", "image"],
    RunConfig.__dataclass_fields__["modalities"].metadata["help"],
)
common.define_field_flags(
    RunConfig,
    ["backbone", "backbone_weights", "freeze_backbone", "cnnf_path", "vgg19_weights", "image_size"],
    group="image network (docs/pictures.md)",
)
flags.DEFINE_enum(
    "schedule",
    None,
    ["paper", "release"],
    ScheduleConfig.__dataclass_fields__["name"].metadata["help"] + " (default: the preset's)",
)
common.define_field_flags(
    ScheduleConfig, group="schedule (the paper schedule's knobs; the release schedule is fixed)"
)
tool.group_flags(
    "schedule (the paper schedule's knobs; the release schedule is fixed)", ["schedule"]
)
flags.DEFINE_string("model_dir", None, RunConfig.__dataclass_fields__["model_dir"].metadata["help"])
flags.DEFINE_bool(
    "resume",
    False,
    "Continue the latest checkpoint in --model_dir (its own "
    "settings stand; only flags you give change them). Refused on a folder that holds "
    "no run: leave it out to start one.",
)
common.define_allow_data_change()
flags.DEFINE_string(
    "resume_from",
    None,
    "Continue from this checkpoint of the run instead of "
    "the latest (a prefix such as RUN/checkpoints/ckpt-40); implies --resume.",
)
flags.DEFINE_string(
    "init_from",
    None,
    "Initialise network weights from this checkpoint "
    "(a run's, or one made by ssah-import-release).",
)
flags.DEFINE_enum(
    "strategy",
    "auto",
    list(STRATEGIES),
    "Distribution: auto = mirrored with >1 GPU, else one device; multi_worker reads TF_CONFIG.",
)
flags.DEFINE_bool("deterministic", False, "Enable TF op determinism (bit-reproducible runs).")
common.define_field_flags(
    RunConfig,
    [
        "seed",
        "eval_every",
        "eval_batch_size",
        "save_every_passes",
        "checkpoint_interval_seconds",
        "keep_checkpoints",
        "steps_per_loop",
    ],
)
common.define_field_flags(
    RunConfig,
    [
        "select_on",
        "val_size",
        "selection_criterion",
        "selection_tolerance",
        "early_stopping_patience",
        "map_variant",
        "map_top_k",
    ],
    group="model selection (README: what best means)",
)
tool.group_flags("model selection (README: what best means)", ["eval_every"])
common.define_report_flags()


def main(argv):
    settings = common.given_settings(setting_names())
    # Flag combinations are checked before TensorFlow starts (imported below).
    check_start(
        settings, resume=FLAGS.resume, resume_from=FLAGS.resume_from, init_from=FLAGS.init_from
    )
    from ssah_tf.training.loop import Diverged, Preempted
    from ssah_tf.training.session import prepare

    # The preset's own run defaults (the release selects on its test queries) apply
    # unless a flag was given; the library does the same for ssah_tf.train.
    session = prepare(
        FLAGS.model_dir,
        resume=FLAGS.resume,
        resume_from=FLAGS.resume_from,
        init_from=FLAGS.init_from,
        strategy=FLAGS.strategy,
        deterministic=FLAGS.deterministic,
        allow_data_change=FLAGS.allow_data_change,
        **settings,
    )
    trainer = session.trainer
    session.record_command(tool.command_line())
    try:
        results = session.run()
    except Preempted as stop:
        print(
            f"{tool.tool_name()}: stopped by {trainer.signals.name}: checkpoint {stop} "
            "written; rerun with --resume to continue",
            file=sys.stderr,
        )
        return 3
    except Diverged as error:
        print(f"{tool.tool_name()}: error: {tool.flag_text(error)}", file=sys.stderr)
        return 4
    if not trainer.is_chief:
        return 0
    model_dir = session.model_dir
    print(common.final_table(results, os.path.join(model_dir, "results.json")))
    if FLAGS.report:
        from ssah_tf.evaluation.outputs import evaluate_loaded_run
        from ssah_tf.training.runs import open_run

        output_dir = os.path.join(model_dir, "eval_best")
        evaluate_loaded_run(
            open_run(model_dir, "best", allow_data_change=FLAGS.allow_data_change),
            output_dir,
            common.output_options(),
        )
        print(f"report: {os.path.join(output_dir, 'report', 'index.html')}")
    return 0


run = tool.entry_point(main)


if __name__ == "__main__":
    run()
