"""NeuS with its own network (an MLP on the positional encoding, geometric
init, weight normalisation: the SDF backbone's `sdf_encoding="frequency"`)
on the embedded 100x100 lego (white background, the Blender box
[-1.5, 1.5]^3), for a budget of 20 minutes on 2 CPU cores (issue #36;
docs/methods/neus.md, docs/BENCHMARKS.md "Surfaces").

Sized for the CPU: the paper's structure (softplus layers, the input again
at the middle layer, 6 frequencies of x and 4 of the direction, the colour
MLP on x, the normal, the direction and the features) at 4 x 128 with a
64-wide feature and a 2 x 128 colour MLP, against the paper's 8 x 256 and
4 x 256: every sample needs f's gradient (a second pass, differentiated
again by the step), and at 8 x 256 a 20-minute run makes about a tenth of
the steps (docs/methods/neus.md has the measurement). NeuS's optimiser:
Adam at 5e-4 decaying to 2.5e-5 (the paper's cosine to 0.05 of it; here
the engine's log-linear)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "neus", "blender", "data/lego_100", "runs/neus_mlp_demo",
      sdf_encoding="frequency", density_layers=4, density_width=128,
      sdf_skip_layer=2, geo_features=64, color_layers=2, color_width=128,
      lr_init=5e-4, lr_final=2.5e-5, adam_eps=1e-8,
      batch_size=512, field_samples=32, importance_samples=16,
      max_steps=5000, max_time_minutes=20.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=2048)
