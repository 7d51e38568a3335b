import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnerf.core import trig


@pytest.mark.parametrize("bound", [4.0, 2.0**12, 2.0**16, 2.0**18])
def test_sin_cos_match_float64(bound):
  # The suite runs XLA at -O0 (no FMA contraction): the range reduction must
  # be exact without fusing, as in eager mode, where every op rounds.
  tol = 2.5e-7
  t = np.random.default_rng(0).uniform(-bound, bound, 200_000)
  t = t.astype(np.float32)
  exact = t.astype(np.float64)
  for sin in (jax.jit(trig.sin), trig.sin):  # compiled and op by op
    np.testing.assert_allclose(sin(t), np.sin(exact), rtol=0, atol=tol)
  # cos shifts the argument by pi/2 in float32 first: the reference does too.
  shifted = (t + np.float32(np.pi / 2)).astype(np.float64)
  np.testing.assert_allclose(jax.jit(trig.cos)(t), np.sin(shifted), rtol=0,
                             atol=tol)


def test_sin_at_special_points_and_symmetry():
  t = np.float32([0.0, np.pi / 2, -np.pi / 2, np.pi, 3 * np.pi / 2, 1e-3])
  np.testing.assert_allclose(trig.sin(t), np.sin(t.astype(np.float64)),
                             atol=3e-7)
  x = np.linspace(-50, 50, 1001, dtype=np.float32)
  np.testing.assert_allclose(trig.sin(-x), -trig.sin(x), atol=1e-7)


def test_sin_gradient_is_cos():
  t = np.linspace(-20, 20, 2001, dtype=np.float32)
  grad = jax.vmap(jax.grad(trig.sin))(jnp.asarray(t))
  np.testing.assert_allclose(grad, np.cos(t.astype(np.float64)), atol=1e-6)
