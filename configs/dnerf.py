"""D-NeRF as the paper trains it (the authors' configs/lego.txt): the
deformation and canonical MLPs of 8 x 256 per level, 64 + 128 samples, 500
rays from one image per step, 800k steps, learning rate 5e-4 decayed 10x
every 500k steps, half resolution (400x400) on white. For a D-NeRF scene
(e.g. lego of D-NeRF's data) in --config.data_dir."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "dnerf", "dnerf", "data/dnerf/lego", "runs/dnerf_lego", factor=2,
      batch_size=500, image_batching=True,  # no_batching = True
      max_steps=800_000, save_every=10_000,
      # lr = 5e-4 * 0.1^(step / 500k): log-linear, 5e-4 -> 5e-4 * 0.1^1.6.
      lr_init=5e-4, lr_final=5e-4 * 0.1**1.6,
      deform_lr_init=5e-4, deform_lr_final=5e-4 * 0.1**1.6)
