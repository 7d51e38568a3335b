"""The peer ghif/jax-gs (pure-JAX 3DGS with inria's clone/split/prune in
padded pools) trained on the same views, resolution and white background
as a splat config, on this CPU: steps a second and test PSNR after the same
number of steps, for issue #35's comparison.

  git -C <mirror of ghif/jax-gs> archive HEAD jax_gs | tar -x -C PEER
  pip install chex          # the peer's one extra dependency
  python bench/peer_jax_gs.py --config=splat_demo --peer=PEER --steps=2500

The peer's own recipe (its train.py at ae29f29): its optimiser and learning
rates, densification every 500 steps from 500 to 15 000 gated on its tile
health, opacity reset every 3000 steps, one more SH degree every 1000
steps. What is ours: the data (config.data_dir through our loader), the
initial points (config.splat_init_count uniform in the config's
splat_box, random colours, as our `box` init), its pool size
(config.splat_count) and the white background (the peer renders black:
its render is given a white one, in the loss too). Nothing is written.
"""

import functools
import os
import sys
import time

import numpy as np

from jaxnerf.engine import cli


def flags():
  p = cli.FlagParser(prog="bench/peer_jax_gs.py",
                     description=__doc__.split("\n")[0])
  p.add_argument("--peer", required=True,
                 help="a folder holding the peer's jax_gs package")
  p.add_argument("--steps", type=cli.integer(100), default=2500,
                 help="training steps (a multiple of 100: its blocks)")
  p.add_argument("--seed", type=cli.integer(0), default=0)
  return p


def opencv_w2c(c2w: np.ndarray) -> np.ndarray:
  """[4, 4] OpenCV world-to-camera of an OpenGL camera-to-world [3, 4]."""
  m = np.eye(4)
  m[:3] = c2w
  m[:3, 1:3] *= -1.0  # y down, z forward
  return np.linalg.inv(m)


def job(config, args):
  from jaxnerf.errors import ConfigError
  if not os.path.isdir(os.path.join(args.peer, "jax_gs")):
    raise ConfigError(f"--peer: {args.peer}: holds no jax_gs package")
  if args.steps % 100:
    raise ConfigError(f"--steps: {args.steps} is not a multiple of 100")
  sys.path.insert(0, os.path.abspath(args.peer))
  import jax
  import jax.numpy as jnp
  import optax
  from jax_gs.core.camera import Camera
  from jax_gs.core.gaussians import Gaussians, init_gaussians_from_pcd
  from jax_gs.renderer import renderer
  from jax_gs.training import density, trainer
  from jaxnerf.data.dataset import load_dataset

  white = jnp.ones(3)
  render = functools.partial(renderer.render, background=white)
  trainer.render = render  # the loss renders on white too

  train = load_dataset(config, "train")
  test = load_dataset(config, "test")
  h, w = train.images[0].shape[:2]
  cams = train.cameras
  static = (int(w), int(h), float(cams.fx[0]), float(cams.fy[0]),
            float(cams.cx[0]), float(cams.cy[0]))
  targets = jnp.asarray(np.stack(train.images)[..., :3], jnp.float32)
  w2cs = jnp.asarray(np.stack([opencv_w2c(c) for c in cams.camtoworlds]),
                     jnp.float32)
  rng = np.random.default_rng(args.seed)
  count = config.splat_init_count
  points = rng.uniform(-config.splat_box, config.splat_box, (count, 3))
  colours = rng.uniform(0, 1, (count, 3))
  gaussians = init_gaussians_from_pcd(jnp.asarray(points, jnp.float32),
                                      jnp.asarray(colours, jnp.float32))
  extent = float(np.max(np.linalg.norm(points - points.mean(0), axis=1)))
  lr0, lr1 = 0.00016 * extent * 3.0, 0.0000016 * extent * 3.0
  labels = Gaussians(means="means", scales="scales",
                     quaternions="quaternions", opacities="opacities",
                     sh_coeffs="sh_coeffs")
  optimizer = optax.multi_transform({
      "means": optax.adam(optax.exponential_decay(lr0, args.steps,
                                                  lr1 / lr0)),
      "scales": optax.adam(0.005), "quaternions": optax.adam(0.001),
      "opacities": optax.adam(0.05), "sh_coeffs": optax.adam(0.0025)},
                                    labels)
  state = density.init_density_state(gaussians, optimizer,
                                     config.splat_count)

  @functools.partial(jax.jit, static_argnums=(2,))
  def block(state, key, degree):
    idx = jax.random.randint(key, (100,), 0, targets.shape[0])

    def one(state, i):
      state, loss, metrics = trainer.train_step(
          state, targets[i], w2cs[i], static, optimizer, False, degree)
      return state, (loss, metrics["overflow_interactions"])

    return jax.lax.scan(one, state, idx)

  densify = jax.jit(lambda s, k, on: density.densify_and_prune(
      s, k, densify_enabled=on, extent=extent, grad_threshold=0.0002))
  reset = jax.jit(density.reset_opacities)
  key = jax.random.PRNGKey(args.seed)
  degree, seconds, timed = 0, 0.0, 0
  for b in range(args.steps // 100):
    key, sub, dkey = jax.random.split(key, 3)
    start = time.perf_counter()
    state, (losses, overflow) = block(state, sub, degree)
    jax.block_until_ready(losses)
    it = (b + 1) * 100
    if 500 < it <= 15000 and it % 500 == 0:
      state = densify(state, dkey, True)
      if it % 3000 == 0:
        state = reset(state)
      jax.block_until_ready(state.active_mask)
    spent = time.perf_counter() - start
    if b:  # the first block compiles
      seconds, timed = seconds + spent, timed + 100
    degree = min(3, it // 1000)
    print(f"step {it}: loss {float(jnp.mean(losses)):.4f} active "
          f"{int(state.active_mask.sum())}/{config.splat_count} overflow "
          f"{int(jnp.max(overflow))} ({spent:.1f} s)", flush=True)
  active = np.asarray(state.active_mask)
  final = Gaussians(**{k: np.asarray(getattr(state.gaussians, k))[active]
                       for k in ("means", "scales", "quaternions",
                                 "opacities", "sh_coeffs")})
  tcams = test.cameras
  psnrs = []
  for i, image in enumerate(test.images):
    camera = Camera(W=int(w), H=int(h), fx=float(tcams.fx[i]),
                    fy=float(tcams.fy[i]), cx=float(tcams.cx[i]),
                    cy=float(tcams.cy[i]),
                    W2C=jnp.asarray(opencv_w2c(tcams.camtoworlds[i]),
                                    jnp.float32), full_proj=jnp.eye(4))
    out, _ = render(final, camera, sh_degree=degree)
    mse = float(np.mean((np.clip(np.asarray(out), 0, 1) -
                         np.asarray(image)[..., :3]) ** 2))
    psnrs.append(-10 * np.log10(mse))
  print(f"peer ghif/jax-gs: {args.steps} steps, {timed / seconds:.2f} "
        f"steps/s (blocks after the first), {int(active.sum())} Gaussians; "
        f"test PSNR {np.mean(psnrs):.2f} dB over {len(psnrs)} views")


def main(argv=None) -> int:
  return cli.main("bench/peer_jax_gs.py", job, flags(), argv)


if __name__ == "__main__":
  sys.exit(main())
