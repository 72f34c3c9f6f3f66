"""The one vocabulary of networks and modalities is consistent with itself."""

from ssah_tf.vocabulary import (
    DISPLAY_NAMES,
    HASH_NETWORKS,
    MODALITIES,
    MODALITY_OF,
    NETWORK_OF,
    NETWORKS,
)


def test_every_modality_has_one_network_and_back():
    assert set(NETWORK_OF) == set(MODALITIES)
    assert set(NETWORK_OF.values()) == set(HASH_NETWORKS)
    assert all(NETWORK_OF[MODALITY_OF[n]] == n for n in HASH_NETWORKS)


def test_hash_networks_are_the_networks_without_the_discriminators():
    assert HASH_NETWORKS == tuple(n for n in NETWORKS if n != "dis")
    assert set(DISPLAY_NAMES) == set(NETWORKS)
