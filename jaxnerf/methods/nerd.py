"""NeRD (Boss et al. 2021): a collection of photos of one object, each
under its own unknown environment; a backbone's density with a material
per sample (jaxnerf/methods/components/reflectance.py) lit by each photo's
learned spherical-harmonics environment
(jaxnerf/methods/components/illumination.py). On the hash grid
(occupancy-grid marching)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid
from jaxnerf.methods.components import illumination, reflectance

METHOD = base.compose("nerd", {"hashgrid": hashgrid.BACKBONE},
                      (illumination.COMPONENT, reflectance.COMPONENT))
