"""Every flag of every command, given a bad value: exit status 1, exactly
one line on stderr that starts with `error:` and names the flag, no
traceback, and nothing created on disk (the run folder included).

The commands run in-process (`jaxnerf.commands.<name>.main(argv)`): each
bad value is refused before any work, so no trained run is needed and a
row takes milliseconds. The flags come from each command's own parser
(`flags()`, per subcommand for export.py): a new flag without a row here
fails `test_every_flag_has_a_row`.
"""

import argparse
import dataclasses
import importlib
import os
import subprocess
import sys
from typing import Callable, Optional

import pytest

from conftest import REPO_ROOT
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import UserError

CONFIG = os.path.join(REPO_ROOT, "tests", "configs", "tiny_ngp_sh.py")
COMMANDS = ("train", "eval", "bake", "view", "export", "localize",
            "process_data", "slam")
IMAP = os.path.join(REPO_ROOT, "tests", "configs", "tiny_imap.py")


def command(name):
  return importlib.import_module(f"jaxnerf.commands.{name}")


@dataclasses.dataclass(frozen=True)
class Paths:
  """What a row's arguments point at, under the test's tmp_path: `run` and
  `out` do not exist (and must not appear), `file` is a file, `folder` a
  folder, `photos` an empty folder; `photo` and `pose` exist; `site` is a
  folder with someone's index.html, `stem` the stem of someone's
  mesh.ply."""

  root: str

  def __getattr__(self, name):
    names = {"run": "run", "out": "out", "file": "file.txt",
             "folder": "folder", "photos": "photos", "photo": "photo.png",
             "pose": "pose.json", "missing": "missing", "site": "site",
             "stem": "mesh"}
    if name not in names:
      raise AttributeError(name)
    return os.path.join(self.root, names[name])

  def make(self):
    os.makedirs(self.folder)
    os.makedirs(self.photos)
    os.makedirs(self.site)
    for path in (self.file, self.photo, self.pose,
                 os.path.join(self.site, "index.html"), self.stem + ".ply"):
      with open(path, "w") as f:
        f.write("x")


def base(name: str, p: Paths, sub: Optional[str] = None) -> list[str]:
  """Valid arguments of command `name` (bad ones are appended: argparse
  and the config parser take the last of a repeated flag)."""
  config = [f"--config={CONFIG}", f"--config.train_dir={p.run}"]
  if name == "view":
    return config + ["--port=0"]
  if name == "export":
    return [sub] + config
  if name == "localize":
    return [f"--config={CONFIG}", "--train_dir", p.run, f"--image={p.photo}",
            f"--init_pose={p.pose}"]
  if name == "process_data":
    return [f"--images={p.photos}", f"--output={p.out}"]
  if name == "slam":
    return [f"--config={IMAP}", "--train_dir", p.run]
  return config


@dataclasses.dataclass(frozen=True)
class Row:
  """`command [sub] <valid arguments> <bad>` fails naming `says` (default:
  the flag)."""

  command: str
  flag: str  # the parser's option string (or the config flag's name)
  bad: Callable[[Paths], list[str]]
  says: tuple = ()
  sub: Optional[str] = None
  replace: bool = False  # `bad` is the whole argument list

  def argv(self, p: Paths) -> list[str]:
    bad = self.bad(p)
    args = bad if self.replace else base(self.command, p, self.sub) + bad
    return [f"{self.command}.py", *args]

  @property
  def id(self):
    name = self.command + (f"-{self.sub}" if self.sub else "")
    return f"{name}:{' '.join(self.bad(Paths('/t')))}"


def R(command, flag, *values, says=(), sub=None):
  """Rows `command [sub] ... flag=value` for each bad value."""
  return [Row(command, flag, lambda p, v=v: [f"{flag}={v}"], says, sub)
          for v in values]


def P(command, flag, path, says=(), sub=None):
  """A row whose bad value is a path of Paths (`path(p)`)."""
  return Row(command, flag, lambda p: [f"{flag}={path(p)}"], says, sub)


def config_rows(command):
  """--config rows (config parsing is shared: a few, not every field)."""
  return [
      Row(command, "--config", lambda p: ["--config=no_such_config",
                                          f"--config.train_dir={p.run}"],
          ("no config 'no_such_config'",), replace=True),
      Row(command, "--config", lambda p: ["--config.nope=1"],
          ("--config.nope", "unknown config field")),
      Row(command, "--config", lambda p: ["--config.batch_size=abc"],
          ("--config.batch_size=abc",)),
      Row(command, "--config", lambda p: ["--config.chunk=0"],
          ("config.chunk", ">= 1")),
      Row(command, "--config", lambda p: [f"--config.data_dir={p.missing}"],
          ("config.data_dir", "missing"))
      if command == "train" else
      Row(command, "--config", lambda p: [], ("config.train_dir",
                                              "no checkpoint")),
  ]


def config_rows_brief(command, sub=None):
  """An unknown field and a bad type, through a command's own flags."""
  return [Row(command, "--config", lambda p: ["--config.nope=1"],
              ("--config.nope", "unknown config field"), sub),
          Row(command, "--config", lambda p: ["--config.white_bkgd=maybe"],
              ("--config.white_bkgd",), sub)]


UNDER_FILE = lambda p: os.path.join(p.file, "x.out")

# A file at an output path that this program did not write is never
# replaced (files.SIGNATURE, or a baked scene's format).
NOT_OURS = ("was not written by jaxnerf",)

ROWS = [
    *config_rows("train"),
    Row("train", "--config", lambda p: ["--config.print_every=0"],
        ("config.print_every", ">= 1")),
    Row("train", "--config", lambda p: ["--config.lr_init=nan"],
        ("config.lr_init",)),
    Row("train", "--config", lambda p: ["--config.adam_b2=1"],
        ("config.adam_b2", "[0, 1)")),
    *config_rows("eval"),
    Row("eval", "--config", lambda p: ["--config.test_view_limit=-1"],
        ("config.test_view_limit", ">= 0")),
    # bake.py
    *config_rows_brief("bake"),
    *R("bake", "--resolution", "0", "abc", "8192"),
    *R("bake", "--block_size", "0", "x"),
    Row("bake", "--block_size", lambda p: ["--resolution=32",
                                           "--block_size=3"],
        ("multiple of --block_size",)),
    *R("bake", "--cull_threshold", "-0.1", "1", "nan"),
    *R("bake", "--sh_degree", "-1", "4", "1.5"),
    *R("bake", "--step_ratio", "0", "-0.5", "inf", "1e-9"),
    *R("bake", "--cull_ray_stride", "0", "-3"),
    *R("bake", "--cell_cull_threshold", "-0.1", "1", "nan"),
    *R("bake", "--density_threshold", "-1", "nan"),
    *R("bake", "--bound", "-1", "nan"),
    P("bake", "--out", UNDER_FILE, ("is a file, not a folder",)),
    P("bake", "--out", lambda p: p.folder, ("is a folder",)),
    P("bake", "--out", lambda p: p.file, NOT_OURS),
    P("bake", "--input", lambda p: p.missing, ("not found",)),
    P("bake", "--input", lambda p: p.file, ("--finetune_steps",)),
    *R("bake", "--finetune_steps", "-1"),
    *R("bake", "--finetune_lr", "0", "-1e-2"),
    *R("bake", "--finetune_batch_size", "0"),
    # view.py
    *config_rows_brief("view"),
    *R("view", "--port", "70000", "-1", "http"),
    *R("view", "--host", "192.0.2.1", "é..x"),
    # export.py
    *config_rows_brief("export", "pointcloud"),
    Row("export", "what", lambda p: ["nonsense"], ("invalid choice",),
        replace=True),
    Row("export", "what", lambda p: [f"--config={CONFIG}"],
        ("required",), replace=True),
    # A flag of another subcommand is refused, not ignored.
    Row("export", "what", lambda p: ["mesh", f"--config={CONFIG}",
                                     "--view_stride=2"],
        ("unrecognized arguments: --view_stride",), replace=True),
    P("export", "--out", UNDER_FILE, ("is a file, not a folder",),
      sub="mesh"),
    P("export", "--out", lambda p: p.stem, NOT_OURS, sub="mesh"),
    *R("export", "--resolution", "1", "x", "20000", sub="mesh"),
    *R("export", "--threshold", "nan", "dense", sub="mesh"),
    *R("export", "--bound", "-2", sub="mesh"),
    *R("export", "--frame", "camera", sub="mesh"),
    P("export", "--out", UNDER_FILE, ("is a file, not a folder",),
      sub="pointcloud"),
    P("export", "--out", lambda p: p.folder, ("is a folder",),
      sub="pointcloud"),
    P("export", "--out", lambda p: p.file, NOT_OURS, sub="pointcloud"),
    *R("export", "--view_stride", "0", sub="pointcloud"),
    *R("export", "--pixel_stride", "0", "2.5", sub="pointcloud"),
    *R("export", "--min_opacity", "1", "-0.1", "nan", sub="pointcloud"),
    *R("export", "--frame", "camera", sub="pointcloud"),
    P("export", "--out", lambda p: p.file, ("is a file, not a folder",),
      sub="webgl"),
    P("export", "--out", lambda p: os.path.join(p.file, "web"),
      ("is a file, not a folder",), sub="webgl"),
    P("export", "--out", lambda p: p.site, NOT_OURS, sub="webgl"),
    P("export", "--out", UNDER_FILE, ("is a file, not a folder",),
      sub="splat"),
    P("export", "--out", lambda p: p.folder, ("is a folder",), sub="splat"),
    P("export", "--out", lambda p: p.stem + ".ply", NOT_OURS, sub="splat"),
    *R("export", "--frame", "camera", sub="splat"),
    # localize.py
    *config_rows_brief("localize"),
    P("localize", "--image", lambda p: p.missing, ("not found",)),
    P("localize", "--image", lambda p: p.folder, ("is a folder",)),
    P("localize", "--init_pose", lambda p: p.missing, ("not found",)),
    *R("localize", "--sampling", "everywhere"),
    *R("localize", "--iterations", "0", "many"),
    *R("localize", "--batch_size", "0"),
    *R("localize", "--seed", "-1", str(2**40)),
    P("localize", "--output", UNDER_FILE, ("is a file, not a folder",)),
    P("localize", "--output", lambda p: p.folder, ("is a folder",)),
    P("localize", "--output", lambda p: p.file, NOT_OURS),
    Row("localize", "--train_dir", lambda p: ["--train_dir"],
        ("--train_dir", "expected one argument")),
    Row("localize", "--train_dir", lambda p: ["--train_dir", p.missing],
        ("train_dir", "no checkpoint")),
    # slam.py (its checks: jaxnerf/posing/slam.py, tests/test_slam.py)
    *config_rows_brief("slam"),
    Row("slam", "--train_dir", lambda p: ["--train_dir"],
        ("--train_dir", "expected one argument")),
    Row("slam", "--config", lambda p: [f"--config={CONFIG}"],
        ("config.method", "needs method 'imap'")),
    Row("slam", "--config", lambda p: ["--config.slam_mode=mono"],
        ("config.slam_mode", "unknown 'mono'")),
    Row("slam", "--config", lambda p: ["--config.slam_split=train"],
        ("config.slam_mode", "needs a depth map")),
    # process_data.py (its checks: jaxnerf/posing/pipeline.py)
    *R("process_data", "--overlap", "0", "-2"),
    *R("process_data", "--num_frames", "0"),
    *R("process_data", "--max_features", "0"),
    *R("process_data", "--max_image_size", "0"),
    *R("process_data", "--num_threads", "0", "-2", "two"),
    *R("process_data", "--camera_model", "FISHEYE_9000"),
    *R("process_data", "--matching", "psychic"),
    P("process_data", "--images", lambda p: p.missing),
    P("process_data", "--output", lambda p: p.file),
    Row("process_data", "--video", lambda p: [f"--video={p.missing}",
                                              f"--output={p.out}"],
        replace=True),
]


def listing(root):
  """Every path under root with its size (files) or None (folders)."""
  out = {}
  for folder, dirs, names in os.walk(root):
    for name in dirs:
      out[os.path.join(folder, name)] = None
    for name in names:
      path = os.path.join(folder, name)
      out[path] = os.path.getsize(path)
  return out


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_a_bad_flag_is_one_line_naming_it(row, tmp_path, capsys,
                                          monkeypatch):
  paths = Paths(str(tmp_path))
  paths.make()
  monkeypatch.chdir(tmp_path)  # a stray relative write shows up below
  before = listing(tmp_path)
  code = command(row.command).main(row.argv(paths))
  out, err = capsys.readouterr()
  assert code == 1, (out, err)
  assert "Traceback" not in out + err, err
  lines = err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err
  for fragment in row.says or (row.flag,):
    assert fragment in lines[0], lines[0]
  assert listing(tmp_path) == before  # nothing created, nothing changed
  assert not os.path.exists(paths.run) and not os.path.exists(paths.out)


def parsers() -> dict:
  """(command, subcommand or None) -> the option strings of its parser
  (positionals by name); commands without flags() have config flags
  only."""
  out = {}
  for name in COMMANDS:
    module = command(name)
    if not hasattr(module, "flags"):
      out[(name, None)] = {"--config"}
      continue
    todo = [(None, module.flags())]
    while todo:
      sub, parser = todo.pop()
      flags = set()
      # argparse has no public list of a parser's arguments.
      # pylint: disable=protected-access
      for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
          continue
        if isinstance(action, argparse._SubParsersAction):
          todo.extend(action.choices.items())
          flags.add(action.dest)
        else:
          flags.update([s for s in action.option_strings
                        if s.startswith("--")] or [action.dest])
      out[(name, sub)] = flags
  return out


def test_every_flag_has_a_row():
  have = {}
  for row in ROWS:
    have.setdefault((row.command, row.sub), set()).add(row.flag)
  for key, flags in parsers().items():
    rows = have.get(key, set()) - {"--config"}
    assert flags - {"--config"} <= rows, (
        f"{key}: flags without a bad-value row: {sorted(flags - rows)}")
    assert rows <= flags, f"{key}: rows of flags it lacks: {rows - flags}"
  # The config flags of every command that takes them.
  for name in COMMANDS:
    if name != "process_data":
      assert any(r.command == name and r.flag == "--config" for r in ROWS)


def test_a_bad_flag_from_the_shell(tmp_path):
  """The real entry (root script, huge-page re-exec, sys.argv)."""
  train_dir = tmp_path / "run"
  r = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "bake.py"),
       f"--config={CONFIG}", f"--config.train_dir={train_dir}",
       "--step_ratio", "0"], capture_output=True, text=True, timeout=120,
      cwd=tmp_path)
  assert r.returncode == 1, r.stderr
  assert r.stderr.splitlines() == [
      "error: bake.py: argument --step_ratio: expected a finite number > 0, "
      "got '0'"]
  assert os.listdir(tmp_path) == []


# One argument layer: the commands' config and script flags, and bench/.

BENCH = os.path.join(REPO_ROOT, "bench")
BENCH_SCRIPTS = sorted(f[:-3] for f in os.listdir(BENCH) if f.endswith(".py"))
# Arguments each bench script needs before a bad flag is the only error.
BENCH_ARGS = {
    "ablation": ["--variant", "base="],
    "bake_lego": [f"--config={CONFIG}"],
    "capture_end_to_end": ["--scene", "fern"],
    "derf_heads": [f"--config={CONFIG}"],
    "inerf_trials": [f"--config={CONFIG}"],
    "nerfw_liberty": ["--data", "photos"],
    "peer_jax_gs": [f"--config={CONFIG}", "--peer", "peer"],
    "probe_samples": [f"--config={CONFIG}"],
    "refactor_guard": ["compare", "a.json", "b.json"],
    "relight_table": ["--data", "data", "eval"],
    "semantic_nerf_picture": ["--run", "clean=run", "--out", "sheet.png"],
    "render_orbit": [f"--config={CONFIG}", "--out=orbit.gif"],
    "splat_render": [f"--config={CONFIG}"],
    "trace_summary": ["trace"],
}


def bench(name, monkeypatch):
  monkeypatch.syspath_prepend(BENCH)  # bench scripts import each other
  return importlib.import_module(name)


def test_the_huge_page_reexec_and_argv_live_in_the_entry_wrapper_only():
  for folder in ("bench", os.path.join("jaxnerf", "commands")):
    for name in os.listdir(os.path.join(REPO_ROOT, folder)):
      if not name.endswith(".py"):
        continue
      with open(os.path.join(REPO_ROOT, folder, name)) as f:
        text = f.read()
      for what in ("reexec_with_huge_pages", "sys.argv", "ArgumentParser(",
                   "parse_args(", "--override"):
        assert what not in text, (folder, name, what)


@pytest.mark.parametrize("name", BENCH_SCRIPTS)
def test_every_bench_script_runs_through_cli_main(name, tmp_path, capsys,
                                                  monkeypatch):
  module = bench(name, monkeypatch)
  monkeypatch.chdir(tmp_path)
  script = f"bench/{name}.py"
  with pytest.raises(SystemExit) as e:
    module.main([script, "--help"])
  assert e.value.code == 0
  out, _ = capsys.readouterr()
  assert out.startswith(f"usage: {script}"), out[:200]
  # An unknown flag (and an abbreviation) is one line naming it, before
  # any work: nothing is written.
  for bad in ("--nope=1", "--hel"):
    code = module.main([script, *BENCH_ARGS.get(name, []), bad])
    _, err = capsys.readouterr()
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert bad in err, err
  assert os.listdir(tmp_path) == []


def test_bench_config_overrides_apply_to_every_config(monkeypatch):
  from jaxnerf.engine import cli
  qvt = bench("quality_vs_time", monkeypatch)
  overrides, args = cli.parse(
      ["q", "--configs", "demo", "instant_ngp_demo@1,2", "--config.chunk",
       "512", "--data_dir", "/data/x", "--noconfig.randomized"],
      qvt.flags(), cli.EACH)
  assert args.configs == ["demo", "instant_ngp_demo@1,2"]
  # Passed on as given (bench/nerfw_*.py hand them to train.py).
  assert overrides.args == ("--config.chunk", "512", "--noconfig.randomized")
  demo, ngp = qvt.load(overrides, args.configs)
  for c in (demo, ngp):
    assert (c.chunk, c.data_dir, c.randomized) == (512, "/data/x", False)
  assert (demo.method, ngp.method) == ("nerf", "instant_ngp")
  assert ngp.batch_size == config_lib.load_config(
      "instant_ngp_demo").batch_size
  # ablation.py's variants: more --config.FIELD=VALUE on top.
  assert overrides.load("demo", "--config.chunk=64").chunk == 64
  # Its configs are the script's: a --config would silently replace them.
  with pytest.raises(UserError, match="--config: this script names its"):
    cli.parse(["q", "--configs", "demo", "--config=llff_demo"], qvt.flags(),
              cli.EACH)


def test_config_flags_know_booleans_in_the_split():
  from jaxnerf.engine import cli
  export = command("export")
  # A bare boolean --config flag takes no value: the subcommand and the
  # script's own flags around it stay the script's.
  config, args = cli.parse(
      ["export.py", "--config", CONFIG, "--config.render_baked", "mesh",
       "--resolution", "64", "--config.chunk", "128"], export.flags())
  assert config.render_baked is True and config.chunk == 128
  assert (args.what, args.resolution) == ("mesh", 64)


def test_localize_train_dir_is_the_config_field():
  from jaxnerf.engine import cli
  localize = command("localize")
  base = [f"--config={CONFIG}", "--image=p.png", "--init_pose=p.json"]
  for argv in (["--train_dir", "runs/a"], ["--train_dir=runs/a"],
               ["--train_dir", "runs/a", "--config.train_dir=runs/b"]):
    config, args = cli.parse(["localize.py", *base, *argv],
                             localize.flags())
    assert config.train_dir == "runs/a"  # --train_dir, given, wins
  config, _ = cli.parse(["localize.py", *base], localize.flags())
  assert config.train_dir == config_lib.load_config(CONFIG).train_dir


@pytest.mark.parametrize("name,argv,says", [
    ("view", ["--config=demo", "--por=0"], "unrecognized arguments: --por=0"),
    ("bake", ["--config=demo", "--resol", "64"],
     "unrecognized arguments: --resol 64"),
    ("process_data", ["--imag", "photos", "--output", "out"],
     "one of the arguments --images --video is required"),
    ("train", ["--conf=demo"], "unrecognized arguments: --conf=demo"),
    ("train", ["--config.batch_size=2"], "--config is required"),
])
def test_abbreviations_are_refused_everywhere(name, argv, says, capsys):
  assert command(name).main([f"{name}.py", *argv]) == 1
  _, err = capsys.readouterr()
  assert err.count("\n") == 1 and says in err, err
