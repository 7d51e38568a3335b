"""The datasets the generator makes, as plans: a scene record, the image
size and field of view, and per split the views (camera-to-world, light,
and for animated scenes the frame's time). A plan is plain JSON-ready
data drawn from a seed, so the same command gives the same dataset.

  relight     NRF/NeRV's setting: one object (`scenes.trio`); training
              and validation views lit by a flash at the camera, test
              views under point lights elsewhere and under environments;
              ground-truth maps on the validation and test views.
  collection  NeRD's setting: the same object, every image under its own
              environment (skies and gradients, suns at random); maps
              on the test views.
  tabletop    objects on a ground plane under one sky, a continuous
              handheld path of frames (with optical flow) for training,
              hemisphere views for testing and frames between the
              training frames on the same path for validation; labels
              and depth.
  room        a closed room lit by two point lights, a handheld path
              inside it.
  tiny        a 16 x 16 check of every output: the tabletop with moving
              objects along a short path, flash-lit.
"""

from __future__ import annotations

import math

import numpy as np

from jaxnerf.synthetic import lights, paths, scenes

NAMES = ("relight", "collection", "tabletop", "room", "tiny")
CAMERA_ANGLE_X = 0.6911112070083618  # the NeRF Blender scenes' field of view
# A flash's power so that a white diffuse surface facing it from the
# cameras' distance (4) renders near 1 (radiance = albedo P / (4 pi^2 d^2)).
FLASH_POWER = 4.0 * math.pi ** 2 * 16.0


def random_environment(rng: np.random.Generator) -> dict:
  """A sky with its sun somewhere, or a coloured gradient with a bright
  spot (both cast shadows)."""
  sun = (rng.uniform(0, 360), rng.uniform(15, 60))
  if rng.uniform() < 0.5:
    return lights.sky(*sun, strength=rng.uniform(0.2, 0.35),
                      sun_strength=rng.uniform(20.0, 40.0))
  zenith, horizon = scenes._colour(rng, 0.2, 1.0), scenes._colour(rng, 0.2,
                                                                  1.0)
  return lights.gradient(zenith, horizon, ground=[0.1, 0.1, 0.1],
                         strength=rng.uniform(0.6, 1.0),
                         spot_=lights.spot(*sun, rng.uniform(20.0, 40.0)))


def _views(c2ws, light_of, time_of=None):
  """Frame records; `light_of(i)` is a light record or a list of them."""
  def as_list(light):
    return light if isinstance(light, list) else [light]
  return [{"transform_matrix": c.tolist(), "lights": as_list(light_of(i)),
           **({} if time_of is None else {"time": time_of(i)})}
          for i, c in enumerate(c2ws)]


def plan(name: str, seed: int = 0, size: int = 100,
         views: int = None) -> dict:
  """The plan of dataset `name` (one of NAMES) at `size` x `size` pixels;
  `views` scales each split's count down (for quick checks).

  Raises:
    ValueError: an unknown name.
  """
  if name not in NAMES:
    raise ValueError(f"unknown dataset {name!r}; one of {', '.join(NAMES)}")
  rng = np.random.default_rng(seed)
  def count(n):
    return n if views is None else max(1, min(n, views))
  flash = lights.collocated(FLASH_POWER)
  frames = None
  if name in ("relight", "collection"):
    scene = scenes.trio(rng)
    radius, target = scene["radius"], scene["target"]
    if name == "relight":
      far_lights = [lights.point(p, FLASH_POWER * 1.5) for p in
                    paths.spherical(4.5, rng.uniform(0, 2 * np.pi, 3),
                                    np.radians(rng.uniform(10, 70, 3)))]
      envs = [random_environment(rng) for _ in range(3)]
      novel = far_lights + envs
      n_test = count(30)
      splits = {
          "train": _views(paths.hemisphere(count(100), radius, rng,
                                           target=target), lambda i: flash),
          "val": _views(paths.hemisphere(count(10), radius, rng,
                                         target=target), lambda i: flash),
          "test": _views(paths.hemisphere(n_test, radius, rng,
                                          target=target),
                         lambda i: novel[i * len(novel) // n_test])}
    else:
      envs = [random_environment(rng) for _ in range(count(60) + count(15))]
      splits = {
          "train": _views(paths.hemisphere(count(60), radius, rng,
                                           target=target),
                          lambda i: envs[i]),
          "test": _views(paths.hemisphere(count(15), radius, rng,
                                          target=target),
                         lambda i: envs[count(60) + i])}
  elif name in ("tabletop", "tiny"):
    tiny = name == "tiny"
    scene = scenes.tabletop(rng, count=3 if tiny else 5,
                            moving=2 if tiny else 0)
    radius, target = scene["radius"], scene["target"]
    light = flash if tiny else lights.sky(120.0, 35.0, strength=0.25)
    n = count(4 if tiny else 100)
    sweep = 20.0 if tiny else 360.0
    path = paths.handheld_path(rng, radius, 30.0, target, sweep_deg=sweep)
    track = path(np.linspace(0.0, 1.0, n))
    frames = n
    time_of = (lambda i: i / max(n - 1, 1)) if tiny else None
    # The tiny check sees every kind of light: the flash on its path, a
    # point light and an environment on its two test views.
    test_lights = ([lights.point((2.0, -2.0, 3.0), FLASH_POWER),
                    lights.gradient([0.2, 0.4, 1.0], [1.0, 0.8, 0.6],
                                    [0.1, 0.1, 0.1], 0.8,
                                    lights.spot(60.0, 40.0, 30.0))]
                   if tiny else [light])
    n_test = count(2 if tiny else 20)
    splits = {"train": _views(track, lambda i: light, time_of),
              "test": _views(paths.hemisphere(n_test, radius, rng, 20.0,
                                              target),
                             lambda i: test_lights[i % len(test_lights)],
                             (lambda i: 0.5) if tiny else None)}
    if not tiny:
      # Held-out frames on the path, between training frames, as
      # Semantic-NeRF's (the test views above look down on the table,
      # which the path never does). Drawing nothing, they leave train
      # and test as they were.
      splits["val"] = _views(path(paths.between(n, count(20))),
                             lambda i: light)
    if tiny:
      size = min(size, 16)
  else:  # room
    scene = scenes.room(rng)
    lamp = [lights.point((1.5, 1.5, 2.6), 400.0),
            lights.point((-1.5, -1.0, 2.6), 300.0, (1.0, 0.85, 0.7))]
    n = count(100)
    track = paths.handheld(n, rng, scene["radius"], 10.0, scene["target"],
                           radius_jitter=0.05, elevation_jitter_deg=4.0)
    frames = n
    splits = {"train": _views(track, lambda i: lamp),
              "test": _views(paths.handheld(count(20), rng, 2.0, 15.0,
                                            scene["target"]),
                             lambda i: lamp)}
  # The relighting sets' training views need only their images and
  # lights; their maps would double the data's size.
  truth = (("val", "test") if name in ("relight", "collection")
           else tuple(splits))
  return {"name": name, "seed": seed, "width": size, "height": size,
          "camera_angle_x": CAMERA_ANGLE_X, "scene": scene,
          "splits": splits, "ground_truth_splits": truth,
          # Frames of the first split form one continuous animation (the
          # camera keyed per frame): optical flow between them.
          "path_split": "train" if frames else None}
