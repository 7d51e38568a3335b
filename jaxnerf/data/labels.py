"""Per-pixel class labels (Semantic-NeRF, issue #38): checks, the paper's
corruptions of training labels, and their scores.

A label map is [H, W] int32 with class ids in [0, num_classes) and -1
where a pixel has no label. The corruptions reproduce the paper's
experiments (Zhi et al., ICCV 2021, section 4): labels that are noisy
(`noise`), sparse (`sparsify`) or low-resolution (`downscale`); each draws
from its own numpy generator, so a seed gives the same labels everywhere.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from jaxnerf.errors import ConfigError, DatasetError

NO_LABEL = -1
DOWNSCALE_MODES = ("nearest", "sparse")

# Class colours of the pictures eval.py writes (tab10, then repeated);
# pixels with no label are black.
PALETTE = np.array([
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
    [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
    [188, 189, 34], [23, 190, 207]], np.float32) / 255.0


def check_ids(index: np.ndarray, num_classes: int, path: str) -> np.ndarray:
  """[H, W] int32 labels of a file's class-id map `index`.

  Raises:
    DatasetError: an id beyond num_classes - 1 (or negative), naming the
      file.
  """
  index = np.asarray(index)
  if index.size and (index.max() >= num_classes or index.min() < 0):
    bad = int(index.max() if index.max() >= num_classes else index.min())
    raise DatasetError(f"{path}: class id {bad} in 'index' is outside "
                       f"[0, config.num_classes = {num_classes})")
  return index.astype(np.int32)


def check_fields(config) -> None:
  """Raises ConfigError naming the first bad label field of `config`."""
  if config.num_classes < 1:
    raise ConfigError(f"config.num_classes: must be >= 1, got "
                      f"{config.num_classes}")
  for field in ("label_noise", "label_sparsity"):
    value = config[field]
    if not 0.0 <= value <= 1.0:
      raise ConfigError(f"config.{field}: must be in [0, 1], got {value}")
  if config.label_downscale < 1:
    raise ConfigError(f"config.label_downscale: must be >= 1, got "
                      f"{config.label_downscale}")
  if config.label_downscale_mode not in DOWNSCALE_MODES:
    raise ConfigError(f"config.label_downscale_mode: "
                      f"{config.label_downscale_mode!r} is not one of "
                      f"{DOWNSCALE_MODES}")


def downsample_nearest(index: np.ndarray, factor: int) -> np.ndarray:
  """[H // f, W // f] the label at the centre pixel of each f x f block of
  [H, W] labels (labels cannot be averaged; a loader's `factor`)."""
  if factor <= 1:
    return index
  h, w = index.shape[0] // factor, index.shape[1] // factor
  return index[factor // 2::factor, factor // 2::factor][:h, :w]


def downscale(index: np.ndarray, factor: int, mode: str) -> np.ndarray:
  """[H, W] labels as if given at 1/factor resolution: each factor x
  factor block (the last ones cut by the edge) takes the label of its
  centre pixel (clipped into the image). mode "nearest": every pixel of
  the block gets it (nearest upsampling); "sparse": only the centre pixel
  keeps it, the rest have none (labels at the low-res positions)."""
  if factor <= 1:
    return index
  h, w = index.shape
  centre = lambda n: np.minimum((np.arange(n) // factor) * factor +
                                factor // 2, n - 1)
  rows, cols = centre(h), centre(w)
  if mode == "nearest":
    return index[rows[:, None], cols[None, :]]
  out = np.full_like(index, NO_LABEL)
  keep = np.unique(rows), np.unique(cols)
  out[np.ix_(*keep)] = index[np.ix_(*keep)]
  return out


def sparsify(index: np.ndarray, keep: float,
             rng: np.random.Generator) -> np.ndarray:
  """[H, W] labels with only round(keep * labelled pixels) of the labelled
  pixels kept (uniformly at random), the rest set to NO_LABEL."""
  if keep >= 1.0:
    return index
  labelled = np.flatnonzero(index.reshape(-1) != NO_LABEL)
  kept = rng.choice(labelled, int(round(keep * labelled.size)),
                    replace=False)
  out = np.full(index.size, NO_LABEL, index.dtype)
  out[kept] = index.reshape(-1)[kept]
  return out.reshape(index.shape)


def noise(index: np.ndarray, share: float, num_classes: int,
          rng: np.random.Generator) -> np.ndarray:
  """[H, W] labels with round(share * labelled pixels) of the labelled
  pixels replaced by a class drawn uniformly from all num_classes (the
  paper's pixel-wise noise; a draw may give the pixel's own class back, so
  about share * (K - 1) / K of them change). With K classes the true class
  stays the likeliest label of a pixel while share < 1."""
  if share <= 0.0:
    return index
  labelled = np.flatnonzero(index.reshape(-1) != NO_LABEL)
  chosen = rng.choice(labelled, int(round(share * labelled.size)),
                      replace=False)
  out = index.reshape(-1).copy()
  out[chosen] = rng.integers(0, num_classes, chosen.size)
  return out.reshape(index.shape)


def corrupt(labels: list, config, seed: int) -> list:
  """The training labels as the config's experiment gives them: each map
  at 1/label_downscale resolution, then keeping label_sparsity of the
  labelled pixels, then label_noise of those replaced by random classes.
  Image i draws from its own generator (seed, i)."""
  out = []
  for i, index in enumerate(labels):
    rng = np.random.default_rng([seed, 38, i])
    index = downscale(index, config.label_downscale,
                      config.label_downscale_mode)
    index = sparsify(index, config.label_sparsity, rng)
    out.append(noise(index, config.label_noise, config.num_classes, rng))
  return out


def is_corrupting(config) -> bool:
  return (config.label_noise > 0 or config.label_sparsity < 1 or
          config.label_downscale > 1)


def confusion(true: np.ndarray, pred: np.ndarray,
              num_classes: int) -> np.ndarray:
  """[K, K] int64 counts of (true class, predicted class) over the pixels
  of `true` that have a label (pred: same shape, ids in [0, K))."""
  true, pred = np.asarray(true).reshape(-1), np.asarray(pred).reshape(-1)
  keep = true != NO_LABEL
  return np.bincount(true[keep] * num_classes + pred[keep],
                     minlength=num_classes**2).reshape(num_classes,
                                                       num_classes)


def iou(counts: np.ndarray) -> tuple[float, list[Optional[float]]]:
  """(mIoU, per-class IoU) of a confusion matrix [K, K]: IoU_c = TP / (TP +
  FP + FN); a class neither labelled nor predicted has None and stays out
  of the mean (one predicted but never labelled scores 0)."""
  counts = np.asarray(counts, np.float64)
  tp = np.diag(counts)
  union = counts.sum(0) + counts.sum(1) - tp
  per_class = [float(t / u) if u > 0 else None for t, u in zip(tp, union)]
  scored = [v for v in per_class if v is not None]
  return (float(np.mean(scored)) if scored else float("nan")), per_class


def picture(index: np.ndarray) -> np.ndarray:
  """[H, W, 3] colours in [0, 1] of [H, W] labels (PALETTE; none: black)."""
  index = np.asarray(index)
  colours = PALETTE[np.maximum(index, 0) % len(PALETTE)]
  return np.where((index == NO_LABEL)[..., None], 0.0, colours)
