"""NSVF (Liu et al., NeurIPS 2020, "Neural Sparse Voxel Fields"): the
sparse-voxel backbone (jaxnerf/methods/backbones/voxels.py: embeddings at
voxel vertices, empty voxels skipped, early ray termination, self-pruning
and subdivision on a schedule) with no component."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import voxels

METHOD = base.compose("nsvf", {"voxels": voxels.BACKBONE})
