"""Per-image illumination: NeRD's (Boss et al. 2021) spherical-harmonics
environment of each photo, learned with the scene, for a shading
component (`light` hook of jaxnerf.methods.base; the shading is
jaxnerf/methods/components/reflectance.py's).

NeRD's setting is a collection of photos of one object, each under its
own unknown environment. Each training image has SH coefficients of
degree 2 (9 x 3, the radiance of its environment, NeRD's "SGs or SH"
choice at its SH) that replace whatever light the data gives, so the
material head must explain every photo with one albedo, roughness and
normal under its own learned light. Albedo and light are only known up
to a scale per colour channel (twice the albedo under half the light
renders the same), which the evaluation fits.

Test views: the SH starts from the mean of the trained ones and is
fitted on the left half of the image, the rest frozen; scores are taken
on the right half (as NeRF-A's codes, so the two compare fairly).
`--config.eval_rows_of=N` relights every view under training image N's
recovered environment.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxnerf.core import lighting
from jaxnerf.core.rays import Rays
from jaxnerf.methods import base
from jaxnerf.methods.components import appearance


def illumination_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Every image's environment starts as a uniform white one of this
  # radiance (a white diffuse surface then shows this value).
  c.illumination_init = 1.0
  c.update(base.schedule_fields("illumination_", 1e-2, 1e-3))
  c.update(base.test_time_fields(64, 0.05, 512))
  return c


class Illumination(nn.Module):
  """The component's submodule: the SH table `illumination` [C, 9, 3]."""

  config: Any
  num_cameras: int

  def setup(self):
    dc = self.config.illumination_init * math.sqrt(4.0 * math.pi)

    def init(key, shape):
      del key
      return jnp.zeros(shape).at[:, 0, :].set(dc)

    self.illumination = base.per_camera_param(
        self, "illumination", self.num_cameras, init, (9, 3))

  def light(self, rays: Rays):
    """[N, LIGHT_DIM] each ray's image's environment."""
    return lighting.environment_light(
        self.illumination.value[rays.camera_index[:, 0]])


def sh_errors(learned: np.ndarray, true: np.ndarray) -> dict[str, float]:
  """How well SH [C, 9, 3] recover the true ones [C, 9, 3], up to one scale
  per colour channel (least squares over every image and coefficient; the
  albedo-light ambiguity): `illumination_error`, the relative error
  |s L - L_true| / |L_true|; `illumination_error_mean`, the same of the
  true SH's mean for every image (what a single shared light scores); and
  `illumination_scale` [3], the fitted s; `illumination_corr_l0`, `_l1`,
  `_l2`: the mean over a band's coefficients and channels of their
  correlation across images (does each photo's light vary as the truth
  does, whatever the scale; 0 for a shared light)."""
  learned = np.asarray(learned, np.float64)
  true = np.asarray(true, np.float64)
  scale = (np.sum(learned * true, axis=(0, 1)) /
           np.maximum(np.sum(learned ** 2, axis=(0, 1)), 1e-12))
  norm = np.linalg.norm(true)
  mean = np.broadcast_to(true.mean(axis=0), true.shape)
  out = {"illumination_error": float(np.linalg.norm(learned * scale - true)
                                     / norm),
         "illumination_error_mean": float(np.linalg.norm(mean - true) / norm),
         "illumination_scale": [float(s) for s in scale]}
  a = learned - learned.mean(axis=0)
  b = true - true.mean(axis=0)
  corr = np.sum(a * b, axis=0) / np.maximum(
      np.sqrt(np.sum(a ** 2, axis=0) * np.sum(b ** 2, axis=0)), 1e-12)
  for band, coefficients in (("l0", slice(0, 1)), ("l1", slice(1, 4)),
                             ("l2", slice(4, 9))):
    out[f"illumination_corr_{band}"] = float(np.mean(corr[coefficients]))
  return out


def illumination_metrics(context: base.EvalContext) -> dict:
  """`sh_errors` of the learned table against the training images' own
  environments, where the data gives one for every image (else {})."""
  light = np.asarray(context.train_cameras.light, np.float64)
  if (light.shape[-1] != lighting.LIGHT_DIM or
      not np.all(light[:, 7] > 0.5)):
    return {}
  learned = np.asarray(context.variables["params"]["illumination"]
                       ["illumination"])
  return sh_errors(learned, np.asarray(lighting.environment_sh(light)))


COMPONENT = base.Component(
    name="illumination",
    fields=illumination_fields,
    module=lambda config, scene, levels: Illumination(
        config=config, num_cameras=scene.num_cameras),
    param_groups=(base.ParamGroup(
        "illumination", prefix="illumination_", per_camera=True,
        eval_init="mean", transferable=True,
        match=lambda path: path[-1] == "illumination"),),
    test_time=base.TestTime(fit="left_half", score="right_half",
                            loss=appearance.static_fit_loss),
    eval_metrics=illumination_metrics,
)
