"""The architecture as tests: no import cycles, dependencies that point one way by package, one
home for each outside library, and no clock or ids in the pure packages.

Read from the source with `ast`, without importing it: every import statement counts, those
inside functions and under `if TYPE_CHECKING:` too (a dependency is a dependency). A break that
must stay for a while is listed in KNOWN_VIOLATIONS (empty since the layout work of issue 14); a
rule broken anywhere else fails, and so does an entry that no longer breaks its rule.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

import delist_bot

SOURCE = Path(delist_bot.__file__).parent
ROOT = "__init__"  # delist_bot/__init__.py (the version): every package may import it


class Rule(StrEnum):
    CYCLE = "no import cycles"
    LAYER = "dependencies point one way"
    LIBRARY = "one home per outside library"
    CLOCK = "no clock or ids in a pure package"


@dataclass(frozen=True, order=True)
class Violation:
    rule: Rule
    module: str  # the importing module, without "delist_bot."
    target: str  # what it must not use: a module, a library, a clock or id maker

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.module} -> {self.target}"


# Every package (or top-level module) and what it may import of the project besides itself and
# the root: "pkg" is a package or a top-level module, "pkg.mod" one module of a package.
PACKAGES = (
    "core",
    "ndr",
    "compose",
    "reports",
    "store",
    "mailbox",
    "smtp",
    "evidence",
    "runtime",
    "services",
    "cli",
    "config",
    "logs",
    "failpoints",
    "__main__",
)
_EVERYTHING = frozenset(PACKAGES)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),  # pure: the vocabulary and the decisions
    "ndr": frozenset({"core"}),
    "compose": frozenset({"core", "ndr"}),  # the code catalogue (ndr/codes.py) for replies
    "reports": frozenset({"core", "compose"}),
    "store": frozenset({"core", "config", "failpoints"}),
    "mailbox": frozenset({"core", "config"}),
    "smtp": frozenset(
        {"core", "config", "failpoints", "store.files"}
    ),  # private files, as the store
    "evidence": frozenset({"core", "ndr"}),  # spf.py runs its pattern on ndr/linear.py's RE2
    "runtime": _EVERYTHING - {"services", "cli", "__main__"},
    "services": _EVERYTHING - {"cli", "__main__"},
    # Thin: a command is a services call. core is the vocabulary it parses arguments into and
    # prints (CaseStatus, Listing, parse_listing); logs and config are set up by the group.
    "cli": frozenset({"services", "core", "config", "logs"}),
    "config": frozenset(),
    "logs": frozenset(),
    "failpoints": frozenset(),
    "__main__": frozenset({"cli"}),
}

# Where each outside library may be imported: a package ("store") or one module ("mailbox.imap").
# A library imported elsewhere, or one not in this table, fails: a new dependency gets a home here.
LIBRARY_HOMES: dict[str, frozenset[str]] = {
    "tinydb": frozenset({"store"}),
    "jinja2": frozenset({"compose"}),  # and in one module of it: ONE_MODULE below
    "markupsafe": frozenset({"compose", "reports.views"}),  # jinja2's Markup, for the HTML report
    "imapclient": frozenset({"mailbox.imap"}),
    "apscheduler": frozenset({"runtime.scheduler"}),
    "dns": frozenset({"evidence.dns"}),  # dnspython
    "pytesseract": frozenset({"ndr.ocr"}),
    "PIL": frozenset({"ndr.ocr"}),
    "pypdf": frozenset({"ndr.pdf"}),
    "extract_msg": frozenset({"ndr.outlook"}),
    "tnefparse": frozenset({"ndr.outlook"}),
    "mailparser": frozenset({"ndr.mime"}),
    "re2": frozenset({"ndr.linear"}),
    "idna": frozenset({"core.addresses"}),
    "authres": frozenset({"core.authentication"}),
    "publicsuffixlist": frozenset({"core.authentication"}),
    "click": frozenset({"cli"}),
    "rich": frozenset({"reports.views"}),
    # The standard library's network clients: the world, one door each.
    "smtplib": frozenset({"smtp"}),
    "imaplib": frozenset({"mailbox.imap"}),
    "urllib": frozenset({"evidence.rdap"}),
}
ONE_MODULE = frozenset({"jinja2"})  # libraries that one module alone may import

# Packages whose decisions are pure: the clock and ids come in as arguments.
PURE = frozenset({"core", "ndr", "compose", "reports"})
# A module of these, or a function read from them, reads the clock or makes an id.
CLOCK_AND_IDS = frozenset(
    {
        "time",
        "uuid",
        "secrets",
        "random",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "email.utils.make_msgid",
        "email.utils.formatdate",
        "email.utils.localtime",
        "os.urandom",
        "os.getpid",
    }
)
# What core may import from outside the project: pure standard modules and pure parsers.
CORE_MAY_USE = frozenset(
    {
        "__future__",
        "authres",
        "bisect",
        "collections",
        "dataclasses",
        "datetime",
        "email",
        "enum",
        "functools",
        "hashlib",
        "hmac",
        "idna",
        "ipaddress",
        "itertools",
        "math",
        "publicsuffixlist",
        "re",
        "string",
        "typing",
        "unicodedata",
    }
)

V = Violation
# Broken on main while issue 14's layout work fixes it. The coordinator deletes an entry once the
# branch that fixes it is merged (the suite fails until then, naming the entry).
KNOWN_VIOLATIONS: frozenset[Violation] = frozenset()


# Reading the source ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One package's modules as files, named without the package's own name."""

    package: str
    folder: Path

    def modules(self) -> dict[str, Path]:
        found = {}
        for path in sorted(self.folder.rglob("*.py")):
            parts = path.relative_to(self.folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts) or ROOT] = path
        return found

    def dotted(self, name: str) -> str:
        return self.package if name == ROOT else f"{self.package}.{name}"

    def local(self, dotted: str) -> str | None:
        """DOTTED without the package's prefix, or None when it is not the project's."""
        if dotted == self.package:
            return ROOT
        prefix = self.package + "."
        return dotted[len(prefix) :] if dotted.startswith(prefix) else None


def imported_names(source: Source, name: str, path: Path) -> Iterator[tuple[str, str | None]]:
    """Every (module, name) NAME's file imports, wherever the statement stands: (module, None)
    for `import module`, (module, name) for `from module import name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = source.dotted(name).split(".")
    if path.name != "__init__.py":
        here = here[:-1]  # a relative import starts from the module's package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield from ((module, alias.name) for alias in node.names)


def import_graph(source: Source) -> dict[str, set[str]]:
    """Module -> the project's modules it imports. `from pkg import mod` imports pkg.mod, not
    pkg (as grimp and import-linter count it); `from pkg import name` imports pkg."""
    modules = source.modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for module, attribute in imported_names(source, name, path):
            local = source.local(module)
            if local is None:
                continue
            submodule = source.local(f"{module}.{attribute}") if attribute else None
            if submodule in modules:
                targets.add(submodule)
            elif local in modules:
                targets.add(local)
        graph[name] = targets - {name}
    return graph


def outside_imports(source: Source, name: str, path: Path) -> set[str]:
    """The top-level names of what NAME imports from outside the project."""
    return {
        module.partition(".")[0]
        for module, _ in imported_names(source, name, path)
        if module and source.local(module) is None
    }


def package_of(module: str) -> str:
    return module.partition(".")[0]


def within(module: str, places: frozenset[str]) -> bool:
    """MODULE is one of PLACES or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in places)


# The rules -------------------------------------------------------------------------------------


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each module that lies on one, each cycle once:
    [a, b, a] for a imports b imports a."""
    found: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        path = _shortest_path(graph, start, start)
        if path is not None and frozenset(path) not in found:
            found[frozenset(path)] = path
    return list(found.values())


def _shortest_path(graph: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest import path from START to GOAL (a cycle when they are one module)."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for following in sorted(graph.get(node, ())):
            if following == goal:
                path: list[str] = [goal]
                at: str | None = node
                while at is not None:
                    path.append(at)
                    at = parent[at]
                return path[::-1]
            if following not in parent:
                parent[following] = node
                queue.append(following)
    return None


def cycle_violations(graph: Mapping[str, set[str]], known: frozenset[Violation]) -> list[str]:
    """The cycles left once the known edges are cut, as "a -> b -> a"."""
    cut = {(v.module, v.target) for v in known if v.rule is Rule.CYCLE}
    pruned = {a: {b for b in bs if (a, b) not in cut} for a, bs in graph.items()}
    return [" -> ".join(cycle) for cycle in cycles(pruned)]


def closes_a_cycle(graph: Mapping[str, set[str]], importer: str, imported: str) -> bool:
    return imported in graph.get(importer, ()) and (
        _shortest_path(graph, imported, importer) is not None or imported == importer
    )


def layer_violations(
    graph: Mapping[str, set[str]], may_import: Mapping[str, frozenset[str]]
) -> set[Violation]:
    found = set()
    for importer, targets in graph.items():
        home = package_of(importer)
        allowed = may_import.get(home, frozenset()) | {home, ROOT}
        found |= {V(Rule.LAYER, importer, t) for t in targets if not within(t, allowed)}
    return found


def library_violations(
    source: Source,
    homes: Mapping[str, frozenset[str]],
    one_module: frozenset[str],
    core_may_use: frozenset[str],
) -> set[Violation]:
    found = set()
    importers: dict[str, set[str]] = {}
    for name, path in source.modules().items():
        for library in outside_imports(source, name, path):
            if package_of(name) == "core" and library not in core_may_use:
                found.add(V(Rule.LIBRARY, name, library))
            if library in homes:
                importers.setdefault(library, set()).add(name)
                if not within(name, homes[library]):
                    found.add(V(Rule.LIBRARY, name, library))
            elif library not in sys.stdlib_module_names:
                found.add(V(Rule.LIBRARY, name, library))  # a library without a home
    for library in one_module:
        inside = sorted(m for m in importers.get(library, ()) if within(m, homes[library]))
        found |= {V(Rule.LIBRARY, m, library) for m in inside[1:]}
    return found


def clock_violations(
    source: Source, pure: frozenset[str], banned: frozenset[str]
) -> set[Violation]:
    found = set()
    for name, path in source.modules().items():
        if package_of(name) in pure:
            found |= {V(Rule.CLOCK, name, use) for use in clock_uses(path, banned)}
    return found


def clock_uses(path: Path, banned: frozenset[str]) -> set[str]:
    """The entries of BANNED that the file imports or reaches through an imported name
    (`from datetime import datetime` then `datetime.now()` is datetime.datetime.now)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else alias.name.partition(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    used = set(aliases.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain is not None and chain.partition(".")[0] in aliases:
                head, _, rest = chain.partition(".")
                used.add(f"{aliases[head]}.{rest}")
    return {b for b in banned for u in used if u == b or u.startswith(b + ".")}


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def project_violations(source: Source) -> set[Violation]:
    """Every layer, library and clock rule the source breaks (cycles are checked apart)."""
    return (
        layer_violations(import_graph(source), MAY_IMPORT)
        | library_violations(source, LIBRARY_HOMES, ONE_MODULE, CORE_MAY_USE)
        | clock_violations(source, PURE, CLOCK_AND_IDS)
    )


def listing(violations: set[Violation]) -> str:
    return "\n".join(
        f"  {v}    V(Rule.{v.rule.name}, {v.module!r}, {v.target!r})," for v in sorted(violations)
    )


# The project ----------------------------------------------------------------------------------

PROJECT = Source("delist_bot", SOURCE)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PROJECT)


@pytest.fixture(scope="module")
def broken() -> set[Violation]:
    return project_violations(PROJECT)


def test_every_package_has_a_row() -> None:
    on_disk = {package_of(m) for m in PROJECT.modules()} - {ROOT}
    assert on_disk == set(PACKAGES) == set(MAY_IMPORT), "give a new package its row in MAY_IMPORT"


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    found = cycle_violations(graph, KNOWN_VIOLATIONS)
    assert not found, "import cycles (function-level imports count):\n" + "\n".join(found)


def test_dependencies_point_one_way(broken: set[Violation]) -> None:
    new = {v for v in broken if v.rule is Rule.LAYER} - KNOWN_VIOLATIONS
    assert not new, f"imports against MAY_IMPORT:\n{listing(new)}"


def test_each_outside_library_has_one_home(broken: set[Violation]) -> None:
    new = {v for v in broken if v.rule is Rule.LIBRARY} - KNOWN_VIOLATIONS
    assert not new, f"libraries outside their home in LIBRARY_HOMES (or core):\n{listing(new)}"


def test_pure_packages_take_the_clock_and_ids_as_arguments(broken: set[Violation]) -> None:
    new = {v for v in broken if v.rule is Rule.CLOCK} - KNOWN_VIOLATIONS
    assert not new, f"clock or id makers in {sorted(PURE)}:\n{listing(new)}"


def test_every_known_violation_is_still_one(
    graph: dict[str, set[str]], broken: set[Violation]
) -> None:
    """An entry for a rule that holds now must go, so the rule guards that place again."""
    fixed = {v for v in KNOWN_VIOLATIONS if v.rule is not Rule.CYCLE} - broken
    fixed |= {
        v
        for v in KNOWN_VIOLATIONS
        if v.rule is Rule.CYCLE and not closes_a_cycle(graph, v.module, v.target)
    }
    assert not fixed, f"fixed: delete from KNOWN_VIOLATIONS:\n{listing(fixed)}"


@pytest.mark.parametrize("path", sorted((SOURCE / "cli").glob("*.py")), ids=lambda p: p.name)
def test_a_command_opens_no_transaction(path: Path) -> None:
    """A command parses, calls one service, prints: even a store a service handed back is not
    the command's to lock (the layer rule already keeps store/ and runtime/ out of cli/)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "transaction" not in called


# The checker, on small made-up packages: each rule can fail -----------------------------------


def write_package(folder: Path, files: Mapping[str, str]) -> Source:
    for relative, text in files.items():
        path = folder / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in {p.parent for p in (folder / "pkg").rglob("*.py")}:
        (package / "__init__.py").touch()
    return Source("pkg", folder / "pkg")


CYCLE_CASES = [
    pytest.param({"a.py": "import pkg.b\n", "b.py": "import pkg.a\n"}, ["a -> b -> a"], id="plain"),
    pytest.param(
        {"a.py": "from pkg import b\n", "b.py": "def f():\n    from pkg.a import x\n"},
        ["a -> b -> a"],
        id="inside a function",
    ),
    pytest.param(
        {"s/a.py": "from . import b\n", "s/b.py": "from .a import x\n"},
        ["s.a -> s.b -> s.a"],
        id="relative",
    ),
    pytest.param(
        {
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
            "b.py": "import pkg.c\n",
            "c.py": "from pkg import a\n",
        },
        ["a -> b -> c -> a"],
        id="type checking, three long",
    ),
    pytest.param(
        {"m/__init__.py": "from pkg.m.k import K\n", "m/k.py": "from pkg.m import other\n"},
        ["m -> m.k -> m"],
        id="a package and its module",
    ),
    pytest.param(
        {"m/__init__.py": "from pkg.m import k\n", "m/k.py": "from pkg.m import j\n", "m/j.py": ""},
        [],
        id="from a package, a module: no cycle",
    ),
    pytest.param({"a.py": "import pkg.b\n", "b.py": "import os\n"}, [], id="none"),
]


@pytest.mark.parametrize(("files", "expected"), CYCLE_CASES)
def test_the_cycle_finder(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    source = write_package(tmp_path, files)
    assert cycle_violations(import_graph(source), frozenset()) == expected


def test_a_known_cycle_edge_is_cut_and_only_that(tmp_path: Path) -> None:
    source = write_package(
        tmp_path,
        {
            "a.py": "import pkg.b\n",
            "b.py": "import pkg.a\nimport pkg.c\n",
            "c.py": "import pkg.b\n",
        },
    )
    graph = import_graph(source)
    known = frozenset({V(Rule.CYCLE, "b", "a")})
    assert cycle_violations(graph, known) == ["b -> c -> b"]
    assert closes_a_cycle(graph, "b", "a")
    assert not closes_a_cycle(graph, "a", "c")


LAYER_CASES = [
    pytest.param("low/x.py", "from pkg.high import y\n", {"low.x -> high.y"}, id="upward"),
    pytest.param("low/x.py", "from pkg.high.y import q\n", {"low.x -> high.y"}, id="a name"),
    pytest.param("low/x.py", "def f():\n    import pkg.high.y\n", {"low.x -> high.y"}, id="late"),
    pytest.param("high/y.py", "from pkg.low import x\n", set(), id="downward"),
    pytest.param("high/y.py", "from pkg.side.z import q\n", {"high.y -> side.z"}, id="sideways"),
    pytest.param("high/y.py", "from pkg.side.ok import q\n", set(), id="one allowed module"),
    pytest.param("low/x.py", "from pkg import __version__\n", set(), id="the root"),
]


@pytest.mark.parametrize(("path", "text", "expected"), LAYER_CASES)
def test_the_layer_rule(tmp_path: Path, path: str, text: str, expected: set[str]) -> None:
    source = write_package(
        tmp_path, {"low/x.py": "", "high/y.py": "", "side/z.py": "", "side/ok.py": "", path: text}
    )
    rules = {"low": frozenset(), "high": frozenset({"low", "side.ok"}), "side": frozenset()}
    found = layer_violations(import_graph(source), rules)
    assert {f"{v.module} -> {v.target}" for v in found} == expected


LIBRARY_CASES = [
    pytest.param("db/x.py", "import tinydb\n", set(), id="at home"),
    pytest.param("ui/y.py", "from tinydb.table import Table\n", {"ui.y -> tinydb"}, id="away"),
    pytest.param("ui/y.py", "def f():\n    import tinydb\n", {"ui.y -> tinydb"}, id="late"),
    pytest.param("ui/y.py", "import leftpad\n", {"ui.y -> leftpad"}, id="no home"),
    pytest.param("ui/y.py", "import json, os.path\n", set(), id="the standard library"),
    pytest.param("core/z.py", "import os\n", {"core.z -> os"}, id="core and the world"),
    pytest.param("tpl/b.py", "import jinja2\n", {"tpl.b -> jinja2"}, id="a second module"),
]


@pytest.mark.parametrize(("path", "text", "expected"), LIBRARY_CASES)
def test_the_library_rule(tmp_path: Path, path: str, text: str, expected: set[str]) -> None:
    source = write_package(tmp_path, {"tpl/a.py": "import jinja2\n", path: text})
    homes = {"tinydb": frozenset({"db"}), "jinja2": frozenset({"tpl"})}
    found = library_violations(source, homes, frozenset({"jinja2"}), frozenset({"re"}))
    assert {f"{v.module} -> {v.target}" for v in found} == expected


CLOCK_CASES = [
    pytest.param("from datetime import datetime\nx = datetime.now()\n", {"datetime.datetime.now"}),
    pytest.param("import datetime as dt\nx = dt.datetime.utcnow()\n", {"datetime.datetime.utcnow"}),
    pytest.param("import time as t\n", {"time"}),
    pytest.param("def f():\n    from uuid import uuid4\n    return uuid4()\n", {"uuid"}),
    pytest.param("from email.utils import make_msgid\n", {"email.utils.make_msgid"}),
    pytest.param("import email.utils\nx = email.utils.formatdate()\n", {"email.utils.formatdate"}),
    pytest.param("from datetime import datetime, timedelta\nx = datetime(2026, 1, 1)\n", set()),
    pytest.param("from email.utils import format_datetime\n", set()),
]


@pytest.mark.parametrize(("text", "expected"), CLOCK_CASES)
def test_the_clock_rule(tmp_path: Path, text: str, expected: set[str]) -> None:
    source = write_package(tmp_path, {"core/a.py": text, "shell/b.py": text})
    found = clock_violations(source, frozenset({"core"}), CLOCK_AND_IDS)
    assert {v.target for v in found} == expected
    assert {v.module for v in found} <= {"core.a"}
