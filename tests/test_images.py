"""Tests for jaxnerf.data.images."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest

from jaxnerf.data import images

# ffmpeg runs as a subprocess; JAX (imported by other test modules) warns
# about any fork, which is harmless here since the child execs at once.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


def _lut_index(rgb: np.ndarray) -> np.ndarray:
  """Nearest TURBO_LUT entry of each colour: [..., 3] -> [...] int."""
  d = np.sum((rgb[..., None, :] - images.TURBO_LUT) ** 2, axis=-1)
  return np.argmin(d, axis=-1)


def test_to_uint8_clips_and_rounds():
  x = np.array([-0.5, 0.0, 0.6 / 255, 0.5, 1.0, 2.0, np.nan])
  np.testing.assert_array_equal(images.to_uint8(x), [0, 0, 1, 128, 255, 255, 0])
  u = np.arange(256, dtype=np.uint8)
  assert images.to_uint8(u) is u


@pytest.mark.parametrize("shape", [(7, 9, 3), (7, 9)])
def test_save_image_png_round_trip(tmp_path, shape):
  img = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
  path = images.save_image(tmp_path / "sub" / "img.png", img)
  back = imageio.imread(path)
  assert back.dtype == np.uint8 and back.shape == shape
  np.testing.assert_array_equal(back, images.to_uint8(img))
  assert np.max(np.abs(back / 255.0 - img)) <= 0.5 / 255 + 1e-7


def test_turbo_lut_endpoints():
  lut = images.TURBO_LUT
  assert lut.shape == (256, 3) and lut.dtype == np.float32
  assert lut.min() >= 0 and lut.max() <= 1
  # Turbo runs dark -> blue -> green -> yellow/orange -> dark red. Reference
  # LUT ends are (0.19, 0.07, 0.23) and (0.48, 0.02, 0.01); the published
  # polynomial fit is off by up to ~0.13 there.
  np.testing.assert_allclose(lut[0], [0.19, 0.07, 0.23], atol=0.13)
  np.testing.assert_allclose(lut[-1], [0.48, 0.02, 0.01], atol=0.13)
  assert lut[0].max() < 0.2 and lut[-1].sum() < 0.7  # both ends dark
  assert np.argmax(lut[35]) == 2  # blue
  assert np.argmax(lut[128]) == 1  # green
  assert np.argmax(lut[192]) == 0 and np.argmax(lut[-1]) == 0  # red
  # Consecutive entries are distinct, so a colour identifies its index.
  assert np.all(np.linalg.norm(np.diff(lut, axis=0), axis=-1) > 0)


def test_colorize_depth_endpoints_and_monotone():
  depth = np.linspace(2.0, 6.0, 50)[None, :].repeat(3, axis=0)  # [3, 50]
  rgb = images.colorize_depth(depth, near=2.0, far=6.0)
  assert rgb.shape == (3, 50, 3) and rgb.dtype == np.float32
  np.testing.assert_array_equal(rgb[:, 0], images.TURBO_LUT[[0] * 3])
  np.testing.assert_array_equal(rgb[:, -1], images.TURBO_LUT[[-1] * 3])
  idx = _lut_index(rgb[0])
  assert np.all(np.diff(idx) > 0)  # strictly increasing with depth
  # Out of [near, far] clips to the ends.
  clipped = images.colorize_depth(np.array([[0.0, 100.0]]), near=2.0, far=6.0)
  np.testing.assert_array_equal(_lut_index(clipped[0]), [0, 255])


def test_colorize_depth_percentile_range():
  depth = np.linspace(0.0, 1.0, 101)[None, :]  # [1, 101]
  depth[0, 50] = 1e6  # a far outlier barely moves the 99th percentile
  rgb = images.colorize_depth(depth)
  idx = _lut_index(rgb[0])
  assert idx[0] == 0 and idx[-1] == 255
  assert 100 < idx[49] < 140  # mid depth maps near the middle of the LUT
  assert np.all(np.diff(np.delete(idx, 50)) >= 0)


def test_colorize_depth_background_white():
  depth = np.linspace(1.0, 2.0, 64).reshape(8, 8)
  acc = np.ones((8, 8))
  acc[:, :4] = 0.2  # left half is background
  depth_bg = depth.copy()
  depth_bg[:, :4] = 1000.0  # background depth must not affect the range
  rgb = images.colorize_depth(depth_bg, acc)
  np.testing.assert_array_equal(rgb[:, :4], 1.0)
  idx = _lut_index(rgb[:, 4:].reshape(-1, 3))
  assert idx.min() <= 3 and idx.max() >= 252  # range from foreground only
  # Non-finite depth is background too.
  depth_nan = depth.copy()
  depth_nan[0, 0] = np.nan
  np.testing.assert_array_equal(images.colorize_depth(depth_nan)[0, 0], 1.0)


def test_write_video_mp4(tmp_path):
  t = np.linspace(0, 1, 10)
  frames = [np.full((100, 100, 3), v, np.float32) for v in t]
  frames[3][20:40, 30:60] = [1.0, 0.0, 0.0]
  path = images.write_video(tmp_path / "video.mp4", frames, fps=30)
  assert path.endswith(".mp4")
  reader = imageio.get_reader(path, format="FFMPEG")
  try:
    back = np.stack([f for f in reader.iter_data()])
  finally:
    reader.close()
  assert back.shape == (10, 100, 100, 3)
  # Lossy, but flat frames come back close to their values.
  np.testing.assert_allclose(back[:, 50, 5, 0] / 255.0, t, atol=0.03)


def test_write_video_odd_size(tmp_path):
  frames = np.random.default_rng(0).uniform(size=(4, 33, 21, 3))
  path = images.write_video(tmp_path / "odd", frames, fps=10)
  reader = imageio.get_reader(path, format="FFMPEG")
  try:
    back = np.stack([f for f in reader.iter_data()])
  finally:
    reader.close()
  assert back.shape == (4, 34, 22, 3)  # edge-padded to even


@pytest.mark.parametrize("what", ["exe", "writer"])
def test_write_video_gif_fallback(tmp_path, monkeypatch, capsys, what):
  if what == "exe":
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top

    def no_ffmpeg():
      raise RuntimeError("No ffmpeg exe could be found.")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_ffmpeg)
  else:

    def broken_writer(*args, **kwargs):
      raise OSError("ffmpeg writer failed")

    monkeypatch.setattr(images.imageio, "get_writer", broken_writer)
  frames = [np.full((100, 100), v, np.float32) for v in np.linspace(0, 1, 10)]
  path = images.write_video(tmp_path / "video.mp4", frames, fps=30)
  assert path == str(tmp_path / "video.gif")
  assert not (tmp_path / "video.mp4").exists()
  assert "WARNING" in capsys.readouterr().out
  back = imageio.mimread(path)
  assert len(back) == 10
  assert back[0].shape[:2] == (100, 100)
