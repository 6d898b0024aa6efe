import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_and_functions_stay_short():
    """Readable top-down: no module over ~300 lines unless its docstring says why, no function over 50 lines."""
    import ast

    long_functions, long_modules = [], []
    for path in sorted((ROOT / "src" / "mlbasics").glob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        if len(text.splitlines()) > 300 and "Over 300 lines" not in (ast.get_docstring(tree) or ""):
            long_modules.append(path.name)
        long_functions += [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
                           for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                           and node.end_lineno - node.lineno + 1 > 50]
    assert not long_modules, f"over 300 lines with no reason at the top: {long_modules}"
    assert not long_functions, long_functions
