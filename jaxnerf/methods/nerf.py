"""NeRF (Mildenhall et al., ECCV 2020), as JaxNeRF implements it: the MLP
backbone (jaxnerf/methods/backbones/mlp.py) with no component.

NeRF-SH (PlenOctrees) is the same method with `sh_degree` >= 0, and
PlenOctrees' sparsity loss with `sparsity_loss_mult` > 0.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp

METHOD = base.compose("nerf", {"mlp": mlp.BACKBONE})
