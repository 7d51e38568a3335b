"""Neural Reflectance Fields on the embedded relighting set (100x100,
data/relight_100: trained under a flash at the camera, tested under point
lights elsewhere and environments), on the hash grid with the occupancy
grid and marcher (the shading reads each sample; proposals are for the
field's own colour)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "nrf", "blender", "data/relight_100", "runs/nrf_demo",
      hash_log2_size=17, hash_max_resolution=256,
      occupancy_resolution=64, occupancy_update_fraction=0.5,
      march_steps=384, samples_budget=2**16, render_samples_per_ray=48,
      sampler="occupancy", batch_size=4096,
      max_steps=3000, max_time_minutes=15.0,
      save_every=500, render_every=0, chunk=4096)
