"""Semantics: Semantic-NeRF's class head (Zhi et al., ICCV 2021), for any
backbone whose last level exposes its samples (the `render_samples` hook
of jaxnerf.methods.base).

Per sample, a small MLP maps the density trunk's features (the MLP's
trunk, the hash grid's density-MLP features: before the view direction
enters, as the paper's, so a class cannot depend on the view) to logits
over `num_classes` classes. They are composited with the colour's own
weights, s(r) = sum_k T_k alpha_k s_k, plus (1 - acc) times a learned
background logit vector: the data's "no surface" pixels (class 0 of the
generator's scenes) are labelled, and a ray through empty space would
otherwise have all-zero logits, a uniform guess, as a white background
needs its (1 - acc) white.

Loss: the softmax cross-entropy of the composited logits against the
pixel's label, averaged over the batch's rays that have one (label >= 0,
and in the backbone's loss: its loss mask), times `semantic_loss_mult`
(the paper's 0.04). Labels reach the loss as the last level's
`target_labels` (jaxnerf.engine.training.TrainData.labels); where the
data has none (a test-time fit, a scene without labels) there is no term.

Outputs: `semantic`, the class id of the composited logits' maximum (int
[N]; eval.py draws it in a fixed palette and scores mIoU on views with
labels) and `semantic_confidence`, that class's softmax probability.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxnerf.methods import base
from jaxnerf.render import losses


def semantic_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Classes of the labels (ids 0 .. num_classes - 1; a larger id in the
  # data is an error naming its file).
  c.num_classes = 7  # the generator's tabletop: no surface + 6 shapes
  c.semantic_loss_mult = 0.04  # the paper's lambda
  # The head: hidden layers of semantic_width on the trunk's features (the
  # paper: one layer of 128 on NeRF's 256-wide trunk).
  c.semantic_layers = 1
  c.semantic_width = 64
  # Whether the class term reaches the density through the compositing
  # weights (the paper: one loss over a shared field). False holds the
  # weights constant for it (same forward pass): wrong labels that are
  # structured, not random (1/8-resolution labels wrong along every
  # edge), then cannot move the geometry to fit them.
  c.semantic_density_gradient = True
  # The training labels' corruption (jaxnerf.data.labels.corrupt, from
  # config.seed): a share of pixels replaced by random classes, the share
  # of labelled pixels kept, labels at 1/label_downscale resolution
  # ("nearest": upsampled back to every pixel; "sparse": only the
  # low-resolution pixels' centres labelled).
  c.label_noise = 0.0
  c.label_sparsity = 1.0
  c.label_downscale = 1
  c.label_downscale_mode = "nearest"
  return c


class SemanticHead(nn.Module):
  """Features [M, F] -> logits [M, num_classes]."""

  num_classes: int
  layers: int
  width: int

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    h = features
    for i in range(self.layers):
      h = nn.relu(nn.Dense(self.width, name=f"hidden_{i}")(h))
    return nn.Dense(self.num_classes, name="logits")(h)


def composite_logits(logits: jax.Array, density: jax.Array,
                     layout: base.SampleLayout, background: jax.Array,
                     density_gradient: bool = True
                     ) -> tuple[jax.Array, jax.Array]:
  """(logits [N, K], acc [N]) of samples' logits [M, K] and densities [M]
  composited with the colour's weights T_k (1 - exp(-sigma_k delta_k)),
  plus (1 - acc) background [K]; density_gradient False: the weights are
  constants for the gradient."""
  weights = layout.weights(density)[1]
  if not density_gradient:
    weights = jax.lax.stop_gradient(weights)
  acc = layout.ray_sum(weights)
  return (layout.ray_sum(weights[:, None] * logits) +
          (1.0 - acc)[:, None] * background), acc


class Semantics(nn.Module):
  """The component's submodule: the head `semantic_head` and the
  background's logits `semantic_background`."""

  config: Any
  levels: tuple[str, ...]

  def setup(self):
    c = self.config
    self.semantic_head = SemanticHead(c.num_classes, c.semantic_layers,
                                      c.semantic_width)
    self.semantic_background = self.param(
        "semantic_background", nn.initializers.zeros, (c.num_classes,))

  def render_samples(self, out: dict, level: str, layout: base.SampleLayout,
                     features: jax.Array, rgb: jax.Array, density: jax.Array,
                     camera: jax.Array, progress: Optional[base.Progress]
                     ) -> dict:
    """The last level's class maps from its samples' features [M, F] and
    densities [M]."""
    del out, rgb, camera, progress
    if level != self.levels[-1]:
      return {}
    logits, _ = composite_logits(self.semantic_head(features), density,
                                 layout, self.semantic_background,
                                 self.config.semantic_density_gradient)
    probs = jax.nn.softmax(logits, axis=-1)
    return dict(semantic_logits=logits,
                semantic=jnp.argmax(logits, axis=-1).astype(jnp.int32),
                semantic_confidence=jnp.max(probs, axis=-1))


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  weights: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of logits [N, K] against labels [N] (-1:
  none, left out) with ray weights [N]; 0 where no ray has a label."""
  has = (labels >= 0) * weights
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits, jnp.maximum(labels, 0))
  return jnp.sum(has * ce) / jnp.maximum(jnp.sum(has), 1e-9)


def loss_terms(config, outputs, rays, rgb, params) -> dict:
  del rgb, params
  last = outputs[-1]
  if "target_labels" not in last:
    return {}
  return {"semantic": config.semantic_loss_mult * cross_entropy(
      last["semantic_logits"], last["target_labels"],
      losses.ray_weights(last, rays))}


COMPONENT = base.Component(
    name="semantics",
    fields=semantic_fields,
    module=lambda config, scene, levels: Semantics(config=config,
                                                   levels=levels),
    loss_terms=loss_terms,
    outputs={"semantic": "classes", "semantic_confidence": "scalar"},
)
