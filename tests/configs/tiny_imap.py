"""A tiny iMAP stream for the tests: the first 3 test views of the
embedded lego (with depth; 28.8 degrees apart, so tracking is not scored
here) at 25x25, a tiny hash grid, a few steps of everything: seconds."""

import os

from jaxnerf.engine import config as config_lib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def get_config():
  return config_lib.new(
      "imap", "blender", os.path.join(REPO_ROOT, "data", "lego_100"),
      "runs/tiny_imap", factor=4,
      hash_levels=4, hash_log2_size=10, hash_max_resolution=32,
      sampler="proposal", field_samples=8, proposal_samples=(8, 8),
      proposal_hash_levels=2, proposal_hash_log2_size=10,
      proposal_hash_max_resolution=16, proposal_width=8,
      density_width=16, color_width=16,
      batch_size=128, max_steps=12, chunk=1024, render_every=0,
      test_view_limit=1, save_video=False,
      slam_frames=3, slam_track_iterations=3, slam_track_rays=64,
      slam_map_iterations=2, slam_map_init_iterations=4,
      slam_map_final_iterations=2, slam_keyframe_pixels=32,
      slam_max_keyframes=2, slam_pose_lr=1e-3)
