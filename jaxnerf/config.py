"""Configs: ml_collections ConfigDicts, resolved by name and overridden from
the command line.

`python train.py --config=blender --config.batch_size=1024` loads
`configs/blender.py` (a path to any file with `get_config()` works too) and
sets `batch_size`. Field names follow JaxNeRF's flags.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from typing import Sequence

import ml_collections

from jaxnerf.errors import ConfigError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS_DIR = os.path.join(REPO_ROOT, "configs")


def base_config() -> ml_collections.ConfigDict:
  """Every field a config may set, with JaxNeRF's defaults."""
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset_type = "blender"  # blender | llff | multiscale
  c.data_dir = ""  # the scene folder
  c.train_dir = ""  # checkpoints, summaries, logs, eval outputs
  c.factor = 0  # downscale images by this integer factor (0 or 1: none)
  c.white_bkgd = True  # composite RGBA on white, render on white
  c.near = 2.0
  c.far = 6.0
  c.batch_size = 4096  # rays per step, all devices together
  c.image_batching = False  # each batch from one random training image
  # Logical shards of the training rays (0: one per device); the batch is
  # drawn batch_size / data_shards rays per shard (jaxnerf/parallel.py), so
  # runs with equal data_shards draw equal batches on any device count.
  c.data_shards = 0
  c.eval_split = "test"
  c.test_view_limit = 0  # eval.py renders only the first N views (0: all)
  c.llffhold = 8  # LLFF: every llffhold-th image is a test image
  c.spherify = False  # LLFF: 360-degree captures (no NDC)
  # Model.
  c.model = "nerf"  # nerf | mipnerf | fast
  c.num_coarse_samples = 64
  c.num_fine_samples = 128
  c.use_viewdirs = True
  c.lindisp = False  # sample linearly in disparity instead of depth
  c.randomized = True  # stratified jitter during training
  c.noise_std = 0.0  # std of noise added to raw density during training
  c.netdepth = 8
  c.netwidth = 256
  c.netdepth_condition = 1
  c.netwidth_condition = 128
  c.skip_layer = 4  # concatenate the input again after this many layers
  c.min_deg_point = 0
  c.max_deg_point = 10
  c.deg_view = 4
  c.legacy_posenc_order = False
  c.include_input = True  # positional encoding includes the identity
  c.density_activation = "relu"
  c.rgb_activation = "sigmoid"
  c.coarse_loss_mult = 1.0  # weight of every level but the last in the loss
  # Optimisation.
  c.lr_init = 5e-4
  c.lr_final = 5e-6
  c.lr_delay_steps = 0
  c.lr_delay_mult = 1.0
  c.grad_max_norm = 0.0  # 0: no clipping
  c.weight_decay_mult = 0.0
  c.max_steps = 1_000_000
  c.seed = 0
  # Logging and checkpoints.
  c.print_every = 100
  c.save_every = 10_000
  c.keep_checkpoints = 3
  c.render_every = 5_000  # render a test view into TensorBoard (0: never)
  c.chunk = 8192  # rays per device call when rendering whole images
  c.max_time_minutes = 0.0  # stop training after this wall time (0: none)
  # Evaluation.
  c.compute_lpips = False
  c.save_video = True  # a video of the rendered eval views
  c.render_path = False  # also render a circle (Blender) / spiral (LLFF) path
  c.render_path_frames = 120
  return c


def _resolve_path(name_or_path: str) -> str:
  if name_or_path.endswith(".py") or os.sep in name_or_path:
    path = name_or_path
  else:
    path = os.path.join(CONFIGS_DIR, name_or_path + ".py")
  if not os.path.isfile(path):
    known = sorted(f[:-3] for f in os.listdir(CONFIGS_DIR)
                   if f.endswith(".py") and not f.startswith("_"))
    raise ConfigError(f"--config: no config {name_or_path!r} ({path} does not "
                      f"exist); known names: {', '.join(known)}")
  return path


def load_config(name_or_path: str) -> ml_collections.ConfigDict:
  """Loads `get_config()` from configs/<name>.py or from a path."""
  path = _resolve_path(name_or_path)
  spec = importlib.util.spec_from_file_location(
      "jaxnerf_config_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path}: defines no get_config()")
  config = module.get_config()
  config.lock()  # an unknown field in an override is then an error
  return config


def _parse_value(field: str, text: str, current):
  if isinstance(current, bool):
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
      return True
    if lowered in ("false", "0", "no"):
      return False
    raise ConfigError(f"--config.{field}: expected true or false, got {text!r}")
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if current is None:
      return text
    raise ConfigError(f"--config.{field}: cannot parse {text!r} as "
                      f"{type(current).__name__}") from None
  if isinstance(current, float) and isinstance(value, int):
    value = float(value)
  if current is not None and not isinstance(value, type(current)):
    raise ConfigError(f"--config.{field}: expected {type(current).__name__}, "
                      f"got {text!r}")
  return value


def apply_override(config: ml_collections.ConfigDict, field: str,
                   text: str) -> None:
  """Sets `config.<field>` (dotted for nested fields) from a string."""
  node = config
  parts = field.split(".")
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(f"--config.{field}: unknown config field "
                        f"{'.'.join(parts[:i + 1])!r}")
    if i < len(parts) - 1:
      node = node[part]
  with config.unlocked():
    node[parts[-1]] = _parse_value(field, text, node[parts[-1]])


def parse_args(argv: Sequence[str], usage: str) -> ml_collections.ConfigDict:
  """Builds the config from `--config=NAME` and `--config.FIELD=VALUE` args.

  Raises:
    ConfigError: a missing or unknown config, field, flag or bad value.
  """
  name, overrides = None, []
  args = list(argv)
  i = 0
  while i < len(args):
    arg = args[i]
    if arg in ("-h", "--help"):
      raise SystemExit(usage)
    if not arg.startswith("--config"):
      raise ConfigError(f"unknown argument {arg!r}; {usage}")
    key, eq, value = arg[2:].partition("=")
    if not eq:  # --config name / --config.x value
      if i + 1 >= len(args):
        raise ConfigError(f"--{key} needs a value")
      value = args[i + 1]
      i += 1
    if key == "config":
      name = value
    elif key.startswith("config."):
      overrides.append((key[len("config."):], value))
    else:
      raise ConfigError(f"unknown argument {arg!r}; {usage}")
    i += 1
  if name is None:
    raise ConfigError(f"--config is required; {usage}")
  config = load_config(name)
  for field, value in overrides:
    apply_override(config, field, value)
  if not config.train_dir:
    raise ConfigError("config.train_dir: empty; set --config.train_dir=PATH")
  if not config.data_dir:
    raise ConfigError("config.data_dir: empty; set --config.data_dir=PATH")
  return config
