import numpy as np

from ssah_tf.data.synthetic import make_demo_dataset


def test_demo_is_deterministic_and_label_driven():
    a = make_demo_dataset(num_items=300, num_labels=6, image_size=24, vocab_size=70, seed=5)
    b = make_demo_dataset(num_items=300, num_labels=6, image_size=24, vocab_size=70, seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.texts, b.texts)
    np.testing.assert_array_equal(a.images.array, b.images.array)
    counts = a.labels.sum(1)
    assert counts.min() == 1 and counts.max() == 3
    assert a.images.array.shape == (300, 24, 24, 3) and a.images.array.dtype == np.uint8
    # Tags of label l's vocabulary block (10 tags each) appear mostly with label l.
    block = 70 // 7
    for label in range(6):
        has_tag = a.texts[:, label * block : (label + 1) * block].any(1)
        assert a.labels[has_tag, label].mean() > 0.8
    # Images differ by label: mean colour of items with a label differs from those without.
    colour = a.images.array.reshape(300, -1, 3).mean(1)
    assert (
        np.abs(colour[a.labels[:, 0] == 1].mean(0) - colour[a.labels[:, 0] == 0].mean(0)).max() > 3
    )
