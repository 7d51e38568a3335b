"""iMAP (Sucar et al., ICCV 2021): a field as the map of an online SLAM
system, on any backbone (method `imap`, jaxnerf/methods/imap.py).

Frames are read in order. Each new frame is tracked against the current
map: its pose starts from the constant-velocity guess and takes a fixed
number of Adam steps on the photometric (+ depth) loss, through iNeRF's
pose fit (`localization.make_pose_fit`, one jitted function). A tracked
frame becomes a keyframe when the share of its pixels the map already
explains is below a threshold (iMAP's rule). After each frame the map
takes a fixed number of steps on rays of the keyframes at their estimated
poses (one jitted function; keyframes with a high loss are drawn more
often). Every shape is static: the keyframes live in a buffer of
`slam_max_keyframes` slots, so both functions compile once.

The first frame's pose is given (it defines the world frame, as iMAP's);
the trajectory is still scored after an SE(3) alignment (Umeyama/Horn),
as SLAM trajectories are.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.ndimage
from scipy.spatial.transform import Rotation

from jaxnerf import files
from jaxnerf.core import cameras as cameras_lib, poses
from jaxnerf.core.cameras import Cameras, Pixels
from jaxnerf.engine import checkpoints, trainer, training
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError, UserError
from jaxnerf.methods import base
from jaxnerf.posing import localization

TRAJECTORY_FILE = "trajectory.txt"  # estimated, TUM format
REFERENCE_FILE = "reference.txt"  # the data's poses, TUM format
METRICS_FILE = "slam_metrics.json"
PLOT_FILE = "trajectory.png"


class SlamError(UserError, ValueError):
  """Bad input of the SLAM driver (names the field, flag or file)."""


# Trajectory scoring --------------------------------------------------------


def align_poses(c2w: np.ndarray, s: float, rot: np.ndarray,
                t: np.ndarray) -> np.ndarray:
  """[N, 3, 4] camera-to-world poses moved by x -> s R x + t (the camera
  centres scaled, the orientations only turned)."""
  c2w = np.asarray(c2w, np.float64)
  return np.concatenate([rot @ c2w[:, :, :3],
                         (s * c2w[:, :, 3] @ rot.T + t)[..., None]], -1)


def trajectory_errors(estimate: np.ndarray, reference: np.ndarray,
                      with_scale: bool = False) -> dict:
  """Scores [N, 3, 4] estimated poses against reference ones after the
  best alignment of the camera centres (SE(3), or Sim(3) with_scale).

  Returns:
    {"ate_rmse": RMS distance of the aligned centres (TUM's absolute
    trajectory error), "ate_mean", "ate_max", "rotation_mean_deg" and
    "rotation_max_deg" (angle of R_ref^T R_aligned), "scale"}.
  """
  s, rot, t = poses.umeyama(estimate[:, :, 3], reference[:, :, 3], with_scale)
  aligned = align_poses(estimate, s, rot, t)
  dist = np.linalg.norm(aligned[:, :, 3] - reference[:, :, 3], axis=-1)
  rel = np.einsum("nji,njk->nik", reference[:, :, :3], aligned[:, :, :3])
  angles = np.degrees(poses.rotation_angle(rel))
  return {"ate_rmse": float(np.sqrt(np.mean(dist ** 2))),
          "ate_mean": float(dist.mean()), "ate_max": float(dist.max()),
          "rotation_mean_deg": float(np.mean(angles)),
          "rotation_max_deg": float(np.max(angles)), "scale": float(s)}


# TUM trajectories ----------------------------------------------------------


def write_tum(path: str, timestamps: np.ndarray, c2w: np.ndarray) -> None:
  """Writes camera-to-world poses [N, 3, 4] as a TUM trajectory: a line
  `timestamp tx ty tz qx qy qz qw` per pose (atomically)."""
  quats = Rotation.from_matrix(np.asarray(c2w, np.float64)[:, :, :3]).as_quat()
  lines = ["# timestamp tx ty tz qx qy qz qw (camera-to-world, OpenGL "
           f"camera axes; {files.SIGNATURE})"]
  for stamp, pose, q in zip(timestamps, c2w, quats):
    values = [float(stamp), *np.asarray(pose)[:, 3], *q]
    lines.append(" ".join(f"{v:.9g}" for v in values))
  with files.atomic_open(path) as f:
    f.write("\n".join(lines) + "\n")


def read_tum(path: str) -> tuple[np.ndarray, np.ndarray]:
  """(timestamps [N], camera-to-world [N, 3, 4]) of a TUM trajectory.

  Raises:
    SlamError: an unreadable file or a malformed line (naming it).
  """
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise SlamError(f"{path}: cannot read ({e.strerror})") from None
  rows = []
  for number, line in enumerate(lines, 1):
    if not line.strip() or line.lstrip().startswith("#"):
      continue
    try:
      row = [float(v) for v in line.split()]
    except ValueError:
      row = []
    if len(row) != 8 or not np.all(np.isfinite(row)):
      raise SlamError(f"{path}: line {number}: expected 8 numbers "
                      "(timestamp tx ty tz qx qy qz qw)")
    rows.append(row)
  rows = np.asarray(rows, np.float64).reshape(-1, 8)
  rot = Rotation.from_quat(rows[:, 4:]).as_matrix() if len(rows) else \
      np.zeros((0, 3, 3))
  return rows[:, 0], np.concatenate([rot, rows[:, 1:4, None]], -1)


# Keyframes -----------------------------------------------------------------


def explained(rgb_hat: np.ndarray, acc_hat: np.ndarray, depth_hat: np.ndarray,
              rgb: np.ndarray, depth: Optional[np.ndarray],
              depth_error: float, colour_error: float) -> tuple[int, int]:
  """(pixels the map already explains, pixels that count): iMAP's test.

  With depth (RGB-D) the pixels that count are those where the data or
  the map (opacity >= 0.5) has a surface: an object before an empty
  background would otherwise count the background, which any map
  explains, and never make a keyframe. Such a pixel is explained where
  both have a surface and the rendered depth is within `depth_error` of
  the data's, relatively (iMAP's 0.1). Without depth (RGB-only) every
  pixel counts, explained where its mean absolute colour error is below
  `colour_error`.

  Args:
    rgb_hat [N, 3], acc_hat [N], depth_hat [N]: the map's render;
    rgb [N, 3], depth [N] (camera-z, 0: no surface) or None: the frame's.
  """
  if depth is None:
    good = np.mean(np.abs(rgb_hat - rgb), -1) < colour_error
    return int(np.sum(good)), len(good)
  surface, mapped = depth > 0, acc_hat >= 0.5
  rel = np.abs(depth_hat - depth) / np.where(surface, depth, 1.0)
  good = surface & mapped & (rel < depth_error)
  return int(np.sum(good)), int(np.sum(surface | mapped))


def is_keyframe(explained_pixels: int, counted: int,
                min_share: float) -> bool:
  """iMAP's rule: a new keyframe where the map explains less than
  `min_share` of the pixels that count (none counting: no keyframe)."""
  return counted > 0 and explained_pixels < min_share * counted


def is_due(frame: int, last_keyframe: int, every: int) -> bool:
  """A keyframe forced `every` frames after the last one (0: never).

  iMAP's rule alone waits for the map to fail: on an orbit the map's
  depth stays close for tens of degrees, and the keyframe it then takes
  is at an already drifted pose (docs/methods/imap.md)."""
  return every > 0 and frame - last_keyframe >= every


def track_mask(depth: np.ndarray, margin: int) -> np.ndarray:
  """[H, W] bool: the pixels RGB-D tracking draws its rays from, given the
  frame's depth map [H, W] (0: no surface): with margin >= 0 the
  surface's pixels and those within `margin` pixels of one (the
  silhouette's edge, where the opacity term pins the pose); every pixel
  with margin -1 (or no surface at all). On an object before an
  empty background most random pixels would otherwise be background,
  which says little about the pose."""
  if margin < 0:
    return np.ones(depth.shape, bool)
  surface = depth > 0
  if margin > 0:
    surface = scipy.ndimage.binary_dilation(
        surface, np.ones((2 * margin + 1, 2 * margin + 1), bool))
  return surface if surface.any() else np.ones_like(surface)


def map_rounds(frame: int, settings: "Settings") -> int:
  """How many times the map update runs after `frame` (each
  settings.map_iterations steps): settings.map_warmup_rounds for frames
  1 .. map_warmup_frames, once after. iMAP maps at a higher rate than it
  tracks; here the early frames, whose map is a few views, get more."""
  return (settings.map_warmup_rounds
          if 1 <= frame <= settings.map_warmup_frames else 1)


# The settings --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
  """The config's slam_* fields (jaxnerf/methods/imap.py documents them)."""

  mode: str
  split: str
  frames: int
  track_iterations: int
  track_rays: int
  track_lr_init: float
  track_lr_final: float
  depth_weight: float
  map_iterations: int
  map_init_iterations: int
  map_final_iterations: int
  loss_sampling: float
  current_share: float
  pose_lr: float
  keyframe_pixels: int
  keyframe_depth_error: float
  keyframe_colour_error: float
  keyframe_share: float
  keyframe_every: int
  track_margin: int
  track_outlier_ratio: float
  velocity_frames: int
  max_keyframes: int
  map_warmup_frames: int
  map_warmup_rounds: int

  @property
  def rgbd(self) -> bool:
    return self.mode == "rgbd"


def read_settings(config) -> Settings:
  """The SLAM settings of `config`, checked.

  Raises:
    ConfigError: a config without the fields (not method imap) or a value
      out of range, naming the field.
  """
  from jaxnerf.methods import imap
  if "slam_mode" not in config:
    raise ConfigError(f"config.method: {config.method!r} has no SLAM "
                      "settings; slam.py needs method 'imap' (e.g. "
                      "--config=imap_lego)")
  if config.slam_mode not in imap.MODES:
    raise ConfigError(f"config.slam_mode: unknown {config.slam_mode!r}; "
                      f"known: {list(imap.MODES)}")
  minimums = {"slam_frames": 0, "slam_track_iterations": 1,
              "slam_track_rays": 1, "slam_map_iterations": 1,
              "slam_map_init_iterations": 0,
              "slam_map_final_iterations": 0, "slam_keyframe_pixels": 1,
              "slam_max_keyframes": 2, "slam_depth_weight": 0,
              "slam_pose_lr": 0, "slam_keyframe_every": 0,
              "slam_track_margin": -1, "slam_map_warmup_frames": 0,
              "slam_map_warmup_rounds": 1, "slam_velocity_frames": 1}
  trainer.check_fields(config, minimums, (
      "slam_track_lr_init", "slam_track_lr_final",
      "slam_keyframe_depth_error", "slam_keyframe_colour_error"))
  ratio = config.slam_track_outlier_ratio
  if not (ratio == 0 or 1 <= ratio < float("inf")):
    raise ConfigError(f"config.slam_track_outlier_ratio: {ratio!r}; it must "
                      "be 0 (off) or a finite number >= 1")
  for field in ("slam_loss_sampling", "slam_current_share",
                "slam_keyframe_share"):
    if not 0 <= config[field] <= 1:
      raise ConfigError(f"config.{field}: {config[field]!r}; it must be in "
                        "[0, 1]")
  return Settings(**{f.name: config["slam_" + f.name]
                     for f in dataclasses.fields(Settings)})


# The stream ----------------------------------------------------------------


@dataclasses.dataclass
class Stream:
  """The frames, in order: images [N, H, W, 3], depths [N, H, W] camera-z
  (0: no surface; None without depth), the reference poses [N, 3, 4], the
  camera (one-camera host Cameras with the frames' intrinsics), names."""

  images: np.ndarray
  depths: Optional[np.ndarray]
  reference: np.ndarray
  camera: Cameras
  names: list


def load_stream(config, settings: Settings) -> Stream:
  """The frames of config.data_dir's split `slam_split`.

  Raises:
    SlamError / DatasetError: frames of differing sizes, fewer than two
      frames, or no depth in RGB-D mode (naming the field and folder).
  """
  from jaxnerf.data.dataset import load_dataset
  dataset = load_dataset(config, settings.split,
                         max_images=settings.frames or None)
  if len(dataset) < 2:
    raise SlamError(f"config.slam_split: {settings.split!r} of "
                    f"{config.data_dir} has {len(dataset)} frame(s); a "
                    "stream needs at least 2")
  if len({im.shape for im in dataset.images}) != 1:
    raise SlamError(f"config.slam_split: the frames of {settings.split!r} "
                    f"in {config.data_dir} differ in size")
  depths = None
  if settings.rgbd:
    if dataset.depths is None:
      raise SlamError(
          f"config.slam_mode: 'rgbd' needs a depth map per frame, and split "
          f"{settings.split!r} of {config.data_dir} has none (or not for "
          "every frame); give the depths or set --config.slam_mode=rgb")
    depths = np.stack(dataset.depths).astype(np.float32)
  return Stream(images=np.stack(dataset.images).astype(np.float32),
                depths=depths,
                reference=np.asarray(dataset.cameras.camtoworlds,
                                     np.float64)[:, :3, :4],
                camera=dataset.cameras.take(np.asarray([0])),
                names=list(dataset.names))


def constant_velocity(previous: np.ndarray, earlier: np.ndarray,
                      frames: int = 1) -> np.ndarray:
  """The next pose [3, 4] if the mean motion of the last `frames` frames
  repeats: previous o (earlier^-1 o previous)^(1/frames), `earlier` the
  pose `frames` frames before `previous` (the power through se(3)'s log).
  Exact for any constant twist; with frames = 1 it is
  previous o before^-1 o previous.

  The guess doubles the last frame's tracking error (2 e_k - e_{k-1}):
  on the lego orbit, tracking's ~0.3-degree noise grew through it past
  what tracking pulls back (docs/methods/imap.md). Over m frames the
  last error counts (1 + 1/m) times."""
  motion = poses.compose(poses.invert(earlier), previous)
  step = poses.se3_exp(poses.se3_log(motion) / frames)
  return poses.compose(previous, step)


def motion_guess(estimate: np.ndarray, frame: int, window: int) -> np.ndarray:
  """The constant-velocity start [3, 4] of `frame` from the poses tracked
  before it (estimate [N, 3, 4], frames 0 .. frame - 1 filled), the motion
  averaged over up to `window` frames; frame 1 starts at frame 0's."""
  if frame == 1:
    return estimate[0]
  span = min(window, frame - 1)
  return constant_velocity(estimate[frame - 1], estimate[frame - 1 - span],
                           span)


@flax.struct.dataclass
class Keyframes:
  """The frames the map trains on (static shapes): K keyframe slots and,
  last, the current frame's, of P pixels each.

  rgb [K + 1, P, 3], depth [K + 1, P] (zeros in RGB-only mode), c2w
  [K + 1, 3, 4] estimated poses, loss [K + 1] each slot's last colour loss
  (what active sampling follows), count [] keyframe slots in use; xi
  [K + 1, 6] the mapping's corrections of the poses (`refined`), with
  their Adam moments m, v [K + 1, 6] and step counts t [K + 1].
  """

  rgb: jax.Array
  depth: jax.Array
  c2w: jax.Array
  loss: jax.Array
  count: jax.Array
  xi: jax.Array
  m: jax.Array
  v: jax.Array
  t: jax.Array

  @classmethod
  def empty(cls, keyframes: int, pixels: int) -> "Keyframes":
    slots = keyframes + 1
    return cls(rgb=jnp.zeros((slots, pixels, 3), jnp.float32),
               depth=jnp.zeros((slots, pixels), jnp.float32),
               c2w=jnp.zeros((slots, 3, 4), jnp.float32),
               loss=jnp.zeros((slots,), jnp.float32),
               count=jnp.zeros((), jnp.int32),
               xi=jnp.zeros((slots, 6), jnp.float32),
               m=jnp.zeros((slots, 6), jnp.float32),
               v=jnp.zeros((slots, 6), jnp.float32),
               t=jnp.zeros((slots,), jnp.float32))

  def refined(self) -> jax.Array:
    """[K + 1, 3, 4] the poses with the mapping's corrections."""
    return poses.move(self.c2w, self.xi, localization.TWIST_FRAME)

  def _set(self, i, rgb, depth, c2w) -> "Keyframes":
    """Slot i holds a frame at pose c2w, its correction reset."""
    zero = lambda x: x.at[i].set(0)
    return self.replace(rgb=self.rgb.at[i].set(rgb.reshape(-1, 3)),
                        depth=self.depth.at[i].set(depth.reshape(-1)),
                        c2w=self.c2w.at[i].set(c2w), xi=zero(self.xi),
                        m=zero(self.m), v=zero(self.v), t=zero(self.t))

  def add(self, rgb, depth, c2w) -> "Keyframes":
    """With one more keyframe (the caller checks there is room); its loss
    starts at the buffer's highest, so it is drawn often at first."""
    i = self.count
    first = jnp.maximum(jnp.max(self.loss), 1e-2)
    return self._set(i, rgb, depth, c2w).replace(
        loss=self.loss.at[i].set(first), count=i + 1)

  def with_current(self, rgb, depth, c2w) -> "Keyframes":
    """With the current frame in the last slot."""
    return self._set(self.rgb.shape[0] - 1, rgb, depth, c2w)


def make_mapper(method: base.Method, model, config, settings: Settings,
                camera: Cameras):
  """The jitted map update: settings.map_iterations steps of the trainer's
  optimiser on config.batch_size rays, a share settings.current_share of
  them from the current frame (iMAP's window always holds it: the map
  keeps up with the view being tracked) and the rest from the keyframes.

  Returns:
    update(state, keyframes, key) -> (state, keyframes, loss []): the
    keyframes' losses updated from the batches that drew them.
  """
  optimizer = training.make_optimizer(config, method.param_groups)
  width, height = int(camera.width[0]), int(camera.height[0])
  xy = jnp.asarray(cameras_lib.pixel_grid(width, height).xy.reshape(-1, 2))
  batch = config.batch_size
  intrinsics = jax.tree.map(jnp.asarray, camera.device_arrays())

  def one_step(state: training.TrainState, frames: Keyframes, key):
    key_unit, key_pixel, key_render, key_state = jax.random.split(key, 4)
    slots = frames.rgb.shape[0]
    used = jnp.arange(slots) < frames.count  # never the current slot
    uniform = used / frames.count
    by_loss = jnp.where(used, frames.loss, 0.0)
    by_loss = by_loss / jnp.maximum(jnp.sum(by_loss), 1e-12)
    p = (1 - settings.loss_sampling) * uniform + \
        settings.loss_sampling * by_loss
    p = (1 - settings.current_share) * p + settings.current_share * (
        jnp.arange(slots) == slots - 1)
    unit = jax.random.choice(key_unit, slots, (batch,), p=p)
    pixel = jax.random.randint(key_pixel, (batch,), 0, xy.shape[0])
    intrinsics_k = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (slots,) + x.shape[1:]), intrinsics)
    pixels = Pixels(xy=xy[pixel], camera_index=unit[:, None],
                    lossmult=jnp.ones((batch, 1), jnp.float32))
    rgb = frames.rgb[unit, pixel]
    progress = base.Progress.at(state.step, config.max_steps)

    def loss_fn(params, xi):
      c2w = poses.move(frames.c2w, xi, localization.TWIST_FRAME)
      rays = cameras_lib.cast_rays(intrinsics_k.replace(camtoworlds=c2w),
                                   pixels)
      variables = {"params": params, **state.model_state}
      _, outputs = training.render(model, variables, rays, None, key_render,
                                   config.randomized, progress)
      terms = method.loss_terms(config, outputs, rays, rgb, params)
      if settings.rgbd:
        terms["depth"] = settings.depth_weight * localization.depth_terms(
            outputs[-1], frames.depth[unit, pixel])
      per_ray = jnp.mean((outputs[-1]["rgb"] - rgb) ** 2, -1)
      return sum(terms.values()), jax.lax.stop_gradient(per_ray)

    (loss, per_ray), (grads, grad_xi) = jax.value_and_grad(
        loss_fn, argnums=(0, 1), has_aux=True)(state.params, frames.xi)
    updates, opt_state = optimizer.update(grads, state.opt_state,
                                          state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.isfinite(loss) & jnp.all(jnp.array(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    # A non-finite update is never applied (as the train step).
    keep = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(finite, a, b), new, old)
    params = keep(params, state.params)
    state = training.TrainState(
        step=state.step + 1, params=params,
        opt_state=keep(opt_state, state.opt_state),
        model_state=training.update_model_state(
            model, params, state.model_state, state.step + 1, key_state),
        nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32))
    sums = jax.ops.segment_sum(per_ray, unit, slots)
    counts = jax.ops.segment_sum(jnp.ones_like(per_ray), unit, slots)
    frames = frames.replace(loss=jnp.where(
        counts > 0, sums / jnp.maximum(counts, 1), frames.loss))
    if settings.pose_lr > 0:
      frames = refine_poses(frames, grad_xi, counts > 0, finite,
                            settings.pose_lr)
    return state, frames, loss

  @jax.jit
  def update(state, frames: Keyframes, key):
    def body(carry, i):
      state, frames = carry
      state, frames, loss = one_step(state, frames,
                                     jax.random.fold_in(key, i))
      return (state, frames), loss

    (state, frames), history = jax.lax.scan(
        body, (state, frames), jnp.arange(settings.map_iterations))
    return state, frames, history[-1]

  return update


def refine_poses(frames: Keyframes, grad_xi, drawn, finite,
                 lr: float) -> Keyframes:
  """One Adam step on the corrections of the slots the batch drew (iMAP
  optimises the keyframes' poses with the map), each slot with its own
  step count (a slot is reset when a new frame takes it). Slot 0, the
  first frame, stays: it defines the world frame.

  Args:
    grad_xi: [K + 1, 6]; drawn: [K + 1] bool; finite: [] bool.
  """
  b1, b2, eps = 0.9, 0.999, 1e-8
  # A slot whose own gradient is not finite is left as it was (a NaN in
  # its moments would stay there for good).
  step = (drawn & finite & jnp.all(jnp.isfinite(grad_xi), -1) &
          (jnp.arange(drawn.shape[0]) > 0))
  grad_xi = jnp.where(step[:, None], grad_xi, 0.0)
  t = frames.t + step
  m = jnp.where(step[:, None], b1 * frames.m + (1 - b1) * grad_xi, frames.m)
  v = jnp.where(step[:, None], b2 * frames.v + (1 - b2) * grad_xi ** 2,
                frames.v)
  tt = jnp.maximum(t, 1.0)[:, None]
  delta = lr * (m / (1 - b1 ** tt)) / (jnp.sqrt(v / (1 - b2 ** tt)) + eps)
  xi = jnp.where(step[:, None], frames.xi - delta, frames.xi)
  return frames.replace(xi=xi, m=m, v=v, t=t)


def make_probe(model, config, num_pixels: int):
  """The jitted render of `num_pixels` pixels of a frame at a pose (the
  keyframe test).

  Returns:
    probe(variables, camera, c2w [3, 4], index [num_pixels] flat pixel
    indices) -> (rgb [n, 3], acc [n], depth [n]).
  """
  progress = base.Progress.at(config.max_steps, config.max_steps)

  @jax.jit
  def probe(variables, camera: Cameras, c2w, index):
    cams = camera.replace(camtoworlds=c2w[None])
    pixels = Pixels(xy=xy_of(index, camera),
                    camera_index=jnp.zeros((num_pixels, 1), jnp.int32),
                    lossmult=jnp.ones((num_pixels, 1), jnp.float32))
    _, outputs = training.render(model, variables, pixels, cams,
                                 jax.random.PRNGKey(0), False, progress)
    out = outputs[-1]
    return out["rgb"], out["acc"], out["depth"]

  return probe


def xy_of(index, camera: Cameras):
  """Pixel-centre coordinates [n, 2] of flat pixel indices (row-major) of
  the camera's image."""
  width = camera.width[0]
  return jnp.stack([index % width, index // width], -1).astype(
      jnp.float32) + 0.5


def run_stream(config, settings: Settings, stream: Stream, log=print,
               log_every: int = 10) -> dict:
  """Runs iMAP over the stream: tracks, picks keyframes, maps.

  Returns:
    {"c2w": [N, 3, 4] estimated poses, "keyframes": frame indices,
    "state": the final TrainState, "method", "model", "seconds" (the whole
    stream, compilation included), "frame_seconds" [N]}.
  """
  from jaxnerf import methods
  method = methods.of(config)
  if method.pixel_batches:
    raise ConfigError(f"config.backbone: {config.backbone!r} renders "
                      "pixels of cameras; slam.py casts rays from its pose "
                      "estimates (use 'hashgrid' or 'mlp')")
  scene = base.SceneInfo(num_cameras=1)
  model = training.build_model(method, config, scene)
  init_key, key = jax.random.split(jax.random.PRNGKey(config.seed))
  state = training.create_train_state(method, model, config, init_key, 1)
  num, height, width = stream.images.shape[:3]
  camera = jax.tree.map(jnp.asarray, stream.camera.device_arrays())
  options = localization.Options(
      iterations=settings.track_iterations,
      batch_size=settings.track_rays, lr_init=settings.track_lr_init,
      lr_final=settings.track_lr_final, sampling="random")
  track = localization.make_pose_fit(model, config, options,
                                     settings.depth_weight,
                                     settings.track_outlier_ratio)
  mapper = make_mapper(method, model, config, settings, stream.camera)
  probe = make_probe(model, config, settings.keyframe_pixels)
  mask_of = lambda i: jnp.asarray(
      track_mask(stream.depths[i], settings.track_margin)
      if settings.rgbd else np.ones((height, width), bool))
  zeros = np.zeros((height, width), np.float32)
  depth_of = lambda i: (stream.depths[i] if stream.depths is not None
                        else zeros)
  rng = np.random.default_rng(config.seed)

  frames = Keyframes.empty(settings.max_keyframes, height * width)
  estimate = np.zeros((num, 3, 4))
  estimate[0] = stream.reference[0]
  frames = frames.add(jnp.asarray(stream.images[0]),
                      jnp.asarray(depth_of(0)),
                      jnp.asarray(estimate[0], jnp.float32))
  frames = frames.with_current(jnp.asarray(stream.images[0]),
                               jnp.asarray(depth_of(0)),
                               jnp.asarray(estimate[0], jnp.float32))
  keyframes = [0]
  frame_seconds = np.zeros(num)
  t0 = time.time()
  for i in range(-(-settings.map_init_iterations //
                   settings.map_iterations)):
    state, frames, loss = mapper(state, frames, jax.random.fold_in(key, i))
  # iMAP checks new frames against a copy of the map locked when the last
  # keyframe was added: the live map has just trained on the previous
  # frame (the current slot), explains any frame near it, and on smooth
  # motion never lets the rule fire.
  snapshot = training.variables_of(state)
  frame_seconds[0] = time.time() - t0
  full = False
  for i in range(1, num):
    t_frame = time.time()
    key_i = jax.random.fold_in(key, 10_000 + i)
    guess = motion_guess(estimate, i, settings.velocity_frames)
    variables = training.variables_of(state)
    c2w, _ = track(variables, camera, jnp.asarray(guess, jnp.float32),
                   jnp.asarray(stream.images[i]), mask_of(i),
                   jax.random.fold_in(key_i, 0),
                   jnp.asarray(stream.depths[i]) if settings.rgbd else None)
    c2w = np.asarray(c2w, np.float64)
    if not np.all(np.isfinite(c2w)):
      # A map region that renders nothing finite: keep the guess rather
      # than poison the velocity and the map.
      log(f"frame {i}: tracking gave a non-finite pose; keeping the "
          "constant-velocity guess")
      c2w = guess
    estimate[i] = c2w
    c2w = jnp.asarray(c2w, jnp.float32)
    index = rng.choice(height * width, settings.keyframe_pixels,
                       replace=False)
    rgb_hat, acc_hat, depth_hat = jax.tree.map(np.asarray, probe(
        snapshot, camera, c2w, jnp.asarray(index, jnp.int32)))
    good, counted = explained(
        rgb_hat, acc_hat, depth_hat, stream.images[i].reshape(-1, 3)[index],
        depth_of(i).reshape(-1)[index] if settings.rgbd else None,
        settings.keyframe_depth_error, settings.keyframe_colour_error)
    share = good / max(counted, 1)
    added = False
    if (is_keyframe(good, counted, settings.keyframe_share) or
        is_due(i, keyframes[-1], settings.keyframe_every)):
      if len(keyframes) < settings.max_keyframes:
        frames = frames.add(jnp.asarray(stream.images[i]),
                            jnp.asarray(depth_of(i)), c2w)
        keyframes.append(i)
        added = True
      elif not full:
        full = True
        log(f"frame {i}: the keyframe buffer is full "
            f"(slam_max_keyframes={settings.max_keyframes}); no more "
            "keyframes")
    frames = frames.with_current(jnp.asarray(stream.images[i]),
                                 jnp.asarray(depth_of(i)), c2w)
    for r in range(map_rounds(i, settings)):
      state, frames, loss = mapper(state, frames,
                                   jax.random.fold_in(key_i, 1 + r))
    if added:  # the map with the new keyframe in it
      snapshot = training.variables_of(state)
    if settings.pose_lr > 0:  # the frame's pose as the mapping left it
      refined = np.asarray(frames.refined()[-1], np.float64)
      if np.all(np.isfinite(refined)):
        estimate[i] = refined
    frame_seconds[i] = time.time() - t_frame
    if i % log_every == 0 or i == num - 1:
      err = np.linalg.norm(estimate[i, :, 3] - stream.reference[i, :, 3])
      turn = np.degrees(poses.rotation_angle(
          stream.reference[i, :, :3].T @ estimate[i, :, :3]))
      log(f"frame {i:4d}/{num - 1}  explained {share:4.2f}  keyframes "
          f"{len(keyframes):3d}  map loss {float(loss):.5f}  centre error "
          f"{err:.4f}  rotation error {float(turn):.2f} deg  "
          f"{(time.time() - t0) / (i + 1):5.2f} s/frame")
  for i in range(-(-settings.map_final_iterations //
                   settings.map_iterations)):
    state, frames, loss = mapper(state, frames,
                                 jax.random.fold_in(key, 20_000 + i))
  jax.block_until_ready(state.params)
  if settings.pose_lr > 0:  # the keyframes' final poses
    refined = np.asarray(frames.refined(), np.float64)
    for slot, frame in enumerate(keyframes):
      if np.all(np.isfinite(refined[slot])):
        estimate[frame] = refined[slot]
  return {"c2w": estimate, "keyframes": keyframes, "state": state,
          "method": method, "model": model, "seconds": time.time() - t0,
          "frame_seconds": frame_seconds}


# Outputs -------------------------------------------------------------------


def check_train_dir(config) -> None:
  """The map's folder must not hold a run already (nothing the user has is
  overwritten).

  Raises:
    SlamError: naming config.train_dir.
  """
  folder = config.train_dir
  if os.path.exists(folder) and not os.path.isdir(folder):
    raise SlamError(f"config.train_dir: {folder} is a file")
  taken = [name for name in ("checkpoints", trainer.SCENE_FILE,
                             config_lib.RUN_CONFIG_FILE, TRAJECTORY_FILE,
                             METRICS_FILE)
           if os.path.exists(os.path.join(folder, name))]
  if taken:
    raise SlamError(f"config.train_dir: {folder} already holds a run "
                    f"({taken[0]}); slam.py writes a new map, give a new "
                    "folder")


def save_map(config, state: training.TrainState) -> None:
  """The map as a run folder: scene.json, config.json (the config, for
  `--config=<train_dir>`) and a checkpoint of the engine's layout, so
  eval.py, view.py and export.py open it."""
  os.makedirs(config.train_dir, exist_ok=True)
  trainer.write_scene_info(config.train_dir, base.SceneInfo(num_cameras=1))
  if jax.process_index() == 0:
    config_lib.record_run_config(config, 0)
  checkpointer = checkpoints.Checkpointer(config.train_dir,
                                          config.keep_checkpoints)
  checkpointer.save(int(state.step), state)
  checkpointer.close()


def plot_trajectories(path: str, estimate: np.ndarray,
                      reference: np.ndarray, size: int = 512) -> None:
  """A PNG of the camera centres from above (x, y; left) and from the side
  (frame index, z; right): reference in grey, estimate in red (PIL)."""
  from PIL import Image, ImageDraw
  image = Image.new("RGB", (2 * size, size), "white")
  draw = ImageDraw.Draw(image)
  pad = 24

  def panel(points_est, points_ref, x0):
    both = np.concatenate([points_est, points_ref])
    lo, hi = both.min(0), both.max(0)
    span = max(float(np.max(hi - lo)), 1e-9)

    def to_px(p):
      q = (p - (lo + hi) / 2) / span * (size - 2 * pad)
      return [(x0 + size / 2 + a, size / 2 - b) for a, b in q]

    draw.rectangle([x0 + 2, 2, x0 + size - 3, size - 3], outline="black")
    draw.line(to_px(points_ref), fill=(150, 150, 150), width=4)
    draw.line(to_px(points_est), fill=(220, 30, 30), width=2)

  centres_est, centres_ref = estimate[:, :, 3], reference[:, :, 3]
  panel(centres_est[:, :2], centres_ref[:, :2], 0)
  t = np.linspace(-1, 1, len(estimate)) * np.ptp(centres_ref[:, :2], 0).max()
  side = lambda c: np.stack([t, c[:, 2]], -1)
  panel(side(centres_est), side(centres_ref), size)
  draw.text((pad, 6), "top view (x, y): reference grey, estimate red",
            fill="black")
  draw.text((size + pad, 6), "height z over the frames", fill="black")
  with files.atomic_open(path, "wb") as f:
    image.save(f, format="PNG")


def write_outputs(config, settings: Settings, stream: Stream,
                  result: dict) -> dict:
  """Writes the map (run folder), trajectories (TUM), plot and metrics into
  config.train_dir; returns the metrics."""
  save_map(config, result["state"])
  folder = config.train_dir
  stamps = np.arange(len(stream.images), dtype=np.float64)
  write_tum(os.path.join(folder, TRAJECTORY_FILE), stamps, result["c2w"])
  write_tum(os.path.join(folder, REFERENCE_FILE), stamps, stream.reference)
  plot_trajectories(os.path.join(folder, PLOT_FILE), result["c2w"],
                    stream.reference)
  metrics = {
      "comment": f"{files.SIGNATURE} (slam.py)",
      "mode": settings.mode, "frames": len(stream.images),
      "keyframes": len(result["keyframes"]),
      "keyframe_indices": [int(k) for k in result["keyframes"]],
      "seconds": result["seconds"],
      "frames_per_second": len(stream.images) / result["seconds"],
      "map_steps": int(result["state"].step),
      "se3": trajectory_errors(result["c2w"], stream.reference),
      "sim3": trajectory_errors(result["c2w"], stream.reference, True),
      "unaligned_centre_error_mean": float(np.mean(np.linalg.norm(
          result["c2w"][:, :, 3] - stream.reference[:, :, 3], axis=-1))),
  }
  files.write_json(os.path.join(folder, METRICS_FILE), metrics, indent=1)
  return metrics
