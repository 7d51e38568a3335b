"""Every component of the package that a backbone's hooks take, at once, on
each backbone: for tests/test_methods.py, which copies this file into a
temporary package (it is not a paper, so not in jaxnerf.methods)."""

from jaxnerf.methods import base
from jaxnerf.methods.backbones import hashgrid, mip, mlp
from jaxnerf.methods.components import appearance, time, transients

METHOD = base.compose(
    "every_component",
    {"mlp": mlp.BACKBONE, "hashgrid": hashgrid.BACKBONE, "mip": mip.BACKBONE},
    (appearance.COMPONENT, transients.COMPONENT, time.COMPONENT))
