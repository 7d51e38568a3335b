"""iMAP (Sucar et al., ICCV 2021): a field as the map of an online SLAM
system. The model is the backbone's own (the hash grid by default, NeRF's
MLP with backbone "mlp"); what makes it iMAP is the streaming driver,
slam.py (jaxnerf/posing/slam.py): frames in order, each tracked against
the map, keyframes chosen by the share of pixels the map already explains,
the map trained on the keyframes with their estimated poses.

The `slam_*` fields below are the driver's; train.py, eval.py, view.py and
export.py treat the method as its backbone (a map is a normal run).
docs/methods/imap.md has the results.
"""

import ml_collections

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mlp

MODES = ("rgbd", "rgb")


def slam_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # "rgbd": colour and the data's depth maps in tracking and mapping;
  # "rgb": colour only (depth is then only used to score nothing).
  c.slam_mode = "rgbd"
  c.slam_split = "test"  # the split streamed, in its order
  c.slam_frames = 0  # the first N frames of the split (0: all)
  # Tracking: Adam on the pose's twist (iNeRF's fit, jaxnerf/posing/
  # localization.py) from the constant-velocity guess, a fixed number of
  # steps of slam_track_rays random pixels, rate decaying log-linearly.
  c.slam_track_iterations = 20
  c.slam_track_rays = 256
  c.slam_track_lr_init = 2e-3
  c.slam_track_lr_final = 2e-4
  # The constant-velocity start repeats the mean motion of the last
  # slam_velocity_frames tracked frames (1: the last motion alone).
  c.slam_velocity_frames = 1
  # RGB-D: the rays from the frame's surface pixels and those within
  # slam_track_margin pixels of them (-1: from every pixel).
  c.slam_track_margin = -1
  # RGB-D: a ray whose depth residual is above this many times the batch's
  # median is left out of the tracking loss (NICE-SLAM's filter of what
  # the map has not seen yet; 0: off, else >= 1).
  c.slam_track_outlier_ratio = 0.0
  # Weight of the depth term (L1 on surface pixels, opacity elsewhere)
  # beside the colour's mean squared error, in tracking and mapping.
  c.slam_depth_weight = 0.05
  # Mapping: steps of batch_size rays per frame, from the keyframes; a
  # share of each batch's keyframes drawn in proportion to their last loss
  # (iMAP's active sampling), the rest uniformly.
  c.slam_map_iterations = 4
  c.slam_map_init_iterations = 60  # on the first frame, before tracking
  c.slam_map_final_iterations = 0  # after the last frame
  # Warm-up: frames 1 .. slam_map_warmup_frames get slam_map_warmup_rounds
  # times slam_map_iterations steps (the map of the first frames is a few
  # views and lags the camera; iMAP maps at a higher rate than it tracks).
  c.slam_map_warmup_frames = 0
  c.slam_map_warmup_rounds = 1
  c.slam_loss_sampling = 0.5
  # The share of each batch from the current (tracked) frame, whether a
  # keyframe or not: iMAP's mapping window holds it beside the keyframes
  # (1 of its 5 frames).
  c.slam_current_share = 0.2
  # Adam's rate for the keyframes' (and the current frame's) pose
  # corrections during mapping, iMAP's joint optimisation (0: the poses
  # stay as tracked). The first frame's stays: it defines the world.
  c.slam_pose_lr = 0.0
  # Keyframes (iMAP's rule): render slam_keyframe_pixels random pixels of
  # the tracked frame through the map as it was when the last keyframe was
  # added (iMAP's locked copy); a pixel is explained where its depth is within
  # slam_keyframe_depth_error (relative) of the data's (RGB-D) or its
  # colour within slam_keyframe_colour_error (mean absolute, RGB-only);
  # the frame becomes a keyframe when the explained share is below
  # slam_keyframe_share (iMAP: 0.1 and 0.65).
  c.slam_keyframe_pixels = 200
  c.slam_keyframe_depth_error = 0.1
  c.slam_keyframe_colour_error = 0.1
  c.slam_keyframe_share = 0.65
  # Also a keyframe every slam_keyframe_every frames since the last one
  # (0: iMAP's rule alone).
  c.slam_keyframe_every = 0
  c.slam_max_keyframes = 64  # the buffer's size (static shapes)
  return c


COMPONENT = base.Component(
    name="slam", fields=slam_fields,
    # No parameters: the driver's settings only.
    module=lambda config, scene, levels: None)

METHOD = base.compose(
    "imap", {"hashgrid": hashgrid.BACKBONE, "mlp": mlp.BACKBONE},
    (COMPONENT,))
