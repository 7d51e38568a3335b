"""AutoInt (jaxnerf/methods/autoint.py) on the embedded 100x100 lego: 8
segments a ray (9 evaluations of the integral network per ray when
rendering), 8 grad-network samples a segment in training, one 4 x 128
trunk for density and colour (the NeRF `demo`'s MLP size). On 2 cores a
training step costs 1.9x the NeRF demo's this way, 6.8x with the paper's
two networks and 16 samples a segment (docs/methods/speed.md)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "autoint", "blender", "data/lego_100", "runs/autoint_demo",
      autoint_segments=8, autoint_samples_per_segment=8,
      autoint_netdepth=4, autoint_netwidth=128, autoint_shared_trunk=True,
      batch_size=1024, lr_init=1e-3, lr_final=1e-4,
      max_steps=2000, max_time_minutes=15.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=4096)
