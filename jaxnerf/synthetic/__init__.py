"""Scenes with every ground truth, rendered in Blender.

A dataset is planned here in plain numpy (`scenes`: objects, materials and
their placement; `paths`: camera paths; `lights`: the light of each view;
`plans`: the named datasets) and rendered by `blender` inside Blender's
Python module (`bpy`), which lives in its own virtual environment
(requirements-blender.txt): nothing else in the package imports `blender`,
and no other module here imports JAX, so the generator runs without the
training stack and training never needs Blender. `ground_truth` reads and
writes what each view carries beside its RGBA image.
"""
