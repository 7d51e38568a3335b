"""Cameras from photos: capture (frames, downscaling), SfM, the process_data
pipeline, localisation (iNeRF)."""
