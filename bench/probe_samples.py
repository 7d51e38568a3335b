"""Samples per ray of a trained occupancy-grid model on an eval view, to
size `render_samples_per_ray` (the packed render budget per ray: rays past
it are cut short, so too small a value darkens the render; every padding
sample costs as much as a real one, so too large a value is slow).

  python bench/probe_samples.py --config=instant_ngp_capture \
      --config.data_dir=DIR --config.train_dir=RUN [--config.eval_split=test]

Prints the largest mean samples per ray over the view's chunks of
config.chunk rays (rendered with an ample budget) and a suggested
render_samples_per_ray (1.25 x that, rounded up to 8).
"""

import math
import sys

import jax
import numpy as np

from jaxnerf.engine import cli, evaluator, parallel, training
from jaxnerf.data.dataset import load_dataset


def job(config):
  mesh = parallel.make_mesh()
  _, model, state = evaluator.restore_latest(config, mesh)
  data = load_dataset(config, config.eval_split, max_images=1)
  rays = data.image_rays(0).reshape(-1)
  variables = parallel.to_host(training.variables_of(state))
  with config.unlocked():
    config.render_samples_per_ray = 1024
  model = model.clone(config=config)
  apply = jax.jit(lambda v, r: model.apply(
      v, r, jax.random.PRNGKey(0), False)[-1]["stats"]["samples_per_ray"])
  n = rays.shape[0]
  means = []
  for start in range(0, n - config.chunk + 1, config.chunk):
    chunk = jax.tree.map(lambda x: x[start:start + config.chunk], rays)
    means.append(float(apply(variables, chunk)))
  worst = max(means)
  print(f"samples per ray: mean {np.mean(means):.1f}, worst chunk "
        f"{worst:.1f}; suggested render_samples_per_ray "
        f"{8 * math.ceil(1.25 * worst / 8)}", flush=True)


def main(argv=None) -> int:
  return cli.main("bench/probe_samples.py", job, argv=argv)


if __name__ == "__main__":
  sys.exit(main())
