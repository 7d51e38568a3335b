"""Devices and hosts: the mesh, shardings, and chunked rendering.

The only library module that knows about devices. Training uses one 1-D
mesh over every device of every process: parameters are replicated, each
ray batch is split along the `data` axis, and XLA inserts the gradient
all-reduce. Library functions never ask how many devices there are.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxnerf.errors import ConfigError
from jaxnerf.rays import Rays


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


def put_replicated(tree, mesh: Mesh):
  """Places host arrays (identical on every process) on every device."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      tree)


def to_host(tree):
  """Fetches (possibly multi-process) arrays whole onto this host."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.tree.map(np.asarray, tree)


def render_image(render_fn: Callable[[Rays], dict], rays: Rays, chunk: int,
                 mesh: Mesh) -> dict[str, np.ndarray]:
  """Renders rays of any leading shape in fixed-size sharded chunks.

  Every chunk has the same shape (the last one is padded), so `render_fn`
  compiles once for any image size and device count.

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
    piece = jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, x), piece)
    out = to_host(render_fn(piece))
    pieces.append(jax.tree.map(lambda x: x[:chunk - pad], out))
  return jax.tree.map(
      lambda *xs: np.concatenate(xs).reshape(shape + xs[0].shape[1:]), *pieces)
