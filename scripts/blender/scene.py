"""Builds and renders a plan's scene (`jaxnerf.synthetic.plans`) with
Blender's Cycles on the CPU.

Runs only inside Blender's Python module (`bpy`, requirements-blender.txt,
its own virtual environment), so it lives beside the script, not in the
package.

Each view is rendered twice: the image (Cycles' path tracer, `samples` a
pixel, Blender's default 1.5 px filter, OpenImageDenoise, the Standard view
transform so that the PNG is the sRGB encoding of the radiance) and the
ground truth (one ray through each pixel centre, no filter, no denoiser:
depth, normal, object index, motion vectors, and the material's base
colour, roughness and metallic through shader AOVs). Both are
deterministic: Cycles' sampling pattern is fixed by the seed.

Shapes get a Triangulate modifier last, so the triangles Cycles intersects
are the triangles of the exported mesh.
"""

from __future__ import annotations

import glob
import math
import os
import tempfile

import bpy  # pylint: disable=import-error
import numpy as np
from mathutils import Matrix  # pylint: disable=import-error

from jaxnerf.synthetic import lights

AOVS = (("albedo", "COLOR"), ("roughness", "VALUE"), ("metallic", "VALUE"))
DATA_PASSES = ("Depth", "Normal", "IndexOB", "Vector", "albedo", "roughness",
               "metallic")


def reset() -> None:
  bpy.ops.wm.read_factory_settings(use_empty=True)


def configure(width: int, height: int, samples: int, seed: int,
              threads: int = 0) -> None:
  """Cycles on the CPU at width x height, transparent film, Standard view
  transform, the data passes and AOVs declared."""
  scene = bpy.context.scene
  scene.render.engine = "CYCLES"
  scene.cycles.device = "CPU"
  scene.cycles.samples = samples
  scene.cycles.seed = seed
  scene.cycles.use_animated_seed = False
  scene.cycles.use_adaptive_sampling = False
  scene.cycles.denoiser = "OPENIMAGEDENOISE"
  scene.render.resolution_x, scene.render.resolution_y = width, height
  scene.render.resolution_percentage = 100
  scene.render.film_transparent = True
  scene.render.use_motion_blur = False
  scene.render.threads_mode = "FIXED" if threads else "AUTO"
  if threads:
    scene.render.threads = threads
  scene.view_settings.view_transform = "Standard"
  scene.view_settings.look = "None"
  scene.view_settings.exposure = 0.0
  scene.view_settings.gamma = 1.0
  scene.display_settings.display_device = "sRGB"
  settings = scene.render.image_settings
  settings.file_format, settings.color_mode = "PNG", "RGBA"
  settings.color_depth = "8"
  layer = scene.view_layers[0]
  for name, kind in AOVS:
    aov = layer.aovs.add()
    aov.name, aov.type = name, kind
  world = bpy.data.worlds.new("world")
  world.use_nodes = True
  scene.world = world


def _texture_factor(nodes, links, material: dict):
  """The texture's 0..1 factor output in the object's coordinates (None
  for a plain material)."""
  kind = material["texture"]
  if kind == "plain":
    return None
  coords = nodes.new("ShaderNodeTexCoord")
  node = nodes.new({"checker": "ShaderNodeTexChecker",
                    "noise": "ShaderNodeTexNoise",
                    "voronoi": "ShaderNodeTexVoronoi",
                    "wave": "ShaderNodeTexWave"}[kind])
  node.inputs["Scale"].default_value = material["texture_scale"]
  links.new(coords.outputs["Object"], node.inputs["Vector"])
  if kind == "checker":
    node.inputs["Color1"].default_value = (1, 1, 1, 1)
    node.inputs["Color2"].default_value = (0, 0, 0, 1)
    return node.outputs["Fac"]
  if kind == "voronoi":
    return node.outputs["Distance"]
  return node.outputs["Fac"]


def _mix(nodes, links, factor, a, b, data_type: str):
  """a + factor (b - a) as a node output (or `a` when factor is None)."""
  if factor is None:
    return a
  mix = nodes.new("ShaderNodeMix")
  mix.data_type = data_type
  sockets = {"RGBA": ("A_Color", "B_Color", "Result_Color"),
             "FLOAT": ("A_Float", "B_Float", "Result_Float")}[data_type]
  a_in = next(s for s in mix.inputs if s.identifier == sockets[0])
  b_in = next(s for s in mix.inputs if s.identifier == sockets[1])
  a_in.default_value, b_in.default_value = a, b
  links.new(factor, mix.inputs["Factor"])
  return next(s for s in mix.outputs if s.identifier == sockets[2])


def _constant(nodes, value, colour: bool):
  node = nodes.new("ShaderNodeRGB" if colour else "ShaderNodeValue")
  node.outputs[0].default_value = value
  return node.outputs[0]


def make_material(name: str, material: dict):
  """A Principled BSDF with the record's textured base colour and
  roughness, each also written to its AOV."""
  mat = bpy.data.materials.new(name)
  mat.use_nodes = True
  nodes, links = mat.node_tree.nodes, mat.node_tree.links
  bsdf = nodes["Principled BSDF"]
  factor = _texture_factor(nodes, links, material)
  base = tuple(material["base_color"]) + (1.0,)
  second = tuple(material["second_color"]) + (1.0,)
  colour = _mix(nodes, links, factor, base, second, "RGBA")
  rough = _mix(nodes, links, factor, material["roughness"],
               material["second_roughness"], "FLOAT")
  if factor is None:
    colour, rough = (_constant(nodes, base, True),
                     _constant(nodes, rough, False))
  metal = _constant(nodes, material["metallic"], False)
  links.new(colour, bsdf.inputs["Base Color"])
  links.new(rough, bsdf.inputs["Roughness"])
  links.new(metal, bsdf.inputs["Metallic"])
  for (aov_name, kind), socket in zip(AOVS, (colour, rough, metal)):
    out = nodes.new("ShaderNodeOutputAOV")
    out.aov_name = aov_name
    links.new(socket, out.inputs["Color" if kind == "COLOR" else "Value"])
  return mat


_ADD = {
    "sphere": lambda: bpy.ops.mesh.primitive_uv_sphere_add(
        segments=48, ring_count=24),
    "icosphere": lambda: bpy.ops.mesh.primitive_ico_sphere_add(
        subdivisions=3),
    "cube": bpy.ops.mesh.primitive_cube_add,
    "cylinder": lambda: bpy.ops.mesh.primitive_cylinder_add(vertices=48),
    "cone": lambda: bpy.ops.mesh.primitive_cone_add(vertices=48),
    "torus": lambda: bpy.ops.mesh.primitive_torus_add(
        major_segments=48, minor_segments=16),
    "monkey": bpy.ops.mesh.primitive_monkey_add,
    "plane": bpy.ops.mesh.primitive_plane_add,
}
SMOOTH = ("sphere", "icosphere", "torus", "monkey")


def _pose(record: dict) -> dict:
  return {"location": record["location"],
          "rotation_euler": [math.radians(a) for a in record["rotation_deg"]]}


def build(scene: dict, last_frame: int) -> list:
  """Adds the scene's shapes; a shape with `motion` is keyed at frame 1
  (time 0) and `last_frame` (time 1), linearly."""
  objects = []
  for record in scene["shapes"]:
    _ADD[record["primitive"]]()
    obj = bpy.context.object
    obj.name = record["name"]
    if record["primitive"] in SMOOTH:
      bpy.ops.object.shade_smooth()
    if record["primitive"] == "monkey":
      sub = obj.modifiers.new("subdivision", "SUBSURF")
      sub.levels = sub.render_levels = 1
    obj.modifiers.new("triangulate", "TRIANGULATE")
    obj.scale = record["scale"]
    for key, value in _pose(record).items():
      setattr(obj, key, value)
    obj.pass_index = record["index"]
    obj.data.materials.append(make_material(record["name"],
                                            record["material"]))
    if "motion" in record:
      for frame, pose in ((1, record), (last_frame, record["motion"])):
        for key, value in _pose(pose).items():
          setattr(obj, key, value)
          obj.keyframe_insert(key, frame=frame)
      for curve in obj.animation_data.action.fcurves:
        for point in curve.keyframe_points:
          point.interpolation = "LINEAR"
    objects.append(obj)
  return objects


def set_environment(record) -> None:
  """The world: black, or the environment `record` describes."""
  world = bpy.context.scene.world
  nodes, links = world.node_tree.nodes, world.node_tree.links
  for node in list(nodes):
    nodes.remove(node)
  out = nodes.new("ShaderNodeOutputWorld")
  background = nodes.new("ShaderNodeBackground")
  links.new(background.outputs[0], out.inputs["Surface"])
  if record is None:
    background.inputs["Strength"].default_value = 0.0
    return
  background.inputs["Strength"].default_value = record["strength"]
  coords = nodes.new("ShaderNodeTexCoord")
  if record["kind"] == "sky":
    sky = nodes.new("ShaderNodeTexSky")
    sky.sky_type = "NISHITA"
    sky.sun_disc = False
    # Nishita's sun rotation 0 puts the sun towards +y (azimuth 90).
    sky.sun_elevation = math.radians(record["spot"]["elevation_deg"])
    sky.sun_rotation = math.radians(90.0 - record["spot"]["azimuth_deg"])
    links.new(sky.outputs[0], background.inputs["Color"])
  else:
    split = nodes.new("ShaderNodeSeparateXYZ")
    links.new(coords.outputs["Generated"], split.inputs[0])
    height = nodes.new("ShaderNodeMapRange")
    height.inputs["From Min"].default_value = -1.0
    links.new(split.outputs["Z"], height.inputs["Value"])
    ramp = nodes.new("ShaderNodeValToRGB")
    links.new(height.outputs[0], ramp.inputs["Fac"])
    stops = ramp.color_ramp.elements
    stops[0].position, stops[1].position = 0.0, 1.0
    stops[0].color = tuple(record["ground"]) + (1.0,)
    stops[1].color = tuple(record["zenith"]) + (1.0,)
    stops.new(0.5).color = tuple(record["horizon"]) + (1.0,)
    links.new(ramp.outputs["Color"], background.inputs["Color"])
  spot = record.get("spot")
  if spot is None:
    return
  # A disc of the spot's colour around its direction, added on top.
  az, el = (math.radians(spot["azimuth_deg"]),
            math.radians(spot["elevation_deg"]))
  dot = nodes.new("ShaderNodeVectorMath")
  dot.operation = "DOT_PRODUCT"
  links.new(coords.outputs["Generated"], dot.inputs[0])
  dot.inputs[1].default_value = (math.cos(el) * math.cos(az),
                                 math.cos(el) * math.sin(az), math.sin(el))
  inside = nodes.new("ShaderNodeMath")
  inside.operation = "GREATER_THAN"
  inside.inputs[1].default_value = math.cos(math.radians(spot["size_deg"])
                                            / 2)
  links.new(dot.outputs["Value"], inside.inputs[0])
  gain = nodes.new("ShaderNodeMath")
  gain.operation = "MULTIPLY"
  gain.inputs[1].default_value = record["strength"] * spot["strength"]
  links.new(inside.outputs[0], gain.inputs[0])
  disc = nodes.new("ShaderNodeBackground")
  disc.inputs["Color"].default_value = tuple(spot["color"]) + (1.0,)
  links.new(gain.outputs[0], disc.inputs["Strength"])
  add = nodes.new("ShaderNodeAddShader")
  links.new(background.outputs[0], add.inputs[0])
  links.new(disc.outputs[0], add.inputs[1])
  links.new(add.outputs[0], out.inputs["Surface"])


_LAMPS = []


def set_lights(records: list, camera_position) -> None:
  """Point lights (a collocated one at `camera_position`) and the world of
  the view's light records (black without an environment)."""
  for lamp in _LAMPS:
    bpy.data.objects.remove(lamp, do_unlink=True)
  _LAMPS.clear()
  environment = None
  for k, record in enumerate(records):
    if record["type"] == "environment":
      environment = record
      continue
    data = bpy.data.lights.new(f"lamp_{k}", "POINT")
    data.energy = record["power"]
    data.color = record.get("color", (1.0, 1.0, 1.0))
    data.shadow_soft_size = 0.0
    lamp = bpy.data.objects.new(f"lamp_{k}", data)
    bpy.context.scene.collection.objects.link(lamp)
    lamp.location = (camera_position if record["type"] == "collocated"
                     else record["position"])
    _LAMPS.append(lamp)
  set_environment(environment)


def _compositor(folder: str, passes) -> None:
  """Compositing that writes `passes` of the render layer as float EXRs
  into `folder` (None: no compositing)."""
  scene = bpy.context.scene
  scene.use_nodes = folder is not None
  if folder is None:
    return
  tree = scene.node_tree
  for node in list(tree.nodes):
    tree.nodes.remove(node)
  layer = tree.nodes.new("CompositorNodeRLayers")
  composite = tree.nodes.new("CompositorNodeComposite")
  tree.links.new(layer.outputs["Image"], composite.inputs["Image"])
  out = tree.nodes.new("CompositorNodeOutputFile")
  out.base_path = folder
  out.format.file_format = "OPEN_EXR"
  out.format.color_depth = "32"
  out.format.color_mode = "RGBA"
  out.format.exr_codec = "ZIP"
  out.file_slots.clear()
  for name in passes:
    out.file_slots.new(name)
    tree.links.new(layer.outputs[name], out.inputs[name])


def _read_exr(folder: str, name: str) -> np.ndarray:
  """[H, W, 4] float32 of the EXR the compositor wrote for pass `name`
  (row 0 at the top)."""
  [path] = glob.glob(os.path.join(folder, f"{name}[0-9]*.exr"))
  image = bpy.data.images.load(path)
  image.colorspace_settings.name = "Non-Color"
  width, height = image.size
  pixels = np.array(image.pixels[:], np.float32).reshape(height, width, -1)
  bpy.data.images.remove(image)
  return pixels[::-1]


def _data_passes(on: bool) -> None:
  layer = bpy.context.scene.view_layers[0]
  layer.use_pass_z = layer.use_pass_normal = on
  layer.use_pass_object_index = layer.use_pass_vector = on


def render_image(path: str, samples: int) -> None:
  """The view as an 8-bit RGBA PNG at `path`."""
  scene = bpy.context.scene
  _compositor(None, ())
  _data_passes(False)
  scene.cycles.samples = samples
  scene.cycles.use_denoising = True
  scene.cycles.filter_width = 1.5
  scene.render.filepath = path
  bpy.ops.render.render(write_still=True)


def render_ground_truth(flow: bool) -> dict:
  """The view's ground-truth maps (ground_truth's names and layout)."""
  scene = bpy.context.scene
  _data_passes(True)
  scene.cycles.samples = 1
  scene.cycles.use_denoising = False
  scene.cycles.filter_width = 0.01
  with tempfile.TemporaryDirectory() as folder:
    _compositor(folder, DATA_PASSES)
    bpy.ops.render.render(write_still=False)
    p = {name: _read_exr(folder, name) for name in DATA_PASSES}
  _compositor(None, ())
  hit = p["IndexOB"][..., 0] > 0.5
  maps = {"depth": np.where(hit, p["Depth"][..., 0], 0.0),
          "normal": np.where(hit[..., None], p["Normal"][..., :3], 0.0),
          "albedo": p["albedo"][..., :3],
          "roughness": p["roughness"][..., 0],
          "metallic": p["metallic"][..., 0],
          "index": np.rint(p["IndexOB"][..., 0])}
  if flow:
    # Blender's vector pass: the motion to the previous frame in its first
    # two channels (pixels, y up). Its other two (to the next frame) do
    # not survive the compositor, which passes vectors as 3 channels, so
    # the caller computes that one (`paths.flow`).
    maps["flow_back"] = np.stack([p["Vector"][..., 0],
                                  -p["Vector"][..., 1]], -1)
  return maps


def object_moves(frame_a: int, frame_b: int) -> dict:
  """{label: [4, 4] world transform from frame a to frame b} of the
  animated shapes (labels of moving shapes are their own)."""
  scene = bpy.context.scene
  moving = [o for o in scene.objects if o.type == "MESH" and
            o.animation_data is not None]
  current = scene.frame_current
  scene.frame_set(frame_a)
  at_a = {o.pass_index: np.array(o.matrix_world) for o in moving}
  scene.frame_set(frame_b)
  moves = {o.pass_index: np.array(o.matrix_world) @ np.linalg.inv(
      at_a[o.pass_index]) for o in moving}
  scene.frame_set(current)
  return moves


def render_environment(record: dict, height: int, width: int,
                       samples: int = 64) -> np.ndarray:
  """[H, W, 3] float32 radiance of environment `record` on the
  equirectangular grid of `lights.equirect_directions`."""
  scene = bpy.context.scene
  hidden = [o for o in scene.objects if o.type in ("MESH", "LIGHT")]
  for obj in hidden:
    obj.hide_render = True
  data = bpy.data.cameras.new("panorama")
  data.type = "PANO"
  data.panorama_type = "EQUIRECTANGULAR"
  camera = bpy.data.objects.new("panorama", data)
  scene.collection.objects.link(camera)
  camera.rotation_euler = lights.EQUIRECT_CAMERA_EULER
  saved = (scene.camera, scene.render.resolution_x,
           scene.render.resolution_y, scene.render.film_transparent)
  scene.camera = camera
  scene.render.resolution_x, scene.render.resolution_y = width, height
  scene.render.film_transparent = False
  set_environment(record)
  _data_passes(False)
  scene.cycles.samples = samples
  scene.cycles.use_denoising = False
  scene.cycles.filter_width = 0.01
  with tempfile.TemporaryDirectory() as folder:
    _compositor(folder, ("Image",))
    bpy.ops.render.render(write_still=False)
    radiance = _read_exr(folder, "Image")[..., :3]
  _compositor(None, ())
  (scene.camera, scene.render.resolution_x, scene.render.resolution_y,
   scene.render.film_transparent) = saved
  for obj in hidden:
    obj.hide_render = False
  bpy.data.objects.remove(camera, do_unlink=True)
  return radiance


def camera(name: str, camera_angle_x: float):
  data = bpy.data.cameras.new(name)
  data.sensor_fit = "HORIZONTAL"
  data.angle = camera_angle_x
  data.clip_start, data.clip_end = 0.05, 100.0
  obj = bpy.data.objects.new(name, data)
  bpy.context.scene.collection.objects.link(obj)
  return obj


def key_path(cam, c2ws) -> None:
  """Keys camera `cam` at frames 1.. to the matrices `c2ws` (constant
  between keys: a frame is a view)."""
  for i, c2w in enumerate(c2ws):
    cam.matrix_world = Matrix(np.asarray(c2w).tolist())
    cam.keyframe_insert("location", frame=i + 1)
    cam.keyframe_insert("rotation_euler", frame=i + 1)


def set_time(time: float, last_frame: int) -> None:
  """Moves the animation to `time` in [0, 1] (frames 1..last_frame)."""
  frame = 1.0 + time * (last_frame - 1)
  whole = int(math.floor(frame))
  bpy.context.scene.frame_set(whole, subframe=frame - whole)


def scene_mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Vertices [V, 3] float32 (world), triangles [F, 3] int32 and each
  triangle's object index [F] of every shape at the current frame, as
  rendered (modifiers applied)."""
  depsgraph = bpy.context.evaluated_depsgraph_get()
  verts, faces, labels, offset = [], [], [], 0
  for obj in bpy.context.scene.objects:
    if obj.type != "MESH":
      continue
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    world = np.array(evaluated.matrix_world, np.float64)
    verts.append(co @ world[:3, :3].T + world[:3, 3])
    mesh.calc_loop_triangles()
    tri = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("vertices", tri)
    faces.append(tri.reshape(-1, 3) + offset)
    labels.append(np.full(len(tri) // 3, obj.pass_index, np.uint8))
    offset += len(co)
    evaluated.to_mesh_clear()
  return (np.concatenate(verts).astype(np.float32), np.concatenate(faces),
          np.concatenate(labels))
