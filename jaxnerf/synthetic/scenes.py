"""Scene specifications: Blender primitives with procedural materials,
as JSON-ready records drawn from a seed (the dataset's scene.json keeps
the record it was rendered from).

A shape: {"name", "primitive" (one of PRIMITIVES), "location",
"rotation_deg" (XYZ Euler), "scale" (per axis), "material", "index" (the
object index pass and label, >= 1), optional "motion": {"location",
"rotation_deg"} at time 1 (linear in time from the rest pose at 0)}.

A material: a Principled BSDF whose base colour runs between
"base_color" and "second_color" and whose roughness between "roughness"
and "second_roughness" by a procedural "texture" (one of TEXTURES; "plain"
is "base_color"/"roughness" everywhere) at "texture_scale" in the
object's own coordinates (so the pattern moves with the object), and
"metallic".

Units follow the NeRF Blender scenes: objects within a few units of the
origin, cameras about 4 away, +z up.
"""

from __future__ import annotations

import numpy as np

PRIMITIVES = ("sphere", "icosphere", "cube", "cylinder", "cone", "torus",
              "monkey", "plane")
TEXTURES = ("plain", "checker", "noise", "voronoi", "wave")
# Half the height of each primitive at unit scale (Blender's defaults:
# radius 1, size 2, depth 2; the torus' minor radius 0.25; Suzanne's
# bounding box), to rest a shape on the ground.
HALF_HEIGHT = {"sphere": 1.0, "icosphere": 1.0, "cube": 1.0,
               "cylinder": 1.0, "cone": 1.0, "torus": 0.25,
               "monkey": 0.98, "plane": 0.0}
# Half the width in the ground plane at unit scale.
HALF_WIDTH = {"sphere": 1.0, "icosphere": 1.0, "cube": 1.42,
              "cylinder": 1.0, "cone": 1.0, "torus": 1.25, "monkey": 1.37,
              "plane": 1.0}


def _colour(rng: np.random.Generator, low: float = 0.05,
            high: float = 0.9) -> list[float]:
  """A linear RGB albedo in [low, high] from a random hue, saturation and
  value (HSV to RGB)."""
  hue, sat, val = rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.4, 1)
  rgb = val * (1 - sat + sat * np.clip(
      np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1))
  return [float(c) for c in low + (high - low) * rgb]


def material(rng: np.random.Generator, texture: str = None,
             metallic: float = None) -> dict:
  """A random material; `texture`/`metallic` fix those draws."""
  texture = texture or str(rng.choice(TEXTURES[1:]))
  rough = float(rng.uniform(0.15, 0.8))
  return {"base_color": _colour(rng), "second_color": _colour(rng),
          "texture": texture, "texture_scale": float(rng.uniform(2.0, 6.0)),
          "roughness": rough,
          "second_roughness": float(np.clip(rough + rng.uniform(-0.3, 0.3),
                                            0.1, 0.9)),
          "metallic": float(rng.uniform() < 0.25 if metallic is None
                            else metallic)}


def shape(name: str, primitive: str, index: int, material_: dict,
          location=(0.0, 0.0, 0.0), rotation_deg=(0.0, 0.0, 0.0),
          scale=(1.0, 1.0, 1.0), motion=None) -> dict:
  if primitive not in PRIMITIVES:
    raise ValueError(f"shape {name!r}: unknown primitive {primitive!r}; "
                     f"one of {', '.join(PRIMITIVES)}")
  record = {"name": name, "primitive": primitive, "index": int(index),
            "material": material_,
            "location": [float(v) for v in location],
            "rotation_deg": [float(v) for v in rotation_deg],
            "scale": [float(v) for v in np.broadcast_to(scale, 3)]}
  if motion is not None:
    record["motion"] = {k: [float(v) for v in motion[k]]
                        for k in ("location", "rotation_deg")}
  return record


def resting(primitive: str, size: float, x: float, y: float,
            turn_deg: float = 0.0) -> dict:
  """location/rotation/scale of a shape of `size` standing on z = 0 (an
  Suzanne stands upright facing -y before the turn)."""
  return {"location": (x, y, size * HALF_HEIGHT[primitive]),
          "rotation_deg": (0.0, 0.0, turn_deg), "scale": size}


def trio(rng: np.random.Generator) -> dict:
  """One object of three touching parts (labels 1-3): a textured Suzanne
  on a low cylinder, a metal sphere against it. Concave and in contact,
  so it shadows itself under any light but a collocated one."""
  shapes = [
      shape("pedestal", "cylinder", 1, material(rng, "checker", 0.0),
            location=(0.0, 0.0, -0.9), scale=(1.1, 1.1, 0.15)),
      shape("head", "monkey", 2, material(rng, "noise", 0.0),
            **dict(resting("monkey", 0.9, 0.0, 0.0, rng.uniform(-40, 40)),
                   location=(0.0, 0.0, 0.9 * HALF_HEIGHT["monkey"] - 0.75))),
      shape("ball", "sphere", 3, material(rng, "plain", 1.0),
            location=(0.75, -0.55, -0.45), scale=0.3)]
  shapes[2]["material"]["roughness"] = 0.25
  shapes[2]["material"]["second_roughness"] = 0.25
  return {"name": "trio", "shapes": shapes, "ground": False,
          "target": [0.0, 0.0, 0.0], "radius": 4.0}


def tabletop(rng: np.random.Generator, count: int = 5,
             moving: int = 0) -> dict:
  """`count` random primitives standing apart on a 5 x 5 textured ground
  plane (label 1); the first `moving` of them slide and turn by time 1."""
  kinds = ("sphere", "icosphere", "cube", "cylinder", "cone", "torus",
           "monkey")
  slots = [(x, y) for x in (-1.2, 0.0, 1.2) for y in (-1.2, 0.0, 1.2)]
  order = rng.permutation(len(slots))[:count]
  shapes = [shape("ground", "plane", 1, material(rng, "checker", 0.0),
                  scale=2.5)]
  shapes[0]["material"].update(roughness=0.6, second_roughness=0.8)
  for k, slot in enumerate(order):
    primitive = str(rng.choice(kinds))
    size = float(rng.uniform(0.3, 0.45))
    x, y = (np.asarray(slots[slot]) + rng.uniform(-0.15, 0.15, 2))
    pose = resting(primitive, size, x, y, rng.uniform(0, 360))
    motion = None
    if k < moving:
      step = rng.normal(size=2)
      step = 0.3 * step / np.linalg.norm(step)
      motion = {"location": (x + step[0], y + step[1],
                             pose["location"][2]),
                "rotation_deg": np.add(pose["rotation_deg"], (0, 0, 45))}
    shapes.append(shape(f"{primitive}_{k}", primitive, k + 2,
                        material(rng), motion=motion, **pose))
  return {"name": "tabletop", "shapes": shapes, "ground": True,
          "target": [0.0, 0.0, 0.3], "radius": 4.0}


def room(rng: np.random.Generator, count: int = 4) -> dict:
  """A closed 6 x 6 x 3 room (floor, four walls and a ceiling; labels
  1-3) with `count` primitives on its floor; lit by point lights inside
  it (an environment cannot reach in)."""
  def wall(name, index, location, rotation_deg, scale):
    mat = material(rng, "noise", 0.0)
    mat.update(roughness=0.8, second_roughness=0.9)
    return shape(name, "plane", index, mat, location, rotation_deg, scale)
  shapes = [wall("floor", 1, (0, 0, 0), (0, 0, 0), 3.0),
            wall("ceiling", 2, (0, 0, 3), (180, 0, 0), 3.0)]
  for k, (loc, rot) in enumerate([((0, 3, 1.5), (90, 0, 0)),
                                  ((0, -3, 1.5), (-90, 0, 0)),
                                  ((3, 0, 1.5), (0, -90, 0)),
                                  ((-3, 0, 1.5), (0, 90, 0))]):
    shapes.append(wall(f"wall_{k}", 3, loc, rot, (3.0, 1.5, 1.0) if k < 2
                       else (1.5, 3.0, 1.0)))
  top = tabletop(rng, count)
  shapes += [dict(s, index=s["index"] + 2) for s in top["shapes"][1:]]
  return {"name": "room", "shapes": shapes, "ground": True,
          "target": [0.0, 0.0, 0.6], "radius": 2.2}


RECIPES = {"trio": trio, "tabletop": tabletop, "room": room}
