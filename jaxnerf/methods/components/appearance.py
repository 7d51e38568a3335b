"""Per-image appearance: NeRF-W's appearance codes (Martin-Brualla et al.,
CVPR 2021; NeRF-A), for any backbone with a colour branch (the
`colour_condition` hook of jaxnerf.methods.base).

Each training image has a code (`appearance_dim`, GLO: optimised with the
field, not inferred) that joins the view direction at the colour branch of
the backbone's last level, so each photo's exposure and white balance live
in its code, not in the geometry. The coarser levels (used for sampling)
see no code.

Test views: the code starts from the mean of the trained codes and is
fitted on the left half of the image with the rest of the model frozen,
the static render only (a transient head stays out of it); scores are taken
on the right half (`test_time`). `--config.eval_rows_of=N` renders with
training image N's appearance instead; `path_rows_from` / `path_rows_to`
blend two photos' appearances along the render path. The field interface
(`radiance`) uses the mean code.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxnerf.methods import base
from jaxnerf.render import losses


def appearance_fields() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.appearance_dim = 48  # 0: no codes
  c.appearance_init_std = 1.0  # codes start N(0, std^2), as nn.Embedding
  c.update(base.schedule_fields("appearance_", 5e-4, 5e-5))
  # Test views: Adam on the appearance code, left half of the image.
  c.update(base.test_time_fields(64, 0.05, 512))
  return c


def code_table(module, name: str, num_cameras: int, dim: int, std: float):
  """A per-camera code table [num_cameras, dim], or None when dim is 0."""
  if dim == 0:
    return None
  return base.per_camera_param(module, name, num_cameras,
                               nn.initializers.normal(std), (dim,))


class Appearance(nn.Module):
  """The component's submodule: the code table `appearance`."""

  config: Any
  num_cameras: int
  levels: tuple[str, ...]

  def setup(self):
    c = self.config
    self.appearance = code_table(self, "appearance", self.num_cameras,
                                 c.appearance_dim, c.appearance_init_std)

  def colour_condition(self, camera: Optional[jax.Array], num_rays: int,
                       level: str) -> Optional[jax.Array]:
    """[N, appearance_dim] codes of the rays' cameras [N] at the last
    level (camera None: the mean code), else None."""
    if self.appearance is None or level != self.levels[-1]:
      return None
    if camera is not None:
      return self.appearance.value[camera]
    mean = jnp.mean(self.appearance.value, axis=0)
    return jnp.broadcast_to(mean, (num_rays,) + mean.shape)


def static_fit_loss(config, outputs, rays, rgb, params):
  """Test-time loss: the static render (with the code being fitted) against
  the image; a transient head stays out of it."""
  del config, params
  last = outputs[-1]
  return {"rgb": losses.weighted_mse(last["rgb"], rgb,
                                     losses.ray_weights(last, rays))}


COMPONENT = base.Component(
    name="per_image_appearance",
    fields=appearance_fields,
    module=lambda config, scene, levels: Appearance(
        config=config, num_cameras=scene.num_cameras, levels=levels),
    shared_scope=True,
    param_groups=(base.ParamGroup(
        "appearance", prefix="appearance_", per_camera=True,
        eval_init="mean", transferable=True,
        match=lambda path: path[-1] == "appearance"),),
    test_time=base.TestTime(fit="left_half", score="right_half",
                            loss=static_fit_loss),
)
