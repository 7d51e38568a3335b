"""NeuS on your own capture (process_data.py output, a nerfstudio
transforms.json), with NeuS's outside model: the SDF in the ball of radius
scene_bound = 2 around the focus of the cameras (which the loader scales
into [-1, 1]^3, so the ball holds every camera, as NeRF++'s sphere), NeRF++'s
inverted-sphere NeRF beyond it (`background="nerfpp"`), C = C_sdf +
T_sdf C_bg.

  python process_data.py --images photos/ --output data/mine
  python train.py --config=neus_capture --config.data_dir=data/mine \\
      --config.train_dir=runs/mine
  python export.py mesh --config=neus_capture ...   # the zero level set

The SDF is the backbone's hash grid (neus_demo's, its finest level 512 over
the box [-2, 2]^3: the lego's 256 over [-1.5, 1.5]^3 at the scale of a
table-top capture), started as a sphere of radius 0.5 around the focus
(the cameras, about 1 away, outside it). The background: a 4 x 64 NeRF on
10 frequencies of (x / r, 2 / r), 32 samples (the paper's 8 x 256, 32)."""

from jaxnerf.engine import config as config_lib


def get_config():
  return config_lib.new(
      "neus", "nerfstudio", "data/capture", "runs/neus_capture",
      center_method="focus", scene_bound=2.0, sdf_init_radius=0.5,
      hash_log2_size=18, hash_max_resolution=512, background="nerfpp",
      batch_size=1024, field_samples=32, importance_samples=16,
      max_steps=5000, max_time_minutes=20.0, schedule_clock="time",
      save_every=500, render_every=0, chunk=2048)
