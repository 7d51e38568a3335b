"""Scenes with every ground truth, rendered in Blender.

A dataset is planned here in plain numpy (`scenes`: objects, materials and
their placement; `paths`: camera paths; `lights`: the light of each view;
`plans`: the named datasets) and rendered by scripts/render_synthetic.py
(its Blender side in scripts/blender/) inside Blender's Python module
(`bpy`), which lives in its own virtual environment
(requirements-blender.txt). Nothing here imports JAX or Blender: the
generator runs without the training stack, training never needs Blender,
and loaders and metrics reuse these modules. `ground_truth` reads and
writes what each view carries beside its RGBA image.
"""
