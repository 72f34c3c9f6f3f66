"""Text files read strictly: UTF-8 with BOM and line ends handled, one line per bad cell."""

import numpy as np
import pytest

from ssah_tf.data.text_files import number_rows, read_text_lines
from ssah_tf.errors import UserError


def test_bom_crlf_and_cr_are_read_as_today(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfcat,dog\r\nfish\rbird\n\n")
    assert read_text_lines(str(path)) == ["cat,dog", "fish", "bird", ""]
    path.write_bytes("café\n".encode())
    assert read_text_lines(str(path)) == ["café"]


def test_a_byte_that_is_not_utf8_names_file_line_and_column(tmp_path):
    path = tmp_path / "tags.txt"
    path.write_bytes(b"cat,dog\nfish,caf\xe9\n")  # latin-1 e-acute on line 2, column 9
    with pytest.raises(UserError) as caught:
        read_text_lines(str(path))
    assert str(caught.value) == (
        f"{path} line 2 column 9: byte 0xe9 is not UTF-8; save the file as UTF-8"
    )
    with pytest.raises(UserError, match="does not exist"):
        read_text_lines(str(tmp_path / "missing.txt"))


def test_number_rows_name_the_bad_cell():
    assert number_rows(["1 0  1", "", "0 1 0"], "l.txt").tolist() == [[1, 0, 1], [0, 1, 0]]
    with pytest.raises(UserError, match=r"^l\.txt line 2 column 3: 'x' is not a number$"):
        number_rows(["1 0 1", "0 x 1"], "l.txt")
    # Columns count characters of the line, delimiters included.
    with pytest.raises(UserError, match=r"^m\.csv line 3 column 6: 'abc' is not a number$"):
        number_rows(["1,2,3", "1,2, abc"], "m.csv", delimiter=",", first_line=2)
    with pytest.raises(UserError, match=r"line 2: 2 values, but line 1 has 3"):
        number_rows(["1 0 1", "0 1"], "l.txt")
    # A blank line inside a label file is an item without values, not skipped.
    with pytest.raises(UserError, match=r"line 2: 0 values"):
        number_rows(["1 0", "", "0 1"], "l.txt", skip_blank=False)
    assert number_rows([], "e.txt").shape == (0,)
    np.testing.assert_array_equal(number_rows(["-1.5e3 inf"], "x"), [[-1500.0, np.inf]])
