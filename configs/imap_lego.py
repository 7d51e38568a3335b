"""iMAP (issue #38) on the Blender lego's test split: one continuous orbit
of 200 frames (3.6 degrees of azimuth apart, elevation sweeping 47 -> 7
degrees and back) with 8-bit depth maps, downscaled to 100x100, streamed by
slam.py. The map is Instant-NGP's hash grid with proposal sampling (as
configs/instant_ngp_demo.py), trained online on the keyframes.

  python slam.py --config=imap_lego \
      --config.data_dir=../shared/data/nerf_synthetic/lego

The map never sees the training split's views: eval.py scores it there
(eval_split "train"). docs/methods/imap.md has the results and why these
settings.
"""

from jaxnerf.engine import config as config_lib

FRAMES = 200
INIT, PER_FRAME, FINAL = 60, 4, 0


def get_config():
  return config_lib.new(
      "imap", "blender", "data/nerf_synthetic/lego", "runs/imap_lego",
      factor=8,  # 800x800 -> 100x100
      hash_log2_size=17, hash_max_resolution=256,
      sampler="proposal", batch_size=1024,
      # The map's schedules span the stream's map steps.
      max_steps=INIT + (FRAMES - 1) * PER_FRAME + FINAL,
      slam_map_init_iterations=INIT, slam_map_iterations=PER_FRAME,
      slam_map_final_iterations=FINAL,
      eval_split="train", chunk=4096, render_every=0)
