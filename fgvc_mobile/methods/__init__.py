"""Method registry: ``get_method(name)`` returns the recipe for ``--method name``."""

from fgvc_mobile.methods import baseline, cmal, db_gce, distill, elope, pmg, rmg_pmsi  # noqa: F401  (registration)
from fgvc_mobile.methods.base import METHODS, Recipe, StepContext, get_method, register

__all__ = ["METHODS", "Recipe", "StepContext", "get_method", "register"]
