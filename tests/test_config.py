import os

import pytest

from jaxnerf.engine import cli, config as config_lib
from jaxnerf.errors import ConfigError



def parse(argv):
  """The config of a command line (train.py's: config flags only)."""
  config, _ = cli.parse(["train.py", *argv], cli.FlagParser(prog="train.py"))
  return config


def test_name_resolves_to_configs_folder_and_path_works():
  by_name = parse(["--config=demo"])
  path = os.path.join(config_lib.CONFIGS_DIR, "demo.py")
  by_path = parse([f"--config={path}"])
  by_space = parse(["--config", "demo"])
  assert by_name.to_dict() == by_path.to_dict() == by_space.to_dict()
  for field in ("data_dir", "train_dir", "eval_split", "max_steps"):
    assert field in by_name
  assert by_name.eval_split == "test"


def test_blender_config_matches_jaxnerf():
  c = config_lib.load_config("blender")
  assert (c.num_coarse_samples, c.num_fine_samples) == (64, 128)
  assert c.batch_size == 4096 and c.max_steps == 1_000_000
  assert c.use_viewdirs and c.white_bkgd and c.randomized
  assert (c.netdepth, c.netwidth, c.skip_layer) == (8, 256, 4)
  assert (c.lr_init, c.lr_final) == (5e-4, 5e-6)


def test_overrides_are_typed():
  c = parse(["--config=demo", "--config.batch_size=256",
             "--config.lr_init=1e-3", "--config.white_bkgd=false",
             "--config.train_dir", "/tmp/x", "--config.near=1",
             "--noconfig.randomized"])
  assert c.batch_size == 256 and c.lr_init == 1e-3
  assert c.white_bkgd is False and c.train_dir == "/tmp/x"
  assert isinstance(c.near, float) and c.near == 1.0
  assert c.randomized is False
  with pytest.raises(AttributeError):
    c.new_field = 1  # locked


@pytest.mark.parametrize("argv,match", [
    (["--config=nope"], "no config 'nope'"),
    (["--config=demo", "--config.nope=1"],
     "--config.nope: unknown config field 'nope'"),
    (["--config=demo", "--config.hash_levels=4"],
     r"method 'nerf' has no field 'hash_levels' \(it belongs to .*"
     "instant_ngp"),
    (["--config=demo", "--config.batch_size=many"], "config.batch_size"),
    (["--config=demo", "--config.white_bkgd=maybe"], "config.white_bkgd"),
    (["--config=demo", "--config.batch_size=1.5"], "config.batch_size"),
    (["--config=demo", "--config.method=instant_ngp"],
     "--config.method: the method is fixed"),
    (["--config.batch_size=2", "--config=demo"], "before a value for --config"),
    (["--config=demo", "--config.train_dir="], "config.train_dir: empty"),
    (["--config=demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--conf=demo"], "unrecognized arguments: --conf=demo"),
    (["--config"], "--config"),
    ([], "--config is required"),
])
def test_bad_arguments_name_the_problem(argv, match):
  with pytest.raises(ConfigError, match=match):
    parse(argv)


def test_with_method_keeps_what_the_config_sets_and_the_methods_defaults(
    tmp_path):
  # A nerf config that sets batch_size and lr_init and leaves max_steps at
  # nerf's default: as instant_ngp, the two it set carry over, max_steps
  # and adam_eps are instant_ngp's own defaults (30000 and 1e-15, not
  # nerf's 1e6 and 1e-8), and instant_ngp's own fields exist.
  path = tmp_path / "base.py"
  path.write_text(
      "from jaxnerf.engine import config as config_lib\n"
      "def get_config():\n"
      "  c = config_lib.method_config('nerf')\n"
      "  c.batch_size = 123\n"
      "  c.lr_init = 2e-3\n"
      "  return c\n")
  c = config_lib.with_method(str(path), "instant_ngp")
  ngp = config_lib.method_config("instant_ngp")
  assert c.method == "instant_ngp"
  assert (c.batch_size, c.lr_init) == (123, 2e-3)
  assert (c.max_steps, c.adam_eps) == (ngp.max_steps, ngp.adam_eps)
  assert (c.max_steps, c.adam_eps) == (30000, 1e-15)
  assert c.hash_max_resolution == ngp.hash_max_resolution


def test_nerfw_ngp_demo_is_instant_ngp_demo_with_codes():
  ngp = config_lib.load_config("instant_ngp_demo")
  wild = config_lib.load_config("nerfw_ngp_demo")
  differ = {k for k in ngp if k in wild and ngp[k] != wild[k]}
  # Only the method (on the same backbone) and its data: sampler, grid,
  # rays and schedule are instant_ngp_demo's, so the bench compares the
  # methods alone.
  assert differ == {"method", "data_dir", "train_dir"}
  assert wild.backbone == ngp.backbone == "hashgrid"
  assert wild.sampler == "proposal"
  assert wild.transient_warmup_steps == 400
  assert wild.appearance_dim > 0 and wild.transient_dim > 0


@pytest.mark.parametrize("name,base,differ", [
    ("nerfa_demo", "nerfw_demo", {"train_dir", "transient_dim"}),
    ("nerfu_demo", "nerfw_demo",
     {"train_dir", "appearance_dim", "test_time_steps"}),
    ("nerfa_ngp_demo", "nerfw_ngp_demo", {"train_dir", "transient_dim"}),
    ("tnerf_demo", "dnerf_demo", {"train_dir", "deformation", "max_steps"}),
    ("peer_small", "peer_full",
     {"train_dir", "num_coarse_samples", "num_fine_samples", "netdepth",
      "netwidth", "netwidth_condition"}),
])
def test_a_variant_config_differs_from_its_base_by_its_delta(name, base,
                                                             differ):
  a, b = config_lib.load_config(name), config_lib.load_config(base)
  assert set(a) == set(b)
  assert {k for k in a if a[k] != b[k]} == differ


def _config_file(tmp_path, name, body):
  path = tmp_path / f"{name}.py"
  path.write_text("from jaxnerf.engine import config as config_lib\n"
                  f"def get_config():\n  return {body}\n")
  return str(path)


def test_variant_sets_method_layout_and_fields_and_locks(tmp_path):
  base = _config_file(tmp_path, "base", (
      "config_lib.new('nerf', 'blender', 'data/x', 'runs/x', "
      "batch_size=123, netdepth=3)"))
  c = config_lib.load_config(_config_file(tmp_path, "var", (
      f"config_lib.variant({base!r}, method='mipnerf', layout='llff', "
      "train_dir='runs/y', max_steps=7)")))
  mip = config_lib.method_config("mipnerf")
  assert c.method == "mipnerf" and "ray_shape" in c
  # What the base set carries over; the layout's data fields replace the
  # base's scene; the rest are mipnerf's defaults.
  assert (c.batch_size, c.netdepth, c.data_dir) == (123, 3, "data/x")
  assert (c.dataset_type, c.near, c.far, c.factor) == ("llff", 0.0, 1.0, 4)
  assert (c.train_dir, c.max_steps) == ("runs/y", 7)
  assert c.lr_init == mip.lr_init
  assert list(c) == list(mip)  # the method's field order
  with pytest.raises(AttributeError):
    c.new_field = 1  # locked


@pytest.mark.parametrize("body,match", [
    ("config_lib.variant('demo', batch_sise=1)",
     r"var\.py: 'batch_sise' is not a field of method 'nerf'"),
    ("config_lib.new('nerf', 'blender', 'd', 't', hash_levels=4)",
     r"var\.py: 'hash_levels' is not a field of method 'nerf'"),
    ("config_lib.variant('demo', layout='lff')",
     r"var\.py: scene layout 'lff' is not one of blender, llff"),
    ("config_lib.variant('dmeo')", r"var\.py: --config: no config 'dmeo'"),
])
def test_a_config_files_mistake_is_one_line_naming_file_and_field(
    tmp_path, body, match):
  with pytest.raises(ConfigError, match=match):
    config_lib.load_config(_config_file(tmp_path, "var", body))
