"""Components any backbone takes (jaxnerf.methods.base.Component): camera
refinement now; per-image appearance and time to follow."""
