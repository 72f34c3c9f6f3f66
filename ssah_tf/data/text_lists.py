"""Your own collection as text: all_imgs.txt / all_tags.txt / all_labels.txt with a tag
vocabulary (the MIRFLICKR layout), or a hand-written manifest (.csv or .jsonl) with a
picture path, words and labels per item. Picture paths stay inside the image folder
unless ``allow_images_outside_root``."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np

from ssah_tf.data.dataset import CrossModalDataset, FileImages, validate
from ssah_tf.data.files import require_exists
from ssah_tf.data.tags import tags_to_vectors
from ssah_tf.data.text_files import number_rows, read_text, read_text_lines
from ssah_tf.errors import UserError

LABEL_NAMES_FILE = "label_names.txt"
VOCAB_NAMES = ("TagList.txt", "all_tags_vocab.txt", "vocab.txt", "tag_list.txt", "common_tags.txt")


def read_list_lines(path: str) -> list[str]:
    require_exists(path, "file")
    return read_text_lines(path)


def _read_names(path: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in read_list_lines(path) if line.strip())


def _pictures(
    relative: list[str],
    *,
    image_root: str | None,
    default_root: str,
    lines: list[str],
    background: tuple[int, int, int],
    listed_in: str,
    allow_outside_root: bool = False,
) -> tuple[FileImages | None, str | None]:
    """(pictures, None) when every listed picture exists under the image root (given,
    or else ``default_root``), else (None, why): a run that asks for images is refused
    with the reason, a text-only run goes on."""
    root = image_root if image_root is not None else default_root
    if image_root is not None:
        require_exists(image_root, "image folder")
    if not allow_outside_root:
        inside = os.path.realpath(root)
        for path, line in zip(relative, lines):
            full = os.path.realpath(os.path.join(root, path))
            if os.path.commonpath([inside, full]) != inside:
                raise UserError(
                    f"{line}: {path} lies outside the image "
                    f"folder {root}; list paths inside it, or pass "
                    "`allow_images_outside_root` if that is deliberate"
                )
    missing = [p for p in relative if not os.path.isfile(os.path.join(root, p))]
    if missing:
        note = (
            f"{len(missing)} of the {len(relative)} pictures {listed_in} lists are missing "
            f"under {root}, e.g. {missing[0]}"
        )
        if image_root is not None:
            raise UserError(f"{note}; check `image_root`")
        return None, (
            f"{note}; pass `image_root` (the folder the paths are relative to), or "
            "`modalities=text` to train without pictures"
        )
    return FileImages(root, relative, background=background, lines=lines), None


def read_text_lists(
    folder: str,
    *,
    image_root: str | None = None,
    vocab_file: str | None = None,
    name: str = "text_lists",
    background: tuple[int, int, int] = (255, 255, 255),
    allow_images_outside_root: bool = False,
) -> CrossModalDataset:
    """all_imgs.txt / all_tags.txt / all_labels.txt / vocabulary (+ label_names.txt),
    with the pictures all_imgs.txt lists under ``image_root`` (default: the folder)."""
    require_exists(folder, "folder")
    tags_path = os.path.join(folder, "all_tags.txt")
    labels_path = os.path.join(folder, "all_labels.txt")
    for p in (tags_path, labels_path):
        require_exists(p, "text-list file")
    if vocab_file is None:
        for candidate in VOCAB_NAMES:
            if os.path.exists(os.path.join(folder, candidate)):
                vocab_file = os.path.join(folder, candidate)
                break
        else:
            raise UserError(
                f"{folder}: no tag vocabulary file ({', '.join(VOCAB_NAMES)}); pass `vocab_file`"
            )
    vocab = [t.strip() for t in read_list_lines(vocab_file) if t.strip()]
    if len(set(vocab)) != len(vocab):
        raise UserError(f"{vocab_file}: the vocabulary has duplicate tags")
    tag_lines = read_list_lines(tags_path)
    label_lines = [line for line in read_list_lines(labels_path)]
    while label_lines and not label_lines[-1].strip():
        label_lines.pop()
    while tag_lines and len(tag_lines) > len(label_lines) and not tag_lines[-1].strip():
        tag_lines.pop()
    if len(tag_lines) != len(label_lines):
        raise UserError(
            f"{folder}: all_tags.txt has {len(tag_lines)} lines but all_labels.txt "
            f"has {len(label_lines)}"
        )
    texts = tags_to_vectors(
        tag_lines, vocab, f"{tags_path} (vocabulary {os.path.basename(vocab_file)})"
    )
    labels = number_rows(label_lines, labels_path, skip_blank=False)
    names_path = os.path.join(folder, LABEL_NAMES_FILE)
    label_names = _read_names(names_path) if os.path.isfile(names_path) else None
    images, note, item_ids = None, None, None
    imgs_path = os.path.join(folder, "all_imgs.txt")
    if os.path.isfile(imgs_path):
        listed = [(n, p.strip()) for n, p in enumerate(read_list_lines(imgs_path), 1) if p.strip()]
        if len(listed) != len(labels):
            raise UserError(f"{imgs_path} lists {len(listed)} images for {len(labels)} label rows")
        relative = [p for _, p in listed]
        images, note = _pictures(
            relative,
            image_root=image_root,
            default_root=folder,
            lines=[f"all_imgs.txt line {n}" for n, _ in listed],
            background=background,
            listed_in="all_imgs.txt",
            allow_outside_root=allow_images_outside_root,
        )
        item_ids = tuple(relative)
    elif image_root is not None:
        raise UserError(f"`image_root` is given but {folder} has no all_imgs.txt listing pictures")
    return validate(
        CrossModalDataset(
            name=name,
            labels=labels,
            texts=texts,
            images=images,
            tag_names=tuple(vocab),
            label_names=label_names,
            item_ids=item_ids,
            image_note=note,
            source=folder,
        ),
        folder,
    )


# ----------------------------------------------------------------------------- manifests
MANIFEST_FIELDS = {"image": ("image", "picture", "path"), "words": ("words", "tags", "text")}


def _manifest_rows(path: str) -> list[tuple[int, dict]]:
    """(line number, {image, words, labels}) of a .csv (header row; words and labels
    separated by ';' in their cells) or .jsonl manifest (lists or ';'-separated strings)."""
    rows = []
    text = read_text(path, "manifest")
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "labels" not in header:
            raise UserError(
                f"{path}: the header row needs a 'labels' column (and 'image' and/or "
                f"'words'); found {', '.join(header) or 'no header'}"
            )
        for row in reader:
            rows.append((reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}))
        return rows
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise UserError(f"{path} line {number}: not a JSON object ({error})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number}: expected a JSON object per line")
        rows.append((number, {k.lower(): v for k, v in record.items()}))
    return rows


def _items(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise UserError(f"{where}: expected a list of strings or a ';'-separated string")


def read_manifest(
    path: str,
    *,
    image_root: str | None = None,
    vocab_file: str | None = None,
    name: str = "collection",
    background: tuple[int, int, int] = (255, 255, 255),
    allow_images_outside_root: bool = False,
) -> CrossModalDataset:
    """A hand-written manifest, one item per row: its picture path (relative to
    ``image_root``, default the manifest's folder), its words and its labels by name.
    The vocabulary is every word used (sorted), unless ``vocab_file`` gives one; the
    label names are every label used (sorted)."""
    require_exists(path, "manifest")
    rows = _manifest_rows(path)
    if not rows:
        raise UserError(f"{path} has no items")
    base = os.path.basename(path)

    def field(row, kind):
        return next((row[k] for k in MANIFEST_FIELDS[kind] if k in row), None)

    words = [(n, _items(field(r, "words"), f"{base} line {n}")) for n, r in rows]
    labels = [(n, _items(r.get("labels"), f"{base} line {n}")) for n, r in rows]
    paths = [(n, field(r, "image")) for n, r in rows]
    label_names = tuple(sorted({x for _, names in labels for x in names}))
    if not label_names:
        raise UserError(f"{path}: no item has a label; give each item its labels")
    column = {x: i for i, x in enumerate(label_names)}
    label_matrix = np.zeros((len(rows), len(label_names)), np.float32)
    for row, (_, names) in enumerate(labels):
        label_matrix[row, [column[x] for x in names]] = 1.0
    texts, vocab = None, None
    if any(w for _, w in words):
        if vocab_file:
            vocab = [t.strip() for t in read_list_lines(vocab_file) if t.strip()]
        else:
            vocab = sorted({x for _, ws in words for x in ws})
        index = {word: i for i, word in enumerate(vocab)}
        texts = np.zeros((len(rows), len(vocab)), np.float32)
        for row, (number, item_words) in enumerate(words):
            for word in item_words:
                if word not in index:
                    raise UserError(
                        f"{base} line {number}: word {word!r} is not in the vocabulary {vocab_file}"
                    )
                texts[row, index[word]] = 1.0
    images, note, item_ids = None, None, None
    if any(p for _, p in paths):
        absent = [n for n, p in paths if not p]
        if absent:
            raise UserError(f"{base} line {absent[0]}: no picture path (every item needs one)")
        relative = [str(p) for _, p in paths]
        images, note = _pictures(
            relative,
            image_root=image_root,
            default_root=os.path.dirname(os.path.abspath(path)),
            lines=[f"{base} line {n}" for n, _ in paths],
            background=background,
            listed_in=base,
            allow_outside_root=allow_images_outside_root,
        )
        item_ids = tuple(relative)
    return validate(
        CrossModalDataset(
            name=name,
            labels=label_matrix,
            texts=texts,
            images=images,
            tag_names=tuple(vocab) if vocab else None,
            label_names=label_names,
            item_ids=item_ids,
            image_note=note,
            source=path,
        ),
        path,
    )
