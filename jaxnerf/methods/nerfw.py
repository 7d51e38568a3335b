"""NeRF in the Wild (Martin-Brualla et al., CVPR 2021): a backbone plus
per-image appearance codes (jaxnerf/methods/components/appearance.py) and
transients (components/transients.py: the transient head, the joint
compositing, the uncertainty loss).

* backbone "mlp" (the paper's): NeRF's MLP; the coarse level is a plain
  static NeRF (neither code), used for sampling; the fine level gets the
  appearance code at its colour branch and the transient head on its
  trunk's features;
* backbone "hashgrid": Instant-NGP's hash-grid field (occupancy-grid
  marching or proposal fields); the code joins the SH-encoded view
  direction at the colour MLP, the transient head reads the density MLP's
  features. The occupancy grid (and the proposals) follow the static
  density only: adding each photo's transient density kept the union of
  every photo's transients occupied (half the lego's box after 500 steps,
  150 samples per ray), so the sample budget held 400 of 8192 rays and the
  static scene never formed on the lego in the wild (docs/BENCHMARKS.md,
  "NeRF-W on the lego in the wild").

`appearance_dim = 0` or `transient_dim = 0` switch either part off (NeRF-U,
NeRF-A: `variant`); both off is the backbone alone with NeRF-W's test-time
split.
"""

import ml_collections

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp
from jaxnerf.methods.components import appearance, transients


def variant(c: ml_collections.ConfigDict, name: str):
  """Switches `c` to NeRF-A ("a": appearance only), NeRF-U ("u": transient
  only) or NeRF-W ("w": both). Returns `c`."""
  c.appearance_dim = (appearance.appearance_fields().appearance_dim
                      if name in "aw" else 0)
  c.transient_dim = (transients.transient_fields().transient_dim
                     if name in "uw" else 0)
  if c.appearance_dim == 0:
    c.test_time_steps = 0  # nothing to fit
  return c


def settings(backbone: str) -> dict:
  """On the hash grid: a head the size of the field's MLPs, not of NeRF's;
  the codes at the grid's learning rate; fewer, smaller test-time steps (a
  fit step costs a fraction of a training step there, but there are 25
  test views); and lambda_u = 1.

  lambda_u: NeRF-W's 0.01 lets the transient density stay up everywhere on
  the hash grid; static density then grows in front of it (lowering beta),
  the occupancy grid stays 0.76 full after 200 steps on the clean lego and
  the sample budget holds 400 of 8192 rays. 1.0: 0.12 full, 2100+ rays
  (transient_density_bias -8 also carves, but then transients take 13-24 %
  of the clean lego's rays). On the proposal sampler (which follows the
  static density only) 0.1 and 1.0 scored alike with softplus betas, which
  left the transient head unused; configs/nerfw_ngp_demo.py takes the
  paper's 0.01 with beta_max 1, where the head is used (docs/BENCHMARKS.md,
  the NeRF-W sections)."""
  if backbone != "hashgrid":
    return {}
  return dict(transient_depth=2, transient_width=64, lambda_u=1.0,
              appearance_lr_init=1e-2, appearance_lr_final=1e-3,
              transient_lr_init=1e-2, transient_lr_final=1e-3,
              test_time_steps=40, test_time_batch_size=256)


METHOD = base.compose(
    "nerfw", {"mlp": mlp.BACKBONE, "hashgrid": hashgrid.BACKBONE},
    (appearance.COMPONENT, transients.COMPONENT), fields=settings)
