"""Instant-NGP (Mueller et al., SIGGRAPH 2022): the hash-grid backbone
(jaxnerf/methods/backbones/hashgrid.py: hash grid, occupancy grid and packed
marching, or proposal fields) with no component; PlenOctrees' sparsity loss
with `sparsity_loss_mult` > 0.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid

METHOD = base.compose("instant_ngp", {"hashgrid": hashgrid.BACKBONE})
