"""The SSAH networks: one module per network."""

from ssah_tf.models.discriminator import Discriminator
from ssah_tf.models.imgnet import ImgNet, make_backbone
from ssah_tf.models.labnet import LabNet
from ssah_tf.models.layers import NetworkOutput
from ssah_tf.models.txtnet import TxtNet

__all__ = ["Discriminator", "ImgNet", "LabNet", "NetworkOutput", "TxtNet", "make_backbone"]
