"""The microfacet reflectance the relighting methods share (Neural
Reflectance Fields, NeRV, NeRD): a Lambertian diffuse lobe plus the
Cook-Torrance specular lobe with GGX normals (Walter et al. 2007), Smith's
shadowing in Schlick's form with k = alpha / 2 (Karis 2013, as NeRD) and
Schlick's Fresnel; base colour, roughness and metallic as in Blender's
Principled BSDF (alpha = roughness^2; the specular colour is 0.04 for
dielectrics and the base colour for metals; metals have no diffuse lobe).

The diffuse lobe gets what the specular surface lets through both ways,
(1 - F(n.v)) (1 - F(n.l)) / (1 - F0) with Schlick's F at the two angles:
reciprocal, and a white surface reflects at most what it receives at
every angle of view (weighting by 1 - F(v.h), the usual shortcut, gives
up to 1.16 at grazing views).

Directions are unit vectors pointing away from the surface (towards the
viewer and towards the light).
"""

from __future__ import annotations

import jax.numpy as jnp

DIELECTRIC_F0 = 0.04  # Fresnel at normal incidence of an IOR 1.5 surface
MIN_ROUGHNESS = 0.02  # alpha^2 = 1.6e-7: a mirror's delta would be inf


def _dot(a, b):
  return jnp.sum(a * b, axis=-1, keepdims=True)


def ggx(n_dot_h: jnp.ndarray, alpha: jnp.ndarray) -> jnp.ndarray:
  """GGX normal distribution D(h) [...]; integrates (times n.h) to 1 over
  the hemisphere."""
  a2 = alpha * alpha
  denom = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0
  return a2 / (jnp.pi * denom * denom)


def smith_schlick(n_dot_v, n_dot_l, alpha):
  """Smith's separable shadowing-masking G(l, v) with Schlick's G1 and
  k = alpha / 2."""
  k = alpha / 2.0
  g1 = lambda c: c / (c * (1.0 - k) + k)
  return g1(n_dot_v) * g1(n_dot_l)


def fresnel_schlick(v_dot_h, f0):
  return f0 + (1.0 - f0) * (1.0 - v_dot_h) ** 5


def evaluate(normal, view, light, base_color, roughness, metallic=0.0):
  """BRDF value f(view, light) [..., 3] (per steradian).

  Args:
    normal, view, light: [..., 3] unit vectors.
    base_color: [..., 3] in [0, 1]; roughness, metallic: [...] or [..., 1]
      in [0, 1].
  Returns:
    [..., 3]; 0 where the light or the viewer is below the surface.
  """
  roughness = jnp.asarray(roughness)
  metallic = jnp.asarray(metallic)
  if roughness.ndim < base_color.ndim:
    roughness = roughness[..., None]
  if metallic.ndim < base_color.ndim:
    metallic = metallic[..., None]
  alpha = jnp.maximum(roughness, MIN_ROUGHNESS) ** 2
  half = view + light
  half = half / jnp.maximum(jnp.linalg.norm(half, axis=-1, keepdims=True),
                            1e-9)
  n_dot_v, n_dot_l = _dot(normal, view), _dot(normal, light)
  above = (n_dot_v > 0) & (n_dot_l > 0)
  n_dot_v, n_dot_l = jnp.maximum(n_dot_v, 1e-6), jnp.maximum(n_dot_l, 1e-6)
  n_dot_h = jnp.clip(_dot(normal, half), 0.0, 1.0)
  v_dot_h = jnp.clip(_dot(view, half), 0.0, 1.0)
  f0 = DIELECTRIC_F0 * (1.0 - metallic) + base_color * metallic
  fresnel = fresnel_schlick(v_dot_h, f0)
  specular = (ggx(n_dot_h, alpha) * smith_schlick(n_dot_v, n_dot_l, alpha)
              * fresnel / (4.0 * n_dot_v * n_dot_l))
  through = ((1.0 - fresnel_schlick(n_dot_v, f0)) *
             (1.0 - fresnel_schlick(n_dot_l, f0)) /
             jnp.maximum(1.0 - f0, 1e-3))
  diffuse = through * (1.0 - metallic) * base_color / jnp.pi
  return jnp.where(above, diffuse + specular, 0.0)


def reflected(normal, view, light, base_color, roughness, metallic=0.0):
  """f(view, light) (n . light)^+: the radiance towards `view` per unit
  irradiance arriving along `light` at normal incidence."""
  cosine = jnp.maximum(_dot(normal, light), 0.0)
  return evaluate(normal, view, light, base_color, roughness,
                  metallic) * cosine
