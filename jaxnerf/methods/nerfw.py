"""NeRF in the Wild (Martin-Brualla et al., CVPR 2021) on NeRF's MLP.

Two per-image latent codes, optimised with the field (GLO, not inferred):

* an appearance code (48-d) joins the view direction at the colour branch
  of the fine MLP, so each photo's exposure and white balance live in its
  code, not in the geometry (NeRF-A);
* a transient code (16-d) feeds a transient head on the fine MLP's trunk
  features that outputs, per sample, a transient density, colour and
  uncertainty beta (NeRF-U). Static and transient densities share one
  transmittance (the paper's eq. 10); the rendered uncertainty is
  beta_min + sum_k T_k alpha^tau_k beta_k (nerf_pl adds beta_min after
  rendering, so a ray through empty transient space keeps beta_min).

The coarse level is a plain static NeRF (neither code), used for sampling.
`appearance_dim = 0` or `transient_dim = 0` switch either part off (NeRF-U,
NeRF-A; both off is NeRF with NeRF-W's loss, i.e. NeRF's).

Loss of a ray with target C, composite C^, rendered beta and transient
densities sigma^tau_k over K fine samples: twice the paper's eq. 13,

  mean_c (C - C^)^2 / beta^2 + log beta^2 + 2 lambda_u / K sum_k sigma^tau_k,

plus NeRF's MSE on the coarse level. Twice, so that with beta = 1 and no
transient density it is exactly NeRF's MSE (Adam does not see a constant
factor); the colour error is averaged over channels as in nerf_pl (the paper
sums them, which only rescales beta).

Outputs: `rgb` is the static render with the image's appearance (what the
paper scores); training views also get `composite` (static + transient, what
the loss fits), `transient` (the transient colour over white),
`transient_acc` (its opacity) and `uncertainty` (beta). For other views those
maps mean nothing and eval.py leaves them out (`seen_camera_outputs`).

Test views: the appearance code starts from the mean of the trained codes
and is fitted on the left half of the image, the static render only; scores
are taken on the right half (`test_time`). `--config.eval_rows_of=N`
renders with training image N's appearance instead; `path_rows_from` /
`path_rows_to` blend two photos' appearances along the render path.
"""

from __future__ import annotations

from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.fields import networks
from jaxnerf.render import compositing, losses, sampling
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp
from jaxnerf.core.rays import Rays


def wild_fields() -> ml_collections.ConfigDict:
  """The codes, the transient head, the loss and the per-image
  optimisation (shared with the hash-grid variant, nerfw_ngp)."""
  c = ml_collections.ConfigDict()
  c.appearance_dim = 48  # 0: no appearance codes (NeRF-U)
  c.transient_dim = 16  # 0: no transient head (NeRF-A)
  c.transient_depth = 4  # the paper's transient MLP: 4 layers of 128
  c.transient_width = 128
  c.beta_min = 0.03
  # Upper bound on a sample's beta (beta_max sigmoid(raw)); 0: softplus, as
  # nerf_pl (the paper does not say). A ray's beta is beta_min + sum_k w_k
  # beta_k with w_k its transient weights, and only the weights pay the
  # density regulariser: unbounded, beta_k grows while the transient
  # opacity stays near 0, so the uncertainty alone absorbs occluders and the
  # transient colour is never used (docs/BENCHMARKS.md).
  c.beta_max = 0.0
  c.lambda_u = 0.01  # weight of the transient density regulariser
  # Added to the transient head's raw density. Without it, softplus(0) =
  # 0.69 per unit length makes every ray nearly opaque with transients at
  # the start (4 units of ray: opacity 0.94), and the static scene learns
  # little until the regulariser has cleared them, which is beyond a CPU
  # budget; softplus(-4) = 0.018 starts them nearly clear (Adam's steps do
  # not shrink with softplus's slope there). The paper does not say how its
  # head starts.
  c.transient_density_bias = -4.0
  c.code_init_std = 1.0  # codes start N(0, std^2), as nerf_pl's nn.Embedding
  # Whether the static density gets beta's gradient through the joint
  # transmittance (the paper's eq. 12 as written). It pushes the static
  # density to wherever beta wants: away from a ray's transient samples
  # while the static scene is still wrong (beta high; static density there
  # would lower it), in front of them once beta should drop (a fog on a
  # white background). False holds the static part of that transmittance
  # constant for beta's gradient; the forward pass is the same.
  c.beta_static_gradient = True
  # Training steps with the transient head held off (its density set to 0:
  # the composite is the static render, beta = beta_min on every ray, no
  # gradient into the head or its codes). 0 is the paper. Without it a
  # white-background scene's empty rays fit at once and sit at beta_min
  # while the object's rays carry their whole error in beta, so the colour
  # term weighs an empty ray ~(0.5 / beta_min)^2 times an object ray and
  # the static scene takes hundreds of steps to form (docs/BENCHMARKS.md).
  c.transient_warmup_steps = 0
  for group in ("appearance_", "transient_"):
    c[group + "lr_init"] = 5e-4
    c[group + "lr_final"] = 5e-5
    c[group + "lr_delay_steps"] = 0
    c[group + "lr_delay_mult"] = 1.0
  # Test views: Adam on the appearance code, left half of the image.
  c.test_time_steps = 64
  c.test_time_lr = 0.05
  c.test_time_batch_size = 512
  return c


def config_fields() -> ml_collections.ConfigDict:
  c = mlp.config_fields()
  wild = wild_fields()
  for key in wild:
    c[key] = wild[key]
  return c


def variant(c: ml_collections.ConfigDict, name: str):
  """Switches `c` to NeRF-A ("a": appearance only), NeRF-U ("u": transient
  only) or NeRF-W ("w": both). Returns `c`."""
  defaults = wild_fields()
  c.appearance_dim = defaults.appearance_dim if name in "aw" else 0
  c.transient_dim = defaults.transient_dim if name in "uw" else 0
  if c.appearance_dim == 0:
    c.test_time_steps = 0  # nothing to fit
  return c


class TransientHead(nn.Module):
  """The transient MLP: trunk features [M, F] and the ray's transient code
  -> raw transient density [M], colour [M, 3] and beta [M] (before
  activation)."""

  depth: int
  width: int

  @nn.compact
  def __call__(self, features: jax.Array, code_per_sample: Callable,
               codes: jax.Array):
    """Args:
      features: [M, F].
      code_per_sample: maps a per-ray [N, W] array to the samples [M, W].
      codes: [N, D] transient codes of the rays.
    """
    # Dense(concat(features, code)) split in two so the code's term is
    # computed once per ray.
    h = nn.Dense(self.width, name="features_in")(features)
    h = nn.relu(h + code_per_sample(
        nn.Dense(self.width, use_bias=False, name="code_in")(codes)))
    for i in range(1, self.depth):
      h = nn.relu(nn.Dense(self.width, name=f"hidden_{i}")(h))
    out = nn.Dense(5, name="out")(h)
    return out[..., 0], out[..., 1:4], out[..., 4]


def sample_beta(config, raw: jax.Array) -> jax.Array:
  """[...] per-sample beta_k from the head's raw output [...]: softplus, or
  beta_max sigmoid(raw) with config.beta_max > 0."""
  if config.beta_max < 0:
    raise ConfigError(f"config.beta_max: must be >= 0, got {config.beta_max}")
  if config.beta_max == 0:
    return nn.softplus(raw)
  return config.beta_max * nn.sigmoid(raw)


def transient_density(config, raw: jax.Array,
                      progress: Optional[base.Progress]) -> jax.Array:
  """[...] sigma^tau from the head's raw density [...]: softplus(raw +
  transient_density_bias), times 0 during the first
  `transient_warmup_steps` training steps (no progress: on)."""
  if config.transient_warmup_steps < 0:
    raise ConfigError("config.transient_warmup_steps: must be >= 0, got "
                      f"{config.transient_warmup_steps}")
  density = nn.softplus(raw + config.transient_density_bias)
  if progress is None or config.transient_warmup_steps == 0:
    return density
  return jnp.where(progress.step >= config.transient_warmup_steps,
                   density, 0.0)


def composite_with_transient(static_rgb, static_tau, transient_rgb,
                             transient_tau, beta, transmittance_fn,
                             ray_sum: Callable, white_bkgd: bool,
                             beta_min: float,
                             beta_static_gradient: bool = True
                             ) -> dict[str, jax.Array]:
  """NeRF-W's eq. 10-11: static and transient samples under one
  transmittance T_k = exp(-sum_{j<k} (tau_j + tau^tau_j)).

  Works on dense [N, S] or packed [B] samples: `transmittance_fn` maps
  optical depths to T (rendering.transmittance or packed_transmittance) and
  `ray_sum` sums samples per ray.

  Args:
    static_rgb, transient_rgb: [..., 3] colours; static_tau,
      transient_tau: optical depths sigma delta; beta: per-sample
      uncertainty (after activation), all per sample.
    beta_static_gradient: False renders beta through a transmittance
      whose static part is held constant (same value): the static density
      then gets no gradient from beta (see wild_fields).
  Returns:
    composite [N, 3] (with the background where the joint opacity is
    short of 1), transient [N, 3] (transient colour over white),
    transient_acc [N], beta [N] (>= beta_min), static_weights and
    transient_weights (per sample).
  """
  t = transmittance_fn(static_tau + transient_tau)
  static_w = t * (1 - jnp.exp(-static_tau))
  transient_w = t * (1 - jnp.exp(-transient_tau))
  joint_acc = ray_sum(t * (1 - jnp.exp(-(static_tau + transient_tau))))
  composite = (ray_sum(static_w[..., None] * static_rgb) +
               ray_sum(transient_w[..., None] * transient_rgb))
  transient_acc = ray_sum(transient_w)
  transient = ray_sum(transient_w[..., None] * transient_rgb)
  beta_w = transient_w
  if not beta_static_gradient:
    beta_w = (transmittance_fn(jax.lax.stop_gradient(static_tau) +
                               transient_tau) *
              (1 - jnp.exp(-transient_tau)))
  if white_bkgd:
    composite = composite + (1 - joint_acc[..., None])
  transient = transient + (1 - transient_acc[..., None])
  return dict(composite=composite, transient=transient,
              transient_acc=transient_acc,
              beta=beta_min + ray_sum(beta_w * beta),
              static_weights=static_w, transient_weights=transient_w)


def no_transient_outputs(out: dict) -> dict:
  """The transient maps of a level without a transient head: composite =
  the static render, nothing transient, beta 1 (its loss is NeRF's MSE)."""
  n = out["rgb"].shape[0]
  return {**out, "composite": out["rgb"], "transient": jnp.ones((n, 3)),
          "transient_acc": jnp.zeros((n,)), "uncertainty": jnp.ones((n,))}


def transient_loss_terms(pred: jax.Array, target: jax.Array, beta: jax.Array,
                         mean_transient_density: jax.Array,
                         weights: jax.Array,
                         lambda_u: float) -> dict[str, jax.Array]:
  """Twice NeRF-W's eq. 13, averaged over rays with `weights`.

  Args:
    pred, target: [N, 3] composite and observed colours; beta: [N] rendered
      uncertainty; mean_transient_density: [N] (1/K) sum_k sigma^tau_k of
      each ray; weights: [N] ray loss weights.
  Returns:
    colour: mean_c (C - C^)^2 / beta^2, uncertainty: log beta^2,
    transient_density: 2 lambda_u mean sigma^tau; at beta = 1 and no
    transient density the sum is the weighted MSE.
  """
  mean = lambda x: jnp.sum(weights * x) / jnp.sum(weights)
  return {
      "colour": mean(jnp.mean((pred - target)**2, axis=-1) / beta**2),
      "uncertainty": mean(2 * jnp.log(beta)),
      "transient_density": 2 * lambda_u * mean(mean_transient_density),
  }


def code_table(module, name: str, num_cameras: int, dim: int, std: float):
  """A per-camera code table [num_cameras, dim], or None when dim is 0."""
  if dim == 0:
    return None
  return base.per_camera_param(module, name, num_cameras,
                               nn.initializers.normal(std), (dim,))


class NerfW(mlp.Nerf):
  """NeRF-W: a static coarse NeRF, and a fine NeRF with appearance codes
  and a transient head."""

  num_cameras: int = 1

  def setup(self):
    c = self.config
    self.coarse_mlp = mlp.make_mlp(c)
    transient = c.transient_dim > 0
    self.fine_mlp = networks.MLP(
        netdepth=c.netdepth, netwidth=c.netwidth,
        netdepth_condition=c.netdepth_condition,
        netwidth_condition=c.netwidth_condition, skip_layer=c.skip_layer,
        output_features=transient)
    self.appearance = code_table(self, "appearance", self.num_cameras,
                                 c.appearance_dim, c.code_init_std)
    self.transient_code = code_table(self, "transient_code", self.num_cameras,
                                     c.transient_dim, c.code_init_std)
    if transient:
      self.transient_head = TransientHead(c.transient_depth,
                                          c.transient_width)
    self.density_activation = networks.activation(c.density_activation,
                                                  "density_activation")
    self.rgb_activation = networks.activation(c.rgb_activation,
                                              "rgb_activation")

  def _fine_condition(self, viewdirs: jax.Array,
                      appearance: Optional[jax.Array]) -> Optional[jax.Array]:
    """The colour branch's per-ray input: encoded direction and code."""
    parts = [p for p in (self._encode_viewdirs(viewdirs), appearance)
             if p is not None]
    return jnp.concatenate(parts, axis=-1) if parts else None

  def _render_fine(self, key, rays: Rays, t: jax.Array, randomized: bool,
                   progress: Optional[base.Progress]
                   ) -> dict[str, jax.Array]:
    c = self.config
    camera = rays.camera_index[:, 0]
    appearance = (None if self.appearance is None else
                  self.appearance.value[camera])
    points = sampling.points_along_rays(rays.origins, rays.directions, t)
    outs = self.fine_mlp(self._encode_points(points),
                         self._fine_condition(rays.viewdirs, appearance))
    raw_rgb, raw_density = outs[0], outs[1]
    raw_density = mlp.add_density_noise(key, raw_density, c.noise_std,
                                        randomized)
    static_rgb = self.rgb_activation(raw_rgb)
    static_density = self.density_activation(raw_density[..., 0])
    out = compositing.volumetric_rendering(static_rgb, static_density, t,
                                           rays.directions, c.white_bkgd)
    out["t"] = t
    if self.transient_code is None:
      return no_transient_outputs(out)
    features = outs[2]
    n, s = t.shape
    raw_td, raw_tc, raw_beta = self.transient_head(
        features.reshape(n * s, -1),
        lambda per_ray: jnp.repeat(per_ray, s, axis=0),
        self.transient_code.value[camera])
    sigma_tau = transient_density(c, raw_td, progress).reshape(n, s)
    delta = compositing.sample_deltas(t, rays.directions)
    wild = composite_with_transient(
        static_rgb, static_density * delta,
        nn.sigmoid(raw_tc).reshape(n, s, 3), sigma_tau * delta,
        sample_beta(c, raw_beta).reshape(n, s), compositing.transmittance,
        lambda x: jnp.sum(x, axis=1), c.white_bkgd, c.beta_min,
        c.beta_static_gradient)
    out.update(composite=wild["composite"], transient=wild["transient"],
               transient_acc=wild["transient_acc"],
               uncertainty=wild["beta"],
               mean_transient_density=jnp.mean(sigma_tau, axis=-1))
    out["stats"] = dict(transient_acc=jnp.mean(wild["transient_acc"]),
                        beta=jnp.mean(wild["beta"]))
    return out

  def __call__(self, rays: Rays, key: jax.Array, randomized: bool,
               progress: Optional[base.Progress] = None
               ) -> list[dict[str, jax.Array]]:
    """Renders rays [N]: [coarse (static), fine (with the codes)]."""
    c = self.config
    keys = jax.random.split(key, 4)
    t = sampling.stratified_t(keys[0], rays.near, rays.far,
                              c.num_coarse_samples, randomized, c.lindisp)
    coarse = self._render_level(self.coarse_mlp, keys[1], rays, t,
                                randomized)
    t = sampling.hierarchical_t(keys[2], t, coarse["weights"],
                                c.num_fine_samples, randomized)
    return [coarse, self._render_fine(keys[3], rays, t, randomized,
                                      progress)]

  def _final_mlp(self):
    return self.fine_mlp

  def _mean_condition(self, viewdirs: jax.Array) -> Optional[jax.Array]:
    appearance = None
    if self.appearance is not None:
      mean = jnp.mean(self.appearance.value, axis=0)
      appearance = jnp.broadcast_to(mean, viewdirs.shape[:1] + mean.shape)
    return self._fine_condition(viewdirs, appearance)

  def density(self, points: jax.Array, progress=None) -> jax.Array:
    """Static density [M] of the fine MLP at points [M, 3]."""
    del progress
    any_direction = jnp.zeros_like(points).at[:, 2].set(1.0)
    raw_density = self.fine_mlp(self._encode_points(points[:, None]),
                                self._mean_condition(any_direction))[1]
    return self.density_activation(raw_density[:, 0, 0])

  def radiance(self, points: jax.Array, viewdirs: jax.Array,
               progress=None) -> jax.Array:
    """Static colour [M, 3] with the mean appearance code."""
    del progress
    raw_rgb = self.fine_mlp(self._encode_points(points[:, None]),
                            self._mean_condition(viewdirs))[0]
    return self.rgb_activation(raw_rgb[:, 0])


def loss_terms(config, outputs, rays, rgb, params) -> dict[str, jax.Array]:
  """NeRF's MSE on the coarse level; on the fine level the transient loss
  (`transient_loss_terms`), or NeRF's MSE without a transient head."""
  terms = {f"rgb_level{i}": config.coarse_loss_mult * losses.weighted_mse(
      out["rgb"], rgb, losses.ray_weights(out, rays))
           for i, out in enumerate(outputs[:-1])}
  fine = outputs[-1]
  weights = losses.ray_weights(fine, rays)
  if "mean_transient_density" in fine:
    terms.update(transient_loss_terms(
        fine["composite"], rgb, fine["uncertainty"],
        fine["mean_transient_density"], weights, config.lambda_u))
  else:
    terms[f"rgb_level{len(outputs) - 1}"] = losses.weighted_mse(
        fine["rgb"], rgb, weights)
  terms.update(losses.weight_decay_terms(params, config.weight_decay_mult))
  return terms


def static_fit_loss(config, outputs, rays, rgb, params):
  """Test-time loss: the static render (with the code being fitted) against
  the image; the transient head stays out of it."""
  del config, params
  fine = outputs[-1]
  return {"rgb": losses.weighted_mse(fine["rgb"], rgb,
                                     losses.ray_weights(fine, rays))}


OUTPUTS = {"rgb": "rgb", "depth": "depth", "disp": "disparity",
           "acc": "opacity", "composite": "rgb", "transient": "rgb",
           "transient_acc": "opacity", "uncertainty": "heatmap"}
SEEN_CAMERA_OUTPUTS = ("composite", "transient", "transient_acc",
                       "uncertainty")
PARAM_GROUPS = (
    base.ParamGroup("appearance", prefix="appearance_", per_camera=True,
                    eval_init="mean", transferable=True,
                    match=lambda path: path[-1] == "appearance"),
    base.ParamGroup("transient", prefix="transient_", per_camera=True,
                    eval_init="zeros",
                    match=lambda path: path[-1] == "transient_code"),
    base.FIELD_GROUP)
TEST_TIME = base.TestTime(fit="left_half", score="right_half",
                          loss=static_fit_loss)

METHOD = base.Method(
    name="nerfw",
    fields=config_fields,
    build_model=lambda config, scene: NerfW(config=config,
                                            num_cameras=scene.num_cameras),
    loss_terms=loss_terms,
    param_groups=PARAM_GROUPS,
    outputs=OUTPUTS,
    test_time=TEST_TIME,
    seen_camera_outputs=SEEN_CAMERA_OUTPUTS,
)
