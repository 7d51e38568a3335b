"""Neural Reflectance Fields (Bi et al. 2020): a backbone's density with a
material per sample (albedo, roughness, normal) lit by the image's light
(jaxnerf/methods/components/reflectance.py), trained on images under a
flash at the camera and relit by any point light. On the hash grid
(occupancy-grid marching)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid
from jaxnerf.methods.components import reflectance

METHOD = base.compose("nrf", {"hashgrid": hashgrid.BACKBONE},
                      (reflectance.COMPONENT,))
