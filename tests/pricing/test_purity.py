"""apps/pricing stays pure numerics: importable and usable without Django."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "apps" / "pricing"


def test_no_module_in_the_package_imports_django() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "django" for n in names), path


def test_importing_the_package_loads_no_django() -> None:
    code = (
        "import sys, apps.pricing as p; p.implied_vol(5.0, 100.0, 100.0, 1.0, True);"
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    root = PACKAGE.parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120, check=False)
    assert done.returncode == 0
