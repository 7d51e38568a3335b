"""The AutoInt backbone (Lindell et al., CVPR 2021): an integral network
and its grad network, rendered by segments (jaxnerf/render/autoint.py).

  ray -> the sampling network places K + 1 posts between near and far
  training: stratified samples in each segment -> the grad network
    dPhi/dt (forward-mode autodiff of Phi along the ray) -> each segment's
    mean density and colour pre-activation -> compositing;
  rendering: the integral network Phi at the K + 1 posts -> the segments'
    integrals as differences -> the same compositing (K + 1 evaluations a
    ray in place of NeRF's 64 + 128).

Phi(x, d) is two MLPs (density: 1 output, colour: 3) with swish
activations (smooth, so the grad network is too; the paper's choice) on a
positional encoding of the point x = o + t d whose band k is scaled by
2^-k (the paper's `normalize_pe`: its derivative along the ray stays of
order one at every frequency) and an encoding of the unit view direction,
which is constant along a ray and so enters the first layer as a per-ray
bias. dPhi/dt = grad_x Phi . d: the field the grad network represents
depends on the viewing direction, density included (the price of
integrating along rays; the paper's too). The two MLPs are one stacked
array per layer, [2, in, out], evaluated by a batched matmul; with
`autoint_shared_trunk` one trunk feeds both outputs (half the cost).

The sampling network (the paper's SamplingNet) maps the encoded origin and
direction of a ray to K segment shares; zero at initialisation, so the
posts start evenly spaced. `autoint_learned_posts = False` keeps them even.

The field interface for exports: density(x) is the grad network's density
averaged over the six axis directions (it has no direction-free density);
radiance(x, d) is its colour seen along d.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.core.rays import Rays
from jaxnerf.errors import ConfigError
from jaxnerf.fields import encoding
from jaxnerf.methods import base
from jaxnerf.render import autoint, losses

EVAL_MODES = ("integral", "grad")


def config_fields() -> ml_collections.ConfigDict:
  """AutoInt's networks and segments, sized for the embedded lego."""
  c = ml_collections.ConfigDict()
  c.autoint_segments = 8  # K: segments a ray (the paper's "sections")
  # Grad-network samples in each segment during training (the paper:
  # 128 samples over 32 sections).
  c.autoint_samples_per_segment = 16
  c.autoint_netdepth = 4  # hidden layers after the first (the paper: 8)
  c.autoint_netwidth = 128  # (the paper: 256)
  # One trunk for the density and the colour (the reference code's
  # "combined" model) in place of the paper's two networks: half the cost.
  c.autoint_shared_trunk = False
  c.autoint_max_deg_point = 10
  # Scale band k of the points' encoding by 2^-k (the reference code's
  # `normalize_pe`), so that its derivative along the ray is of order one.
  c.autoint_normalize_pe = True
  c.autoint_deg_view = 4
  c.autoint_learned_posts = True
  c.autoint_sampler_depth = 2
  c.autoint_sampler_width = 64
  c.autoint_sampler_deg = 5
  # How a view renders outside training: "integral" (Phi at the posts)
  # or "grad" (the grad network at the strata's centres, as trained).
  c.autoint_eval = "integral"
  return c


ENGINE_DEFAULTS = dict(lr_init=1e-3, lr_final=1e-4, batch_size=1024,
                       max_steps=4000)


def check_config(c) -> None:
  """Raises ConfigError naming the field of a bad AutoInt setting."""
  base.check_integer_fields(c, (
      ("autoint_segments", 1), ("autoint_samples_per_segment", 1),
      ("autoint_netdepth", 0), ("autoint_netwidth", 1),
      ("autoint_max_deg_point", 0), ("autoint_deg_view", 0),
      ("autoint_sampler_depth", 0), ("autoint_sampler_width", 1),
      ("autoint_sampler_deg", 0)))
  if c.autoint_eval not in EVAL_MODES:
    raise ConfigError(f"config.autoint_eval: {c.autoint_eval!r} is not one "
                      f"of {EVAL_MODES}")


def encode_points(c, points: jax.Array) -> jax.Array:
  """The points' positional encoding (band k scaled by 2^-k with
  autoint_normalize_pe): [..., 3] -> [..., Dx]."""
  deg = c.autoint_max_deg_point
  scales = 2.0 ** -jnp.arange(deg, dtype=points.dtype)
  return encoding.positional_encoding(
      points, 0, deg, True, False,
      scales if deg and c.autoint_normalize_pe else None)


def encode_dirs(c, viewdirs: jax.Array) -> jax.Array:
  return encoding.positional_encoding(viewdirs, 0, c.autoint_deg_view)


def phi(layers: dict, enc_points: jax.Array, ray_bias: jax.Array
        ) -> jax.Array:
  """The integral network Phi on rows.

  Args:
    layers: the stacked weights of G = 2 networks (density, colour) or
      G = 1 (a shared trunk).
    enc_points: [M, Dx] encoded points; ray_bias: [G, M, W] the first
      layer's bias plus its direction term, per row.
  Returns:
    [M, 4]: Phi_sigma, Phi_rgb.
  """
  h = jax.nn.swish(
      jnp.einsum("md,gdw->gmw", enc_points, layers["first"]) + ray_bias)
  for kernel, bias in zip(layers["hidden"], layers["hidden_bias"]):
    h = jax.nn.swish(jnp.einsum("gmw,gwv->gmv", h, kernel) + bias[:, None])
  sigma = h[0] @ layers["sigma_out"] + layers["sigma_bias"]
  rgb = h[-1] @ layers["rgb_out"] + layers["rgb_bias"]
  return jnp.concatenate([sigma, rgb], axis=-1)


class AutoIntModel(nn.Module, base.Composed):
  """The integral network, its sampling network and the segment render."""

  config: Any  # base_config plus config_fields()
  scene: base.SceneInfo = base.SceneInfo()
  components: tuple[base.Component, ...] = ()
  levels = ("",)

  def setup(self):
    c = self.config
    check_config(c)
    self.refuse_components("AutoInt")
    width = c.autoint_netwidth
    num_x = encoding.positional_encoding_size(3, 0, c.autoint_max_deg_point)
    num_d = encoding.positional_encoding_size(3, 0, c.autoint_deg_view)
    g = 1 if c.autoint_shared_trunk else 2
    init = nn.initializers.lecun_normal(batch_axis=(0,))
    self.first = self.param("first", init, (g, num_x, width))
    self.first_dir = self.param("first_dir", init, (g, num_d, width))
    self.first_bias = self.param("first_bias", nn.initializers.zeros,
                                 (g, width))
    self.hidden = [self.param(f"hidden_{i}", init, (g, width, width))
                   for i in range(c.autoint_netdepth)]
    self.hidden_bias = [self.param(f"hidden_bias_{i}", nn.initializers.zeros,
                                   (g, width))
                        for i in range(c.autoint_netdepth)]
    self.sigma_out = self.param("sigma_out", nn.initializers.lecun_normal(),
                                (width, 1))
    self.sigma_bias = self.param("sigma_bias", nn.initializers.zeros, (1,))
    self.rgb_out = self.param("rgb_out", nn.initializers.lecun_normal(),
                              (width, 3))
    self.rgb_bias = self.param("rgb_bias", nn.initializers.zeros, (3,))
    if c.autoint_learned_posts:
      self.sampler_hidden = [
          nn.Dense(c.autoint_sampler_width, name=f"sampler_{i}")
          for i in range(c.autoint_sampler_depth)]
      # Zero output: even posts at first (the paper adds the even share).
      self.sampler_out = nn.Dense(c.autoint_segments, name="sampler_out",
                                  kernel_init=nn.initializers.zeros)

  def _layers(self) -> dict:
    return dict(first=self.first, hidden=self.hidden,
                hidden_bias=self.hidden_bias, sigma_out=self.sigma_out,
                sigma_bias=self.sigma_bias, rgb_out=self.rgb_out,
                rgb_bias=self.rgb_bias)

  def _ray_bias(self, viewdirs: jax.Array) -> jax.Array:
    """[G, N, W]: the first layer's direction term and bias per ray."""
    enc = encode_dirs(self.config, viewdirs)
    return (jnp.einsum("nd,gdw->gnw", enc, self.first_dir) +
            self.first_bias[:, None])

  def posts(self, rays: Rays) -> jax.Array:
    """[N, K + 1] segment boundaries of each ray."""
    c = self.config
    n = rays.origins.shape[0]
    if not c.autoint_learned_posts:
      logits = jnp.zeros((n, c.autoint_segments), rays.origins.dtype)
    else:
      deg = c.autoint_sampler_deg
      h = jnp.concatenate(
          [encoding.positional_encoding(rays.origins, 0, deg),
           encoding.positional_encoding(rays.viewdirs, 0, deg)], axis=-1)
      for layer in self.sampler_hidden:
        h = nn.relu(layer(h))
      logits = self.sampler_out(h)
    return autoint.posts_from_logits(logits, rays.near, rays.far)

  def antiderivative(self, points: jax.Array, ray_bias: jax.Array
                     ) -> jax.Array:
    """Phi [M, 4] at points [M, 3] (ray_bias [G, M, W])."""
    return phi(self._layers(), encode_points(self.config, points), ray_bias)

  def derivative(self, points: jax.Array, directions: jax.Array,
                 ray_bias: jax.Array) -> jax.Array:
    """The grad network dPhi/dt = grad_x Phi . d: [M, 4] at points [M, 3]
    on rays with directions [M, 3] (t in units of d)."""
    layers, c = self._layers(), self.config
    fn = lambda x: phi(layers, encode_points(c, x), ray_bias)
    return jax.jvp(fn, (points,), (directions,))[1]

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None) -> list[dict]:
    del progress
    c = self.config
    n = rays.origins.shape[0]
    posts = self.posts(rays)
    ray_bias = self._ray_bias(rays.viewdirs)
    if randomized or c.autoint_eval == "grad":
      per = c.autoint_samples_per_segment
      t = autoint.stratified_in_segments(key, posts, per, randomized)
      k = c.autoint_segments
      rows = lambda x: jnp.repeat(x, k * per, axis=-2)
      points = (rays.origins[:, None, None] +
                t[..., None] * rays.directions[:, None, None])
      deriv = self.derivative(points.reshape(-1, 3),
                              rows(rays.directions), rows(ray_bias))
      integrals = autoint.integrals_from_samples(
          deriv.reshape(n, k, per, 4), posts)
    else:
      k1 = posts.shape[1]
      points = rays.origins[:, None] + posts[..., None] * \
          rays.directions[:, None]
      values = self.antiderivative(
          points.reshape(-1, 3), jnp.repeat(ray_bias, k1, axis=-2))
      integrals = autoint.integrals_from_antiderivative(
          values.reshape(n, k1, 4))
    out = autoint.piecewise_render(integrals[..., 0], integrals[..., 1:],
                                   posts, c.white_bkgd)
    out["t"] = 0.5 * (posts[:, 1:] + posts[:, :-1])
    return [out]

  def _field(self, points: jax.Array, directions: jax.Array) -> jax.Array:
    bias = self._ray_bias(directions)
    return self.derivative(points, directions, bias)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Density [M] at points [M, 3]: the grad network's, per unit length,
    averaged over the six axis directions."""
    del progress
    axes = jnp.concatenate([jnp.eye(3), -jnp.eye(3)]).astype(points.dtype)
    sigma = [jax.nn.relu(self._field(points, jnp.broadcast_to(
        a, points.shape))[:, 0]) for a in axes]
    return jnp.mean(jnp.stack(sigma), axis=0)

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Colour [M, 3] at points [M, 3] seen along unit directions."""
    del progress
    return jax.nn.sigmoid(self._field(points, viewdirs)[:, 1:])


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  del config, params
  return losses.rgb_terms(outputs, rays, rgb, 1.0)


BACKBONE = base.Backbone(
    name="autoint",
    fields=config_fields,
    build=lambda config, scene, components: AutoIntModel(
        config=config, scene=scene, components=components),
    loss_terms=loss_terms,
    engine_defaults=ENGINE_DEFAULTS,
)
