"""Semantic-NeRF (Zhi et al., ICCV 2021): a backbone plus a class head
beside its colour (jaxnerf/methods/components/semantics.py: logits from the
density trunk's features, composited with the colour's weights, softmax
cross-entropy on the labelled rays).

* backbone "hashgrid" (the default here, for CPU budgets): Instant-NGP's
  field; the head reads the density MLP's features. With the proposal
  sampler the packed layout is used (the head reads each sample);
* backbone "mlp" (the paper's): NeRF's MLP; the head reads the fine
  level's trunk features.

Labels come from the data (the blender loader reads the generator's
`index` maps); the paper's experiments corrupt the training labels with
`label_noise`, `label_sparsity` and `label_downscale`
(jaxnerf/data/labels.py). docs/methods/semantic_nerf.md has the results.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp
from jaxnerf.methods.components import semantics

METHOD = base.compose(
    "semantic_nerf", {"hashgrid": hashgrid.BACKBONE, "mlp": mlp.BACKBONE},
    (semantics.COMPONENT,))
