"""mip-NeRF (Barron et al., ICCV 2021): the mip backbone alone
(jaxnerf/methods/backbones/mip.py: cone tracing, the integrated positional
encoding, one MLP for both levels)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import mip

METHOD = base.compose("mipnerf", {"mip": mip.BACKBONE})
