"""Test-split PSNR of a trained run: renders every test view, prints the mean.

  python bench/eval_psnr.py --config=llff_demo --config.train_dir=runs/x
"""

import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxnerf import host_memory  # noqa: E402


def main(argv):
  from jaxnerf import checkpoints, config as config_lib, metrics, models
  from jaxnerf import parallel, trainer, training
  from jaxnerf.datasets import load_dataset
  import jax
  import numpy as np
  config = config_lib.parse_args(argv[1:], "bench/eval_psnr.py --config=...")
  mesh = parallel.make_mesh()
  model = models.construct_model(config)
  optimizer = training.make_optimizer(config)
  state = training.create_train_state(model, optimizer, jax.random.PRNGKey(0))
  state = parallel.put_replicated(state, mesh)
  ckpt = checkpoints.Checkpointer(config.train_dir)
  state = ckpt.restore(state)
  render_fn = trainer.make_render_fn(model, mesh)
  test = load_dataset(config, config.eval_split)
  psnrs = []
  t0 = time.time()
  for rays, image, name in zip(test.rays, test.images, test.names):
    out = parallel.render_image(
        functools.partial(render_fn, trainer.variables_of(state)), rays,
        config.chunk, mesh)
    psnrs.append(float(metrics.psnr(out["rgb"], image)))
    print(f"{name}: {psnrs[-1]:.2f} dB", flush=True)
  result = dict(step=int(state.step), views=len(psnrs),
                mean_psnr=float(np.mean(psnrs)), psnrs=psnrs,
                render_s=time.time() - t0)
  print(json.dumps(result))
  with open(os.path.join(config.train_dir, "test_psnr.json"), "w") as f:
    json.dump(result, f, indent=1)
  ckpt.close()


if __name__ == "__main__":
  host_memory.reexec_with_huge_pages()  # faster XLA steps on CPU
  main(sys.argv)
