"""Semantic-NeRF (issue #38): labels, their corruptions and scores, the
class head's compositing and loss, and labels' way into the train step."""

import json
import os

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from jaxnerf.data import labels
from jaxnerf.data.dataset import load_dataset
from jaxnerf.engine import config as config_lib, evaluator, training
from jaxnerf.engine.trainer import stack_training_data
from jaxnerf.errors import ConfigError, DatasetError
from jaxnerf.methods import base
from jaxnerf.methods.components import semantics
from jaxnerf.synthetic import ground_truth

TABLETOP = os.path.join(REPO_ROOT, "data", "tabletop_100")
GRID_TINY = dict(sampler="proposal", hash_levels=4, hash_log2_size=10,
                 hash_max_resolution=64, batch_size=64, field_samples=8, proposal_samples=(8,),
                 proposal_hash_levels=2, proposal_hash_log2_size=8,
                 proposal_hash_max_resolution=16, proposal_width=8,
                 density_width=16, color_width=16, semantic_width=16)


def test_cross_entropy_against_hand_values():
  # Softmax of (0, log 3) is (1/4, 3/4).
  logits = jnp.array([[0.0, np.log(3.0)]] * 3)
  ce = semantics.cross_entropy(logits, jnp.array([1, 0, -1]),
                               jnp.ones(3))
  np.testing.assert_allclose(ce, (np.log(4 / 3) + np.log(4)) / 2, rtol=1e-6)
  # Ray weights (a loss mask) weigh the labelled rays; none labelled: 0.
  ce = semantics.cross_entropy(logits, jnp.array([1, 0, -1]),
                               jnp.array([3.0, 1.0, 5.0]))
  np.testing.assert_allclose(ce, (3 * np.log(4 / 3) + np.log(4)) / 4,
                             rtol=1e-6)
  assert float(semantics.cross_entropy(logits, -jnp.ones(3, jnp.int32),
                                       jnp.ones(3))) == 0.0


def test_miou_against_hand_values():
  true = np.array([[0, 0, 1], [1, 2, -1]])
  pred = np.array([[0, 1, 1], [1, 2, 0]])  # the unlabelled pixel is ignored
  counts = labels.confusion(true, pred, 4)
  np.testing.assert_array_equal(counts[:3, :3],
                                [[1, 1, 0], [0, 2, 0], [0, 0, 1]])
  miou, per_class = labels.iou(counts)
  # class 0: 1 / (1 + 1 missed); class 1: 2 / (2 + 1 false); class 2: 1;
  # class 3 neither labelled nor predicted: left out.
  assert per_class[3] is None
  np.testing.assert_allclose(per_class[:3], [0.5, 2 / 3, 1.0])
  np.testing.assert_allclose(miou, (0.5 + 2 / 3 + 1) / 3)
  # A class predicted but never labelled counts, with IoU 0.
  miou, per_class = labels.iou(labels.confusion(np.array([0, 0]),
                                                np.array([0, 3]), 4))
  assert per_class == [0.5, None, None, 0.0] and miou == 0.25
  # The evaluator's entries: summed counts of its class maps.
  scores = evaluator.semantic_scores({"semantic": counts})
  assert scores["miou"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
  assert scores["class_iou"][3] is None


def test_label_noise_changes_its_share_of_pixels_from_a_seed():
  truth = np.arange(200 * 200).reshape(200, 200) % 5
  truth[:10] = labels.NO_LABEL
  rng = lambda seed: np.random.default_rng(seed)
  noisy = labels.noise(truth, 0.5, 5, rng(0))
  labelled = truth != labels.NO_LABEL
  np.testing.assert_array_equal(noisy[~labelled], labels.NO_LABEL)
  # Half the labelled pixels drawn anew from 5 classes: 2/5 of them change.
  changed = np.mean(noisy[labelled] != truth[labelled])
  assert abs(changed - 0.5 * 4 / 5) < 0.01
  assert noisy.max() < 5 and noisy[labelled].min() >= 0
  np.testing.assert_array_equal(noisy, labels.noise(truth, 0.5, 5, rng(0)))
  assert np.mean(noisy != labels.noise(truth, 0.5, 5, rng(1))) > 0.3
  np.testing.assert_array_equal(labels.noise(truth, 0.0, 5, rng(0)), truth)


def test_label_sparsity_keeps_its_share_of_pixels():
  truth = np.arange(100 * 100).reshape(100, 100) % 7
  sparse = labels.sparsify(truth, 0.05, np.random.default_rng(3))
  kept = sparse != labels.NO_LABEL
  assert kept.sum() == 500
  np.testing.assert_array_equal(sparse[kept], truth[kept])
  other = labels.sparsify(truth, 0.05, np.random.default_rng(4))
  assert np.sum(kept & (other != labels.NO_LABEL)) < 100  # about 25


def test_label_downscale_takes_each_blocks_centre():
  truth = np.arange(20 * 20).reshape(20, 20)
  low = labels.downscale(truth, 8, "nearest")
  # Blocks of rows/columns 0-7, 8-15 and 16-19 (cut by the edge): centres
  # 4, 12 and 19 (clipped).
  assert low[0, 0] == truth[4, 4] and low[7, 15] == truth[4, 12]
  assert low[19, 19] == truth[19, 19] and low[16, 2] == truth[19, 4]
  assert len(np.unique(low)) == 9
  sparse = labels.downscale(truth, 8, "sparse")
  assert np.sum(sparse != labels.NO_LABEL) == 9
  assert sparse[12, 4] == truth[12, 4] and sparse[0, 0] == labels.NO_LABEL
  # The loaders' nearest downsampling of labels at a factor.
  np.testing.assert_array_equal(labels.downsample_nearest(truth, 2),
                                truth[1::2, 1::2])


def test_class_pictures_use_the_palette():
  picture = labels.picture(np.array([[0, 1], [-1, 11]]))
  np.testing.assert_allclose(picture[0, 0], labels.PALETTE[0])
  np.testing.assert_allclose(picture[1, 0], 0.0)
  np.testing.assert_allclose(picture[1, 1], labels.PALETTE[1])


def write_scene(folder, ids: np.ndarray):
  """A 2-view blender scene of 8 x 8 pixels whose ground truth has the
  class ids `ids` [8, 8] in view 0 (view 1: ids % 3)."""
  os.makedirs(folder / "train")
  frames = []
  for i, index in enumerate((ids, ids % 3)):
    iio.imwrite(folder / "train" / f"r_{i}.png",
                np.full((8, 8, 4), 128, np.uint8))
    ground_truth.write(str(folder / "train" / f"r_{i}_gt.npz"), dict(
        depth=np.ones((8, 8)), normal=np.zeros((8, 8, 3)),
        albedo=np.zeros((8, 8, 3)), roughness=np.zeros((8, 8)),
        metallic=np.zeros((8, 8)), index=index))
    pose = np.eye(4)
    pose[2, 3] = 4.0 + i
    frames.append({"file_path": f"./train/r_{i}",
                   "ground_truth": f"train/r_{i}_gt.npz",
                   "transform_matrix": pose.tolist()})
  with open(folder / "transforms_train.json", "w") as f:
    json.dump({"camera_angle_x": 0.7, "frames": frames}, f)


def semantic_config(data_dir, tmp_path, **fields):
  c = config_lib.method_config("semantic_nerf")
  config_lib.scene(c, "blender", str(data_dir), str(tmp_path / "run"))
  c.update(dict(GRID_TINY, **fields))
  c.lock()
  return c


def test_labels_load_corrupted_and_out_of_range_ids_are_one_line(tmp_path):
  ids = (np.arange(64).reshape(8, 8) % 4).astype(np.uint8)
  write_scene(tmp_path / "scene", ids)
  c = semantic_config(tmp_path / "scene", tmp_path, num_classes=4)
  clean = load_dataset(c, "train")
  np.testing.assert_array_equal(clean.labels[0], ids)
  assert clean.labels[0].dtype == np.int32 and clean.true_labels is None
  noisy = load_dataset(semantic_config(tmp_path / "scene", tmp_path,
                                       num_classes=4, label_sparsity=0.5),
                       "train")
  np.testing.assert_array_equal(noisy.true_labels[1], ids % 3)
  assert np.sum(noisy.labels[1] != labels.NO_LABEL) == 32
  with pytest.raises(DatasetError) as e:
    load_dataset(semantic_config(tmp_path / "scene", tmp_path,
                                 num_classes=3), "train")
  message = str(e.value)
  assert "\n" not in message and "r_0_gt.npz: class id 3 in 'index'" in \
      message and "config.num_classes = 3" in message
  with pytest.raises(ConfigError, match="config.label_noise: must be in"):
    load_dataset(semantic_config(tmp_path / "scene", tmp_path,
                                 num_classes=4, label_noise=1.5), "train")
  with pytest.raises(ConfigError, match="label_downscale_mode: 'box'"):
    load_dataset(semantic_config(tmp_path / "scene", tmp_path,
                                 num_classes=4, label_downscale_mode="box"),
                 "train")


def test_composited_logits_use_the_colours_weights():
  # One ray, two samples: alpha 1 - e^-1, then the rest of the ray opaque.
  layout = base.SampleLayout.dense(jnp.array([[1.0, 1.0]]))
  logits = jnp.array([[2.0, 0.0], [0.0, 4.0]])
  background = jnp.array([0.0, 10.0])
  out, acc = semantics.composite_logits(logits, jnp.array([1.0, 50.0]),
                                        layout, background)
  w0, w1 = 1 - np.exp(-1), np.exp(-1)
  np.testing.assert_allclose(acc, [1.0], atol=1e-6)
  np.testing.assert_allclose(out, [[2 * w0, 4 * w1]], rtol=1e-5)
  # Empty space: the background's logits.
  out, acc = semantics.composite_logits(logits, jnp.zeros(2), layout,
                                        background)
  np.testing.assert_allclose(out, [[0.0, 10.0]])
  # The class term reaches the density through the weights (the paper's
  # semantics shape the geometry).
  grad = jax.grad(lambda d: semantics.cross_entropy(
      semantics.composite_logits(logits, d, layout, background)[0],
      jnp.array([0]), jnp.ones(1)))(jnp.array([1.0, 1.0]))
  assert np.all(np.abs(grad) > 1e-3)
  held = jax.grad(lambda d: semantics.cross_entropy(
      semantics.composite_logits(logits, d, layout, background, False)[0],
      jnp.array([0]), jnp.ones(1)))(jnp.array([1.0, 1.0]))
  np.testing.assert_array_equal(held, 0.0)


def test_the_head_on_a_tiny_model_with_labels_in_the_step(tmp_path):
  """Labels ride in TrainData beside the rgb of the same pixel; the train
  step hands them to the loss, whose semantic term moves the head (which
  only it trains); the class map and composited logits have their
  shapes. (The MLP backbone's head: tests/test_methods.py's matrix.)"""
  c = config_lib.method_config("semantic_nerf")
  config_lib.scene(c, "blender", TABLETOP, str(tmp_path / "run"))
  c.update(GRID_TINY)
  c.update(near=1.0, far=8.0, scene_bound=2.6, max_steps=10)
  c.lock()
  dataset = load_dataset(c, "train", max_images=2)
  data = stack_training_data(dataset, False)
  assert data.labels.shape == data.rgb.shape[:2] + (1,)
  np.testing.assert_array_equal(data.labels[1, :, 0],
                                dataset.labels[1].reshape(-1))
  data = jax.tree.map(jnp.asarray, data)
  batch = training.sample_batch(jax.random.PRNGKey(0), data, 64, False)
  unit, pixel = training.draw_indices(jax.random.PRNGKey(0), 64,
                                      *data.rgb.shape[:2], False)
  np.testing.assert_array_equal(batch.labels[:, 0],
                                data.labels[unit, pixel, 0])

  method, model, state = training.setup(c, jax.random.PRNGKey(0),
                                        base.SceneInfo(num_cameras=2))

  def step(state, data):
    new_state, stats = training.train_step(method, model, c, state, data,
                                           None, jax.random.PRNGKey(1))
    _, outputs = training.render(
        model, {"params": state.params, **state.model_state},
        jax.tree.map(lambda x: x[0, :16], data.rays), None,
        jax.random.PRNGKey(2), False,
        base.Progress.at(0, 10))
    return new_state, stats, outputs[-1]

  new_state, stats, last = jax.jit(step)(state, data)
  semantic = float(stats["loss/semantic"])
  # Untrained logits near 0: about log(7) per labelled ray, times 0.04.
  assert 0.5 * np.log(7) < semantic / c.semantic_loss_mult < 2 * np.log(7)
  head = lambda s: jax.tree.leaves(s.params["semantics"])
  assert all(not np.array_equal(a, b)
             for a, b in zip(head(new_state), head(state)))
  assert last["semantic_logits"].shape == (16, 7)
  assert last["semantic"].shape == (16,)
  assert last["semantic"].dtype == jnp.int32
  assert np.all((last["semantic_confidence"] > 1 / 7 - 1e-6) &
                (last["semantic_confidence"] <= 1))
  np.testing.assert_array_equal(last["semantic"], jnp.argmax(
      last["semantic_logits"], -1))
