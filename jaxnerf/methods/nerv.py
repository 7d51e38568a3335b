"""NeRV (Srinivasan et al. 2021): Neural Reflectance Fields' materials and
lights (jaxnerf/methods/components/reflectance.py) with a learned
visibility of environments (components/visibility.py), so that an
environment lights a point only from the directions the scene leaves open.
On the hash grid (occupancy-grid marching). NeRV's one-bounce indirect
light is not modelled."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid
from jaxnerf.methods.components import reflectance

METHOD = base.compose("nerv", {"hashgrid": hashgrid.BACKBONE},
                      (reflectance.COMPONENT,),
                      fields=lambda backbone: {"visibility_directions": 32})
