"""Backbones (jaxnerf.methods.base.Backbone): a scene representation with
its sampler and compositing, holding the components a paper adds. `mlp`:
NeRF's MLP with coarse and fine levels; `hashgrid`: Instant-NGP's hash grid
with the occupancy grid or proposal sampler."""
