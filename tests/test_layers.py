"""The layer rule of docs/design.md, checked with import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_imports_follow_the_layers():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _project_imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                names = [inner.module or ""] if isinstance(inner, ast.ImportFrom) else (
                    [a.name for a in inner.names] if isinstance(inner, ast.Import) else [])
                if any(n.split(".")[0] in ("simulator", "models") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


def test_no_project_import_hides_inside_a_function():
    """Imports inside functions were how cycles were dodged; the layers make them unnecessary."""
    found = [hit for d in ("simulator", "models") for p in sorted((ROOT / d).rglob("*.py"))
             for hit in _project_imports_inside_functions(p)]
    assert not found, "project imports inside functions: " + ", ".join(found)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
