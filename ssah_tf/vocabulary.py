"""One vocabulary for SSAH's networks and the modalities they encode.

* Networks, and the training stages named after them: ``lab`` (LabNet), ``img``
  (ImgNet), ``txt`` (TxtNet), ``dis`` (the discriminators). Memory banks, optimizers,
  schedule tables and progress lines use these keys.
* Modalities, what an item or a query is: ``label``, ``image``, ``text``. Retrieval
  directions are named by their initials, query first (``i2t``: image queries, text
  database; evaluation/directions.py).
"""

from __future__ import annotations

NETWORKS = ("lab", "img", "txt", "dis")
HASH_NETWORKS = ("lab", "img", "txt")  # the networks that produce codes
MODALITIES = ("label", "image", "text")
NETWORK_OF = {"label": "lab", "image": "img", "text": "txt"}
MODALITY_OF = {network: modality for modality, network in NETWORK_OF.items()}
DISPLAY_NAMES = {"lab": "LabNet", "img": "ImgNet", "txt": "TxtNet", "dis": "the discriminators"}

# Data sets a run can name (data/README.md), and those ssah-prepare copies (the demo
# is generated and mfeat read in place).
DATASETS = ("demo", "mirflickr25k", "nus_wide", "ms_coco", "mfeat", "npz", "collection")
PREPARED_DATASETS = ("collection", "mirflickr25k", "nus_wide", "ms_coco", "npz")
# Settings that are on, off, or decided from the data (input standardisation).
SWITCH_CHOICES = ("auto", "on", "off")

# The discriminators, by the release's names: on the image side IL judges ImgNet's
# semantic features and L1 LabNet's, on the text side TL and L2 (with
# discriminator_shared, L1 is IL and L2 is TL). Checkpoints and loss terms use them.
IMAGE_D, IMAGE_LABEL_D, TEXT_D, TEXT_LABEL_D = "IL", "L1", "TL", "L2"
DISCRIMINATOR_KEYS = (IMAGE_D, IMAGE_LABEL_D, TEXT_D, TEXT_LABEL_D)
DISCRIMINATORS_OF = {"img": (IMAGE_D, IMAGE_LABEL_D), "txt": (TEXT_D, TEXT_LABEL_D)}
