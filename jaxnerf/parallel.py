"""Devices and hosts: distributed set-up, the mesh, shardings, data feeding
and chunked rendering.

The only library module that knows about devices and processes. Training
uses one 1-D mesh (axis `data`) over every device of every process:
parameters are replicated, each ray batch is split along `data`, and XLA's
SPMD partitioner inserts the gradient all-reduce (a mean over the global
batch, so gradients are averaged across devices).

Data feeding (design). The training rays are split into `num_shards` (K)
*logical* shards, K a multiple of the device count (config.data_shards, by
default the device count). Unit u of the training data (a ray, or with
image_batching an image) belongs to shard u % K. The global array of shards
[K, ...] is sharded over `data`, so a device holds K / num_devices shards
and a process only its devices' shards: each process feeds only its share
of the rays (it still decodes the whole split on the host; a loader that
reads only some images would save that too). In the train step a shard_map
over `data` draws batch / K rays from every shard with the key
fold_in(step_key, shard index), on the device that holds it: no training
data crosses devices or hosts per step, only the batch stays where it was
drawn.

Trade-off: because the batch is a function of (key, K) and not of the
device count, runs with the same K draw the same rays on 1 device, 4
devices or 2 processes and agree to float tolerance (reductions reorder).
Runs with a different K draw different (equally distributed) batches; a
run resumed with another device count keeps its stream only if
config.data_shards is pinned. The price is stratification: each batch has
exactly batch / K rays from each shard (shards differ in size by at most
one unit, so the sampling is uniform to within 1 / units per shard); with
image_batching a batch holds K images (one per shard) rather than one, as
in JaxNeRF's per-host single-image batches.

Multi-host launch: `initialize_distributed()` reads JAXNERF_COORDINATOR
(host:port), JAXNERF_NUM_PROCESSES and JAXNERF_PROCESS_ID and calls
jax.distributed.initialize; entry points call it before anything touches
devices. Only process 0 writes summaries, images and logs; orbax writes
checkpoints from the primary process and every process restores the same
one.
"""

from __future__ import annotations

import os
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxnerf import training
from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays

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


def num_data_shards(config, mesh: Mesh) -> int:
  """config.data_shards (default: the device count), checked against the
  batch size and the mesh."""
  shards = int(config.get("data_shards", 0)) or mesh.size
  check_divisible(config.batch_size, mesh, "batch_size")
  if shards % mesh.size:
    raise ConfigError(
        f"config.data_shards: {shards} is not divisible by the {mesh.size} "
        f"devices; use a multiple of {mesh.size} (or 0 for one per device)")
  if config.batch_size % shards:
    raise ConfigError(
        f"config.batch_size: {config.batch_size} is not divisible by "
        f"config.data_shards={shards}; use a multiple of {shards}")
  return shards


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
  """Training data in K logical shards, sharded over `data` on axis 0.

  data: TrainData with leading shape [K, units per shard, pixels per unit]
    (a unit is an image with image_batching, else one ray: pixels = 1).
  num_valid: [K] int32 units of each shard that are not padding.
  """

  data: training.TrainData
  num_valid: jax.Array


def shard_training_data(data: training.TrainData, num_shards: int,
                        image_batching: bool, mesh: Mesh) -> ShardedData:
  """Splits host training data into logical shards on their devices.

  Args:
    data: host TrainData [num_images, pixels, ...], identical on every
      process (only the parts of this process's devices are placed).
    num_shards: K, a multiple of mesh.size.
  Returns:
    ShardedData with global leading shape [K, ceil(units / K), ...].
  """
  if image_batching:
    units = data  # [num_images, pixels, C]
  else:
    units = jax.tree.map(lambda x: x.reshape(-1, 1, x.shape[-1]), data)
  num_units = units.rgb.shape[0]
  per_shard = -(-num_units // num_shards)
  num_valid = np.array([len(range(s, num_units, num_shards))
                        for s in range(num_shards)], np.int32)
  if num_valid.min() == 0:
    raise ConfigError(
        f"config.data_shards: {num_shards} shards but only {num_units} "
        f"{'images' if image_batching else 'rays'} to split; use fewer shards "
        "or devices")
  sharding = batch_sharded(mesh)

  def place(x: np.ndarray) -> jax.Array:
    x = np.asarray(x)
    shape = (num_shards, per_shard) + x.shape[1:]

    def shard_slice(index):
      # Unit s + K j is row j of shard s; rows past num_valid[s] repeat
      # the shard's first unit (never drawn).
      out = np.empty((len(range(*index[0].indices(num_shards))),) +
                     shape[1:], x.dtype)
      for i, s in enumerate(range(*index[0].indices(num_shards))):
        rows = x[s::num_shards]
        out[i, :len(rows)] = rows
        out[i, len(rows):] = rows[0]
      return out[(slice(None),) + tuple(index[1:])]

    return jax.make_array_from_callback(shape, sharding, shard_slice)

  return ShardedData(data=jax.tree.map(place, units),
                     num_valid=_global_array(num_valid, sharding))


def make_sampler(mesh: Mesh, batch_size: int, num_shards: int,
                 image_batching: bool):
  """The train step's batch sampler over ShardedData (see module doc).

  Returns:
    (key, ShardedData) -> (Rays [batch_size], rgb [batch_size, 3]), sharded
    over `data`; shard s supplies rows [s B / K, (s + 1) B / K).
  """
  per_shard = batch_size // num_shards

  def local(key, data: training.TrainData, num_valid):
    first = jax.lax.axis_index("data") * num_valid.shape[0]

    def one(index, shard, valid):
      return training.sample_batch(jax.random.fold_in(key, index), shard,
                                   per_shard, image_batching, valid)

    rays, rgb = jax.vmap(one)(first + jnp.arange(num_valid.shape[0]), data,
                              num_valid)
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (rays, rgb))

  sampled = jax.shard_map(local, mesh=mesh,
                          in_specs=(P(), P("data"), P("data")),
                          out_specs=P("data"))
  return lambda key, sharded: sampled(key, sharded.data, sharded.num_valid)


def render_image(render_fn: Callable[[Rays], dict], rays: Rays, chunk: int,
                 mesh: Mesh) -> dict[str, np.ndarray]:
  """Renders rays of any leading shape in fixed-size sharded chunks.

  Every chunk has the same shape (the last one is padded), so `render_fn`
  compiles once for any image size and device count. Every process passes
  the same rays and gets the whole image back.

  Args:
    render_fn: jitted function of Rays [chunk] to a dict of [chunk, ...].
    rays: host Rays with leading shape [...] (e.g. [H, W]).
    chunk: rays per call; rounded up to a multiple of the device count.
  Returns:
    dict of host arrays with leading shape [...].
  """
  shape = rays.shape
  flat = jax.tree.map(lambda x: np.asarray(x).reshape(-1, x.shape[-1]), rays)
  num_rays = flat.origins.shape[0]
  chunk = -(-min(chunk, num_rays) // mesh.size) * mesh.size
  sharding = batch_sharded(mesh)
  pieces = []
  for start in range(0, num_rays, chunk):
    piece = jax.tree.map(lambda x: x[start:start + chunk], flat)
    pad = chunk - piece.origins.shape[0]
    if pad:
      piece = jax.tree.map(
          lambda x: np.concatenate([x, np.repeat(x[-1:], pad, 0)]), piece)
    piece = jax.tree.map(lambda x: _global_array(x, sharding), piece)
    out = to_host(render_fn(piece))
    pieces.append(jax.tree.map(lambda x: x[:chunk - pad], out))
  return jax.tree.map(
      lambda *xs: np.concatenate(xs).reshape(shape + xs[0].shape[1:]), *pieces)
