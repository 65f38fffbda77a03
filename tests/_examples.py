"""The scripts of examples/ and benches/, loaded as modules by the tests that run their fast seeded
versions or their generators."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(name, folder="examples"):
    """<folder>/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
