"""KiloNeRF (jaxnerf/methods/kilonerf.py) on the embedded 100x100 lego:
16^3 tiny networks (the paper's 2 x 32 with a 32-wide view-dependent
layer) distilled from a trained `instant_ngp_demo` run (train that first:
`python train.py --config=instant_ngp_demo`), then fine-tuned on the
images, rendered by the occupancy grid's marcher with empty space skipped
and rays stopped early. For speed, bake it (`python bake.py
--config=kilonerf_demo --step_ratio 2 --density_threshold 10`, docs/
BENCHMARKS.md row KN11): the baked scene keeps the tiny networks with a
256^3 occupancy grid, and `eval.py` / `view.py` with
`--config.render_baked=true` render them on the baked grid's marcher."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "kilonerf", "blender", "data/lego_100", "runs/kilonerf_demo",
      teacher_config="instant_ngp_demo", distill_steps=600,
      distill_batch=8192,
      # Steps of 0.01 units along the box diagonal (the distilled alpha's
      # step); the grid as instant_ngp_demo's occupancy sampler.
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=512, samples_budget=2**16, render_samples_per_ray=48,
      batch_size=4096, max_steps=2000, max_time_minutes=45.0,
      save_every=500, render_every=0, chunk=4096)
