"""The loops and everything around them: config, the entry wrapper, batches,
training, trainer, evaluator, parallelism, checkpoints, runs on disk."""
