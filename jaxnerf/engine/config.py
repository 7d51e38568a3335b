"""Configs: ml_collections ConfigDicts, resolved by name and overridden from
the command line with ml_collections.config_flags.

`python train.py --config=blender --config.batch_size=1024` loads
`configs/blender.py` (a path to any file with `get_config()` works too) and
sets `batch_size`. A config is the engine's fields (`base_config`) plus the
fields of its method (`jaxnerf/methods/<method>.py`), merged by
`method_config`; `scene` fills the data fields of a known scene layout.
`--config=runs/a`, a run folder, loads the config train.py recorded there
(`record_run_config`), overrides and all.
A config file is a root (`new`: a method on a scene, with the fields it
changes) or a delta of another config (`variant`), so no settings are
written twice. Field names follow JaxNeRF's flags.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from typing import Optional, Sequence

import ml_collections
from absl import flags
from ml_collections import config_flags

from jaxnerf import files, methods
from jaxnerf.errors import ConfigError

# jaxnerf/ (this module is jaxnerf/engine/config.py)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(PACKAGE_DIR)


def _configs_dir() -> str:
  """The checkout's configs/ when the package runs from a checkout (edits
  there take effect at once), else the copy installed with the package
  (jaxnerf/configs/ in a wheel, pyproject.toml's package-dir)."""
  checkout = os.path.join(REPO_ROOT, "configs")
  if (os.path.isfile(os.path.join(REPO_ROOT, "pyproject.toml")) and
      os.path.isdir(checkout)):
    return checkout
  return os.path.join(PACKAGE_DIR, "configs")


CONFIGS_DIR = _configs_dir()


def base_config() -> ml_collections.ConfigDict:
  """The engine's fields (every method has them), with JaxNeRF's defaults."""
  c = ml_collections.ConfigDict()
  c.method = "nerf"  # a module of jaxnerf/methods/ (or a dotted module path)
  # The method's backbone (jaxnerf/methods/backbones/: "mlp", "hashgrid")
  # where it has several; "" for a method of one backbone. Like `method`, a
  # config file fixes it (the fields depend on it).
  c.backbone = ""
  # Data.
  c.dataset_type = "blender"  # a module of jaxnerf/data/loaders/
  c.data_dir = ""  # the scene folder
  c.train_dir = ""  # checkpoints, summaries, logs, eval outputs
  c.factor = 0  # downscale images by this integer factor (0 or 1: none)
  c.white_bkgd = True  # composite RGBA on white, render on white
  c.near = 2.0
  c.far = 6.0
  c.eval_split = "test"
  c.test_view_limit = 0  # eval.py renders only the first N views (0: all)
  c.llffhold = 8  # LLFF: every llffhold-th image is a test image
  # LLFF without spherify: NDC rays (NeRF's forward-facing setting); False:
  # pinhole cameras between the scene's depth bounds (rasterisers).
  c.llff_ndc = True
  c.spherify = False  # LLFF: 360-degree captures (no NDC)
  # Pose estimation experiments: the training split's given poses are
  # replaced ("identity") and/or moved by BARF's se(3) noise of this std
  # per camera (seeded by `seed`); the true poses are kept for evaluation.
  c.pose_init = "given"  # or "identity"
  c.pose_noise = 0.0
  # "world": the noise turns each camera about the world origin (BARF's
  # w2c o N); "camera": about the camera's own centre.
  c.pose_noise_frame = "world"
  # Intrinsics experiment (SCNeRF): every split's focal lengths are given
  # as (1 + focal_error) times the true ones, as a miscalibrated camera's
  # would be; the true ones score learned intrinsics in metrics.json.
  c.focal_error = 0.0
  # Posed captures (nerfstudio, colmap, nerfies): normalisation on load
  # (jaxnerf/data/normalization.py) and the split without a listed one.
  c.orientation_method = "up"  # "up": mean camera up-vector to +z; "none"
  c.center_method = "poses"  # "poses", "focus" (of the optical axes), "none"
  c.auto_scale_poses = True  # scale the cameras into the unit cube
  c.scene_scale = 1.0  # a further scale of the normalised scene
  c.train_split_fraction = 0.0  # >0: train on this fraction, evenly spaced
  # Optimisation.
  c.batch_size = 4096  # rays per step, all devices together
  c.image_batching = False  # each batch from one random training image
  # >0: each batch is batch_size / patch_size^2 square patches of whole
  # pixels (image-space methods, patch losses); 0: independent pixels.
  c.patch_size = 0
  # Pixels between a patch's neighbouring pixels: a patch then covers
  # (patch_size - 1) * patch_stride + 1 pixels a side (GNeRF's coarse
  # views of whole images); 1: whole contiguous pixels.
  c.patch_stride = 1
  # >0: renders hand the model square tiles of render_tile pixels a side,
  # in tile-major order (rasterisers); 0: rows of pixels.
  c.render_tile = 0
  c.randomized = True  # jitter samples during training
  c.lr_init = 5e-4  # the "field" parameter group's schedule
  c.lr_final = 5e-6
  c.lr_delay_steps = 0
  c.lr_delay_mult = 1.0
  c.adam_b1 = 0.9
  c.adam_b2 = 0.999
  c.adam_eps = 1e-8
  c.grad_max_norm = 0.0  # 0: no clipping
  c.max_steps = 1_000_000
  c.seed = 0
  # Logging and checkpoints.
  c.print_every = 100
  c.save_every = 10_000
  c.keep_checkpoints = 3
  c.render_every = 5_000  # render a test view into TensorBoard (0: never)
  c.chunk = 8192  # rays per device call when rendering whole images
  c.max_time_minutes = 0.0  # stop training after this wall time (0: none)
  # What the schedules (learning rates, a method's coarse to fine) follow:
  # "steps", the step count over max_steps; or "time", the training time
  # spent over max_time_minutes (summed over resumes), so that a run capped
  # by time still ends annealed. max_steps then only caps the count.
  c.schedule_clock = "steps"
  c.metrics_every = 0  # a method's eval_metrics into TensorBoard (0: never)
  # Evaluation.
  c.compute_lpips = False
  c.save_video = True  # a video of the rendered eval views
  c.render_path = False  # also render a circle (Blender) / spiral (LLFF) path
  c.render_path_frames = 120
  # Per-image appearance (methods with transferable per-camera parameters):
  # render every eval view with training camera N's rows (-1: off), and
  # blend camera A's rows into camera B's along the render path (-1: off).
  c.eval_rows_of = -1
  c.path_rows_from = -1
  c.path_rows_to = -1
  # Dynamic scenes: the time of the render path's frames, and the frames
  # of a second video, the first eval view's camera over time 0 -> 1
  # (written with render_path; 0: none).
  c.render_path_time = 0.0
  c.render_time_frames = 0
  # Score the baked scene (bake.py) instead of the field: no MLP at all.
  c.render_baked = False
  c.baked_file = ""  # "" : <train_dir>/baked.npz
  # Distillation (KiloNeRF's first stage, jaxnerf/engine/distill.py): the
  # first distill_steps steps fit this run's field (density and radiance)
  # to a trained teacher run's at points of the scene box, then training
  # goes on with the images. teacher_config: the teacher's config (a name,
  # path, or its run folder, which records the config it trained with;
  # "": no teacher), teacher_dir: its train_dir ("": the one its config
  # names; a run folder's own).
  c.teacher_config = ""
  c.teacher_dir = ""
  c.distill_steps = 0
  c.distill_batch = 16384  # points a step
  # Fitted: alpha = 1 - exp(-sigma distill_alpha_step), not sigma
  # (KiloNeRF's alpha_distance), so huge densities' errors stay bounded.
  c.distill_alpha_step = 0.01
  # Points drawn in the teacher's occupied cells (the rest: the whole box),
  # cells of a grid of this resolution where the teacher's alpha exceeds
  # the threshold (dilated by a cell).
  c.distill_occupied_share = 0.75
  c.distill_occupancy_resolution = 64
  c.distill_occupancy_threshold = 0.01
  return c


def method_config(name: str, backbone: str = ""
                  ) -> ml_collections.ConfigDict:
  """base_config plus the fields of method `name` on `backbone` ("": its
  first), with its defaults."""
  method = methods.get(name, backbone)
  c = base_config()
  c.method = name
  c.backbone = method.backbone
  own = method.fields()
  clash = sorted(set(own) & set(c))
  if clash:
    raise ValueError(f"method {name}: fields {clash} are engine fields; set "
                     "them in engine_defaults instead")
  for key in own:
    c[key] = own[key]
  for key, value in method.engine_defaults.items():
    if key not in c:
      raise ValueError(f"method {name}: engine_defaults sets {key!r}, which "
                       "is not an engine field")
    c[key] = value
  return c


# Data fields of each scene layout; `scene` sets them.
SCENES = {
    "blender": dict(dataset_type="blender", white_bkgd=True, near=2.0,
                    far=6.0),
    # Forward-facing: NDC rays span t in [0, 1]; every 8th view is held out.
    "llff": dict(dataset_type="llff", white_bkgd=False, near=0.0, far=1.0,
                 factor=4, llffhold=8),
    # Near/far and focal come per image from metadata.json.
    "multiscale": dict(dataset_type="multiscale", white_bkgd=True),
    # D-NeRF's Blender scenes, with a time per frame.
    "dnerf": dict(dataset_type="dnerf", white_bkgd=True, near=2.0, far=6.0),
    # Real captures: near/far come from the sparse points (config.near/far
    # only without them), every 8th view is held out.
    "nerfstudio": dict(dataset_type="nerfstudio", white_bkgd=False, near=0.05,
                       far=4.0, llffhold=8),
    "colmap": dict(dataset_type="colmap", white_bkgd=False, near=0.05,
                   far=4.0, llffhold=8),
    "nerfies": dict(dataset_type="nerfies", white_bkgd=False, near=0.05,
                    far=4.0),
}


def scene(c: ml_collections.ConfigDict, layout: str, data_dir: str,
          train_dir: str, **fields) -> ml_collections.ConfigDict:
  """Sets the data fields of a scene in `layout` (a key of SCENES), then
  `fields` (overrides of any field). Returns `c`.

  Raises:
    ConfigError: an unknown layout or field (a config file's mistake).
  """
  _set_layout(c, layout)
  c.data_dir = data_dir
  c.train_dir = train_dir
  return _set_fields(c, fields)


def new(method: str, layout: str, data_dir: str, train_dir: str,
        backbone: str = "", **fields) -> ml_collections.ConfigDict:
  """A config file's root: method `method`'s config on `backbone` ("": its
  first) on a scene in `layout` (`scene`), with `fields` set.

  Raises:
    ConfigError: an unknown layout, backbone or field.
  """
  return scene(method_config(method, backbone), layout, data_dir, train_dir,
               **fields)


def variant(base: str, *, method: str = "", backbone: str = "",
            layout: str = "", **fields) -> ml_collections.ConfigDict:
  """A config file as a delta of config `base` (a name or path): its
  method (or only its backbone) replaced by `method` on `backbone`
  (with_method's rule: what `base` sets and the new method shares carries
  over), the data fields of `layout` set (SCENES), then `fields`. Returns it
  locked, as load_config.

  Raises:
    ConfigError: an unknown base, layout, backbone or field.
  """
  if method or backbone:
    c = with_method(base, method, backbone)
  else:
    c = load_config(base)
  if layout:
    _set_layout(c, layout)
  c = _set_fields(c, fields)
  c.lock()
  return c


def _set_layout(c: ml_collections.ConfigDict, layout: str) -> None:
  if layout not in SCENES:
    raise ConfigError(f"scene layout {layout!r} is not one of "
                      f"{', '.join(SCENES)}")
  c.update(SCENES[layout])


def _set_fields(c: ml_collections.ConfigDict,
                fields: dict) -> ml_collections.ConfigDict:
  """Sets existing fields only: a misspelt name fails instead of adding a
  field that nothing reads."""
  for key, value in fields.items():
    if key not in c:
      raise ConfigError(f"{key!r} is not a field of method {c.method!r}'s "
                        "config")
    c[key] = value
  return c


def resolve_path(name_or_path: str) -> str:
  """configs/<name>.py for a bare name, else the path; it must exist. A
  folder (a bare name too, where configs/ has no such config) must be a
  run folder, one holding the config.json train.py records."""
  if name_or_path.endswith(".py") or os.sep in name_or_path:
    path = name_or_path
  else:
    path = os.path.join(CONFIGS_DIR, name_or_path + ".py")
    if not os.path.isfile(path) and os.path.isdir(name_or_path):
      path = name_or_path
  if os.path.isdir(path):
    if not os.path.isfile(os.path.join(path, RUN_CONFIG_FILE)):
      raise ConfigError(
          f"--config: {name_or_path} is a folder without {RUN_CONFIG_FILE}, "
          "the config train.py records in a run folder (runs trained "
          "before it was recorded have none: give their config file and "
          "the overrides they were trained with)")
    return os.path.abspath(path)
  if not os.path.isfile(path):
    known = sorted(f[:-3] for f in (os.listdir(CONFIGS_DIR) if
                                    os.path.isdir(CONFIGS_DIR) else [])
                   if f.endswith(".py") and not f.startswith("_"))
    raise ConfigError(f"--config: no config {name_or_path!r} ({path} does not "
                      f"exist); known names: {', '.join(known)}; or a run "
                      "folder")
  return os.path.abspath(path)


def load_config(name_or_path: str) -> ml_collections.ConfigDict:
  """Loads `get_config()` from configs/<name>.py or from a path, or the
  recorded config of a run folder (`load_run_config`); locked: an unknown
  field is then an error."""
  path = resolve_path(name_or_path)
  if os.path.isdir(path):
    return load_run_config(name_or_path)
  spec = importlib.util.spec_from_file_location(
      "jaxnerf_config_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path}: defines no get_config()")
  try:
    config = module.get_config()
  except ConfigError as e:  # new / variant / scene: a field or base
    raise ConfigError(f"{path}: {e}") from None
  config.lock()
  return config


def with_method(name_or_path: str, method: str = "",
                backbone: str = "") -> ml_collections.ConfigDict:
  """Config `name_or_path` with its method replaced by `method` ("": the
  same) on `backbone` ("": the method's first): every field the config
  sets (differs from its own method's default) and the new method shares
  keeps the config's value; the rest are the new method's defaults. One
  source for a paper's variant on another config's scene, field and
  schedule (NeRF-W on instant_ngp_demo's grid and sampler)."""
  base = load_config(name_or_path)
  own_defaults = method_config(base.method, base.backbone)
  c = method_config(method or base.method, backbone)
  for key in base:
    if (key not in ("method", "backbone") and key in c and
        base[key] != own_defaults[key]):
      c[key] = base[key]
  return c


def _field_owners(field: str) -> list[str]:
  """The methods of this package that have `field`."""
  owners = []
  for name in methods.available():
    try:
      if field in methods.get(name).fields():
        owners.append(name)
    except Exception:  # pylint: disable=broad-except
      pass  # a broken method shows its error when it is used, not here
  return owners


def check_field(config: ml_collections.ConfigDict, field: str) -> None:
  """Raises ConfigError unless `field` (dotted for nested) is in config."""
  node = config
  parts = field.split(".")
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      owners = _field_owners(field) if i == 0 else []
      if owners:
        raise ConfigError(
            f"--config.{field}: method {config.method!r} has no field "
            f"{field!r} (it belongs to {', '.join(owners)})")
      raise ConfigError(f"--config.{field}: unknown config field "
                        f"{'.'.join(parts[:i + 1])!r}")
    node = node[part]


class _NameOrPath(flags.ArgumentParser):
  """--config's value: a name of configs/ or a path (`load_config`). The
  copy it hands config_flags is unlocked, so that a misspelt
  `--config.FIELD` is added rather than failing without its name;
  `parse_flags` then names it against `loaded`, the config as written."""

  def __init__(self):
    super().__init__()
    self.loaded = None

  def parse(self, argument):
    self.loaded = None  # until it has loaded: a failure is not a field's
    self.loaded = load_config(argument)
    config = copy.deepcopy(self.loaded)
    config.unlock()
    return config

  def flag_type(self):
    return "config object"


def parse_flags(argv: Sequence[str]
                ) -> tuple[Optional[ml_collections.ConfigDict], list[str]]:
  """The config's command-line flags, by ml_collections.config_flags:
  `--config=NAME|PATH|RUN` (or `--config NAME|PATH|RUN`; RUN a run
  folder: the config its train.py recorded, `load_run_config`), then any
  `--config.FIELD=VALUE` (or `--config.FIELD VALUE`, `--[no]config.FLAG`),
  each typed by the field.

  Args:
    argv: a command line, the program first.

  Returns:
    (the config, locked; None without `--config`) and the arguments that
    are not the config's, the program first, in their order.

  Raises:
    ConfigError: an unknown config or field, a bad value, a changed
      method.
  """
  argv = list(argv)
  values = flags.FlagValues()
  # config_flags finds the overrides in `sys_argv` when the flag is parsed.
  config_flags.DEFINE_config_file("config", None, flag_values=values,
                                  lock_config=False,
                                  accept_new_attributes=True, sys_argv=argv)
  loader = values["config"].parser = _NameOrPath()
  try:
    rest = values(argv, known_only=True)
  except flags.IllegalFlagValueError as e:
    cause = e.__context__
    if isinstance(cause, ConfigError):  # from load_config
      raise cause from None
    if loader.loaded is None and cause is not None:
      raise cause  # the config file's code failed: a bug, with its trace
    raise ConfigError(str(e)) from None  # a field's value
  except flags.Error as e:
    raise ConfigError(str(e)) from None
  except KeyError as e:
    if loader.loaded is None:
      raise
    # config_flags' lookup of --config.FIELD.SUB where FIELD has no fields.
    raise ConfigError(f"--config: {e.args[0] if e.args else e}") from None
  config = values.config
  if config is None:
    return None, rest
  for field in config_flags.get_override_values(values["config"]):
    check_field(loader.loaded, field)
  config.lock()
  if config.method != loader.loaded.method:
    raise ConfigError(
        f"--config.method: the method is fixed by the config file "
        f"({loader.loaded.method!r}, whose fields it sets); start from a "
        f"config of method {config.method!r} instead")
  if config.backbone != loader.loaded.backbone:
    raise ConfigError(
        f"--config.backbone: the backbone is fixed by the config file "
        f"({loader.loaded.backbone!r}, whose fields it sets); start from a "
        f"config on backbone {config.backbone!r} instead")
  return config, rest


def check_paths(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError unless the run's folder and the data are named."""
  if not config.train_dir:
    raise ConfigError("config.train_dir: empty; set --config.train_dir=PATH")
  if not config.data_dir:
    raise ConfigError("config.data_dir: empty; set --config.data_dir=PATH")


# A run's config, recorded by train.py in its folder (`record_run_config`)
# so that `--config=<train_dir>` rebuilds the model it trained: eval.py,
# view.py, exports and resumes then need none of the overrides it was
# trained with. config.json holds
#   note: SIGNATURE (files.py): jaxnerf wrote it (train.py, slam.py) and
#     may rewrite it;
#   config: every field, as ml_collections writes JSON (tuples as lists,
#     FieldReferences resolved, nested ConfigDicts as objects);
#   since_step: the step the run was at when it began training with it;
#   earlier: the configs it trained with before, oldest first, each with
#     since_step and until_step (where a resume with another config, e.g.
#     a larger max_steps, replaced it): nothing given is lost.
RUN_CONFIG_FILE = "config.json"
_NOTE = (f"{files.SIGNATURE}: the config this run trains with (config), "
         "since step since_step; its earlier ones (earlier)")
# Fields a config may differ from its run's record in without another
# model: the folder itself (it may have moved since).
_PLACE_FIELDS = ("train_dir",)


def to_record(config: ml_collections.ConfigDict) -> dict:
  """Every field of `config` as JSON values ({field: value}; nested
  ConfigDicts as nested objects)."""
  return json.loads(config.to_json_best_effort())


def from_record(fields: dict, template: ml_collections.ConfigDict,
                where: str = RUN_CONFIG_FILE) -> ml_collections.ConfigDict:
  """`to_record`'s inverse, typed by `template` (the method's config): each
  recorded field is set on a copy of it, so ml_collections' type checks
  give tuples back from JSON lists and keep FieldReferences linked; a field
  the template lacks is added as recorded, one the record lacks keeps the
  template's value (a field the method gained since). Returns it locked.

  Raises:
    ConfigError: a recorded value the field's type refuses, naming
      `where` and the field.
  """
  config = copy.deepcopy(template)
  config.unlock()
  _set_recorded(config, fields, "", where)
  config.lock()
  return config


def _set_recorded(node: ml_collections.ConfigDict, fields: dict,
                  prefix: str, where: str) -> None:
  for key, value in fields.items():
    if (isinstance(value, dict) and key in node and
        isinstance(node[key], ml_collections.ConfigDict)):
      _set_recorded(node[key], value, f"{prefix}{key}.", where)
      continue
    try:
      node[key] = value
    except (TypeError, ValueError) as e:
      raise ConfigError(f"{where}: field {prefix}{key}: "
                        f"{str(e).splitlines()[0]}") from None


def read_run_record(train_dir: str) -> Optional[dict]:
  """The record in `train_dir`'s config.json (see above); None without one.

  Raises:
    ConfigError: a config.json train.py did not write (not JSON, no
      note), naming it: it is someone else's, never replaced.
  """
  path = os.path.join(train_dir, RUN_CONFIG_FILE)
  if not os.path.lexists(path):
    return None
  record = None
  if files.signed(path):
    try:
      with open(path, encoding="utf-8") as f:
        record = json.load(f)
    except (OSError, ValueError):  # JSONDecodeError, UnicodeDecodeError
      record = None
  if not (isinstance(record, dict) and isinstance(record.get("config"), dict)
          and files.SIGNATURE in str(record.get("note", ""))):
    raise ConfigError(f"{path}: not a config train.py recorded (it is left "
                      "alone: move it, or choose another train_dir)")
  return record


def load_run_config(train_dir: str) -> ml_collections.ConfigDict:
  """The config run folder `train_dir` trains with (its config.json), its
  train_dir that folder (wherever it has moved since). Locked.

  Raises:
    ConfigError: no record, or not train.py's, naming the file.
  """
  path = os.path.join(train_dir, RUN_CONFIG_FILE)
  record = read_run_record(train_dir)
  if record is None:
    raise ConfigError(f"--config: {path} does not exist")
  fields = record["config"]
  try:
    template = method_config(str(fields.get("method", "")),
                             str(fields.get("backbone", "")))
  except ConfigError as e:
    raise ConfigError(f"{path}: {e}") from None
  config = from_record(fields, template, path)
  with config.unlocked():
    config.train_dir = os.path.normpath(train_dir)
  return config


def record_run_config(config: ml_collections.ConfigDict, step: int) -> None:
  """Records `config` (every field) as what config.train_dir trains with
  from `step` on, in its config.json, atomically. A record of another
  config moves to the file's `earlier` list; one equal but for the
  folder's place is kept as it is. Call it on one process.

  Raises:
    ConfigError: a config.json train.py did not write (`read_run_record`).
  """
  fields = to_record(config)
  record = read_run_record(config.train_dir)
  earlier = []
  if record is not None:
    if not differing_fields(record["config"], fields):
      return
    earlier = list(record.get("earlier", [])) + [
        {"since_step": record.get("since_step"), "until_step": int(step),
         "config": record["config"]}]
  files.write_json(os.path.join(config.train_dir, RUN_CONFIG_FILE),
                   {"note": _NOTE, "since_step": int(step), "config": fields,
                    "earlier": earlier}, indent=1)


def differing_fields(recorded: dict, fields: dict,
                     prefix: str = "") -> list[tuple[str, object, object]]:
  """[(dotted field, recorded value, value in `fields`)] where two
  `to_record`s differ (a field one lacks: None), in the record's order;
  train_dir aside."""
  out = []
  for key in list(recorded) + [k for k in fields if k not in recorded]:
    name = prefix + key
    a, b = recorded.get(key), fields.get(key)
    if name in _PLACE_FIELDS:
      continue
    if isinstance(a, dict) and isinstance(b, dict):
      out += differing_fields(a, b, name + ".")
    elif a != b:
      out.append((name, a, b))
  return out


def _flag_value(value) -> str:
  """A recorded JSON value as --config.FIELD takes it."""
  if isinstance(value, list):
    return repr(tuple(value))
  return value if isinstance(value, str) else json.dumps(value)


def restore_hint(config: Optional[ml_collections.ConfigDict],
                 most: int = 12) -> str:
  """What to do about a checkpoint of config.train_dir that does not
  restore into `config`'s model: the fields (at most `most`) where
  `config` differs from the run's recorded config, with their recorded
  values, and `--config=<train_dir>`, which loads it; for a run without a
  record (or no config given), to repeat its overrides."""
  try:
    record = None if config is None else read_run_record(config.train_dir)
  except ConfigError:
    record = None
  diff = [] if not record else differing_fields(record["config"],
                                                    to_record(config))
  if not diff:
    return "pass the --config overrides the run was trained with"
  # Another method or backbone: the rest of the fields follow from it.
  diff = [d for d in diff if d[0] in ("method", "backbone")] or diff
  shown = ", ".join(f"{name}={_flag_value(was)}" for name, was, _ in
                    diff[:most])
  more = f" and {len(diff) - most} more" if len(diff) > most else ""
  return (f"the run was trained with {shown}{more} "
          f"({os.path.join(config.train_dir, RUN_CONFIG_FILE)}); use "
          f"--config={config.train_dir}, which loads it")
