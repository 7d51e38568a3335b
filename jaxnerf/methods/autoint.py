"""AutoInt (Lindell, Martel and Wetzstein, CVPR 2021): a network of the
antiderivative along rays, so that a segment's integral costs two
evaluations. The AutoInt backbone (jaxnerf/methods/backbones/autoint.py:
the integral network, its grad network by forward-mode autodiff, the
sampling network of the posts) with no component; the render is
jaxnerf/render/autoint.py."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import autoint

METHOD = base.compose("autoint", {"autoint": autoint.BACKBONE})
