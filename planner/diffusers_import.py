"""diffusers, an optional dependency: imported only when a policy or scheduler that needs it
is made, with an error naming the extra to install."""
from __future__ import annotations


def import_diffusers():
    try:
        import diffusers
    except ImportError as e:
        raise ImportError("this needs the `diffusers` package: pip install -e '.[diffusers]' "
                          f"(or pip install diffusers) ({e})") from None
    return diffusers


def diffusers_class(name: str):
    diffusers = import_diffusers()
    cls = getattr(diffusers, name, None)
    if cls is None:
        raise ImportError(f"the installed diffusers {diffusers.__version__} has no {name} "
                          f"(added in 0.38 / 0.39): pip install -e '.[diffusers]'")
    return cls
