"""3D Gaussian Splatting (Kerbl et al., SIGGRAPH 2023) with 3DGS-MCMC's
fixed-count relocation (Kheradmand et al. 2024): the splat backbone
(jaxnerf/methods/backbones/splats.py, rasterised by
jaxnerf/render/splatting.py) with no component.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import splats

METHOD = base.compose("splat", {"splats": splats.BACKBONE})
