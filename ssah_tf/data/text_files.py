"""Text files read strictly: UTF-8 (a BOM dropped, CRLF or CR line ends alike), and a
bad byte or a cell that is not a number is one line naming the file, line and column.

Every list, vocabulary, label file, CSV and manifest the project reads comes through
here, so no reader falls back to the locale's encoding or guesses.
"""

from __future__ import annotations

import codecs
import os
import re

import numpy as np

from ssah_tf.errors import UserError


def read_text(path: str, what: str = "file") -> str:
    """The file's text; UserError naming file, line and column of a byte that is not UTF-8."""
    if not os.path.isfile(path):
        raise UserError(f"{what} {path} does not exist")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise UserError(f"{what} {path} cannot be read ({error.strerror})") from None
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise UserError(
            f"{path} line {line} column {column}: byte 0x{raw[error.start]:02x} is not "
            "UTF-8; save the file as UTF-8"
        ) from None


def read_text_lines(path: str, what: str = "file") -> list[str]:
    """The file's lines without their line ends (as Python's text mode splits them)."""
    text = read_text(path, what).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


_CELL = re.compile(r"\S+")


def number_rows(
    lines: list[str],
    path: str,
    *,
    delimiter: str | None = None,
    first_line: int = 1,
    skip_blank: bool = True,
) -> np.ndarray:
    """A float32 matrix from text rows of numbers (blank lines skipped) separated by
    whitespace or ``delimiter`` (``skip_blank``: or a blank line is a row of no
    values, refused as one of another length); UserError naming file, line and column of a cell that
    is not a number, or of a row of another length."""
    rows: list[list[float]] = []
    width_line = 0
    for number, line in enumerate(lines, first_line):
        if skip_blank and not line.strip():
            continue
        if delimiter is None:
            cells = [(m.start(), m.group()) for m in _CELL.finditer(line)]
        else:
            cells, start = [], 0
            for cell in line.split(delimiter):
                cells.append((start + len(cell) - len(cell.lstrip()), cell.strip()))
                start += len(cell) + len(delimiter)
        row = []
        for column, cell in cells:
            try:
                row.append(float(cell))
            except ValueError:
                raise UserError(
                    f"{path} line {number} column {column + 1}: {cell!r} is not a number"
                ) from None
        if rows and len(row) != len(rows[0]):
            raise UserError(
                f"{path} line {number}: {len(row)} values, but line {width_line} has "
                f"{len(rows[0])}; give every row the same number of values"
            )
        if not rows:
            width_line = number
        rows.append(row)
    return np.asarray(rows, np.float32)
