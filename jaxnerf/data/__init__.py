"""Scenes on the host: the Dataset type, images, normalisation, COLMAP I/O, and
one loader per dataset_type (`loaders/`)."""
