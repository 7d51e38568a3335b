"""A toy method for tests/test_methods.py, written as a plug-in outside the
package: tests copy this file into a temporary package and name it in
`config.method` as "<package>.toy_method", as a user's own method would be.

It uses every optional part of the contract: rays cast in the step from
cameras it refines (a per-camera translation), two per-camera parameter
groups with their own schedules (`camera_` and `gain_` fields), an extra
output, and a test-time optimisation (fit on the left half, score on the
right). Its colour is sigmoid(colour + 0.01 * sum(origin)) times the
camera's gain, the same for every ray of a camera.
"""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxnerf.render import losses
from jaxnerf.methods import base


def config_fields():
  c = ml_collections.ConfigDict()
  for group, lr in (("camera_", 1e-3), ("gain_", 5e-2)):
    c.update(base.schedule_fields(group, lr, lr / 10))
  c.test_time_steps = 100
  c.test_time_lr = 0.05
  c.test_time_batch_size = 256
  return c


class Toy(nn.Module):
  num_cameras: int

  def setup(self):
    self.colour = self.param("colour", nn.initializers.zeros, (3,))
    self.offset = base.per_camera_param(self, "offset", self.num_cameras,
                                        nn.initializers.zeros, (3,))
    self.gain = base.per_camera_param(self, "gain", self.num_cameras,
                                      nn.initializers.ones, (1,))

  def refine_cameras(self, cameras):
    return cameras.replace(camtoworlds=cameras.camtoworlds.at[:, :, 3].add(
        self.offset.value))

  def __call__(self, rays, key, randomized, progress=None):
    gain = self.gain.value[rays.camera_index[:, 0]]  # [N, 1]
    rgb = nn.sigmoid(self.colour + 0.01 * jnp.sum(rays.origins, -1,
                                                  keepdims=True)) * gain
    zeros = jnp.zeros(rgb.shape[:1])
    return [{"rgb": rgb, "gain": gain[:, 0], "acc": zeros + 1.0,
             "depth": zeros + 1.0}]

  def density(self, points, progress=None):
    return jnp.zeros(points.shape[:1])

  def radiance(self, points, viewdirs, progress=None):
    return jnp.broadcast_to(nn.sigmoid(self.colour), points.shape)


def loss_terms(config, outputs, rays, rgb, params):
  return losses.rgb_terms(outputs, rays, rgb, 1.0)


METHOD = base.Method(
    name="toy",
    fields=config_fields,
    build_model=lambda config, scene: Toy(num_cameras=scene.num_cameras),
    loss_terms=loss_terms,
    param_groups=(
        base.ParamGroup("camera", prefix="camera_", per_camera=True,
                        match=lambda path: path[-1] == "offset"),
        base.ParamGroup("gain", prefix="gain_", per_camera=True,
                        eval_init="mean",
                        match=lambda path: path[-1] == "gain"),
        base.FIELD_GROUP),
    outputs={"rgb": "rgb", "depth": "depth", "acc": "opacity",
             "gain": "heatmap"},
    casts_rays=True,
    test_time=base.TestTime(fit="left_half", score="right_half"),
)
