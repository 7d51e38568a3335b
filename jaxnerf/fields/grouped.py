"""Many small MLPs, each input evaluated by one of them (DeRF's Voronoi
heads; KiloNeRF's grid of tiny networks), in static shapes.

The G networks' parameters are stacked ([G, in, out] kernels), so
evaluating every network on the same rows (DeRF's soft blend in training)
or each network on its own rows is one batched einsum per layer
(`stacked_dense`).

Evaluating each of M inputs by its own group only is mixture-of-experts
dispatch, here in two static-shape forms (on a 2-core CPU batched einsums
beat `jax.lax.ragged_dot` by 20x: 2^18 rows x 64 @ 64 x 64 in 16 groups,
ragged 0.56 s, a batched einsum 0.03 s, one dense matmul of the same size
0.028 s):

* `blocked_apply` (block-sparse, as MegaBlocks): the inputs sorted by
  group fill blocks of one group each, every block takes its group's
  parameters by a gather, and all blocks run as one batched evaluation.
  No capacity, at most a block of padding a group, differentiable: the
  one to use where groups are unbalanced (DeRF's cells are).
* `grouped_apply` (capacity buffers): the inputs are ranked within their
  group (one stable argsort of the group ids), scattered into a buffer
  [G, capacity, D], the groups run on their rows at once, and the results
  are gathered back. Overflow (inputs past their group's capacity) is
  never dropped: the inputs of rank r in their group go in round r //
  capacity, and rounds after the first run in a `jax.lax.while_loop`
  until every input is evaluated, so the result is exact whatever the
  balance, but an unbalanced call costs G times its largest group.
  `Dispatch.overflow` counts the inputs past the first round and
  `Dispatch.rounds` the rounds run. The while loop makes it forward-only
  (no reverse-mode gradient).
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp


def stacked_params(module, shapes, num_groups: int, kernel_init) -> dict:
  """Declares G networks' stacked layers on a flax `module` (in its
  setup): {name: (kernel [G, in, out] named `<name>_kernel`, which
  losses.kernel_l2 reads as a kernel; bias [G, out] of zeros)} for each
  (name, in, out) of `shapes`. kernel_init must treat axis 0 as a batch
  axis (`batch_axis=(0,)`)."""
  return {name: (module.param(f"{name}_kernel", kernel_init,
                              (num_groups, i, o)),
                 module.param(f"{name}_bias", nn.initializers.zeros,
                              (num_groups, o)))
          for name, i, o in shapes}


def stacked_dense(kernel: jax.Array, bias: jax.Array,
                  x: jax.Array) -> jax.Array:
  """G dense layers at once: kernel [G, I, O], bias [G, O]; x [G, C, I]
  (group g's own rows) or [C, I] (the same rows for every group) ->
  [G, C, O]."""
  if x.ndim == 2:
    y = jnp.einsum("ci,gio->gco", x, kernel)
  else:
    y = jnp.einsum("gci,gio->gco", x, kernel)
  return y + bias[:, None, :]


def capacity(num_items: int, num_groups: int, factor: float) -> int:
  """Rows a group takes in one round: ceil(M / G * factor), in [1, M]."""
  return max(1, min(num_items, math.ceil(num_items / num_groups * factor)))


@flax.struct.dataclass
class Dispatch:
  """Where each of M inputs goes.

  group: [M] int32 its group; slot: [M] int32 its row in the group's
  buffer; round: [M] int32 the round it is evaluated in (rank //
  capacity); counts: [G] int32 inputs a group; overflow: [] int32 inputs
  past the first round; rounds: [] int32 rounds needed (at least 1).
  """

  group: jax.Array
  slot: jax.Array
  round: jax.Array
  counts: jax.Array
  overflow: jax.Array
  rounds: jax.Array


def stable_group_order(groups: jax.Array, num_groups: int) -> jax.Array:
  """jnp.argsort(groups, stable=True) for int32 groups [M] in [0,
  num_groups). Where group and index fit one int32 key (group * 2^b +
  index, 2^b >= M), one sort of those keys: XLA's CPU sorts one operand
  several times faster than argsort's (key, index) pairs
  (bench/group_sort_speed.py; docs/BENCHMARKS.md, row KN12)."""
  m = groups.shape[0]
  bits = max(1, (m - 1).bit_length())
  if num_groups << bits >= 2**31:
    return jnp.argsort(groups, stable=True)
  index = jnp.arange(m, dtype=jnp.int32)
  return jnp.sort(jnp.left_shift(groups, bits) | index) & ((1 << bits) - 1)


def dispatch(groups: jax.Array, num_groups: int, cap: int) -> Dispatch:
  """The Dispatch of inputs with group ids [M] (in [0, num_groups)) into
  buffers of `cap` rows a group."""
  m = groups.shape[0]
  groups = groups.astype(jnp.int32)
  order = stable_group_order(groups, num_groups)
  counts = jnp.bincount(groups, length=num_groups).astype(jnp.int32)
  starts = jnp.cumsum(counts) - counts
  rank_sorted = jnp.arange(m, dtype=jnp.int32) - starts[groups[order]]
  rank = jnp.zeros((m,), jnp.int32).at[order].set(rank_sorted)
  return Dispatch(
      group=groups, slot=rank % cap, round=rank // cap, counts=counts,
      overflow=jnp.sum(jnp.maximum(counts - cap, 0)),
      rounds=jnp.maximum(1, (jnp.max(counts) + cap - 1) // cap))


def grouped_apply(fn: Callable[[jax.Array], jax.Array], inputs: jax.Array,
                  groups: jax.Array, num_groups: int, cap: int
                  ) -> tuple[jax.Array, Dispatch]:
  """Each input evaluated by its own group's network.

  Args:
    fn: [G, cap, D] -> [G, cap, O], row block g through network g (e.g.
      `stacked_dense` layers); pure, so it may run in a while loop.
    inputs: [M, D].
    groups: [M] int group ids in [0, num_groups).
    cap: rows a group takes per round (`capacity`).
  Returns:
    (outputs [M, O], the Dispatch). Forward only (see the module
    docstring).
  """
  d = dispatch(groups, num_groups, cap)
  buffer = jnp.zeros((num_groups, cap, inputs.shape[-1]), inputs.dtype)

  def run(r):
    """[M, O] results of round r's inputs (rows of the others: garbage)."""
    # Inputs of other rounds go to group G, out of range: dropped.
    target = jnp.where(d.round == r, d.group, num_groups)
    filled = buffer.at[target, d.slot].set(inputs, mode="drop")
    return fn(filled)[d.group, d.slot]

  first = run(0)
  out = jnp.where((d.round == 0)[:, None], first, 0.0)

  def body(state):
    r, out = state
    return r + 1, jnp.where((d.round == r)[:, None], run(r), out)

  _, out = jax.lax.while_loop(lambda state: state[0] < d.rounds, body,
                              (jnp.int32(1), out))
  return out, d


def block_size(num_items: int, num_groups: int, blocks_per_group: int = 4,
               minimum: int = 64) -> int:
  """Rows a block of `blocked_apply`: an even share M / G split in about
  `blocks_per_group` blocks, at least `minimum` (fewer, larger matmuls),
  at most M."""
  share = math.ceil(num_items / (num_groups * blocks_per_group))
  return max(1, min(num_items, max(minimum, share)))


def blocked_apply(fn: Callable, params, inputs: jax.Array,
                  groups: jax.Array, num_groups: int, block: int,
                  valid: jax.Array | None = None, slabs: int = 8
                  ) -> tuple[jax.Array, jax.Array]:
  """Each input evaluated by its own group's network, in blocks: no
  capacity and no overflow, whatever the balance.

  The inputs, sorted by group, fill blocks of `block` rows, each group
  starting a new block (the static number of blocks, ceil(M / block) + G,
  bounds any split); a block takes its group's parameters (gathered, [K,
  ...]), and the blocks run as batched evaluations. The cost is the rows
  used, M plus at most a block of padding a group that has inputs: the
  blocks are cut into `slabs` slabs evaluated in turn, and a slab past the
  used rows is skipped (`lax.cond` in a `lax.scan`, so reverse mode still
  works), which matters where most of the G groups are empty (KiloNeRF's
  thousands of networks) or most inputs are `valid` False. Against the
  capacity dispatch (`grouped_apply`) that costs G * (the largest
  group's rows) where one group holds most inputs. Differentiable.

  Args:
    fn: (params with leading axis [K], x [K, block, D]) -> [K, block, O]:
      block k through the network of the parameters in row k (e.g.
      `stacked_dense` layers).
    params: a pytree of arrays with leading axis [G] (stacked networks).
    inputs: [M, D]; groups: [M] int group ids in [0, num_groups).
    valid: optional [M] bool: inputs evaluated (the others take no row
      and get zeros).
  Returns:
    (outputs [M, O], [] int32 rows evaluated, padding included).
  """
  m = inputs.shape[0]
  params = jax.tree.map(jnp.asarray, params)
  slabs = max(1, min(slabs, -(-m // block) + num_groups))
  per_slab = -(-(-(-m // block) + num_groups) // slabs)  # blocks a slab
  num_blocks = per_slab * slabs
  groups = groups.astype(jnp.int32)
  if valid is not None:  # one more group, never evaluated
    groups = jnp.where(valid, groups, num_groups)
  d = dispatch(groups, num_groups + 1, m)  # one round: slot = rank in group
  counts = d.counts[:num_groups]
  padded = -(-counts // block) * block  # [G] rows a group takes
  ends = jnp.cumsum(padded)
  used = ends[-1]
  starts = jnp.concatenate([ends - padded, jnp.zeros((1,), ends.dtype)])
  # Invalid inputs: a row past the buffer, dropped on the way in, zeros
  # on the way out.
  row = jnp.where(d.group < num_groups, starts[d.group] + d.slot,
                  num_blocks * block)
  buffer = jnp.zeros((num_blocks * block, inputs.shape[-1]), inputs.dtype)
  buffer = buffer.at[row].set(inputs, mode="drop").reshape(
      slabs, per_slab, block, -1)
  # Block k's group: the first whose rows end after the block's start
  # (blocks past the used rows get the last group; their rows are unread).
  owner = jnp.minimum(jnp.searchsorted(ends, jnp.arange(num_blocks) * block,
                                       side="right"), num_groups - 1)
  owner = owner.reshape(slabs, per_slab)
  out_shape = jax.eval_shape(
      lambda: fn(jax.tree.map(lambda p: p[owner[0]], params), buffer[0]))

  def slab(_, xs):
    i, x, own = xs
    y = jax.lax.cond(
        i * per_slab * block < used,
        lambda: fn(jax.tree.map(lambda p: p[own], params), x),
        lambda: jnp.zeros(out_shape.shape, out_shape.dtype))
    return None, y

  _, out = jax.lax.scan(slab, None, (jnp.arange(slabs), buffer, owner))
  out = out.reshape(num_blocks * block, -1)
  return jnp.take(out, row, axis=0, mode="fill", fill_value=0), used
