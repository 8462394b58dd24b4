"""The module map: arrows point one way (pipelines -> ensembles, pipelines -> features, nothing back) and no two
modules import each other, directly or through others, whether the import is at module level or in a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"smp": ROOT / "smp", "smp.features": ROOT / "features", "smp.ensembles": ROOT / "ensembles",
            "smp.pipelines": ROOT / "pipelines"}


def modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = path
    return out


def imported(node: ast.AST, here: str) -> list[tuple[str, str]]:
    """(module, name) pairs an import statement names, relative imports resolved against the package `here`;
    name is "" for `import module`."""
    if isinstance(node, ast.Import):
        return [(a.name, "") for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = here.split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    return [(base, a.name) for a in node.names]


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every smp module `name` imports (module level and inside functions), relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        pairs = imported(node, package_of(name, path))
        targets = [f"{m}.{a}" if a else m for m, a in pairs] + [m for m, a in pairs if a]
        for t in targets:
            while t and t not in known:  # `from pkg import name` names an attribute, not a module
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name and t.startswith("smp"):
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_no_import_cycles():
    g = graph()
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles (modules that import each other, directly or through others): {cycles}"
    # the scan sees the code
    assert len(g) > 60 and g["smp.pipelines.runner"] >= {"smp.pipelines.api", "smp.pipelines.config"}


def test_layers_point_one_way():
    g = graph()
    for name, deps in g.items():
        if name.startswith("smp.features"):
            bad = [d for d in deps if d.startswith(("smp.ensembles", "smp.pipelines"))]
            assert not bad, f"{name} imports {bad}: features never imports ensembles or pipelines"
        if name.startswith("smp.ensembles"):
            bad = [d for d in deps if d.startswith(("smp.features", "smp.pipelines"))]
            assert not bad, f"{name} imports {bad}: ensembles imports nothing else of ours"
        if top_package(name) == "smp":
            bad = [d for d in deps if d.startswith(("smp.features", "smp.ensembles", "smp.pipelines"))]
            assert not bad, f"{name} imports {bad}: the top-level helpers sit below every package"


def top_package(module: str) -> str:
    """`smp.features.x` -> `smp.features`; the helpers in `smp/` itself belong to `smp`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1] in ("features", "ensembles", "pipelines") else "smp"


def underscore_imports() -> list[str]:
    """Imports that reach into another top-level package through a private module or a private name."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            pairs = imported(node, package_of(name, path))
            for module, attr in pairs:
                if not module.startswith("smp") or top_package(module) == top_package(name):
                    continue
                private = [p for p in [*module.split("."), attr] if p.startswith("_") and not p.startswith("__")]
                if private:
                    found.append(f"{name} imports {module}{'.' + attr if attr else ''} ({', '.join(private)})")
    return found


def test_no_private_names_across_packages():
    bad = underscore_imports()
    assert not bad, "private names used from another package (make them public where they are shared):\n" + "\n".join(bad)


def test_the_private_name_scan_sees_a_violation(tmp_path, monkeypatch):
    pkg = tmp_path / "pipelines"
    pkg.mkdir()
    (pkg / "x.py").write_text("from smp.features._cache import thing\nfrom ..features import _private\n")
    monkeypatch.setitem(PACKAGES, "smp.pipelines", pkg)
    bad = underscore_imports()
    assert any("smp.features._cache" in b for b in bad) and any("_private" in b for b in bad), bad
