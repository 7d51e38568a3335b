"""Devices and hosts: distributed set-up, the mesh, shardings, data feeding
and chunked rendering.

The only library module that knows about devices and processes. Training
uses one 1-D mesh (axis `data`) over every device of every process:
parameters are replicated, each ray batch is split along `data`, and XLA's
SPMD partitioner inserts the gradient all-reduce (a mean over the global
batch, so gradients are averaged across devices).

Data feeding (design). Unit u of the training data (a pixel, or with
image_batching or patches an image) lives on device u % n (n devices) at
row u // n: the global array of units is sharded over `data`, so a device holds 1 / n
of the units and a process only its devices' share, and no training data
crosses devices or hosts per step except the batch itself. In the train
step a shard_map draws the batch's (unit, pixel) indices from the step's
key, identically on every device and exactly as a single device would;
each device gathers the rows it owns (zeros elsewhere) and a reduce-scatter
(`psum_scatter`) hands every device its slice of the batch. The sums add
one value to zeros, so they are exact: a config draws the same batches on
1 device, 4 devices or 2 processes, and runs agree to float tolerance
(reductions in the step reorder). The price is a reduce-scatter of the
batch (batch_size x ~16 floats) per step, and each device gathering for
the whole batch rather than its slice: both negligible next to the model.

Multi-host launch: `initialize_distributed()` reads JAXNERF_COORDINATOR
(host:port), JAXNERF_NUM_PROCESSES and JAXNERF_PROCESS_ID and calls
jax.distributed.initialize; entry points call it before anything touches
devices. Only process 0 writes summaries, images and logs; orbax writes
checkpoints from the primary process and every process restores the same
one.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxnerf.engine import training
from jaxnerf.errors import ConfigError

ENV_COORDINATOR = "JAXNERF_COORDINATOR"
ENV_NUM_PROCESSES = "JAXNERF_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXNERF_PROCESS_ID"


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
  """Joins a multi-process run; call before anything touches devices.

  Arguments default to the JAXNERF_COORDINATOR, JAXNERF_NUM_PROCESSES and
  JAXNERF_PROCESS_ID environment variables. Without a coordinator this is a
  no-op (a single-process run). On CPU, collectives go through gloo.

  Returns:
    Whether jax.distributed was initialised.
  """
  env = os.environ
  coordinator_address = coordinator_address or env.get(ENV_COORDINATOR)
  if not coordinator_address:
    return False
  try:
    num_processes = int(num_processes if num_processes is not None
                        else env[ENV_NUM_PROCESSES])
    process_id = int(process_id if process_id is not None
                     else env[ENV_PROCESS_ID])
  except KeyError as e:
    raise ConfigError(f"{ENV_COORDINATOR} is set, so {e.args[0]} must be set "
                      "too") from None
  except ValueError as e:
    raise ConfigError(f"{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID}: expected "
                      f"integers ({e})") from None
  if not 0 <= process_id < num_processes:
    raise ConfigError(f"{ENV_PROCESS_ID}={process_id} is not in [0, "
                      f"{num_processes})")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes,
                             process_id=process_id)
  return True


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Splits the leading (ray) axis across devices."""
  return NamedSharding(mesh, P("data"))


def check_divisible(batch_size: int, mesh: Mesh, field: str) -> None:
  if batch_size % mesh.size:
    raise ConfigError(
        f"config.{field}: {batch_size} is not divisible by the {mesh.size} "
        f"devices; use a multiple of {mesh.size}")


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """A global array from a host array that every process holds whole; each
  process places only the parts its devices own."""
  return jax.make_array_from_callback(host.shape, sharding,
                                      lambda index: host[index])


def put_replicated(tree, mesh: Mesh):
  """Places host arrays (identical on every process) on every device."""
  sharding = replicated(mesh)
  return jax.tree.map(lambda x: _global_array(np.asarray(x), sharding), tree)


def to_host(tree):
  """Fetches (possibly multi-process) arrays whole onto this host."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.tree.map(np.asarray, tree)


@flax.struct.dataclass
class ShardedData:
  """Training data over the devices of `data` (see the module doc).

  data: TrainData with global leading shape [n * units per device, pixels
    per unit]; unit u is row u // n of device u % n's block. Rows past the
    units are padding and never drawn.
  num_units: the number of units (static).
  """

  data: training.TrainData
  num_units: int = flax.struct.field(pytree_node=False)


def shard_training_data(data: training.TrainData, by_image: bool,
                        mesh: Mesh) -> ShardedData:
  """Places host training data on the devices, unit u on device u % n.

  Args:
    data: host TrainData [num_images, pixels, ...], identical on every
      process (only the parts of this process's devices are placed).
    by_image: units are images (`training.by_image`), else pixels.
  Returns:
    ShardedData.
  """
  if by_image:
    units = data  # [num_images, pixels, C]
  else:
    units = jax.tree.map(lambda x: x.reshape(-1, 1, x.shape[-1]), data)
  num_units = units.rgb.shape[0]
  n = mesh.size
  if num_units < n:
    raise ConfigError(
        f"config.image_batching: {num_units} training images cannot be "
        f"spread over {n} devices; use fewer devices or image_batching=false")
  per_device = -(-num_units // n)
  sharding = batch_sharded(mesh)

  def place(x: np.ndarray) -> jax.Array:
    x = np.asarray(x)
    shape = (n * per_device,) + x.shape[1:]

    def device_block(index):
      # Global row r is row r % per_device of device r // per_device; rows
      # past the units repeat the device's first unit (never drawn).
      rows = np.arange(shape[0])[index[0]]
      device = rows // per_device
      units = device + n * (rows % per_device)
      units = np.where(units < num_units, units, device)
      return x[units][(slice(None),) + tuple(index[1:])]

    return jax.make_array_from_callback(shape, sharding, device_block)

  return ShardedData(data=jax.tree.map(place, units), num_units=num_units)


def make_sampler(mesh: Mesh, batch_size: int, image_batching: bool,
                 patch_size: int = 0, patch_stride: int = 1):
  """The train step's batch sampler over ShardedData (see module doc).

  Returns:
    (key, ShardedData) -> TrainData [batch_size], sharded over `data`:
    device d holds rows [d B / n, (d + 1) B / n) of the batch that
    `training.draw_indices` draws from `fold_in(key, 0)`.
  """
  n = mesh.size

  def sample(key, sharded: ShardedData) -> training.TrainData:
    num_pixels = sharded.data.rgb.shape[1]

    def local(key, data):
      unit, pixel = training.draw_indices(
          jax.random.fold_in(key, 0), batch_size, sharded.num_units,
          num_pixels, image_batching, patch_size, sharded.data.image_width,
          patch_stride)
      mine = unit % n == jax.lax.axis_index("data")
      row = jnp.where(mine, unit // n, 0)

      def gather(x):
        rows = x[row, pixel]
        return jnp.where(mine.reshape((-1,) + (1,) * (rows.ndim - 1)), rows,
                         jnp.zeros_like(rows))

      batch = jax.tree.map(gather, data)
      if n == 1:
        return batch
      return jax.tree.map(lambda x: jax.lax.psum_scatter(
          x, "data", scatter_dimension=0, tiled=True), batch)

    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P("data")),
                         out_specs=P("data"))(key, sharded.data)

  return sample


def to_tiles(batch, tile: int):
  """Host pixels [H, W, C] (any pytree) -> [H' * W' / tile^2 * tile^2, C]
  in tile-major order: tiles of tile x tile pixels (row-major inside, the
  tiles row-major), H and W padded up to multiples of `tile` by repeating
  the last row and column."""
  def one(x):
    x = np.asarray(x)
    h, w = x.shape[:2]
    hp, wp = -(-h // tile) * tile, -(-w // tile) * tile
    x = np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    x = x.reshape(hp // tile, tile, wp // tile, tile, x.shape[-1])
    return x.transpose(0, 2, 1, 3, 4).reshape(-1, x.shape[-1])
  return jax.tree.map(one, batch)


def from_tiles(maps: dict, height: int, width: int, tile: int) -> dict:
  """`to_tiles` undone on rendered maps [N, ...] -> [height, width, ...]."""
  ty, tx = -(-height // tile), -(-width // tile)

  def one(x):
    x = x.reshape((ty, tx, tile, tile) + x.shape[1:])
    x = x.transpose((0, 2, 1, 3) + tuple(range(4, x.ndim)))
    return x.reshape((ty * tile, tx * tile) + x.shape[4:])[:height, :width]
  return {k: one(v) for k, v in maps.items()}


def render_image(render_fn: Callable, batch, chunk: int,
                 mesh: Mesh, tile: int = 0) -> dict[str, np.ndarray]:
  """Renders rays (or pixels) of any leading shape in fixed-size chunks.

  Every chunk has the same shape (the last one is padded), so `render_fn`
  compiles once for any image size and device count. Every process passes
  the same rays and gets the whole image back. Rays a chunk's sample budget
  left out (`training.RAY_COMPLETE` 0) are rendered again, first in a chunk
  of their own, until every ray is whole.

  Args:
    render_fn: jitted function of a batch [chunk] to a dict of [chunk, ...].
    batch: host Rays or Pixels with leading shape [...] (e.g. [H, W]);
      every leaf has one trailing channel axis.
    chunk: rays per call; rounded up to a multiple of the device count.
    tile: >0 (config.render_tile): batch is one image's pixels [H, W],
      handed to render_fn as whole tiles of tile x tile pixels in
      tile-major order (`to_tiles`), chunks a multiple of tile^2 per
      device.
  Returns:
    dict of host arrays with leading shape [...] (without RAY_COMPLETE).
  """
  if tile:
    height, width = jax.tree.leaves(batch)[0].shape[:2]
    unit = tile * tile * mesh.size
    maps = render_image(render_fn, to_tiles(batch, tile),
                        -(-chunk // unit) * unit, mesh)
    return from_tiles(maps, height, width, tile)
  leaves = jax.tree.leaves(batch)
  shape = leaves[0].shape[:-1]
  flat = jax.tree.map(lambda x: np.asarray(x).reshape(-1, x.shape[-1]), batch)
  num_rays = int(np.prod(shape))
  chunk = -(-min(chunk, num_rays) // mesh.size) * mesh.size
  sharding = batch_sharded(mesh)
  image = {}

  def render_rows(rows):
    piece = jax.tree.map(lambda x: x[rows], flat)
    pad = chunk - rows.size
    if pad:
      piece = jax.tree.map(
          lambda x: np.concatenate([x, np.repeat(x[-1:], pad, 0)]), piece)
    piece = jax.tree.map(lambda x: _global_array(x, sharding), piece)
    return {k: v[:rows.size] for k, v in to_host(render_fn(piece)).items()}

  def store(rows, out):
    for k, v in out.items():
      if k not in image:
        image[k] = np.zeros((num_rays,) + v.shape[1:], v.dtype)
      image[k][rows] = v

  for start in range(0, num_rays, chunk):
    rows = np.arange(start, min(start + chunk, num_rays))
    while rows.size:
      out = render_rows(rows)
      complete = out.pop(training.RAY_COMPLETE, None)
      complete = (np.ones(rows.size, bool) if complete is None
                  else complete > 0.5)
      if not complete.any():
        # The first ray alone overflows the budget (at least march_steps):
        # keep the rays truncated rather than render them again for ever.
        complete[:] = True
      store(rows[complete], {k: v[complete] for k, v in out.items()})
      rows = rows[~complete]
  return {k: v.reshape(shape + v.shape[1:]) for k, v in image.items()}


def jit_train_step(method, model, config, mesh: Mesh, donate: bool = False):
  """training.train_step jitted for `mesh`: batches drawn over the sharded
  training data and laid out data parallel. With `donate`, the state's
  buffers are reused for the new state (the trainer's loop; callers that
  keep the old state must not donate).

  Returns:
    step(state, data, cameras, key, fraction=None) -> (state, stats).
  """
  return jax.jit(
      functools.partial(training.train_step, method, model, config,
                        batch_sharding=batch_sharded(mesh),
                        sampler=make_sampler(mesh, config.batch_size,
                                             config.image_batching,
                                             config.patch_size,
                                             config.patch_stride)),
      donate_argnums=(0,) if donate else ())

