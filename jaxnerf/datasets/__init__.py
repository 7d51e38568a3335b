"""Dataset loaders. `load_dataset(config, split)` picks one by
`config.dataset_type`."""

from jaxnerf.datasets.base import Dataset, DatasetError, load_dataset

__all__ = ["Dataset", "DatasetError", "load_dataset"]
