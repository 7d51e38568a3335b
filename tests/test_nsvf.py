"""NSVF's sparse-voxel backbone: the vertex interpolation by hand,
subdivision that keeps the field, self-pruning on a crafted field, the
marcher's skipping and early termination on hand-counted rays, and its
config checks."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxnerf.core.rays import Rays
from jaxnerf.engine import config as config_lib
from jaxnerf.errors import ConfigError
from jaxnerf.methods import base, nsvf
from jaxnerf.methods.backbones import voxels


def tiny(**fields):
  c = config_lib.method_config("nsvf")
  c.update(dict(nsvf_initial_resolution=4, nsvf_subdivide_steps=(),
                nsvf_prune_steps=(), nsvf_embedding_dim=4,
                nsvf_steps_per_voxel=2, nsvf_update_every=1,
                density_width=8, color_width=8, color_layers=1,
                samples_budget=256, render_samples_per_ray=16,
                early_stop_eps=0.0))
  c.update(fields)
  return c


def rays_along_x(offsets):
  """Rays [N] from x = -3 along +x through (y, z) = offsets [N, 2]."""
  n = len(offsets)
  o = np.concatenate([np.full((n, 1), -3.0), np.asarray(offsets)], 1)
  d = np.tile([[1.0, 0.0, 0.0]], (n, 1))
  col = lambda v: jnp.full((n, 1), v, jnp.float32)
  return Rays(origins=jnp.asarray(o, jnp.float32),
              directions=jnp.asarray(d, jnp.float32),
              viewdirs=jnp.asarray(d, jnp.float32), radii=col(0.001),
              lossmult=col(1.0), near=col(0.0), far=col(10.0),
              camera_index=jnp.zeros((n, 1), jnp.int32), time=col(0.0),
              light=col(0.0))


def test_vertex_interpolation_by_hand():
  table = jnp.asarray(np.random.default_rng(0).normal(size=(27, 2)),
                      jnp.float32)  # R = 2: 3^3 vertices
  at = lambda i, j, k: np.asarray(table)[i + 3 * (j + 3 * k)]
  # Stride 1: the cell (0, 1, 0), local (0.25, 0.5, 0.75).
  got, local = voxels.interpolate(table, jnp.asarray([[0.25, 1.5, 0.75]]),
                                  1, 2)
  want = 0.0
  for di, wi in ((0, 0.75), (1, 0.25)):
    for dj, wj in ((0, 0.5), (1, 0.5)):
      for dk, wk in ((0, 0.25), (1, 0.75)):
        want = want + wi * wj * wk * at(di, 1 + dj, dk)
  np.testing.assert_allclose(got[0], want, rtol=1e-6)
  np.testing.assert_allclose(local[0], [0.25, 0.5, 0.75])
  # Stride 2: one voxel, read at its corners (vertices 0 and 2) only.
  got, _ = voxels.interpolate(table, jnp.asarray([[1.0, 0.5, 2.0]]), 2, 2)
  want = 0.0
  for i, wi in ((0, 0.5), (2, 0.5)):
    for j, wj in ((0, 0.75), (2, 0.25)):
      want = want + wi * wj * at(i, j, 2)  # z = 2: the far face
  np.testing.assert_allclose(got[0], want, rtol=1e-6)


def test_subdivision_keeps_the_field():
  c = tiny(nsvf_initial_resolution=2, nsvf_subdivide_steps=(3, 5))
  r = voxels.final_resolution(c)
  assert r == 8
  assert [int(voxels.stride_at(c, s)) for s in range(7)] == [4, 4, 4, 2, 2,
                                                             1, 1]
  table = jnp.asarray(np.random.default_rng(1).normal(size=((r + 1)**3, 3)),
                      jnp.float32)
  u = jnp.asarray(np.random.default_rng(2).uniform(0, r, (200, 3)),
                  jnp.float32)
  before = voxels.interpolate(table, u, 4, r)[0]
  params, _ = voxels.subdivide_after_step(c, {"embeddings": table}, None,
                                          jnp.int32(3), None, None)
  after = voxels.interpolate(params["embeddings"], u, 2, r)[0]
  np.testing.assert_allclose(after, before, atol=1e-5)
  # The old voxels' corners keep their values; a step off the schedule
  # leaves the table alone.
  corners = voxels.vertex_index(jnp.asarray([[0, 4, 8], [8, 8, 4]]), r)
  np.testing.assert_array_equal(params["embeddings"][corners],
                                table[corners])
  assert not np.allclose(params["embeddings"], table)
  same, _ = voxels.subdivide_after_step(c, {"embeddings": table}, None,
                                        jnp.int32(4), None, None)
  np.testing.assert_array_equal(same["embeddings"], table)


def test_pruning_removes_exactly_the_thin_voxels():
  # R = 4 finest cells per axis, voxels of stride 2: 2^3 voxels.
  r, threshold = 4, -np.log(0.5)  # 0.693
  density = np.full((r, r, r), 5.0)  # [z, y, x]
  density[0:2, 0:2, 0:2] = 0.0  # voxel (0, 0, 0): empty
  density[0:2, 0:2, 0:2][1, 1, 1] = 0.7  # ... but one cell above 0.693
  density[0:2, 0:2, 2:4] = 0.6  # voxel (1, 0, 0): everywhere below
  density[2:4, 2:4, 2:4] = 0.0  # voxel (1, 1, 1): empty
  mask = np.ones((r, r, r), bool)
  mask[2:4, 0:2, 0:2] = False  # voxel (0, 0, 1) was pruned before
  got = voxels.pruned(jnp.asarray(mask.reshape(-1)),
                      jnp.asarray(density.reshape(-1), jnp.float32), 2, 0.5)
  want = mask.copy()
  want[0:2, 0:2, 2:4] = False
  want[2:4, 2:4, 2:4] = False
  np.testing.assert_array_equal(np.asarray(got).reshape(r, r, r), want)
  assert 0.6 < threshold < 0.7
  # At stride 1 every cell is a voxel: the 0.6 and 0 cells go.
  got = voxels.pruned(jnp.asarray(mask.reshape(-1)),
                      jnp.asarray(density.reshape(-1), jnp.float32), 1, 0.5)
  np.testing.assert_array_equal(np.asarray(got).reshape(r, r, r),
                                mask & (density >= threshold))


def build(c, mask=None, cell_density=None):
  c = ml_collections.FrozenConfigDict(c)
  model = nsvf.METHOD.build_model(c, base.SceneInfo())
  rays = rays_along_x([[0.1, 0.1]])
  variables = model.init(jax.random.PRNGKey(0), rays, jax.random.PRNGKey(1),
                         False, base.Progress.at(0, 10))
  state = dict(variables["voxels"])
  if mask is not None:
    state["mask"] = jnp.asarray(mask)
  if cell_density is not None:
    state["cell_density"] = jnp.asarray(cell_density, jnp.float32)
  return model, {**variables, "voxels": state}


def test_rays_sample_only_occupied_voxels_and_stop_early():
  # R = 4 over [-1.5, 1.5]: voxels of 0.75, 2 steps a voxel: 8 samples
  # along x. Row (y, z) = (2, 2): only voxels x = 1 and x = 3 occupied;
  # row (1, 1): empty.
  c = tiny()
  grid = np.zeros((4, 4, 4), bool)  # [z, y, x]
  grid[2, 2, 1] = grid[2, 2, 3] = True
  model, variables = build(c, mask=grid.reshape(-1))
  rays = rays_along_x([[0.1, 0.1], [-0.5, -0.5]])
  out = model.apply(variables, rays, jax.random.PRNGKey(1), False,
                    base.Progress.at(0, 10))[0]
  np.testing.assert_array_equal(out["evaluations"], [4.0, 0.0])
  assert float(out["acc"][1]) == 0.0
  assert float(out["stats"]["samples_per_ray"]) == 2.0
  assert float(out["stats"]["nsvf_voxels"]) == 2.0
  # Early termination: voxel x = 1 dense in the estimate (each step's
  # thickness capped at 1), eps = exp(-1.5): samples are kept while the
  # thickness before them is below 1.5, i.e. the first two.
  density = np.zeros((4, 4, 4))
  density[2, 2, 1] = 1e3
  c = tiny(early_stop_eps=float(np.exp(-1.5)))
  model, variables = build(c, grid.reshape(-1), density.reshape(-1))
  out = model.apply(variables, rays, jax.random.PRNGKey(1), False,
                    base.Progress.at(0, 10))[0]
  np.testing.assert_array_equal(out["evaluations"], [2.0, 0.0])


def test_update_state_prunes_at_the_scheduled_step_only():
  # A fresh field's density is about exp(bias) ~ 1 everywhere: with
  # gamma = 0.01 (-log gamma = 4.6) every voxel is below and goes, at the
  # pruning step and not before.
  c = tiny(nsvf_prune_steps=(2,), nsvf_prune_gamma=0.01)
  model, variables = build(c)
  update = lambda step: model.apply(variables, jnp.int32(step),
                                    jax.random.PRNGKey(3),
                                    method="update_state",
                                    mutable=["voxels"])[1]["voxels"]
  assert bool(jnp.all(update(1)["mask"]))
  assert not bool(jnp.any(update(2)["mask"]))
  refreshed = update(1)["cell_density"]
  assert float(jnp.max(refreshed)) > 0.0  # the estimate was refreshed


@pytest.mark.parametrize("fields,message", [
    (dict(nsvf_subdivide_steps=(500, 300)),
     "config.nsvf_subdivide_steps: (500, 300) must be positive and strictly "
     "increasing"),
    (dict(nsvf_prune_steps=(100, 260)),
     "config.nsvf_prune_steps: 260 is not a multiple of nsvf_update_every"),
    (dict(nsvf_prune_gamma=1.5), "config.nsvf_prune_gamma: 1.5 must be in"),
    (dict(nsvf_initial_resolution=0),
     "config.nsvf_initial_resolution: 0 must be an integer >= 1"),
])
def test_bad_settings_name_the_field(fields, message):
  c = tiny(nsvf_update_every=50, **fields)
  with pytest.raises(ConfigError) as e:
    voxels.check_config(c)
  assert message in str(e.value)
  assert "\n" not in str(e.value)
