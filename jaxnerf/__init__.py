"""jaxnerf: Neural Radiance Fields in JAX/Flax.

Data flows one way: datasets -> cameras (rays) -> method (sampling, field,
rendering) -> loss/metrics. Everything between rays and outputs is a pure
function of (params, rays, key).
"""
