"""Fine-tuning baked values on training images."""

import dataclasses

import numpy as np

from analytic_fields import SphereField
from jaxnerf.baked import bake as baking, finetune as baked_finetune, render
from jaxnerf.core import metrics
from test_baking import ring_rays


def test_finetuning_recovers_colours_and_keeps_the_layout():
  """Images rendered from a baked sphere; the same scene with its SH
  coefficients wiped (grey) and its densities halved is fine-tuned on them
  and gets close again."""
  field = SphereField(radius=0.5, own_sh=True)
  _, rays = ring_rays(num_views=6, size=16)
  target = baking.bake(field, {}, rays, 1.0, True, "sphere", 0,
                       baking.BakeOptions(resolution=16, block_size=4,
                                          chunk=4096), log=lambda s: None)
  renderer = render.make_renderer(target, chunk=4096)
  rgb = renderer.render_image(rays)["rgb"]
  start = dataclasses.replace(target, sh=np.zeros_like(target.sh),
                              density=0.5 * target.density)
  psnr = lambda scene: float(metrics.psnr(
      render.make_renderer(scene, chunk=4096).render_image(rays)["rgb"],
      rgb))
  before = psnr(start)
  logs = []
  tuned = baked_finetune.finetune(
      start, rays, rgb, baked_finetune.FinetuneOptions(
          steps=60, batch_size=512, lr=5e-2), log=logs.append,
      log_every=20)
  after = psnr(tuned)
  assert len(logs) == 3 and "fine-tune step 60/60" in logs[-1]
  assert after > before + 8, (before, after)
  assert after > 30, after
  np.testing.assert_array_equal(tuned.block_index, target.block_index)
  assert tuned.sh.shape == target.sh.shape and tuned.density.min() >= 0
