"""NerfingMVS (Wei et al., ICCV 2021): a per-scene depth prior from SfM's
sparse depths sets each ray's sampling range, [D (1 - e), D (1 + e)] with e
the prior's multi-view consistency error, clamped.

The ranges are made when the data loads (jaxnerf/data/depth_prior.py: the
prior fitted from the sparse depths, there being no pretrained monocular
network offline) and travel as the rays' per-ray near/far, so any backbone
and sampler uses them unchanged; this module adds the component's fields
and its optional depth term.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxnerf.data import depth_prior
from jaxnerf.methods import base
from jaxnerf.methods.backbones import mlp


def depth_term(depth: jax.Array, acc: jax.Array, near: jax.Array,
               far: jax.Array, lossmult: jax.Array) -> jax.Array:
  """The mean of lossmult ((depth - acc c) / h)^2 over the rays: the
  rendered depth's distance from the centre c of the ray's prior range in
  units of its half width h (so it weighs the same in NDC and metric t;
  in NDC the centre is the prior's depth D within a factor 1 - e^2).

  Args:
    depth: [N] expected t (unnormalised: sum of weights times t); acc [N]
      the weights' sum; near, far, lossmult: [N, 1] the rays'.
  """
  centre = 0.5 * (near + far)[:, 0]
  half = jnp.maximum(0.5 * (far - near)[:, 0], 1e-6)
  residual = (depth - acc * centre) / half
  return jnp.mean(lossmult[:, 0] * residual**2)


def loss_terms(config, outputs, rays, rgb, params) -> dict:
  del rgb, params
  if not config.depth_loss_weight:
    return {}
  last = outputs[-1]
  return {"depth_prior": config.depth_loss_weight * depth_term(
      last["depth"], last["acc"], rays.near, rays.far, rays.lossmult)}


class DepthPrior(nn.Module):
  """No parameters and no hooks: the prior acts through the rays' near/far
  (set by the data) and the loss term."""

  def __call__(self):
    return None


COMPONENT = base.Component(
    name="depth_prior",
    fields=depth_prior.fields,
    module=lambda config, scene, levels: DepthPrior(),
    loss_terms=loss_terms,
)

# On the MLP only (the paper's NeRF): the component holds nothing a
# backbone must call, so `base.compose` puts it on any other in one line;
# each backbone here costs the test suite its contract cases.
METHOD = base.compose("nerfingmvs", {"mlp": mlp.BACKBONE},
                      components=(COMPONENT,))
