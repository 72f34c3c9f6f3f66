"""What the trainer watches besides the loss: the release's early-break monitoring
losses, and collapse detection.

The release computes, after (some) passes, a monitoring loss over the whole training
set and stops a stage early when it stops decreasing (schedules.early_break):
:func:`release_lab_monitor` and :func:`release_hash_monitor` are those losses.

Collapse detection tells the user when a network stopped learning, and why.

After every generator pass the trainer checks three signs of a collapsed
network (docs/training.md explains each):

* its pairwise terms stay within 1 % of their value at Theta = 0 (the network's
  inner products carry no similarity information: the plateau the release's
  N(0, 0.01) initialisation starts on);
* >= 90 % of its semantic features are 0 for every item the pass saw (dead ReLUs:
  the gradient through them is 0, they never come back);
* its codes are nearly constant (>= 99 % of the items share one code, or every
  bit has the same sign for >= 99 % of them).

Each condition gives one warning line per network (naming the flag to change)
and a TensorBoard scalar every pass.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from ssah_tf import losses
from ssah_tf.bits import codes_from_hash, pack_bits
from ssah_tf.vocabulary import DISCRIMINATORS_OF
from ssah_tf.vocabulary import DISPLAY_NAMES as NETWORK_NAMES

PLATEAU_TOLERANCE = 0.01
DEAD_FRACTION = 0.9
CONSTANT_SHARE = 0.99


def pairwise_zero_value(
    *, num_items: int, batch_size: int, form: str, squares_factor: float = 1.0
) -> float:
    """A pairwise term's value when every inner product Theta is 0, for one step.

    'nll': sum over the n x batch pairs of softplus(0) - S * 0 = n * batch * ln 2;
    'squared_residual': squares_factor * n * batch * (ln 2)^2.
    """
    pairs = float(num_items) * float(batch_size)
    if form == "nll":
        return pairs * math.log(2.0)
    if form == "squared_residual":
        return squares_factor * pairs * math.log(2.0) ** 2
    raise ValueError(f"unknown pairwise form {form!r}")


def dead_feature_fraction(features: np.ndarray) -> float:
    """Fraction of feature columns that are 0 for every row."""
    features = np.asarray(features)
    if features.size == 0:
        return 0.0
    return float(np.mean(np.all(features == 0, axis=0)))


def code_concentration(hashes: np.ndarray) -> tuple[float, float]:
    """(share of rows holding the most common code, smallest per-bit majority share)."""
    bits = codes_from_hash(hashes) > 0
    if bits.size == 0:
        return 0.0, 0.0
    packed = pack_bits(bits)
    _, counts = np.unique(packed, axis=0, return_counts=True)
    top_share = float(counts.max()) / len(bits)
    positive = bits.mean(axis=0)
    majority = np.maximum(positive, 1.0 - positive)
    return top_share, float(majority.min())


@dataclasses.dataclass(frozen=True)
class PassHealth:
    """What the checks measured for one network after one pass."""

    feature_pair_ratio: float
    hash_pair_ratio: float
    dead_features: float
    top_code_share: float
    min_bit_majority: float

    def scalars(self, network: str) -> dict[str, float]:
        return {f"health/{network}_{k}": v for k, v in dataclasses.asdict(self).items()}


def measure_pass(
    *, terms: dict[str, float], zero_value: float, features: np.ndarray, hashes: np.ndarray
) -> PassHealth:
    """The health figures of a pass: mean loss terms and the outputs it wrote."""
    top_share, bit_majority = code_concentration(hashes)
    return PassHealth(
        feature_pair_ratio=terms["feature_pair"] / zero_value,
        hash_pair_ratio=terms["hash_pair"] / zero_value,
        dead_features=dead_feature_fraction(features),
        top_code_share=top_share,
        min_bit_majority=bit_majority,
    )


def diagnose(
    network: str,
    health: PassHealth,
    *,
    learning_rate: float,
    init_scheme: str,
    fixed_rate_lists: bool,
    check_plateau: bool = True,
) -> dict[str, str]:
    """kind -> the warning line for every collapse sign ``health`` shows."""
    name = NETWORK_NAMES[network]
    flag = f"`lr_{network}`"
    if fixed_rate_lists:  # the release's fixed learning-rate lists
        rate_fix = (
            f"the release schedule sets it from its fixed lists; train with "
            f"`schedule=paper` (its {flag} defaults keep the features alive)"
        )
    else:
        rate_fix = f"lower {flag}"
    out = {}
    if check_plateau and (
        abs(health.feature_pair_ratio - 1.0) <= PLATEAU_TOLERANCE
        and abs(health.hash_pair_ratio - 1.0) <= PLATEAU_TOLERANCE
    ):
        cause = (
            "the release's N(0, 0.01) initialisation starts on this plateau: use "
            "`init_scheme=glorot`"
            if init_scheme == "normal"
            else f"check the inputs and {flag}"
        )
        out["plateau"] = (
            f"{name} is not learning: its pairwise terms stayed within 1% of their value at "
            f"Theta = 0 for the whole pass (feature {health.feature_pair_ratio:.3f}, hash "
            f"{health.hash_pair_ratio:.3f} of n*batch*ln 2); {cause}"
        )
    if health.dead_features >= DEAD_FRACTION:
        out["dead"] = (
            f"{name} collapsed: {health.dead_features:.0%} of its semantic features are 0 for "
            f"every item of the pass (dead ReLUs get no gradient and never recover); its "
            f"learning rate {learning_rate:.3g} is too high for this data: {rate_fix}"
        )
    if health.top_code_share >= CONSTANT_SHARE or health.min_bit_majority >= CONSTANT_SHARE:
        what = (
            f"{health.top_code_share:.1%} of the items share one code"
            if health.top_code_share >= CONSTANT_SHARE
            else f"every bit has one sign for >= {health.min_bit_majority:.1%} of the items"
        )
        out["constant_codes"] = (
            f"{name}'s codes are nearly constant ({what}): they cannot rank anything; "
            + (
                f"{rate_fix}"
                if health.dead_features >= DEAD_FRACTION
                else f"check its learning rate ({flag}) and the pairwise weights"
            )
        )
    return out


def evaluation_code_warnings(query_hashes: dict[str, np.ndarray]) -> dict[str, str]:
    """modality -> a warning line for each modality whose evaluation codes (of the test
    queries) are nearly constant: the training check reads the banks, and codes of
    items the network never trained on can collapse alone (a picture network from
    random weights on pictures unlike its training batches)."""
    out = {}
    for modality, hashes in query_hashes.items():
        if modality == "label" or len(hashes) < 2:
            continue
        top_share, bit_majority = code_concentration(hashes)
        if top_share >= CONSTANT_SHARE or bit_majority >= CONSTANT_SHARE:
            what = (
                f"{top_share:.1%} of the test queries share one code"
                if top_share >= CONSTANT_SHARE
                else f"every bit has one sign for >= {bit_majority:.1%} of them"
            )
            out[modality] = (
                f"the {modality} codes of this evaluation are nearly constant ({what}): every "
                f"{modality} direction scores the label prior; check the {modality} network's "
                "inputs and learning rate (docs/training.md, collapse)"
            )
    return out


class CollapseMonitor:
    """Runs the checks after each generator pass and warns once per network and kind."""

    def __init__(
        self, *, pairwise_form: str, squares_factor: float, init_scheme: str, fixed_rate_lists: bool
    ):
        self.pairwise_form = pairwise_form
        self.squares_factor = squares_factor
        self.init_scheme = init_scheme
        self.fixed_rate_lists = fixed_rate_lists
        self.warned: set[tuple[str, str]] = set()

    def check(
        self,
        network: str,
        *,
        terms: dict[str, float],
        num_items: int,
        batch_size: int,
        features: np.ndarray,
        hashes: np.ndarray,
        learning_rate: float,
        check_plateau: bool = True,
    ) -> tuple[PassHealth, list[str]]:
        """(health, new warning lines) for ``network`` after a pass."""
        zero = pairwise_zero_value(
            num_items=num_items,
            batch_size=batch_size,
            form=self.pairwise_form,
            squares_factor=self.squares_factor,
        )
        health = measure_pass(terms=terms, zero_value=zero, features=features, hashes=hashes)
        lines = []
        for kind, line in diagnose(
            network,
            health,
            learning_rate=learning_rate,
            init_scheme=self.init_scheme,
            fixed_rate_lists=self.fixed_rate_lists,
            check_plateau=check_plateau,
        ).items():
            if (network, kind) not in self.warned:
                self.warned.add((network, kind))
                lines.append(line)
        return health, lines

    def check_pass(
        self, network: str, *, bank, rows: np.ndarray, **kwargs
    ) -> tuple[PassHealth, list[str]]:
        """:meth:`check` on the bank rows a pass wrote (``rows``: its table's items)."""
        rows = tf.constant(rows)
        return self.check(
            network,
            features=tf.gather(tf.convert_to_tensor(bank.feature), rows).numpy(),
            hashes=tf.gather(tf.convert_to_tensor(bank.hash), rows).numpy(),
            **kwargs,
        )


def discriminator_accuracy(
    discriminators: dict, banks: dict, *, least_squares: bool, sample: int = 1024
) -> dict[str, float]:
    """Fraction of stored features each discriminator classifies correctly (modality
    features -> 0, label features -> 1) on up to ``sample`` items; the threshold is 0.5
    for least-squares outputs and 0 for logits."""
    num_items = int(banks["lab"].feature.shape[0])
    rows = tf.range(min(sample, num_items))
    threshold = 0.5 if least_squares else 0.0
    label_features = tf.gather(tf.convert_to_tensor(banks["lab"].feature), rows)
    out = {}
    for bank, (key, label_key) in DISCRIMINATORS_OF.items():
        if bank in banks:
            features = tf.gather(tf.convert_to_tensor(banks[bank].feature), rows)
            out[key] = float(
                tf.reduce_mean(tf.cast(discriminators[key](features) < threshold, tf.float32))
            )
            out[label_key] = float(
                tf.reduce_mean(
                    tf.cast(discriminators[label_key](label_features) >= threshold, tf.float32)
                )
            )
    return out


# ----------------------------------------------------------------------------- release monitors
def blockwise_nll(
    x: tf.Tensor,
    y: tf.Tensor,
    label_bits: tf.Tensor,
    value: float,
    *,
    symmetric: bool = False,
    block: int = 1024,
) -> tf.Tensor:
    """sum(log(1 + e^T) - S * T), T = x y^T / 2, in row blocks (never n x n at once).

    ``symmetric`` (y is x): T and S are symmetric, so only the blocks on and right of
    the diagonal are computed and the off-diagonal ones count twice. Each row's sum is
    taken in float32 and the row sums added in float64 (the release sums an n x n
    float64 matrix; the difference is ~1e-7 relative). Stable softplus where the
    release's NumPy log(1 + exp) would overflow to inf.
    """
    n = int(x.shape[0])
    total = tf.constant(0.0, tf.float64)
    value = tf.constant(value, tf.float32)

    def part(rows: slice, cols: slice) -> tf.Tensor:
        inner = tf.matmul(x[rows], y[cols], transpose_b=True)
        return losses.pairwise_nll_block(inner, label_bits[rows], label_bits[cols], value)

    for start in range(0, n, block):
        stop = min(start + block, n)
        if not symmetric:
            total += part(slice(start, stop), slice(0, n))
            continue
        total += part(slice(start, stop), slice(start, stop))
        if stop < n:
            total += 2.0 * part(slice(start, stop), slice(stop, n))
    return total


@tf.function
def release_lab_monitor(bank, labels: tf.Tensor, label_bits: tf.Tensor, value: float) -> tf.Tensor:
    """LabNet's: sum((L_hat - L)^2) + NLL(H H^T / 2) + NLL(F F^T / 2), float64."""
    hashes, features = tf.convert_to_tensor(bank.hash), tf.convert_to_tensor(bank.feature)
    total = tf.reduce_sum(tf.cast(tf.square(bank.label - labels), tf.float64))
    return (
        total
        + blockwise_nll(hashes, hashes, label_bits, value, symmetric=True)
        + blockwise_nll(features, features, label_bits, value, symmetric=True)
    )


@tf.function
def release_hash_monitor(
    bank, lab_bank, labels: tf.Tensor, label_bits: tf.Tensor, value: float
) -> tf.Tensor:
    """ImgNet's / TxtNet's: NLL(X Y^T / 2) + sum((B - X)^2 + (B - Y)^2) + sum((Y - X)^2)
    + sum((L_hat - L)^2), X the network's hash bank, Y LabNet's, B = sign(X)."""
    x, y = tf.convert_to_tensor(bank.hash), tf.convert_to_tensor(lab_bank.hash)
    b = tf.sign(x)
    total = blockwise_nll(x, y, label_bits, value)
    # The release also adds sum((Y - Y)^2), identically zero.
    for term in (
        tf.square(b - x) + tf.square(b - y),
        tf.square(y - x),
        tf.square(bank.label - labels),
    ):
        total += tf.reduce_sum(tf.cast(term, tf.float64))
    return total


def release_monitor(
    network: str, banks: dict, labels: tf.Tensor, label_bits: tf.Tensor, value: float
) -> float:
    """The release's early-break monitoring loss of ``network`` (a float64 sum)."""
    if network == "lab":
        return float(release_lab_monitor(banks["lab"], labels, label_bits, value).numpy())
    return float(
        release_hash_monitor(banks[network], banks["lab"], labels, label_bits, value).numpy()
    )
