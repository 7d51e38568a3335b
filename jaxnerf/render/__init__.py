"""From rays to pixels: sampling, compositing, mip-NeRF's cones, footprints,
contraction, the samplers (occupancy grid, proposals) and the losses on
rendered outputs."""
