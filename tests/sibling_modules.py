"""Loading a module of another test directory (they are not packages, and test module basenames are
unique), for tests that reuse another domain's helpers or replay its tests (tests/ops)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parent


def load(directory: str, name: str, prefix: str) -> ModuleType:
    """``tests/<directory>/<name>.py`` as the module ``<prefix>_<name>`` (registered in sys.modules, where
    dataclasses look their module up). The directory joins sys.path, so the module's own imports of its
    helpers by basename work."""
    folder = TESTS / directory
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location(f"{prefix}_{name}", folder / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
