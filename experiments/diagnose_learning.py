"""Why SSAH does (not) learn: per-layer activation and gradient scales, dead ReLUs,
Theta statistics and bank contents over the first steps of every generator stage.

    python experiments/diagnose_learning.py --flagfile=experiments/mfeat_paper.flags \
        --steps=1,2,5,10,20,40 --epochs=1 > diagnosis.txt

Takes ssah-train's flags (dataset, preset, every config field, schedule). It builds
the trainer exactly as ssah-train does, then runs the first epoch stage by stage,
one step at a time, printing before the listed steps of each stage:
  * per layer: mean |pre-activation|, its std over the training items, the fraction
    of ReLU units dead for every training item (a full forward pass);
  * per variable: ||gradient|| / ||weight|| of the stage's loss on the next batch;
  * Theta = F^l_bank F^T / 2 and Gamma (hash): mean, std and max |.| on that batch;
  * the pairwise terms relative to their value at Theta = 0;
  * the network's banks: std of F and H, fraction of H > 0, distinct codes.
Nothing is written to disk (the run directory is a temporary folder).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile

import numpy as np
from absl import app, flags

from ssah_tf.cli import train as train_cli  # noqa: F401 (defines ssah-train's flags)

FLAGS = flags.FLAGS
flags.DEFINE_list("steps", "1,2,5,10,20", "Steps (1-based, within a stage) before which to report.")


def _stats(name, pre, post_relu=True):
    pre = np.asarray(pre)
    row = {"layer": name, "mean|pre|": float(np.abs(pre).mean()), "std": float(pre.std())}
    if post_relu:
        row["dead"] = float(np.mean(np.all(pre <= 0, axis=0)))
    return row


def layer_rows(trainer, network, inputs):
    """Per-layer statistics of ``network`` on ``inputs`` (all training items)."""
    import tensorflow as tf

    from ssah_tf.models.layers import dense_apply, local_response_norm

    nets = trainer.parts.networks
    x = tf.constant(inputs)
    rows = []
    if network == "lab":
        net = nets.labnet
        pre1 = net.hidden(x)
        hidden = local_response_norm(tf.nn.relu(pre1))
        rows.append(_stats("hidden", pre1))
        body = hidden
    elif network == "img":
        net = nets.imgnet
        backbone = net.backbone
        x = backbone.preprocess(x)
        pre1 = backbone.hidden(x)
        rows.append(_stats("mlp hidden", pre1))
        body = tf.nn.relu(pre1)
    else:
        net = nets.txtnet
        fused = net.multiscale(x)
        rows.append(
            {"layer": "fusion scales", "values": [float(s.numpy()) for s in net.fusion.scales]}
        )
        flat = tf.reshape(fused, [len(inputs), -1])
        pre1 = tf.matmul(flat, net.hidden.kernel) + net.hidden.bias
        rows.append(_stats("hidden", pre1))
        body = local_response_norm(tf.nn.relu(pre1))
    pre2 = dense_apply(net.semantic, body)
    rows.append(_stats("semantic F", pre2))
    feature = tf.nn.relu(pre2)
    head_in = local_response_norm(feature) if network == "txt" and net.text_head_lrn else feature
    rows.append(_stats("hash pre-tanh", net.hash_head(head_in), post_relu=False))
    rows.append(_stats("label pre-sigmoid", net.label_head(head_in), post_relu=False))
    return rows


def gradient_rows(trainer, network, local):
    """||g|| / ||w|| per variable, Theta stats and the pairwise ratios on one batch,
    with the training step's own inputs (steps.generator_inputs) and loss."""
    import tensorflow as tf

    from ssah_tf import losses
    from ssah_tf.training.steps import StepContext, generator_inputs

    cfg = trainer.config.ssah.loss
    net = {
        "lab": trainer.parts.networks.labnet,
        "img": trainer.parts.networks.imgnet,
        "txt": trainer.parts.networks.txtnet,
    }[network]
    local = tf.constant(local)
    inputs = trainer.parts.inputs
    source = {"lab": inputs.labels, "txt": inputs.texts, "img": inputs.features}[network]
    batch = {
        "index": local,
        "labels": tf.gather(inputs.labels, local),
        "input": tf.gather(source, local),
    }
    context = StepContext(trainer.parts.state.banks, inputs.label_bits, trainer.parts.num_train)
    variables = list(net.trainable_variables)
    with tf.GradientTape() as tape:
        output = net(batch["input"])
        step_inputs = generator_inputs(network, output, batch, context, cfg)
        adversarial = None
        if step_inputs.adversarial_features is not None:
            disc = trainer.parts.networks.discriminators["IL" if network == "img" else "TL"]
            adversarial = losses.adversarial_generator_term(
                disc(step_inputs.adversarial_features),
                form=cfg.adversarial_form,
                global_size=step_inputs.adversarial_size,
            )
        terms = losses.generator_loss(
            output,
            labels=batch["labels"],
            sim=step_inputs.sim,
            lab_feature_bank=step_inputs.lab_feature_bank,
            lab_hash_bank=step_inputs.lab_hash_bank,
            quant_target=step_inputs.quant_target,
            config=cfg,
            adversarial=adversarial,
        )
    grads = tape.gradient(terms["total"], variables)
    rows = []
    for v, g in zip(variables, grads):
        if g is None:
            continue
        w = float(tf.norm(v)) or 1e-30
        rows.append((v.path.split("/", 1)[-1], float(tf.norm(g)), float(tf.norm(g)) / w))
    lab_f = tf.convert_to_tensor(trainer.parts.state.banks["lab"].feature)
    lab_h = tf.convert_to_tensor(trainer.parts.state.banks["lab"].hash)
    delta = tf.matmul(lab_f, output.feature, transpose_b=True) / 2
    gamma = tf.matmul(lab_h, output.hash, transpose_b=True) / 2
    zero = trainer.parts.num_train * len(local)
    zero *= math.log(2) if cfg.pairwise_form == "nll" else cfg.squares_factor * math.log(2) ** 2
    theta = {
        name: (
            float(tf.reduce_mean(t)),
            float(tf.math.reduce_std(t)),
            float(tf.reduce_max(tf.abs(t))),
        )
        for name, t in (("Delta", delta), ("Gamma", gamma))
    }
    ratios = {k: float(terms[k]) / zero for k in ("feature_pair", "hash_pair")}
    return rows, theta, ratios, {k: float(v) for k, v in terms.items()}


def bank_row(trainer, network):
    bank = trainer.parts.state.banks[network]
    f = np.asarray(tf_value(bank.feature))
    h = np.asarray(tf_value(bank.hash))
    codes = np.where(h >= 0, 1, 0).astype(np.uint8)
    distinct = len({row.tobytes() for row in codes})
    return (
        f"bank {network}: std F {f.std():.3g}, F == 0 {np.mean(f == 0):.3f}, std H {h.std():.3g}, "
        f"H > 0 {np.mean(h > 0):.3f}, distinct codes {distinct}, "
        f"max |bit mean| {np.abs(np.where(h >= 0, 1, -1).mean(0)).max():.3f}"
    )


def tf_value(variable):
    import tensorflow as tf

    return tf.convert_to_tensor(variable).numpy()


def report(trainer, network, step):
    inputs = {
        "lab": trainer.data.labels,
        "txt": trainer.data.texts,
        "img": trainer.parts.built.feature_matrix,
    }[network][trainer.parts.inputs.train_index]
    print(f"-- {network} before step {step}")
    for row in layer_rows(trainer, network, inputs):
        print(
            "   ",
            "  ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            ),
        )
    rows, theta, ratios, terms = gradient_rows(
        trainer,
        network,
        trainer.parts.state.pass_table.numpy()[(step - 1) % trainer.parts.steps_per_pass],
    )
    for name, g, ratio in rows:
        print(f"    grad {name:40s} |g| {g:.3g}  |g|/|w| {ratio:.3g}")
    print(
        "    "
        + ", ".join(
            f"{k} mean {m:.3g} std {s:.3g} max|.| {x:.3g}" for k, (m, s, x) in theta.items()
        )
    )
    print(
        "    pairwise / value at Theta=0: "
        + ", ".join(f"{k} {v:.4f}" for k, v in ratios.items())
        + "; terms "
        + ", ".join(f"{k} {v:.4g}" for k, v in terms.items())
    )
    print("   ", bank_row(trainer, network))
    sys.stdout.flush()


def main(argv):
    import tensorflow as tf

    from ssah_tf.cli import common
    from ssah_tf.training.schedules import epoch_plan
    from ssah_tf.training.session import prepare
    from ssah_tf.training.settings import setting_names

    wanted = sorted({int(s) for s in FLAGS.steps})
    with tempfile.TemporaryDirectory() as tmp:
        FLAGS.model_dir = os.path.join(tmp, "run")
        trainer = prepare(FLAGS.model_dir, **common.given_settings(setting_names())).trainer
        runner = trainer.runner
        for epoch in range(FLAGS.epochs or 1):
            for stage in epoch_plan(
                trainer.table,
                epoch,
                trainer.parts.networks_present,
                trainer.parts.steps_per_pass,
            ):
                trainer.parts.optimizers[stage.network].learning_rate.assign(stage.learning_rate)
                print(
                    f"== epoch {epoch} stage {stage.network}[{stage.index}] "
                    f"lr {stage.learning_rate:.3g}"
                    f", {stage.passes} passes of {trainer.parts.steps_per_pass} steps"
                )
                step = 0
                for _ in range(stage.passes):
                    runner.new_pass_table()
                    for i in range(trainer.parts.steps_per_pass):
                        step += 1
                        if step in wanted and stage.network != "dis":
                            report(trainer, stage.network, step)
                        runner.run_steps(stage.network, i, 1)
                if stage.network != "dis":
                    report(trainer, stage.network, step + 1)
        del tf


if __name__ == "__main__":
    app.run(main)
