"""Camera refinement, a component any backbone takes: BARF's per-camera
se(3) pose corrections with coarse to fine (Lin et al., ICCV 2021) and
SCNeRF's shared intrinsics and radial distortion residuals (Jeong et al.,
ICCV 2021), with BARF's pose evaluation.

* Every training camera has a pose correction xi_i in se(3) (a per-camera
  parameter group with its own Adam schedule, `pose_lr_*`): its camera-to-
  world pose is the given pose moved by exp(xi_i) in the world frame,
  exp(xi_i) o c2w_i, as BARF's code composes it (`pose_frame`; "camera":
  c2w_i o exp(xi_i)). Rays are cast in the step from the corrected
  cameras (`casts_rays`), so the photometric loss reaches the poses through
  the ray origins and directions.
* Coarse to fine (`encoding_weights`): the backbone weights its encoding's
  finer bands (positional encoding frequencies, hash-grid levels) by
  `encoding.coarse_to_fine_weights` over the training progress (BARF's
  c2f = [0.1, 0.5]).
* With `learn_intrinsics`, one shared residual (SCNeRF's camera model without
  its per-pixel ray noise) corrects every camera: focal lengths
  fx exp(d_fx), fy exp(d_fy) (`shared_focal`: d_fy = d_fx) and principal
  point + (d_cx W, d_cy H); with `learn_distortion` also radial distortion
  k1, k2 added to the given ones (rays then need Newton undistortion:
  slower steps, a long compile). A parameter group of its own,
  `intrinsics_lr_*`.
* Evaluation as the paper: the optimised training poses are aligned to the
  true ones by a similarity (Procrustes on the camera centres) and scored
  (`eval_metrics`: rotation error in degrees, translation error x100 of the
  world-to-camera translation, per camera and mean); test cameras are moved
  into the learned frame by the inverse similarity (`eval_cameras`) and
  each test view's pose correction is optimised on its image for
  `test_time_steps` before scoring (`test_time`).
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnerf.core import poses
from jaxnerf.core.cameras import Cameras
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding
from jaxnerf.methods import base


def pose_fields() -> ml_collections.ConfigDict:
  """The pose and intrinsics fields every BARF-style method shares."""
  c = ml_collections.ConfigDict()
  # Coarse to fine: encoding bands fade in between these fractions of
  # max_steps (BARF's c2f = [0.1, 0.5]); False: all bands from the start.
  c.coarse_to_fine = True
  c.c2f_start = 0.1
  c.c2f_end = 0.5
  # Paper: pose corrections 1e-3 -> 1e-5 (Blender), 3e-3 -> 1e-5 (LLFF).
  c.update(base.schedule_fields("pose_", 1e-3, 1e-5))
  # Where the corrections act (`poses.move`): "world" (BARF's: rotations
  # about the world origin) or "camera" (about each camera's centre). Adam
  # scales each coordinate alone, so the frame changes the optimisation.
  c.pose_frame = "world"
  # SCNeRF's intrinsics: shared residuals on focal and principal point,
  # and on radial distortion k1, k2.
  c.learn_intrinsics = False
  # One focal residual for fx and fy (square pixels, as COLMAP's SIMPLE_*
  # camera models assume); False: SCNeRF's two.
  c.shared_focal = False
  c.learn_distortion = False
  c.update(base.schedule_fields("intrinsics_", 1e-3, 1e-4))
  # Test-time pose optimisation of each evaluated view (paper: 100 steps at
  # the pose learning rate, 1024 rays).
  c.update(base.test_time_fields(100, 1e-3, 1024))
  return c


def refine_intrinsics(cameras: Cameras, residual: jax.Array,
                      shared_focal: bool = False) -> Cameras:
  """Cameras with SCNeRF-style intrinsics residuals applied.

  Args:
    residual: [4] (log fx, log fy, cx / W, cy / H) corrections.
    shared_focal: scale fy by the fx residual too (log fy unused).
  """
  d = residual
  d_fy = d[0] if shared_focal else d[1]
  return cameras.replace(
      fx=cameras.fx * jnp.exp(d[0]), fy=cameras.fy * jnp.exp(d_fy),
      cx=cameras.cx + d[2] * cameras.width,
      cy=cameras.cy + d[3] * cameras.height)


def refine_distortion(cameras: Cameras, k1k2: jax.Array) -> Cameras:
  """Cameras with radial distortion residuals k1k2 [2] added."""
  zero = jnp.zeros_like(k1k2[:1])
  return cameras.replace(
      distortion=cameras.distortion + jnp.concatenate([k1k2, zero, zero]),
      distorted=True)


def band_weights(config, progress: Optional[base.Progress],
                 num_bands: int) -> Optional[jax.Array]:
  """Coarse-to-fine weights of `num_bands` at `progress` (None: all on)."""
  if not config.coarse_to_fine or progress is None:
    return None
  return encoding.coarse_to_fine_weights(progress.fraction, num_bands,
                                         config.c2f_start, config.c2f_end)


class PoseRefinement(nn.Module):
  """Per-camera se(3) corrections and optional shared intrinsics residuals,
  and the coarse-to-fine schedule of the backbone's encoding (the hooks
  `refine_cameras` and `encoding_weights` of jaxnerf.methods.base)."""

  config: Any
  num_cameras: int = 1

  def setup(self):
    if self.config.pose_frame not in poses.FRAMES:
      raise ConfigError(f"config.pose_frame: unknown "
                        f"{self.config.pose_frame!r}; known: "
                        f"{list(poses.FRAMES)}")
    self.pose_delta = base.per_camera_param(
        self, "pose_delta", self.num_cameras, nn.initializers.zeros, (6,))
    if self.config.learn_intrinsics:
      self.intrinsics = self.param("intrinsics", nn.initializers.zeros, (4,))
    if self.config.learn_distortion:
      self.distortion = self.param("distortion", nn.initializers.zeros, (2,))

  def refine_cameras(self, cameras: Cameras) -> Cameras:
    c2w = poses.move(jnp.asarray(cameras.camtoworlds),
                     self.pose_delta.value, self.config.pose_frame)
    cameras = cameras.replace(camtoworlds=c2w)
    if self.config.learn_intrinsics:
      cameras = refine_intrinsics(cameras, self.intrinsics,
                                  self.config.shared_focal)
    if self.config.learn_distortion:
      cameras = refine_distortion(cameras, self.distortion)
    return cameras

  def __call__(self, cameras: Cameras) -> Cameras:
    return self.refine_cameras(cameras)

  def encoding_weights(self, progress: Optional[base.Progress],
                       num_bands: int) -> Optional[jax.Array]:
    """BARF's coarse-to-fine weights of `num_bands` finer bands (or grid
    levels) at `progress` (None: all on)."""
    return band_weights(self.config, progress, num_bands)


# Evaluation -----------------------------------------------------------------


def learned_cameras(context: base.EvalContext) -> Cameras:
  """The training cameras as the model has refined them (host, float64
  poses)."""
  cameras = context.train_cameras.device_arrays()
  refined = context.model.apply(context.variables, jax.tree.map(
      jnp.asarray, cameras), method="refine_cameras")
  return jax.tree.map(lambda x: np.asarray(x, np.float64)
                      if np.asarray(x).dtype.kind == "f" else np.asarray(x),
                      refined)


def alignment(context: base.EvalContext) -> poses.Similarity:
  """The similarity taking the learned camera centres onto the true ones."""
  return poses.align_cameras(learned_cameras(context).camtoworlds,
                             context.true_camtoworlds)[1]


def pose_metrics(context: base.EvalContext) -> dict:
  """BARF's pose evaluation of the training cameras, after Procrustes
  alignment: `rotation_error_deg` (geodesic) and `translation_error` (of
  the world-to-camera translation, x100 as the paper's tables), means and
  per camera (`camera_errors`); with learned intrinsics also the first
  camera's `focal_x`, `focal_y`, `cx`, `cy` (and `k1`, `k2`) and
  `focal_error_percent`: the learned focal x against the true one (the
  given one without config.focal_error), in percent."""
  learned = learned_cameras(context)
  aligned, _ = poses.align_cameras(learned.camtoworlds,
                                   context.true_camtoworlds)
  rot, trans = poses.pose_errors(aligned, context.true_camtoworlds)
  trans = 100 * trans
  out = {"rotation_error_deg": float(np.mean(rot)),
         "translation_error": float(np.mean(trans)),
         "camera_errors": [
             {"name": n, "rotation_error_deg": float(r),
              "translation_error": float(t)}
             for n, r, t in zip(context.train_names, rot, trans)]}
  if context.config.learn_intrinsics:
    true_fx = float(context.train_cameras.fx[0]) / (
        1.0 + context.config.focal_error)
    out.update(focal_x=float(learned.fx[0]), focal_y=float(learned.fy[0]),
               cx=float(learned.cx[0]), cy=float(learned.cy[0]),
               focal_error_percent=100.0 * (float(learned.fx[0]) / true_fx
                                            - 1.0))
  if context.config.learn_distortion:
    out.update(k1=float(learned.distortion[0, 0]),
               k2=float(learned.distortion[0, 1]))
  return out


def aligned_eval_cameras(context: base.EvalContext,
                         cameras: Cameras) -> Cameras:
  """Cameras of another split (true poses) moved into the learned frame by
  the inverse of the training poses' alignment."""
  inverse = alignment(context).inverse()
  moved = inverse.apply_to_poses(np.asarray(cameras.camtoworlds, np.float64))
  return cameras.replace(camtoworlds=moved.astype(
      cameras.camtoworlds.dtype))


POSE_GROUP = base.ParamGroup("pose", prefix="pose_", per_camera=True,
                             match=lambda path: path[-1] == "pose_delta")
INTRINSICS_GROUP = base.ParamGroup(
    "intrinsics", prefix="intrinsics_",
    match=lambda path: path[-1] in ("intrinsics", "distortion"))
PARAM_GROUPS = (POSE_GROUP, INTRINSICS_GROUP)

COMPONENT = base.Component(
    name="cameras",
    fields=pose_fields,
    module=lambda config, scene, levels: PoseRefinement(
        config=config, num_cameras=scene.num_cameras),
    engine_defaults=dict(metrics_every=1000),
    param_groups=PARAM_GROUPS,
    casts_rays=True,
    test_time=base.TestTime(),
    eval_metrics=pose_metrics,
    eval_cameras=aligned_eval_cameras,
)
