"""Gaussian splats for photos in the wild: the splat backbone with NeRF-W's
per-image appearance codes (jaxnerf/methods/components/appearance.py), each
code mapped to gains and offsets of the Gaussians' colours in its image
(the splat backbone's `appearance_head`), as the in-the-wild splatting
papers (WildGaussians, GS-W, SWAG) condition colour on a per-image
embedding. Test views: the code is fitted on the left half of the image,
the right half scored (NeRF-W's protocol).
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import splats
from jaxnerf.methods.components import appearance

METHOD = base.compose("splat_wild", {"splats": splats.BACKBONE},
                      (appearance.COMPONENT,))
