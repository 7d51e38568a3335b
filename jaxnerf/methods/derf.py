"""DeRF (Rebain et al., CVPR 2021, "DeRF: Decomposed Radiance Fields"):
the DeRF backbone (jaxnerf/methods/backbones/derf.py: N small NeRF heads
over a learned Voronoi decomposition, blended softly in training, one
head a sample at render) with no component."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import derf

METHOD = base.compose("derf", {"derf": derf.BACKBONE})
