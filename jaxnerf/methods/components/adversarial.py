"""GNeRF's adversarial pose learning (Meng et al., ICCV 2021), a component
any backbone takes: poses of the training images from none at all, only a
prior range of camera positions.

* Pose prior (`sample_prior`): camera centres uniform in azimuth,
  elevation and radius over the configured ranges (Blender: the upper
  hemisphere at the known radius), each looking at the origin with the
  world's +z up (`poses.look_at`), as the reference's `random_poses`.
* Generator: the backbone's field renders `gan_fake_patches` patches at
  prior poses in the train step (`train_outputs`), patches of
  `patch_size` pixels `patch_stride` apart, the same shape as the real
  patches the engine draws (`cameras.patch_pixels`).
* Discriminator (`Discriminator`): a small conv net on patches in
  [-1, 1]; the reference's standard GAN loss (binary cross-entropy on
  logits: the generator's is non-saturating) with its R1 penalty on real
  patches (`gan_r1_weight` * E ||grad_x D(x)||^2, its `reg_type="real"`).
* Inversion network (`InversionNet`): a small CNN mapping a patch to the
  camera centre (the reference's pose_mode "3d": the rotation is the
  look-at one), trained on the generated patches against their sampled
  centres; its predictions on the real patches pull each training
  camera's centre (`pose_prior` term, the reference's
  `training_pose_regularization`, x0.1).
* Training cameras: each has a learned centre (per-camera `gan_position`,
  added to the given centre: the engine's `pose_init="identity"` puts the
  given ones at the origin, so no pose is given); its rotation looks at
  the origin (`refine_cameras`). Other splits' views start from zeros:
  their (aligned) given centres, looking at the origin.
* Phase schedule (`phase_weights`): steps [0, gan_phase_a_steps) are
  phase A (GAN, inversion, pose prior), [gan_phase_a_steps,
  gan_phase_ab_steps) both A and B (the reference's "ABAB": every step
  takes A's and B's updates), later only B (the photometric loss on the
  real patches through the learned poses: `gnerf.py` weighs the
  backbone's colour terms by B's weight).

One optimiser step holds all objectives; each parameter group gets only
its own objective's gradient by stop_gradient (the reference's
toggle_grad): the discriminator's terms see the fake patches stopped, the
generator's term sees the discriminator's parameters stopped, the
inversion term sees the fakes and their poses stopped, the pose prior
term sees the inversion network's predictions stopped.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnerf.core import cameras as cameras_lib
from jaxnerf.core import poses
from jaxnerf.core.cameras import Cameras
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base


def config_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # The prior range of camera positions (degrees; scene units): Blender's
  # upper hemisphere at its cameras' radius (4.0311 in the lego).
  c.gan_azimuth_range = (0.0, 360.0)
  c.gan_elevation_range = (0.0, 90.0)
  c.gan_radius_range = (4.0311, 4.0311)
  # Generated patches a step (0: as many as the batch's real patches).
  c.gan_fake_patches = 0
  c.gan_disc_width = 32  # channels of the discriminator's first conv
  c.gan_inversion_width = 32  # channels of the inversion CNN's first conv
  c.gan_r1_weight = 10.0  # the reference's reg_param
  c.gan_pose_prior_weight = 0.1  # the reference's training-pose term
  # Phase A alone before this step, A and B together before the next,
  # then B alone (the reference's begin_refine / progressive_end).
  c.gan_phase_a_steps = 12000
  c.gan_phase_ab_steps = 20000
  # Reference: D 1e-4, inversion 1e-4, training poses 5e-3 (each halved
  # every 8000 / 4000 steps); Adam here for all.
  c.update(base.schedule_fields("disc_", 1e-4, 1e-4))
  c.update(base.schedule_fields("inversion_", 1e-4, 2.5e-5))
  c.update(base.schedule_fields("position_", 5e-3, 5e-4))
  return c


def check_config(c) -> None:
  """Raises ConfigError naming the first bad GNeRF setting."""
  base.check_integer_fields(c, (("gan_fake_patches", 0),
                                ("gan_disc_width", 1),
                                ("gan_inversion_width", 1),
                                ("gan_phase_a_steps", 0),
                                ("gan_phase_ab_steps", 0)))
  if c.gan_phase_ab_steps < c.gan_phase_a_steps:
    raise ConfigError(f"config.gan_phase_ab_steps: {c.gan_phase_ab_steps} "
                      f"is before gan_phase_a_steps {c.gan_phase_a_steps}")
  for name, low, high in (("gan_azimuth_range", -360.0, 720.0),
                          ("gan_elevation_range", -90.0, 90.0),
                          ("gan_radius_range", 1e-6, np.inf)):
    value = c[name]
    if (len(value) != 2 or not all(np.isfinite(v) for v in value)
        or not low <= value[0] <= value[1] <= high):
      raise ConfigError(f"config.{name}: {tuple(value)!r} must be (low, "
                        f"high) with {low} <= low <= high <= {high}")
  for name in ("gan_r1_weight", "gan_pose_prior_weight"):
    if not (np.isfinite(c[name]) and c[name] >= 0):
      raise ConfigError(f"config.{name}: {c[name]!r} must be >= 0")
  if not c.patch_size:
    raise ConfigError("config.patch_size: GNeRF's discriminator compares "
                      "patches; set patch_size > 0")
  if c.pose_init != "identity":
    raise ConfigError(f"config.pose_init: {c.pose_init!r}; GNeRF learns "
                      "the training poses from none: set 'identity'")


def sample_prior(key: jax.Array, num: int, azimuth_range, elevation_range,
                 radius_range) -> jax.Array:
  """[num, 3] camera centres uniform in azimuth (from +x towards +y),
  elevation (above the xy plane; degrees) and radius over the ranges."""
  u = jax.random.uniform(key, (num, 3))
  lerp = lambda r, x: r[0] + (r[1] - r[0]) * x
  azimuth = jnp.deg2rad(lerp(azimuth_range, u[:, 0]))
  elevation = jnp.deg2rad(lerp(elevation_range, u[:, 1]))
  radius = lerp(radius_range, u[:, 2])
  return radius[:, None] * jnp.stack(
      [jnp.cos(elevation) * jnp.cos(azimuth),
       jnp.cos(elevation) * jnp.sin(azimuth), jnp.sin(elevation)], -1)


def phase_weights(step: jax.Array, phase_a_steps: int,
                  phase_ab_steps: int) -> jax.Array:
  """[2] float32 (GAN phase A's weight, refinement phase B's) at `step`:
  (1, 0) before phase_a_steps, (1, 1) before phase_ab_steps, then (0, 1)."""
  step = jnp.asarray(step)
  return jnp.stack([step < phase_ab_steps,
                    step >= phase_a_steps]).astype(jnp.float32)


class Discriminator(nn.Module):
  """Patches [B, p, p, 3] in [-1, 1] -> logits [B]: two stride-2 4x4
  convolutions with leaky ReLUs (the reference's DCGAN blocks, without its
  spectral and instance norms), a spatial mean and a linear logit."""

  width: int = 32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for mult in (1, 2):
      x = nn.leaky_relu(nn.Conv(self.width * mult, (4, 4), (2, 2),
                                padding=1)(x), 0.2)
    return nn.Dense(1)(jnp.mean(x, axis=(1, 2)))[:, 0]


class InversionNet(nn.Module):
  """Patches [B, p, p, 3] in [-1, 1] -> camera centres [B, 3] divided by
  `scale` (the prior's largest radius): three 3x3 convolutions (strides
  1, 2, 2) with ReLUs, a spatial mean, two dense layers."""

  width: int = 32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for mult, stride in ((1, 1), (2, 2), (4, 2)):
      x = nn.relu(nn.Conv(self.width * mult, (3, 3), (stride, stride))(x))
    x = nn.relu(nn.Dense(4 * self.width)(jnp.mean(x, axis=(1, 2))))
    return nn.Dense(3)(x)


def discriminator_of(config) -> Discriminator:
  return Discriminator(width=config.gan_disc_width)


def inversion_of(config) -> InversionNet:
  return InversionNet(width=config.gan_inversion_width)


def to_patches(rgb: jax.Array, size: int) -> jax.Array:
  """Colours [B p^2, 3] of row-major patches in [0, 1] -> [B, p, p, 3] in
  [-1, 1], as the networks take them."""
  return rgb.reshape(-1, size, size, 3) * 2.0 - 1.0


def inversion_pose(prediction: jax.Array, scale: float) -> jax.Array:
  """[B, 3, 4] camera-to-world of the inversion network's predictions
  [B, 3]: centre prediction * scale, looking at the origin."""
  return poses.look_at(prediction * scale)


def bce_logits(logits: jax.Array, target: float) -> jax.Array:
  """Mean binary cross-entropy of logits against a constant 0/1 target."""
  return jnp.mean(jax.nn.softplus(-logits) if target else
                  jax.nn.softplus(logits))


def r1_penalty(d_params, apply_d, real: jax.Array) -> jax.Array:
  """E over patches of ||grad_x D(x)||^2 on real patches x [B, p, p, 3]."""
  grad = jax.grad(lambda x: jnp.sum(apply_d(d_params, x)))(real)
  return jnp.mean(jnp.sum(grad ** 2, axis=(1, 2, 3)))


def gan_terms(config, fake: jax.Array, fake_centres: jax.Array,
              real: jax.Array, real_camera: jax.Array, params) -> dict:
  """GNeRF's phase-A terms (unweighted by the phase), each reaching only
  its own parameters (see the module docstring).

  Args:
    fake: [B, p, p, 3] generated patches in [-1, 1] (differentiable in
      the field's parameters); fake_centres: [B, 3] their prior centres.
    real: [R, p, p, 3] real patches in [-1, 1]; real_camera: [R] their
      training cameras.
    params: the component's parameters: `discriminator`, `inversion`,
      `gan_position` [C, 3].
  Returns:
    {gan_d, gan_r1, gan_g, inversion, pose_prior}.
  """
  disc, inv = discriminator_of(config), inversion_of(config)
  apply_d = lambda p, x: disc.apply({"params": p}, x)
  apply_i = lambda p, x: inv.apply({"params": p}, x)
  sg = jax.lax.stop_gradient
  d_params, i_params = params["discriminator"], params["inversion"]
  scale = float(config.gan_radius_range[1])
  centres = params["gan_position"][real_camera]
  return {
      "gan_d": bce_logits(apply_d(d_params, real), 1)
               + bce_logits(apply_d(d_params, sg(fake)), 0),
      "gan_r1": config.gan_r1_weight * r1_penalty(d_params, apply_d, real),
      "gan_g": bce_logits(apply_d(sg(d_params), fake), 1),
      "inversion": jnp.mean((apply_i(i_params, sg(fake))
                             - sg(fake_centres) / scale) ** 2),
      "pose_prior": config.gan_pose_prior_weight * jnp.mean(
          (sg(apply_i(i_params, real)) - centres / scale) ** 2),
  }


def loss_terms(config, outputs, rays, rgb, params) -> dict:
  """The phase-A terms weighted by A's weight, where the train step has
  rendered the fakes (`gan_fake` in the last level); else none (test-time
  pose fits)."""
  last = outputs[-1]
  if "gan_fake" not in last:
    return {}
  p = config.patch_size
  terms = gan_terms(config, last["gan_fake"], last["gan_centres"],
                    to_patches(rgb, p), rays.camera_index[::p * p, 0],
                    params["gan"])
  return {k: last["gan_phase"][0] * v for k, v in terms.items()}


class AdversarialPoses(nn.Module):
  """The training cameras' learned centres (`refine_cameras`), the
  discriminator and inversion network, and the fakes of the train step
  (`train_outputs`)."""

  config: Any
  num_cameras: int = 1

  def setup(self):
    c = self.config
    # A start away from the hemisphere's pole, where look-at has no roll.
    start = jnp.asarray(sample_prior(jax.random.PRNGKey(0), 1, (0.0, 0.0), (
        np.mean(c.gan_elevation_range),) * 2, (c.gan_radius_range[1],) * 2))
    self.gan_position = base.per_camera_param(
        self, "gan_position", self.num_cameras,
        lambda key, shape: jnp.broadcast_to(start, shape), (3,))
    self.discriminator = discriminator_of(c)
    self.inversion = inversion_of(c)

  def refine_cameras(self, cameras: Cameras) -> Cameras:
    if self.is_initializing():  # the networks' parameters, made once
      dummy = jnp.zeros((1, self.config.patch_size or 4,
                         self.config.patch_size or 4, 3))
      self.discriminator(dummy)
      self.inversion(dummy)
    centres = jnp.asarray(cameras.camtoworlds)[:, :, 3]
    return cameras.replace(camtoworlds=poses.look_at(
        centres + self.gan_position.value))

  def train_outputs(self, render, cameras: Optional[Cameras], key,
                    randomized: bool, progress: Optional[base.Progress]
                    ) -> dict:
    """`gan_fake` [B, p, p, 3] patches (in [-1, 1]) of the field at prior
    poses `gan_centres` [B, 3], and `gan_phase` [2] (`phase_weights`)."""
    del randomized
    c = self.config
    p, stride = c.patch_size, c.patch_stride
    num = c.gan_fake_patches or max(c.batch_size // (p * p), 1)
    k_pose, k_y, k_x, k_render = jax.random.split(key, 4)
    centres = sample_prior(k_pose, num, c.gan_azimuth_range,
                           c.gan_elevation_range, c.gan_radius_range)
    one = jax.tree.map(lambda x: jnp.broadcast_to(x[:1], (num,) + x.shape[1:]),
                       cameras)
    fakes = one.replace(camtoworlds=poses.look_at(centres))
    width, height = cameras.width[0], cameras.height[0]
    span = (p - 1) * stride + 1
    y0 = jax.random.randint(k_y, (num,), 0, height - span + 1)
    x0 = jax.random.randint(k_x, (num,), 0, width - span + 1)
    y, x = cameras_lib.patch_pixels(y0, x0, p, stride)
    index = jnp.broadcast_to(jnp.arange(num)[:, None, None], y.shape)
    pixels = cameras_lib.Pixels(
        xy=jnp.stack([x, y], -1).reshape(-1, 2).astype(jnp.float32) + 0.5,
        camera_index=index.reshape(-1, 1).astype(jnp.int32),
        lossmult=jnp.ones((num * p * p, 1), jnp.float32))
    rays = cameras_lib.cast_rays(fakes, pixels)
    # The rays' camera index names the fake view; a per-camera part of
    # the field (none in GNeRF) would read training camera 0.
    rays = rays.replace(camera_index=jnp.zeros_like(rays.camera_index))
    rgb = render(rays, k_render)[-1]["rgb"]
    step = progress.step if progress is not None else 0
    return {"gan_fake": to_patches(rgb, p), "gan_centres": centres,
            "gan_phase": phase_weights(step, c.gan_phase_a_steps,
                                       c.gan_phase_ab_steps)}


def module(config, scene: base.SceneInfo, levels):
  del levels
  check_config(config)
  return AdversarialPoses(config=config, num_cameras=scene.num_cameras)


POSITION_GROUP = base.ParamGroup(
    "position", prefix="position_", per_camera=True,
    match=lambda path: path[-1] == "gan_position")
DISC_GROUP = base.ParamGroup(
    "discriminator", prefix="disc_",
    match=lambda path: len(path) > 1 and path[:2] == ("gan", "discriminator"))
INVERSION_GROUP = base.ParamGroup(
    "inversion", prefix="inversion_",
    match=lambda path: len(path) > 1 and path[:2] == ("gan", "inversion"))

COMPONENT = base.Component(
    name="gan",
    fields=config_fields,
    module=module,
    engine_defaults=dict(pose_init="identity"),
    param_groups=(POSITION_GROUP, DISC_GROUP, INVERSION_GROUP),
    # `loss_terms` is the method's to add: the backbone's regularisers
    # (weight decay) must not see the discriminator and inversion network.
    casts_rays=True,
)
