"""Tag lines -> bag-of-words rows."""

import numpy as np
import pytest

from ssah_tf.data.tags import tags_to_vectors
from ssah_tf.errors import UserError


def test_tags_by_hand():
    rows = tags_to_vectors(["b, a", "", "c,c"], ["a", "b", "c"], "tags.txt")
    np.testing.assert_array_equal(rows, [[1, 1, 0], [0, 0, 0], [0, 0, 1]])


def test_unknown_tags_and_duplicate_vocabularies_are_named():
    with pytest.raises(UserError, match=r"tags.txt line 2: tag 'z' is not in the vocabulary"):
        tags_to_vectors(["a", "a,z"], ["a", "b"], "tags.txt")
    with pytest.raises(UserError, match="duplicate tags"):
        tags_to_vectors(["a"], ["a", "a"], "tags.txt")
