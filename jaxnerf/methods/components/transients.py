"""Transients: NeRF-W's transient head and uncertainty (Martin-Brualla et
al., CVPR 2021; NeRF-U), for any backbone whose last level exposes its
samples (the `render_samples` hook of jaxnerf.methods.base).

Each training image has a transient code (`transient_dim`) that feeds a
transient head on the field's per-sample features (the MLP's trunk, the
hash grid's density-MLP features); per sample it outputs a transient
density, colour and uncertainty beta. Static and transient densities share
one transmittance (the paper's eq. 10); the rendered uncertainty is
beta_min + sum_k T_k alpha^tau_k beta_k (nerf_pl adds beta_min after
rendering, so a ray through empty transient space keeps beta_min).

Loss of a ray with target C, composite C^, rendered beta and transient
densities sigma^tau_k over its K samples: twice the paper's eq. 13,

  mean_c (C - C^)^2 / beta^2 + log beta^2 + 2 lambda_u / K sum_k sigma^tau_k,

in place of the backbone's colour term of the last level (its coarser
levels keep theirs). Twice, so that with beta = 1 and no transient density
it is exactly the MSE (Adam does not see a constant factor); the colour
error is averaged over channels as in nerf_pl (the paper sums them, which
only rescales beta).

Outputs: `rgb` stays the static render (what the paper scores); training
views also get `composite` (static + transient, what the loss fits),
`transient` (the transient colour over white), `transient_acc` (its
opacity) and `uncertainty` (beta). For other views those maps mean nothing
and eval.py leaves them out (`seen_camera_outputs`). A backbone's sampler
and occupancy grid follow the static density only: transients are rendered
at the samples the static scene gets (docs/methods/in_the_wild.md says
why).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.errors import ConfigError
from jaxnerf.methods import base
from jaxnerf.methods.components.appearance import code_table
from jaxnerf.render import losses


def transient_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.transient_dim = 16  # 0: no transient head
  c.transient_init_std = 1.0  # codes start N(0, std^2), as nn.Embedding
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
  c.update(base.schedule_fields("transient_", 5e-4, 5e-5))
  return c


class TransientHead(nn.Module):
  """The transient MLP: features [M, F] and the ray's transient code ->
  raw transient density [M], colour [M, 3] and beta [M] (before
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

  Works on any sample layout: `transmittance_fn` maps optical depths to T
  and `ray_sum` sums samples per ray (base.SampleLayout's).

  Args:
    static_rgb, transient_rgb: [..., 3] colours; static_tau,
      transient_tau: optical depths sigma delta; beta: per-sample
      uncertainty (after activation), all per sample.
    beta_static_gradient: False renders beta through a transmittance
      whose static part is held constant (same value): the static density
      then gets no gradient from beta (see transient_fields).
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
  the static render, nothing transient, beta 1 (its loss is the MSE)."""
  n = out["rgb"].shape[0]
  return {"composite": out["rgb"], "transient": jnp.ones((n, 3)),
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


class Transients(nn.Module):
  """The component's submodule: the code table `transient_code` and the
  head `transient_head`."""

  config: Any
  num_cameras: int
  levels: tuple[str, ...]

  def setup(self):
    c = self.config
    self.transient_code = code_table(self, "transient_code", self.num_cameras,
                                     c.transient_dim, c.transient_init_std)
    if c.transient_dim > 0:
      self.transient_head = TransientHead(c.transient_depth,
                                          c.transient_width)

  def render_samples(self, out: dict, level: str, layout: base.SampleLayout,
                     features: jax.Array, rgb: jax.Array, density: jax.Array,
                     camera: jax.Array, progress: Optional[base.Progress]
                     ) -> dict:
    """The last level's transient maps from its samples: features [M, F],
    static colours [M, 3] and densities [M]; rays' cameras [N]."""
    if level != self.levels[-1]:
      return {}
    if self.transient_code is None:
      return no_transient_outputs(out)
    c = self.config
    raw_td, raw_tc, raw_beta = self.transient_head(
        features, layout.to_samples, self.transient_code.value[camera])
    sigma_tau = layout.masked(transient_density(c, raw_td, progress))
    wild = composite_with_transient(
        rgb, density * layout.delta, nn.sigmoid(raw_tc),
        sigma_tau * layout.delta, sample_beta(c, raw_beta),
        layout.transmittance, layout.ray_sum, c.white_bkgd, c.beta_min,
        c.beta_static_gradient)
    return dict(composite=wild["composite"], transient=wild["transient"],
                transient_acc=wild["transient_acc"], uncertainty=wild["beta"],
                mean_transient_density=layout.ray_mean(sigma_tau),
                stats=dict(transient_acc=jnp.mean(wild["transient_acc"]),
                           beta=jnp.mean(wild["beta"])))


def colour_loss(config, last: dict, rays, rgb) -> Optional[dict]:
  """The last level's terms (`transient_loss_terms`); None without a
  transient head (the backbone's MSE stays)."""
  if "mean_transient_density" not in last:
    return None
  return transient_loss_terms(
      last["composite"], rgb, last["uncertainty"],
      last["mean_transient_density"], losses.ray_weights(last, rays),
      config.lambda_u)


COMPONENT = base.Component(
    name="transients",
    fields=transient_fields,
    module=lambda config, scene, levels: Transients(
        config=config, num_cameras=scene.num_cameras, levels=levels),
    shared_scope=True,
    param_groups=(base.ParamGroup(
        "transient", prefix="transient_", per_camera=True, eval_init="zeros",
        match=lambda path: path[-1] == "transient_code"),),
    colour_loss=colour_loss,
    outputs={"composite": "rgb", "transient": "rgb",
             "transient_acc": "opacity", "uncertainty": "heatmap"},
    seen_camera_outputs=("composite", "transient", "transient_acc",
                         "uncertainty"),
)
