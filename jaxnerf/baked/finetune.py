"""Fine-tuning a baked scene on the training images (PlenOctrees section
4.3): the atlas values themselves (vertex densities and SH coefficients)
are optimised by Adam on the colour loss of training rays rendered by the
baked renderer, the block layout fixed. No MLP is involved, so a step is
cheap; it recovers detail that baking lost (grid resolution, SH
projection).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnerf.baked import render
from jaxnerf.core import metrics
from jaxnerf.baked.bake import BakedScene
from jaxnerf.core.rays import Rays


@dataclasses.dataclass(frozen=True)
class FinetuneOptions:
  """steps: Adam steps; batch_size: training rays per step; lr: Adam's
  learning rate (PlenOctrees fine-tunes with SGD/RMSprop at high rates; Adam
  at 1e-2 is stable on the float values here); samples_per_ray: the packed
  budget in fine samples per ray, taken in whole coarse steps (rays that do
  not fit are left out of the loss)."""

  steps: int = 1000
  batch_size: int = 4096
  lr: float = 1e-2
  samples_per_ray: int = 96
  seed: int = 0


def make_step(grid: render.BakedGrid, options: FinetuneOptions):
  """The jitted fine-tuning step.

  Returns:
    step(values, opt_state, rays [batch], rgb [batch, 3]) -> (values,
    opt_state, mse), values = (density, sh) of the atlas.
  """
  optimizer = optax.adam(options.lr)
  num_coarse = render.num_coarse_steps(grid)
  budget = options.batch_size * max(
      1, options.samples_per_ray // grid.coarse_factor)

  def loss_fn(values, rays, rgb):
    g = grid.with_values(*values)
    mask = render.coarse_mask(g, rays, num_coarse)
    samples = render.fine_samples(g, rays, mask, budget)
    out = render.render_packed(g, rays, samples)
    keep = samples.ray_complete.astype(jnp.float32)
    se = jnp.sum((out["rgb"] - rgb)**2, -1) * keep
    return jnp.sum(se) / jnp.maximum(3 * jnp.sum(keep), 1.0)

  @jax.jit
  def step(values, opt_state, rays, rgb):
    mse, grads = jax.value_and_grad(loss_fn)(values, rays, rgb)
    updates, opt_state = optimizer.update(grads, opt_state, values)
    values = optax.apply_updates(values, updates)
    # Densities stay non-negative (the renderer clamps interpolated ones).
    values = (jnp.maximum(values[0], 0.0), values[1])
    return values, opt_state, mse

  return step, optimizer


def finetune(scene: BakedScene, rays: Rays, rgb: np.ndarray,
             options: FinetuneOptions = FinetuneOptions(),
             log: Callable[[str], None] = print,
             log_every: int = 100) -> BakedScene:
  """Fine-tunes the atlas on training rays.

  Args:
    rays: host Rays [N] of the training pixels; rgb: [N, 3] their colours.
  Returns:
    A new BakedScene with the optimised atlas (same layout).
  """
  grid = render.BakedGrid.from_scene(scene).to_device()
  step, optimizer = make_step(grid, options)
  values = (grid.density, grid.sh)
  opt_state = optimizer.init(values)
  rng = np.random.default_rng(options.seed)
  n = rays.origins.shape[0]
  mses = []
  for i in range(options.steps):
    idx = rng.integers(0, n, options.batch_size)
    batch = jax.tree.map(lambda x: jnp.asarray(x[idx]), rays)
    values, opt_state, mse = step(values, opt_state, batch,
                                  jnp.asarray(rgb[idx]))
    mses.append(mse)
    if (i + 1) % log_every == 0 or i + 1 == options.steps:
      recent = float(np.mean([float(m) for m in mses[-log_every:]]))
      log(f"fine-tune step {i + 1}/{options.steps}: psnr "
          f"{float(metrics.mse_to_psnr(recent)):.2f}")
  density, sh = (np.asarray(v) for v in values)
  return dataclasses.replace(
      scene, density=density.reshape(scene.density.shape),
      sh=sh.reshape(scene.sh.shape))
