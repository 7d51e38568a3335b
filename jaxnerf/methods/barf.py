"""BARF (Lin et al., ICCV 2021): the scene and the camera poses together,
coarse to fine; optionally SCNeRF's learnable intrinsics (Jeong et al.,
ICCV 2021). A backbone plus the camera-refinement component
(jaxnerf/methods/components/camera_refinement.py: the pose and intrinsics
corrections, coarse to fine, BARF's pose evaluation and test-time pose
fits):

* backbone "mlp" (the paper's): NeRF's MLP with one level of 128 samples
  and softplus density; coarse to fine over the positional encodings'
  frequency bands of points and view directions;
* backbone "hashgrid": Instant-NGP's hash grid and occupancy grid (or
  proposals); coarse to fine over the grid's levels above the coarsest
  (trilinear on 16^3 cells early on, a smooth function of the points), the
  pose gradient flowing through the trilinear weights of the grid lookup
  and the ray origins and directions.

Pose noise (`config.pose_noise`) and identity initial poses
(`config.pose_init`) are engine fields: the training split's poses are
corrupted on loading and the true ones kept for evaluation, for any method.
"""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp, splats
from jaxnerf.methods.components import camera_refinement


def paper_settings(backbone: str) -> dict:
  """The paper's Blender NeRF: one level of 128 samples, softplus density
  (on the MLP; the hash grid keeps Instant-NGP's)."""
  if backbone == "mlp":
    return dict(num_coarse_samples=128, num_fine_samples=0,
                density_activation="softplus")
  return {}


def paper_engine_defaults(backbone: str) -> dict:
  """Paper (Blender): field 5e-4 -> 1e-4, 1024 rays, 200k steps (on the
  MLP; the hash grid keeps Instant-NGP's optimiser)."""
  if backbone == "mlp":
    return dict(lr_init=5e-4, lr_final=1e-4, batch_size=1024,
                max_steps=200_000)
  return {}


METHOD = base.compose(
    "barf", {"mlp": mlp.BACKBONE, "hashgrid": hashgrid.BACKBONE,
             "splats": splats.BACKBONE},
    (camera_refinement.COMPONENT,), fields=paper_settings,
    engine_defaults=paper_engine_defaults)
