"""KiloNeRF (Reiser et al., ICCV 2021, "KiloNeRF: Speeding up Neural
Radiance Fields with Thousands of Tiny MLPs"): the kilo backbone
(jaxnerf/methods/backbones/kilo.py: G^3 tiny MLPs, each evaluating the
points of its cell, on the hash-grid backbone's occupancy grid and
marcher) with no component. Trained as the paper does: distilled from a
teacher run (the engine's `teacher_config`, `distill_steps`), then
fine-tuned on the images. bake.py keeps the networks with an occupancy
grid (jaxnerf/baked/bake.py's `networks`): the baked marcher renders
them (jaxnerf/baked/render.py's TinyNetworks)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import kilo

METHOD = base.compose("kilonerf", {"kilo": kilo.BACKBONE})
