"""A brute-force ray-triangle caster (Moller-Trumbore) for checking
rendered depth against a mesh: every ray against every triangle, in
chunks of rays."""

import numpy as np


def first_hits(verts: np.ndarray, faces: np.ndarray, origins: np.ndarray,
               directions: np.ndarray, chunk: int = 256
               ) -> tuple[np.ndarray, np.ndarray]:
  """Distance t (in units of each direction's length; inf for a miss)
  and the triangle hit [R] of rays origins/directions [R, 3]."""
  tri = verts[faces].astype(np.float64)  # [F, 3, 3]
  v0, e1, e2 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
  ts, ids = [], []
  for start in range(0, len(origins), chunk):
    o = origins[start:start + chunk, None].astype(np.float64)
    d = directions[start:start + chunk, None].astype(np.float64)
    p = np.cross(d, e2)
    det = np.einsum("rfk,fk->rf", p, e1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = o - v0
    u = np.einsum("rfk,rfk->rf", s, p) * inv
    q = np.cross(s, e1)
    v = np.einsum("rk,rfk->rf", d[:, 0], q) * inv
    t = np.einsum("fk,rfk->rf", e2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
    t = np.where(hit, t, np.inf)
    ids.append(np.argmin(t, axis=1))
    ts.append(np.min(t, axis=1))
  return np.concatenate(ts), np.concatenate(ids)
