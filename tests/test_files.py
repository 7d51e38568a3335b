"""jaxnerf/files.py: atomic writes (a failure or a kill leaves the old file
or none, never a prefix), stale temporaries cleared, the folder marker."""

import json
import os
import signal
import subprocess
import sys

import pytest

from jaxnerf import files


def _names(folder):
  return sorted(os.listdir(folder))


def test_atomic_open_survives_an_exception(tmp_path):
  path = str(tmp_path / "scene.json")
  files.write_json(path, {"version": 1})
  with pytest.raises(RuntimeError, match="disk gone"):
    with files.atomic_open(path) as f:
      f.write('{"version": 2, "half')
      raise RuntimeError("disk gone")
  assert json.load(open(path)) == {"version": 1}  # the old file, whole
  assert _names(tmp_path) == ["scene.json"]  # no temporary left
  # A first write that fails leaves nothing at all.
  with pytest.raises(KeyError):
    with files.atomic_open(str(tmp_path / "new.bin"), "wb") as f:
      f.write(b"\x00" * 10)
      raise KeyError("x")
  assert _names(tmp_path) == ["scene.json"]
  with pytest.raises(ValueError, match="mode 'a'"):
    with files.atomic_open(path, "a"):
      pass


def test_atomic_path_keeps_the_suffix_and_replaces(tmp_path):
  path = str(tmp_path / "baked.npz")
  for value in (1, 2):
    with files.atomic_path(path, suffix=".npz") as tmp:
      assert tmp.endswith(".npz") and os.path.basename(tmp).startswith(
          ".tmp-baked.npz.")
      assert os.path.dirname(tmp) == str(tmp_path)  # same file system
      with open(tmp, "w") as f:
        f.write(str(value))
  assert open(path).read() == "2" and _names(tmp_path) == ["baked.npz"]


def test_a_killed_write_leaves_the_old_file_and_the_next_clears_it(tmp_path):
  """SIGKILL in the middle of a write: the final name keeps the previous
  content; the temporary left behind goes with the next write of that
  name, not with another name's."""
  path = str(tmp_path / "report.json")
  files.write_json(path, {"run": 1})
  other = tmp_path / ".tmp-other.json.abc"
  other.write_text("someone else's temporary")
  script = (
      "import os, signal, sys\n"
      "from jaxnerf import files\n"
      "with files.atomic_open(sys.argv[1]) as f:\n"
      "  f.write('{\"run\": 2, ' * 1000)\n"
      "  f.flush()\n"
      "  os.kill(os.getpid(), signal.SIGKILL)\n")
  result = subprocess.run([sys.executable, "-c", script, path],
                          capture_output=True, timeout=60)
  assert result.returncode == -signal.SIGKILL
  assert json.load(open(path)) == {"run": 1}
  stale = [n for n in _names(tmp_path) if n.startswith(".tmp-report.json.")]
  assert len(stale) == 1
  assert os.path.getsize(tmp_path / stale[0]) > 0  # the half-written one
  (tmp_path / ".tmp-report.json.dir").mkdir()  # a killed atomic_dir's
  (tmp_path / ".tmp-report.json.dir" / "x").write_text("x")
  files.write_json(path, {"run": 3})
  assert json.load(open(path)) == {"run": 3}
  assert _names(tmp_path) == [".tmp-other.json.abc", "report.json"]


def test_temporaries_get_ordinary_permissions(tmp_path):
  old = os.umask(0o027)
  try:
    files.write_json(str(tmp_path / "a.json"), [])
    with files.atomic_dir(str(tmp_path / "d")):
      pass
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o640
  assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o750


def test_atomic_dir(tmp_path):
  final = str(tmp_path / "images_2")
  with files.atomic_dir(final) as tmp:
    assert not os.path.exists(final)  # nothing under the final name yet
    with open(os.path.join(tmp, "a.png"), "w") as f:
      f.write("a")
  assert _names(final) == ["a.png"] and _names(tmp_path) == ["images_2"]
  # An exception removes the half-filled folder; the old one stays.
  with pytest.raises(OSError, match="full"):
    with files.atomic_dir(str(tmp_path / "images_4")) as tmp:
      open(os.path.join(tmp, "b.png"), "w").close()
      raise OSError("full")
  assert _names(tmp_path) == ["images_2"]
  # Never merged into or replacing an existing folder.
  with pytest.raises(FileExistsError, match="images_2: exists"):
    with files.atomic_dir(final) as tmp:
      open(os.path.join(tmp, "c.png"), "w").close()
  assert _names(final) == ["a.png"] and _names(tmp_path) == ["images_2"]


def test_marker(tmp_path):
  folder = str(tmp_path)
  assert files.read_mark(folder) is None
  files.mark(folder, "process_data.py", outputs={"images": {}})
  assert files.read_mark(folder) == {"written_by": "process_data.py",
                                     "outputs": {"images": {}}}
  files.mark(folder, "bake.py")  # replaced whole
  assert files.read_mark(folder) == {"written_by": "bake.py"}
  marker = tmp_path / files.MARKER
  for text in ("not json", "[1, 2]", '{"outputs": {}}', '{"written_by": 3}'):
    marker.write_text(text)
    with pytest.raises(ValueError):
      files.read_mark(folder)
  marker.write_bytes(b"\xff\xfe")
  with pytest.raises(ValueError):  # UnicodeDecodeError
    files.read_mark(folder)
  marker.unlink()
  marker.mkdir()
  with pytest.raises(ValueError, match="not a marker file"):
    files.read_mark(folder)
