"""NeRF-W on the hash-grid field (nerfw_ngp) on the embedded lego in the
wild: instant_ngp_demo's config with NeRF-W's codes, sampled by the
occupancy grid and marcher as instant_ngp_demo was before issue #14 (finest
level 512, 8192 rays, 2^16 samples a step). nerfa_ngp_demo /
nerfu_ngp_demo are its NeRF-A / NeRF-U ablations.

Why not instant_ngp_demo's proposal sampler: with it NeRF-W's static scene
took ~300 steps to start forming, and 5 minutes scored 18.96 dB (both
perturbations) and 19.47 (clean) against 20.79 and 25.41 with this
setup in 4 minutes (docs/BENCHMARKS.md).

transient_warmup_steps = 200: without it the static scene did not form
for ~400 steps (training PSNR 9.4-10.5 to step 400) and 5 minutes scored
17.61 dB with both perturbations; with it 21.81 (NeRF 22.52, same
session; docs/BENCHMARKS.md)."""

from jaxnerf import config as config_lib
from jaxnerf.methods import nerfw


def get_config():
  c = config_lib.with_method("instant_ngp_demo", "nerfw_ngp")
  c.data_dir = "data/lego_wild_100"
  c.train_dir = "runs/nerfw_ngp_demo"
  c.sampler = "occupancy"
  c.hash_max_resolution = 512
  c.batch_size = 8192
  c.max_steps = 3000
  c.max_time_minutes = 0.0
  c.save_every = 1000
  c.transient_warmup_steps = 200
  return nerfw.variant(c, "w")
