"""Field evaluations per ray of a trained run on its eval split, beside
the test PSNR: issue #39's NSVF target (at least 10x fewer than NeRF's
64 + 128 = 192 at equal or better PSNR).

  python bench/nsvf_evaluations.py --config=nsvf_demo \
      [--config.train_dir=RUN] [--config.test_view_limit=N]

The method must render the per-ray output `evaluations` (the samples of
each ray that reached the MLP, after empty space is skipped and rays are
stopped early; jaxnerf/methods/backbones/voxels.py). Prints, over every
ray of the views: the mean, the mean over rays that took any sample, the
largest, and the PSNR, wall and this process's CPU seconds a view.
"""

import sys
import time

import numpy as np

from jaxnerf.core import metrics
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine import cli, evaluator, parallel
from jaxnerf.errors import ConfigError

NERF_SAMPLES = 64 + 128


def job(config):
  renderer = evaluator.field_renderer(config, parallel.make_mesh())
  if "evaluations" not in renderer.outputs:
    raise ConfigError(f"config.method: {config.method} renders no "
                      "'evaluations' output")
  data = load_dataset(config, config.eval_split,
                      max_images=config.test_view_limit or None)
  counts, psnrs, walls, cpus = [], [], [], []
  wall, cpu = time.perf_counter(), time.process_time()
  for i, out in renderer.views(data):
    counts.append(np.asarray(out["evaluations"]).reshape(-1))
    psnrs.append(float(metrics.psnr(np.clip(out["rgb"], 0, 1),
                                    data.images[i])))
    now_wall, now_cpu = time.perf_counter(), time.process_time()
    walls.append(now_wall - wall)
    cpus.append(now_cpu - cpu)
    wall, cpu = now_wall, now_cpu
  counts = np.concatenate(counts)
  mean = float(counts.mean())
  hit = counts[counts > 0]
  # The first view pays for compilation.
  later = slice(1, None) if len(walls) > 1 else slice(None)
  print(f"step {renderer.step}, {len(psnrs)} {config.eval_split} views, "
        f"{counts.size} rays: evaluations per ray mean {mean:.2f} "
        f"({NERF_SAMPLES / max(mean, 1e-9):.1f}x fewer than NeRF's "
        f"{NERF_SAMPLES}), over the {hit.size} rays with any "
        f"{float(hit.mean()) if hit.size else 0.0:.2f}, max "
        f"{int(counts.max())}; PSNR {float(np.mean(psnrs)):.2f} dB; "
        f"a view {np.mean(walls[later]):.2f} s wall, "
        f"{np.mean(cpus[later]):.2f} s CPU of this process", flush=True)


def main(argv=None) -> int:
  return cli.main("bench/nsvf_evaluations.py", job, argv=argv)


if __name__ == "__main__":
  sys.exit(main())
