"""A toy image-space method for tests/test_image_space.py, written as a
plug-in outside the package (tests copy it into a temporary package): a
rasteriser, not a field.

K coloured points are projected through each pixel's camera and splatted
as isotropic screen-space Gaussians (radius exp(log_radius) / depth in
pixels); a pixel's colour is the normalised blend of their colours over a
learned background. It renders any pixels of any cameras (`render_pixels`),
casts no rays, and reports `patch_layout`: 1 where its batch arrived as
config.patch_size squares of consecutive pixels of one camera (row-major),
the layout image-space methods rely on.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.methods import base
from jaxnerf.render import losses


def config_fields():
  c = ml_collections.ConfigDict()
  c.num_points = 64
  return c


def patch_layout(pixels, p: int) -> jax.Array:
  """1.0 where pixels [N] are N / p^2 row-major p x p squares of one
  camera, else 0.0."""
  xy = pixels.xy.reshape(-1, p, p, 2)
  cam = pixels.camera_index.reshape(-1, p * p)
  ok = (jnp.all(xy[:, :, 1:, 0] - xy[:, :, :-1, 0] == 1.0) &
        jnp.all(xy[:, 1:, :, 1] - xy[:, :-1, :, 1] == 1.0) &
        jnp.all(xy[:, 1:, :, 0] == xy[:, :-1, :, 0]) &
        jnp.all(cam == cam[:, :1]))
  return ok.astype(jnp.float32)


class Blobs(nn.Module):
  config: object

  def setup(self):
    k = self.config.num_points
    self.means = self.param(
        "means", lambda key, s: jax.random.uniform(key, s, minval=-0.6,
                                                   maxval=0.6), (k, 3))
    self.colours = self.param("colours", nn.initializers.zeros, (k, 3))
    self.log_radius = self.param("log_radius",
                                 nn.initializers.constant(2.0), (k,))
    self.background = self.param("background", nn.initializers.zeros, (3,))

  def render_pixels(self, cameras, pixels, key, randomized, progress=None):
    cam = pixels.camera_index[:, 0]
    c2w = cameras.camtoworlds[cam]  # [N, 3, 4]
    rotation, origin = c2w[:, :3, :3], c2w[:, :3, 3]
    local = jnp.einsum("nij,nki->nkj", rotation,
                       self.means[None] - origin[:, None])  # [N, K, 3]
    depth = jnp.maximum(-local[..., 2], 1e-3)
    u = cameras.cx[cam][:, None] + cameras.fx[cam][:, None] * (
        local[..., 0] / depth)
    v = cameras.cy[cam][:, None] - cameras.fy[cam][:, None] * (
        local[..., 1] / depth)
    radius = cameras.fx[cam][:, None] * 0.01 * jnp.exp(
        self.log_radius)[None] / depth
    d2 = (u - pixels.xy[:, :1]) ** 2 + (v - pixels.xy[:, 1:]) ** 2
    w = jnp.exp(-0.5 * d2 / radius**2)  # [N, K]
    acc = 1.0 - jnp.exp(-jnp.sum(w, -1))
    colour = (w @ nn.sigmoid(self.colours)) / (jnp.sum(w, -1, keepdims=True)
                                               + 1e-6)
    rgb = acc[:, None] * colour + (1 - acc[:, None]) * nn.sigmoid(
        self.background)
    out = {"rgb": rgb, "acc": acc,
           "depth": jnp.sum(w * depth, -1) / (jnp.sum(w, -1) + 1e-6)}
    p = self.config.patch_size
    if randomized and p:
      out["stats"] = {"patch_layout": patch_layout(pixels, p)}
    return [out]

  def density(self, points, progress=None):
    return jnp.zeros(points.shape[:1])

  def radiance(self, points, viewdirs, progress=None):
    return jnp.broadcast_to(nn.sigmoid(self.background), points.shape)


def loss_terms(config, outputs, rays, rgb, params):
  return losses.rgb_terms(outputs, rays, rgb, 1.0)


METHOD = base.Method(
    name="toy_image",
    fields=config_fields,
    build_model=lambda config, scene: Blobs(config=config),
    loss_terms=loss_terms,
    image_space=True,
    outputs={"rgb": "rgb", "depth": "depth", "acc": "opacity"},
    engine_defaults=dict(lr_init=0.1, lr_final=1e-2, patch_size=8,
                         batch_size=512),
)
