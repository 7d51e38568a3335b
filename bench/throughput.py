"""Training and rendering throughput against two matmul ceilings.

  python bench/throughput.py [--config=blender] [--config.FIELD=VALUE ...]
      [--steps=N] [--render_chunks=N] [--profile=DIR]

Measures, after compilation and in one process: training rays/s (the full
jitted train step: sampling, the model forward and backward, Adam) and
rendering rays/s (deterministic), for any method; for NeRF-family configs
(an MLP of `netwidth`) also the rate of a 4096 x 4096 x 4096 float32 matmul
and of matmuls of the model's own shapes ([rows, width] x [width, width],
rows = the fine pass's samples per step, capped).
Model FLOPs count the MLP multiply-adds per sample (2 FLOPs each), coarse
and fine, forward, and in training also backward (weight gradients, and
input gradients for every layer but the first). Synthetic rays (cameras on
a circle, random colours) stand in for a dataset: the cost does not depend
on the pixels. Runs on all local devices (data parallel). Like train.py it
re-executes itself with huge pages for XLA's buffers
(jaxnerf/engine/host_memory.py; JAXNERF_HUGE_PAGES=0 measures glibc's
default).
"""

from __future__ import annotations

import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxnerf.core import cameras
from jaxnerf.fields import encoding, networks
from jaxnerf.engine import cli, parallel, training
from jaxnerf import methods


def mlp_macs_per_sample(config, executed: bool = False) -> tuple[int, int]:
  """(multiply-adds per sample of one MLP, those of its first layer).

  The NeRF MLP as defined (JaxNeRF's layers); with `executed`, as fields.MLP
  computes it: the bottleneck and the first condition layer composed into
  one width_in x netwidth_condition map. The view-direction term is per ray
  and not counted.
  """
  c = config
  d_in = encoding.positional_encoding_size(3, c.min_deg_point, c.max_deg_point,
                                           c.include_input)
  macs, width_in = 0, d_in
  first = d_in * c.netwidth
  for i in range(c.netdepth):
    macs += width_in * c.netwidth
    width_in = c.netwidth
    if c.skip_layer and i % c.skip_layer == 0 and i > 0:
      width_in += d_in
  macs += width_in * 1  # density
  if c.use_viewdirs:
    if executed:
      macs += width_in * c.netwidth_condition
    else:
      macs += width_in * c.netwidth  # bottleneck
      macs += c.netwidth * c.netwidth_condition
    macs += (c.netdepth_condition - 1) * c.netwidth_condition**2
    macs += c.netwidth_condition * 3
  else:
    macs += width_in * 3
  return macs, first


def samples_per_step(config, num_rays: int) -> tuple[int, int]:
  """(coarse samples, fine-pass samples) for `num_rays` rays."""
  fine = 0
  if config.num_fine_samples > 0:
    fine = num_rays * (config.num_coarse_samples + config.num_fine_samples)
  return num_rays * config.num_coarse_samples, fine


def model_flops(config, num_rays: int, train: bool,
                executed: bool = False) -> float:
  macs, first = mlp_macs_per_sample(config, executed)
  samples = sum(samples_per_step(config, num_rays))
  flops = 2 * macs  # forward
  if train:
    flops += 2 * macs + 2 * (macs - first)  # weight and input gradients
  return float(flops) * samples


def mlp_only_seconds(config, params) -> float:
  """Seconds of value_and_grad of both MLPs on encoded inputs of one step."""
  c = config
  dim = encoding.positional_encoding_size(3, c.min_deg_point, c.max_deg_point,
                                          c.include_input)
  dim_view = encoding.positional_encoding_size(3, 0, c.deg_view, True)
  mlp = networks.MLP(netdepth=c.netdepth, netwidth=c.netwidth,
                     netdepth_condition=c.netdepth_condition,
                     netwidth_condition=c.netwidth_condition,
                     skip_layer=c.skip_layer)
  coarse, fine = samples_per_step(c, c.batch_size)
  key = jax.random.PRNGKey(2)
  inputs = [(jax.random.normal(key, (c.batch_size, n // c.batch_size, dim)),
             jax.random.normal(key, (c.batch_size, dim_view))
             if c.use_viewdirs else None)
            for n in (coarse, fine) if n]
  names = ["coarse_mlp", "fine_mlp"]

  def loss(params):
    total = 0.0
    for name, (x, view) in zip(names, inputs):
      rgb, density = mlp.apply({"params": params[name]}, x, view)
      total += jnp.mean(jax.nn.sigmoid(rgb)) + jnp.mean(jax.nn.relu(density))
    return total

  return timeit(jax.jit(jax.value_and_grad(loss)), params, repeats=3)


def timeit(fn, *args, repeats: int = 3, min_time: float = 0.0) -> float:
  """Seconds per call of a jitted fn, after one warm-up call (compile)."""
  jax.block_until_ready(fn(*args))
  times = []
  t_total = time.perf_counter()
  while len(times) < repeats or time.perf_counter() - t_total < min_time:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def matmul_rate(rows: int, inner: int, cols: int, repeats: int = 5) -> float:
  """FLOP/s of a jitted float32 [rows, inner] x [inner, cols] matmul."""
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  a = jax.random.normal(k1, (rows, inner), jnp.float32)
  b = jax.random.normal(k2, (inner, cols), jnp.float32)
  seconds = timeit(jax.jit(jnp.dot), a, b, repeats=repeats)
  return 2.0 * rows * inner * cols / seconds


def synthetic_data(config, num_images: int = 8, size: int = 64):
  """Host TrainData [num_images, size * size] of rays at the scene (and the
  cameras), or of pixels of those cameras for methods that cast rays."""
  poses = cameras.circle_path(num_images, radius=0.5 * (config.near +
                                                          config.far) or 4.0)
  cams = cameras.Cameras.create(poses, 1.2 * size, size, size, config.near,
                                config.far)
  flat = lambda tree: jax.tree.map(
      lambda *xs: np.stack([x.reshape(-1, x.shape[-1]) for x in xs]), *tree)
  rgb = np.random.default_rng(0).uniform(
      size=(num_images, size * size, 3)).astype(np.float32)
  if methods.of(config).pixel_batches:
    pixels = flat([cameras.pixel_grid(size, size, i)
                   for i in range(num_images)])
    # image_width: patches (image-space methods) are rows of one image.
    return (training.TrainData(rgb=rgb, pixels=pixels, image_width=size),
            cams.device_arrays())
  rays = flat([cameras.image_rays(cams, i) for i in range(num_images)])
  return training.TrainData(rgb=rgb, rays=rays), None


def flags():
  p = cli.FlagParser(prog="bench/throughput.py",
                     description="--config defaults to blender; its data "
                     "and run folder are not used")
  p.add_argument("--steps", type=cli.integer(1), default=10,
                 help="timed training steps")
  p.add_argument("--render_chunks", type=cli.integer(1), default=3,
                 help="timed render calls")
  p.add_argument("--profile", default=None,
                 help="a jax.profiler trace of the timed steps, here")
  return p


def job(config, args):
  steps, render_chunks, profile = args.steps, args.render_chunks, args.profile
  mesh = parallel.make_mesh()
  method, model, state = training.setup(config, jax.random.PRNGKey(0))
  state = parallel.put_replicated(state, mesh)
  host_data, cams = synthetic_data(config)
  data = parallel.shard_training_data(host_data, training.by_image(config),
                                      mesh)
  if cams is not None:
    cams = parallel.put_replicated(cams, mesh)
  step_fn = parallel.jit_train_step(method, model, config, mesh)
  key = jax.random.PRNGKey(1)

  # Training: compile, then time `steps` consecutive steps.
  t0 = time.perf_counter()
  state, stats = step_fn(state, data, cams, key)
  jax.block_until_ready(stats)
  compile_s = time.perf_counter() - t0
  if profile:
    jax.profiler.start_trace(profile, create_perfetto_trace=True)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, stats = step_fn(state, data, cams, key)
  jax.block_until_ready(stats)
  step_s = (time.perf_counter() - t0) / steps
  if profile:
    jax.profiler.stop_trace()

  # Rendering: fixed chunks, as parallel.render_image feeds them.
  render_fn = training.make_render_fn(method, model, config)
  chunk = -(-config.chunk // mesh.size) * mesh.size
  inputs = host_data.inputs
  inputs = jax.tree.map(lambda x: x.reshape(-1, x.shape[-1]), inputs)
  inputs = jax.tree.map(lambda x: np.resize(x, (chunk, x.shape[-1])), inputs)
  inputs = jax.tree.map(
      lambda x: jax.device_put(x, parallel.batch_sharded(mesh)), inputs)
  render_s = timeit(functools.partial(
      render_fn, training.variables_of(state), cameras=cams,
      step=state.step), inputs, repeats=render_chunks)
  report = dict(step_s=step_s, render_s=render_s, chunk=chunk)
  print(f"config: method {config.method}, batch {config.batch_size}, chunk "
        f"{chunk}; {mesh.size} device(s) ({jax.devices()[0].platform}); "
        f"{jax.process_count()} process(es)")
  print(f"compile (first step): {compile_s:.1f} s")
  if "netwidth" not in config:
    for name, seconds, rays, unit in (("train", step_s, config.batch_size,
                                       "step"),
                                      ("render", render_s, chunk, "chunk")):
      report[name] = dict(rays_per_s=rays / seconds)
      print(f"{name:6s}: {seconds:.3f} s/{unit} {rays / seconds:9.0f} rays/s")
    return report

  # The MLPs alone (forward and backward, coarse and fine shapes, on fixed
  # encoded inputs): the rest of the step is sampling, encoding, sorting,
  # compositing, the loss and Adam.
  mlp_s = mlp_only_seconds(config, state.params)
  # Ceilings.
  big = matmul_rate(4096, 4096, 4096, repeats=3)
  coarse, fine = samples_per_step(config, config.batch_size)
  rows = min(max(coarse, fine), 131072)
  own = matmul_rate(rows, config.netwidth, config.netwidth)

  mlp_flops = model_flops(config, config.batch_size, True, executed=True)
  print(f"MLPs alone (fwd + bwd, coarse + fine): {mlp_s:.3f} s = "
        f"{100 * mlp_s / step_s:.0f}% of the step, {mlp_flops / mlp_s / 1e9:.1f}"
        f" GFLOP/s executed = {100 * mlp_flops / mlp_s / own:.0f}% of own "
        f"shape; the other {step_s - mlp_s:.3f} s: sampling, encoding, sort, "
        "compositing, loss, Adam")
  report.update(mlp_s=mlp_s, ceiling_4096=big, ceiling_own=own, rows=rows)
  macs, _ = mlp_macs_per_sample(config)
  macs_exec, _ = mlp_macs_per_sample(config, executed=True)
  print(f"NeRF MLP: {config.netdepth}x{config.netwidth}, "
        f"{config.num_coarse_samples} + {config.num_fine_samples} samples, "
        f"view dirs {config.use_viewdirs}; multiply-adds per sample {macs} "
        f"as defined, {macs_exec} executed")
  print(f"ceiling 4096^3 matmul: {big / 1e9:6.1f} GFLOP/s;  own shape "
        f"[{rows},{config.netwidth}]x[{config.netwidth},{config.netwidth}]: "
        f"{own / 1e9:6.1f} GFLOP/s")
  for name, seconds, rays, train in (("train", step_s, config.batch_size,
                                      True),
                                     ("render", render_s, chunk, False)):
    nominal = model_flops(config, rays, train) / seconds
    executed = model_flops(config, rays, train, executed=True) / seconds
    report[name] = dict(rays_per_s=rays / seconds, nominal=nominal,
                        executed=executed)
    print(f"{name:6s}: {seconds:.3f} s/{'step' if train else 'chunk'} "
          f"{rays / seconds:9.0f} rays/s | model FLOP/s (as defined) "
          f"{nominal / 1e9:6.1f} G = {100 * nominal / big:5.1f}% of 4096^3, "
          f"{100 * nominal / own:5.1f}% of own shape | executed "
          f"{executed / 1e9:6.1f} G = {100 * executed / big:5.1f}%, "
          f"{100 * executed / own:5.1f}%")
  return report


def main(argv=None) -> int:
  return cli.main("bench/throughput.py", job, flags(), argv,
                  default_config="blender", paths=False)


if __name__ == "__main__":
  sys.exit(main())
