"""Baked scenes (PlenOctrees / SNeRG): bake a field into a block-sparse grid,
render it, fine-tune it."""
