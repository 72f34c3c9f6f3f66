"""Parity with the original TF1 release on ../shared/golden (docs/method.md §7, golden README).

Tolerance: relative error 1e-5 of each tensor's largest magnitude, except
where noted. Worst errors measured (TF 2.21, CPU) are in README.md.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from ssah_tf import losses
from ssah_tf.bits import pack_label_bits
from ssah_tf.release import load_release_checkpoint
from ssah_tf.training.optimizers import make_stage_optimizers, stage_variables
from ssah_tf.training.steps import (
    DiscriminatorInputs,
    GeneratorInputs,
    discriminator_step,
    discriminator_terms,
    generator_step,
    generator_terms,
    term_names,
)

RTOL = 1e-5
TERM_NAMES = {
    "feature_pair": "pair_fea",
    "hash_pair": "pair_hsh",
    "quantization": "quant",
    "label": "label",
    "adversarial": "adver",
}
DISCRIMINATOR_INPUTS = {
    "IL": "I_fea_batch",
    "L1": "L_fea_batch",
    "TL": "T_fea_batch",
    "L2": "L_fea_batch",
}


def rel_err(actual, expected):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30))


class Golden:
    """The golden inputs fed to freshly loaded release models."""

    def __init__(self, golden_dir):
        self.g = np.load(golden_dir / "golden.npz")
        self.cfg = json.loads((golden_dir / "config.json").read_text())
        g = self.g
        self.models = load_release_checkpoint(
            str(golden_dir / "checkpoint/Flickr_16/SSAH-0"),
            str(golden_dir / "fake_vgg_f_small.mat"),
            bits=self.cfg["bit"],
            num_labels=self.cfg["numClass"],
            text_dim=self.cfg["dimTxt"],
        )
        batch = self.cfg["batch_size"]
        self.labels_in = g["in__label_input"].reshape(batch, -1)
        self.text_in = g["in__text_input"].reshape(batch, -1)
        self.image_in = g["in__image_input"]
        self.features = {
            k: g["in__" + k].reshape(batch, -1)
            for k in ("I_fea_batch", "T_fea_batch", "L_fea_batch")
        }

    # The golden feeds every input of the release's loss graph: the LabNet banks, B,
    # the discriminators' features. The trainer builds them from its state
    # (steps.generator_inputs); here they are the golden's, and everything else — the
    # similarity block from packed labels, each network, every loss term, the
    # optimizer step — is the training step's own code (steps.py).
    def batch(self, which):
        g = self.g
        x = {"l": self.labels_in, "i": self.image_in, "t": self.text_in}[which]
        return {"input": x, "labels": g["in__L_batch"], "index": g["aux__batch_index"]}

    def inputs(self, which):
        g = self.g
        bits = tf.constant(pack_label_bits(g["aux__train_L"]))
        sim = losses.similarity_from_bits(
            bits,
            tf.gather(bits, g["aux__batch_index"]),
            tf.constant(self.models.config.loss.similarity_value),
        )
        features = {
            "l": None,
            "i": self.features["I_fea_batch"],
            "t": self.features["T_fea_batch"],
        }[which]
        return GeneratorInputs(
            sim=sim,
            lab_feature_bank=g["in__L_fea"],
            lab_hash_bank=g["in__H"],
            quant_target=g["in__B_batch"],
            adversarial_features=features,
        )

    def generator_kwargs(self, which):
        m = self.models
        net = {"l": m.labnet, "i": m.imgnet, "t": m.txtnet}[which]
        disc = {"l": None, "i": m.discriminators["IL"], "t": m.discriminators["TL"]}[which]
        return dict(
            net=net,
            batch=self.batch(which),
            inputs=lambda _: self.inputs(which),
            config=m.config.loss,
            discriminator=disc,
        )

    def generator_terms(self, which):
        kwargs = self.generator_kwargs(which)
        return generator_terms(
            {"l": "lab", "i": "img", "t": "txt"}[which],
            kwargs.pop("net"),
            kwargs.pop("batch"),
            **kwargs,
        )

    def discriminator_inputs(self):
        f = self.features
        return DiscriminatorInputs(
            image_features=f["I_fea_batch"],
            text_features=f["T_fea_batch"],
            label_features=f["L_fea_batch"],
        )

    def discriminator_terms(self):
        return discriminator_terms(
            self.discriminator_inputs(),
            discriminators=self.models.discriminators,
            form=self.models.config.loss.adversarial_form,
        )

    def step(self, stage, optimizer, variables):
        """One optimizer step of ``stage`` through the training step functions."""
        if stage == "dis":
            discriminator_step(
                self.discriminator_inputs(),
                discriminators=self.models.discriminators,
                form=self.models.config.loss.adversarial_form,
                optimizer=optimizer,
                variables=variables,
                term_order=term_names("dis", True, True),
            )
            return
        which = stage[0]
        kwargs = self.generator_kwargs(which)
        generator_step(
            stage,
            kwargs.pop("net"),
            kwargs.pop("batch"),
            optimizer=optimizer,
            variables=variables,
            term_order=term_names(stage, True, True),
            **kwargs,
        )

    def errors(self, prefix):
        """Relative error of every output and loss term recorded under ``prefix``."""
        g, m = self.g, self.models
        errs = {}
        for net, x, s in (
            (m.labnet, self.labels_in, "L"),
            (m.imgnet, self.image_in, "I"),
            (m.txtnet, self.text_in, "T"),
        ):
            out = net(x)
            errs[f"Fea_{s}"] = rel_err(out.feature, g[f"{prefix}__Fea_{s}"])
            errs[f"Hsh_{s}"] = rel_err(out.hash, g[f"{prefix}__Hsh_{s}"])
            errs[f"Lab_{s}"] = rel_err(out.label, g[f"{prefix}__Lab_{s}"])
        fused = m.txtnet.multiscale(self.text_in).numpy()
        errs["MultiScaleTxt"] = rel_err(fused, g[f"{prefix}__MultiScaleTxt"][:, 0])
        # interp_level<L> pools with window 5L: channel of that window.
        for level in (1, 2, 3, 6, 10):
            channel = 1 + m.txtnet.fusion.windows.index(5 * level)
            errs[f"interp_level{level}"] = rel_err(
                fused[:, :, channel], g[f"{prefix}__interp_level{level}"][:, 0, :, 0]
            )
        for key, feat in DISCRIMINATOR_INPUTS.items():
            errs[f"isfrom_{key}"] = rel_err(
                m.discriminators[key](self.features[feat]), g[f"{prefix}__isfrom_{key}"]
            )
        for which in "lit":
            terms = self.generator_terms(which)
            errs[f"loss_{which}"] = rel_err(terms["total"], g[f"{prefix}__loss_{which}"])
            for ours, theirs in TERM_NAMES.items():
                key = f"{prefix}__loss_{which}__{theirs}"
                if key in g.files:
                    errs[f"loss_{which}__{theirs}"] = rel_err(terms[ours], g[key])
        terms = self.discriminator_terms()
        errs["Loss_D"] = rel_err(terms["total"], g[f"{prefix}__Loss_D"])
        for key in DISCRIMINATOR_INPUTS:
            errs[f"Loss_D__{key}"] = rel_err(terms[key], g[f"{prefix}__Loss_D__{key}"])
        return errs


@pytest.fixture(scope="module")
def golden(golden_dir):
    return Golden(golden_dir)


def test_similarity_from_labels(golden):
    """The training step's similarity block (from packed labels) is the golden's Sim."""
    np.testing.assert_array_equal(golden.inputs("l").sim.numpy(), golden.g["in__Sim"])


def test_outputs_and_losses_at_init(golden):
    errs = golden.errors("init")
    bad = {k: v for k, v in errs.items() if v > RTOL}
    assert not bad, bad
    assert errs["interp_level10"] == 0.0  # the dead window-50 branch is exactly zero


def test_one_step_of_each_stage_in_release_order(golden):
    m, g = golden.models, golden.g
    # The release's image/text steps also move D_IL / D_TL (generator_moves_discriminator).
    assert m.config.loss.generator_moves_discriminator
    stage_vars = stage_variables(
        m.networks, generator_moves_discriminator=m.config.loss.generator_moves_discriminator
    )
    optimizers = make_stage_optimizers(m.config.optimizer, stage_vars)
    assert optimizers["lab"] is optimizers["img"] is optimizers["txt"]
    start = {name: v.numpy().copy() for name, v in m.variables.items()}
    lrs = golden.cfg["learning_rates_float32"]
    for stage in golden.cfg["step_order"]:
        before = {name: v.numpy().copy() for name, v in m.variables.items()}
        optimizers[stage].learning_rate.assign(lrs[stage])
        golden.step(stage, optimizers[stage], stage_vars[stage])
        powers = golden.cfg["beta_powers"][f"after_{stage}"]
        opt = optimizers[stage]
        key = "" if stage != "dis" else "_1"
        assert float(opt.beta1_power.numpy()) == pytest.approx(
            powers["beta1_power" + key], rel=1e-7
        )
        assert float(opt.beta2_power.numpy()) == pytest.approx(
            powers["beta2_power" + key], rel=1e-7
        )
        errs = golden.errors(f"after_{stage}")
        # After the lab step (lr 1e-2) one element of Fea_L is a near-cancellation
        # (0.00095 from terms summing to 0.5 in magnitude): the golden, from TF1's
        # float32 conv accumulation, is 8.1e-6 from a float64 re-derivation of the
        # same weights while ours is 1.2e-7 (test_fea_l_cancellation_is_golden_rounding).
        # That is 1.21e-5 of max|Fea_L|; allow 1.5e-5 for that one tensor.
        bad = {k: v for k, v in errs.items() if v > (1.5e-5 if k == "Fea_L" else RTOL)}
        assert not bad, (stage, bad)
        for name, variable in m.variables.items():
            change = variable.numpy() - before[name]
            delta_key = f"after_{stage}__delta__{name}"
            if delta_key in g.files:
                expected_after = before[name] + g[delta_key].reshape(change.shape)
                # The state after the step, relative to the variable's magnitude.
                assert rel_err(variable.numpy(), expected_after) < RTOL, (stage, name)
                # The step itself: float32 rounding of a ~0.01 weight is ~1e-9, i.e.
                # up to ~4e-5 of a 2.4e-5 Adam step, so compare steps at 1e-3.
                assert rel_err(change, g[delta_key].reshape(change.shape)) < 1e-3, (stage, name)
            elif variable.numpy().size <= 4096:
                assert not np.any(change), f"{stage} moved {name}, the release did not"
    moved = [n for n in m.variables if np.any(m.variables[n].numpy() != start[n])]
    assert any(n.startswith("disnet_IL/") for n in moved) and any(
        n.startswith("disnet_TL/") for n in moved
    )


def test_fea_l_cancellation_is_golden_rounding(golden_dir):
    """Justifies the one widened tolerance above with a float64 re-derivation."""
    fresh = Golden(golden_dir)
    m = fresh.models
    opt = make_stage_optimizers(m.config.optimizer, {"lab": m.labnet.trainable_variables})["lab"]
    opt.learning_rate.assign(fresh.cfg["learning_rates_float32"]["lab"])
    fresh.step("lab", opt, m.labnet.trainable_variables)
    w = [v.numpy().astype(np.float64) for v in m.labnet.trainable_variables]
    hidden = np.maximum(fresh.labels_in @ w[0] + w[1], 0)
    square = np.pad(hidden**2, ((0, 0), (2, 2)))
    window = sum(square[:, i : i + hidden.shape[1]] for i in range(5))
    hidden = hidden / (2.0 + 1e-4 * window) ** 0.75
    reference = np.maximum(hidden @ w[2] + w[3], 0)
    ours = m.labnet(fresh.labels_in).feature.numpy()
    theirs = fresh.g["after_lab__Fea_L"]
    assert np.max(np.abs(ours - reference)) < 1e-6
    assert np.max(np.abs(ours - reference)) < np.max(np.abs(theirs - reference))
