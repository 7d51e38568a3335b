"""One module per `config.dataset_type`, each with `load(config, split,
max_images=None) -> Dataset`."""
