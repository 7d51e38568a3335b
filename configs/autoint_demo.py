"""AutoInt (jaxnerf/methods/autoint.py) on the embedded 100x100 lego: 8
segments a ray (9 evaluations of the integral network per ray when
rendering), 16 grad-network samples a segment in training, both networks
4 x 128 as the NeRF `demo`'s MLP."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "autoint", "blender", "data/lego_100", "runs/autoint_demo",
      autoint_segments=8, autoint_samples_per_segment=16,
      autoint_netdepth=4, autoint_netwidth=128,
      batch_size=1024, lr_init=1e-3, lr_final=1e-4,
      max_steps=4000, max_time_minutes=15.0,
      save_every=500, render_every=0, chunk=4096)
