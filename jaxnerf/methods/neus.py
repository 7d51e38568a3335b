"""NeuS (Wang et al., NeurIPS 2021): a signed distance field rendered with
its unbiased, occlusion-aware opacity, the learned width 1 / s and the
Eikonal term. On the SDF backbone (jaxnerf/methods/backbones/sdf.py: the
hash grid as instant-nsr / NeuS2; the opacity in jaxnerf/render/neus.py);
`export.py mesh` extracts its zero level set.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import sdf

METHOD = base.compose("neus", {"sdf": sdf.BACKBONE})
