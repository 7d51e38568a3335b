"""Semantic-NeRF on the generated tabletop (data/tabletop_100: 100 frames
of a handheld path, object labels on every pixel, 7 classes with "no
surface"), scored on its val split as the paper scores Replica: 20 frames
of the same path, halfway between training frames (the 20 hemisphere
test views, which look down on the table as the path never does, are
--config.eval_split=test: novel viewpoints). instant_ngp_demo's hash
grid and proposal sampler with the class head, 10 minutes of training on 2
CPU cores (the schedules follow the time spent, so a busy machine's shorter
run still ends annealed; max_steps only caps a fast machine's). 1024 rays
a step, not the demo's 2048: on a busy machine 2048 got 294 steps in the
10 minutes, too few for the geometry (foggy; held-out mIoU 0.56 from 50 %
noise), 1024 got 868 steps and 0.93 (docs/BENCHMARKS.md, rows SN0, SN1).

The tabletop's 5 x 5 ground reaches 2.5 units from the origin, so the box
is 2.6 (instant_ngp_demo's 1.5 holds the lego), the finest level over it
is as fine per unit as the demo's, and the cameras, about 4 units out,
see the ground's far edge at up to 6.5 units of depth. The paper's
experiments are overrides of the label fields (docs/methods/
semantic_nerf.md): --config.label_noise=0.5 (or 0.9),
--config.label_sparsity=0.05, --config.label_downscale=8."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.variant(
      "instant_ngp_demo", method="semantic_nerf",
      data_dir="data/tabletop_100", train_dir="runs/semantic_nerf_demo",
      num_classes=7, scene_bound=2.6, hash_max_resolution=512, near=1.0,
      far=8.0, eval_split="val", batch_size=1024, max_steps=3000, max_time_minutes=10.0,
      schedule_clock="time", save_every=500)
