"""D-NeRF (Pumarola et al., CVPR 2021) and its T-NeRF baseline
(`deformation = False`): a backbone plus the time component
(jaxnerf/methods/components/time.py: the deformation into the canonical
scene at t = 0, or time as an input of the field).

* backbone "mlp" (the paper's, as the authors' code): per level a
  deformation MLP of 8 x 256 (x again after the 4th layer) and a canonical
  NeRF; x and t with 10 frequencies, view directions with 4.
* backbone "hashgrid" (for CPU budgets): a hash-grid canonical field with
  a small deformation MLP (2 x 64, x and t with 6 frequencies) at its own
  learning rate (the hash table's 1e-2 is too much for an MLP), sampled by
  the occupancy grid (refreshed at random times) or by proposal fields.
  Proposal fields are time-blind: the interlevel loss only penalises weight
  a proposal misses, so they learn the union over time, which bounds every
  time's weights. Of the two choices for a fast D-NeRF (a hash-grid
  canonical field with a small deformation MLP, or a space-time grid
  factorisation such as K-Planes), this one reuses what trains fast here
  and keeps D-NeRF's structure (TiNeuVox makes the same choice).

The field interface (`density`, `radiance`) is the scene at time 0.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp
from jaxnerf.methods.components import time


def settings(backbone: str) -> dict:
  if backbone == "hashgrid":
    return dict(max_deg_time=6, deform_depth=2, deform_width=64,
                deform_skip=0, deform_max_deg_point=6, deform_lr_init=1e-3,
                deform_lr_final=1e-4)
  return {}


METHOD = base.compose(
    "dnerf", {"mlp": mlp.BACKBONE, "hashgrid": hashgrid.BACKBONE},
    (time.COMPONENT,), fields=settings)
