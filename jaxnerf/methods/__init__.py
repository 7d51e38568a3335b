"""Methods (papers) as plug-ins: `get(name)` imports a method's module.

`config.method = "nerf"` names `jaxnerf/methods/nerf.py`; a dotted name
(`"my_package.my_method"`) names any importable module, so a method can
live outside this package and still train through train.py. Each module
ends with `METHOD = base.Method(...)` (see `jaxnerf.methods.base`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from jaxnerf.errors import ConfigError
from jaxnerf.methods.base import Method

# Modules and subpackages of this package that are not papers: the contract,
# and the parts papers are composed of.
_NOT_METHODS = ("base", "backbones", "components")


def available() -> list[str]:
  """Names of the methods in this package."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if m.name not in _NOT_METHODS and not m.ispkg
                and not m.name.startswith("_"))


def module_name(name: str) -> str:
  return name if "." in name else f"{__name__}.{name}"


def get(name: str, backbone: str = "") -> Method:
  """The Method declared by the module `name` names, on `backbone` ("":
  its first; jaxnerf.methods.base.compose).

  Raises:
    ConfigError: no such module, it declares no METHOD, or the method has
      no such backbone.
    Exception: whatever the module raises on import (a broken method shows
      its own error, never "unknown method").
  """
  full = module_name(name)
  try:
    found = (bool(name) and name not in _NOT_METHODS and
             importlib.util.find_spec(full) is not None)
  except (ImportError, ValueError):  # a dotted name whose package is missing
    found = False
  if not found:
    raise ConfigError(f"config.method: unknown method {name!r}; available: "
                      f"{', '.join(available())} (or a dotted module path)")
  method = getattr(importlib.import_module(full), "METHOD", None)
  if not isinstance(method, Method):
    raise ConfigError(f"config.method: module {full} defines no METHOD = "
                      "jaxnerf.methods.base.Method(...)")
  if not backbone or backbone == method.backbone:
    return method
  if method.on_backbone is None:
    raise ConfigError(f"config.backbone: method {name} is not composed of "
                      f"backbones; {backbone!r} cannot be chosen")
  return method.on_backbone(backbone)


def of(config) -> Method:
  """The Method of a config: its `method` on its `backbone`."""
  return get(config.method, config.get("backbone", ""))
