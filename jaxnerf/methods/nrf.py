"""Neural Reflectance Fields (Bi et al. 2020): a backbone's density with a
material per sample (albedo, roughness, normal) lit by the image's light
(jaxnerf/methods/components/reflectance.py), trained on images under a
flash at the camera and relit by any point light. On the hash grid (occupancy-grid marching) or
NeRF's MLP (the paper's: the material head reads the fine MLP's trunk;
the coarse level keeps the MLP's own colour, for sampling)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp
from jaxnerf.methods.components import reflectance

METHOD = base.compose("nrf", {"hashgrid": hashgrid.BACKBONE,
                              "mlp": mlp.BACKBONE},
                      (reflectance.COMPONENT,))
