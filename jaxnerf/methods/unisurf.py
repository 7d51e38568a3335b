"""UNISURF (Oechsle et al., ICCV 2021): an occupancy field rendered by
volume rendering whose samples close in on the surface as training goes
(root finding, a shrinking interval), with the normals' smoothness as the
regulariser. On the SDF backbone (jaxnerf/methods/backbones/sdf.py, its
`surface_rendering="unisurf"`: the same hash-grid field and geometric
init as NeuS, read as the occupancy's logit; jaxnerf/render/unisurf.py);
`export.py mesh` extracts the o = 0.5 level set.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import sdf

METHOD = base.compose(
    "unisurf", {"sdf": sdf.BACKBONE},
    # Occupancy is no distance: no Eikonal term (the paper has none).
    fields=lambda backbone: dict(surface_rendering="unisurf",
                                 eikonal_mult=0.0))
