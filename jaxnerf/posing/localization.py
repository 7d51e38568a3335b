"""iNeRF (Yen-Chen et al., IROS 2021): a photo's camera pose by gradient
descent on the photometric loss through a trained, frozen field.

The pose is the initial guess moved by a twist in the world frame,
c2w = exp(xi) o c2w_init (iNeRF's parameterisation: about the world origin,
where object-centric scenes are centred), and xi takes Adam steps on the
mean squared error of rays cast through pixels of the photo. Pixels are
drawn each step from the interest regions (ORB keypoints of the photo,
dilated, as the paper) or uniformly from the whole image. The whole
optimisation is one jitted loop.

Any method works: rays are cast through the method's own `refine_cameras`
(learned intrinsics apply; per-camera rows take the values of an unseen
camera) and rendered deterministically at the end of its training schedule.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.ndimage
from skimage.color import rgb2gray
from skimage.feature import ORB

from jaxnerf.core import cameras as cameras_lib, poses
from jaxnerf.render import losses
from jaxnerf.engine import training
from jaxnerf.core.cameras import Cameras
from jaxnerf.errors import UserError
from jaxnerf.methods import base

SAMPLINGS = ("interest", "random")
# The twist moves the initial pose in the world frame (`poses.move`), as
# BARF's corrections: a turn about the scene's origin.
TWIST_FRAME = "world"


class LocalizationError(UserError, ValueError):
  """Bad input of the localisation command (names the flag and file)."""


@dataclasses.dataclass(frozen=True)
class Options:
  """The optimisation (defaults: iNeRF's 300 iterations, Adam from 0.01)
  and the interest regions.

  Attributes:
    iterations: Adam steps.
    batch_size: rays per step.
    lr_init, lr_final: log-linear decay of Adam's rate over the iterations.
    sampling: "interest" (dilated keypoints) or "random" (any pixel).
    num_keypoints: ORB keypoints detected in the photo.
    dilation: iterations of a 3 x 3 dilation of the keypoint mask (6: a
      13 x 13 square around each keypoint, the 5 x 5 kernel applied 3
      times of iNeRF's PyTorch reimplementation; on the embedded 100 x 100
      lego that localised 37 of the first 40 trials, twice 3 x 3 34:
      docs/BENCHMARKS.md).
  """

  iterations: int = 300
  batch_size: int = 512
  lr_init: float = 1e-2
  lr_final: float = 1e-3
  sampling: str = "interest"
  num_keypoints: int = 200
  dilation: int = 6


def interest_mask(image: np.ndarray, num_keypoints: int,
                  dilation: int) -> np.ndarray:
  """iNeRF's interest regions: ORB keypoints of the photo, dilated.

  Args:
    image: [H, W, 3] in [0, 1].
  Returns:
    [H, W] bool; all True when no keypoint is found (a featureless photo).
  """
  gray = rgb2gray(np.asarray(image, np.float64))
  mask = np.zeros(gray.shape, bool)
  # Few pyramid levels: embedded scenes are ~100 pixels wide, and ORB's
  # 31-pixel patches need the coarsest level above that.
  n_scales = max(1, int(np.log(min(gray.shape) / 40) / np.log(1.2)))
  orb = ORB(n_keypoints=num_keypoints, n_scales=min(n_scales, 8),
            fast_threshold=0.05)
  try:
    orb.detect(gray)
    keypoints = np.round(orb.keypoints).astype(int)
  except RuntimeError:  # skimage: no keypoints found
    keypoints = np.zeros((0, 2), int)
  if len(keypoints) == 0:
    return np.ones(gray.shape, bool)
  mask[keypoints[:, 0], keypoints[:, 1]] = True
  if dilation > 0:
    mask = scipy.ndimage.binary_dilation(mask, np.ones((3, 3), bool),
                                         iterations=dilation)
  return mask


def sampling_mask(image: np.ndarray, options: Options) -> np.ndarray:
  """[H, W] bool: the pixels rays are drawn from."""
  if options.sampling == "interest":
    return interest_mask(image, options.num_keypoints, options.dilation)
  return np.ones(image.shape[:2], bool)


def depth_terms(outputs: dict, target: jax.Array) -> jax.Array:
  """[] the depth term of a batch (RGB-D tracking and mapping, iMAP's
  geometric loss as L1): |rendered depth - target| where the target has a
  surface, and the opacity where it has none (background pixels pull the
  map's silhouette, and a pose's, into place).

  Args:
    outputs: a level's outputs, "depth" [N] (acc-weighted camera-z depth)
      and "acc" [N].
    target: [N] camera-z depth, 0 where the pixel has no surface.
  """
  return jnp.mean(depth_residuals(outputs, target))


def depth_residuals(outputs: dict, target: jax.Array) -> jax.Array:
  """[N] `depth_terms` per ray: |depth - target| where the target has a
  surface, the opacity where it has none."""
  return jnp.where(target > 0, jnp.abs(outputs["depth"] - target),
                   outputs["acc"])


def make_pose_fit(model, config, options: Options, depth_weight: float = 0.0,
                  outlier_ratio: float = 0.0):
  """The jitted optimisation of one photo's pose against a field given as
  an argument (iNeRF's; SLAM tracking passes the map as it grows).

  Returns:
    fit(variables, camera, init_c2w [3, 4], image [H, W, 3], mask [H, W],
    key, depth [H, W] or None) -> (c2w [3, 4], losses [iterations]);
    `camera` is a one-camera Cameras (device arrays) with the photo's
    intrinsics; with `depth` (camera-z, 0: no surface) the loss adds
    depth_weight times `depth_terms`, and with outlier_ratio > 0 a ray
    whose depth residual (`depth_terms`' per ray) exceeds outlier_ratio
    times the batch's median residual is left out of both terms (NICE-
    SLAM's filter: SLAM tracks against a map that has not yet seen what
    the frame newly shows, and those rays would pull the pose back
    towards the views the map has).
  """
  progress = base.Progress.at(config.max_steps, config.max_steps)
  schedule = optax.exponential_decay(
      options.lr_init, options.iterations,
      options.lr_final / options.lr_init)
  optimizer = optax.adam(schedule)

  @jax.jit
  def run(variables, camera: Cameras, init_c2w, image, mask, key,
          depth=None):
    height, width = image.shape[:2]
    grid = cameras_lib.pixel_grid(width, height)
    xy = jnp.asarray(grid.xy.reshape(-1, 2))
    rgb = image.reshape(-1, 3)
    # Uniform over the mask's pixels by inverse CDF: the r-th masked pixel
    # is the first whose running count exceeds r (a categorical draw would
    # make batch_size x H x W Gumbel variates every step).
    counts = jnp.cumsum(mask.reshape(-1).astype(jnp.int32))
    num_pixels = counts.shape[0]

    def loss_fn(xi, key):
      key_pixels, key_render = jax.random.split(key)
      rank = jax.random.randint(key_pixels, (options.batch_size,), 0,
                                counts[-1])
      idx = jnp.minimum(jnp.searchsorted(counts, rank, side="right"),
                        num_pixels - 1)
      c2w = poses.move(init_c2w, xi, TWIST_FRAME)
      cams = camera.replace(camtoworlds=c2w[None])
      pixels = cameras_lib.Pixels(
          xy=xy[idx], camera_index=jnp.zeros((options.batch_size, 1),
                                             jnp.int32),
          lossmult=jnp.ones((options.batch_size, 1), jnp.float32))
      rays, outputs = training.render(model, variables, pixels, cams,
                                      key_render, False, progress)
      if depth is None:
        return losses.level_mses(outputs, rays, rgb[idx])[-1]
      target = depth.reshape(-1)[idx]
      if outlier_ratio > 0:
        residual = jax.lax.stop_gradient(
            depth_residuals(outputs[-1], target))
        keep = residual <= outlier_ratio * jnp.median(residual)
        rays = rays.replace(lossmult=rays.lossmult * keep[:, None])
      else:
        keep = jnp.ones_like(target, bool)
      weights = keep / jnp.maximum(jnp.sum(keep), 1)
      return losses.level_mses(outputs, rays, rgb[idx])[-1] + (
          depth_weight * jnp.sum(weights * depth_residuals(outputs[-1],
                                                           target)))

    def step(carry, i):
      xi, opt_state = carry
      loss, grad = jax.value_and_grad(loss_fn)(xi, jax.random.fold_in(key, i))
      updates, opt_state = optimizer.update(grad, opt_state, xi)
      return (optax.apply_updates(xi, updates), opt_state), loss

    xi = jnp.zeros(6, jnp.float32)
    (xi, _), history = jax.lax.scan(step, (xi, optimizer.init(xi)),
                                    jnp.arange(options.iterations))
    return poses.move(init_c2w, xi, TWIST_FRAME), history

  return run


def make_localizer(method: base.Method, model, config, params,
                   model_state: dict, options: Options):
  """The jitted optimisation of one photo's pose (`make_pose_fit`) through
  a trained, frozen field.

  Args:
    params: the trained parameters (per-camera rows are replaced by those
      of an unseen camera).
  Returns:
    localize(camera, init_c2w [3, 4], image [H, W, 3], mask [H, W], key) ->
    (c2w [3, 4], losses [iterations]); `camera` is a one-camera Cameras
    (device arrays) with the photo's intrinsics.
  """
  # Device arrays, passed to the jitted loop as arguments: host (numpy)
  # leaves closed over would be baked into the program as constants, and a
  # numpy table indexed by a tracer (an occupancy grid) fails to trace.
  variables = jax.device_put(
      {"params": training.unseen_camera_params(method, params, 1),
       **model_state})
  run = make_pose_fit(model, config, options)

  def localize(camera: Cameras, init_c2w, image, mask, key):
    return run(variables, camera, init_c2w, image, mask, key)

  return localize


def perturb_pose(c2w: np.ndarray, max_angle_deg: float,
                 max_translation: float,
                 rng: np.random.Generator) -> np.ndarray:
  """iNeRF's starting poses: `c2w` [3, 4] rotated about the world origin by
  an angle uniform in [0, max_angle_deg] about a uniformly random axis,
  then shifted by a uniform offset in [-max_translation, max_translation]
  per axis."""
  axis = rng.normal(size=3)
  axis /= np.linalg.norm(axis)
  angle = np.radians(rng.uniform(0.0, max_angle_deg))
  move = np.concatenate([poses.so3_exp(axis * angle),
                         rng.uniform(-max_translation, max_translation,
                                     (3, 1))], 1)
  return poses.compose(move, np.asarray(c2w, np.float64))


def pose_error(c2w: np.ndarray, true: np.ndarray) -> tuple[float, float]:
  """(rotation error in degrees, camera-centre distance) of [3, 4] poses,
  as iNeRF scores localisations (no alignment: the frame is the scene's)."""
  c2w, true = np.asarray(c2w, np.float64), np.asarray(true, np.float64)
  rot = np.degrees(poses.rotation_angle(c2w[:3, :3].T @ true[:3, :3]))
  return float(rot), float(np.linalg.norm(c2w[:3, 3] - true[:3, 3]))


def single_camera(cameras: Cameras, index: int = 0) -> Any:
  """Camera `index` of `cameras` as a one-camera table of device arrays."""
  return jax.tree.map(jnp.asarray, cameras.take(
      np.asarray([index])).device_arrays())


# The command (localize.py) -------------------------------------------------


def read_pose(path: str) -> np.ndarray:
  """A camera-to-world pose [3, 4] (Blender/OpenGL convention) from a .npy
  file or a JSON file holding a 4x4 or 3x4 matrix, bare or under
  "transform_matrix" (as in transforms_*.json frames).

  Raises:
    LocalizationError: a missing or malformed file, or not a rigid pose.
  """
  import json
  import os
  if not os.path.isfile(path):
    raise LocalizationError(f"--init_pose: {path}: file not found")
  try:
    if path.endswith(".npy"):
      matrix = np.load(path)
    else:
      with open(path) as f:
        value = json.load(f)
      if isinstance(value, dict):
        if "transform_matrix" not in value:
          raise LocalizationError(
              f"--init_pose: {path}: no field 'transform_matrix'")
        value = value["transform_matrix"]
      matrix = np.asarray(value, np.float64)
  except LocalizationError:
    raise
  except (ValueError, TypeError) as e:
    raise LocalizationError(f"--init_pose: {path}: not a pose ({e})") from None
  if matrix.shape not in ((3, 4), (4, 4)):
    raise LocalizationError(f"--init_pose: {path}: expected a 4x4 or 3x4 "
                            f"matrix, got shape {matrix.shape}")
  matrix = np.asarray(matrix, np.float64)[:3, :4]
  rot = matrix[:, :3]
  if (not np.all(np.isfinite(matrix)) or
      np.abs(rot.T @ rot - np.eye(3)).max() > 1e-3 or
      np.linalg.det(rot) < 0):
    raise LocalizationError(f"--init_pose: {path}: the 3x3 block is not a "
                            "rotation")
  return matrix


def read_photo(path: str, width: int, height: int,
               white_bkgd: bool) -> np.ndarray:
  """The photo as [H, W, 3] in [0, 1] (RGBA composited as training was).

  Raises:
    LocalizationError: missing, unreadable, or not the run's size.
  """
  from jaxnerf.data.loaders.blender import composite_rgba
  from jaxnerf.errors import DatasetError
  from jaxnerf.data.images import read_image
  try:
    image = read_image(path)
  except DatasetError as e:  # names the path, not the flag
    raise LocalizationError(f"--image: {e}") from None
  if image.ndim != 3 or image.shape[-1] not in (3, 4):
    raise LocalizationError(f"--image: {path}: expected an RGB or RGBA "
                            f"image, got shape {image.shape}")
  if image.shape[:2] != (height, width):
    raise LocalizationError(
        f"--image: {path}: the photo is {image.shape[1]}x{image.shape[0]} "
        f"but the run's cameras are {width}x{height}; resize it to "
        f"{width}x{height} (the focal length is the run's)")
  return composite_rgba(image, white_bkgd).astype(np.float32)


def localize_photo(config, image_path: str, init_pose_path: str,
                   options: Options, seed: int = 0) -> dict:
  """Loads the run of `config`, localises the photo from the initial pose.

  The photo's intrinsics are those of the run's first training camera.

  Returns:
    {"transform_matrix": 4x4 camera-to-world (list), "loss_first",
    "loss_last" (the photometric loss of the first and last steps),
    "seconds" (the optimisation's wall time, its compilation included)}.
  """
  import time
  from jaxnerf.engine import evaluator, parallel
  from jaxnerf.data.dataset import load_dataset
  init = read_pose(init_pose_path)
  reference = load_dataset(config, "train", max_images=1)
  image = read_photo(image_path, reference.width, reference.height,
                     config.white_bkgd)
  mesh = parallel.make_mesh(jax.devices()[:1])
  method, model, state = evaluator.restore_latest(config, mesh)
  host = parallel.to_host(training.variables_of(state))
  params = host.pop("params")
  localize = make_localizer(method, model, config, params, host, options)
  mask = sampling_mask(image, options)
  t0 = time.time()
  c2w, history = localize(single_camera(reference.cameras),
                          jnp.asarray(init, jnp.float32), jnp.asarray(image),
                          jnp.asarray(mask), jax.random.PRNGKey(seed))
  c2w = np.asarray(jax.block_until_ready(c2w), np.float64)
  matrix = np.concatenate([c2w, [[0.0, 0.0, 0.0, 1.0]]], 0)
  history = np.asarray(history)
  return {"transform_matrix": matrix.tolist(),
          "loss_first": float(history[0]), "loss_last": float(history[-1]),
          "seconds": time.time() - t0}
