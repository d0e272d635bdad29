"""`make mutate`: mutation testing of the rule modules with Cosmic Ray, each against its own tests.

    python mutation/run.py [MODULE ...] [--jobs N] [--keep]

Every module in MODULES is copied, with the whole checkout, into a temporary folder; Cosmic Ray
changes the copy one mutation at a time (its own operators plus extra_operators.py: strings,
regexes, table rows) and runs only that module's tests there, on SQLite, stopping at the first
failure. The checkout itself is never rewritten, so an interrupted run leaves nothing behind
and a `make test` in another terminal never imports a mutant. Sessions and the report are kept
in mutation/out/. Contributors only: neither CI nor `make test` runs this.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "mutation" / "out"
# pytest plugins these tests never use: leaving them out saves ~2 s a mutant.
UNUSED_PLUGINS = ("schemathesis", "anyio")
_IGNORE_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", ".hypothesis")
# Checkout folders the tests never read: the virtualenvs, build output, these sessions.
_IGNORE_AT = {
    ROOT: {".git", ".venv", ".tox", "site", "var", "test-artifacts", "build", "dist"},
    ROOT / "mutation": {"out"},
    ROOT / "example_project": {".broker", "db.sqlite3"},
}


def _ignore(folder: str, names: list[str]) -> set[str]:
    """What copytree leaves out of the copy of the checkout."""
    return set(_IGNORE_ANYWHERE(folder, names)) | (_IGNORE_AT.get(Path(folder), set()) & set(names))


@dataclass(frozen=True)
class Target:
    """A module to mutate and the unit tests that must notice."""

    path: str
    tests: tuple[str, ...]


MODULES: dict[str, Target] = {
    "states": Target("django_esms_voice/states.py", ("tests/test_states.py",)),
    "signing": Target(
        "django_esms_voice/signing.py",
        ("tests/esms/test_callback_signing.py", "tests/esms/test_callback_tokens.py"),
    ),
    "redaction": Target(
        "django_esms_voice/esms/redaction.py",
        (
            "tests/esms/test_redaction_rules.py",
            "tests/esms/test_log_redaction.py",
            "tests/esms/test_secrets.py",
            "tests/esms/test_callback_tokens.py",
        ),
    ),
    "phone": Target(
        "django_esms_voice/esms/phone.py",
        ("tests/esms/test_phone.py", "tests/esms/test_payloads.py"),
    ),
    # The result-code table (RESULT_CODES) and eSMS's other facts; there is no codes.py.
    "protocol": Target(
        "django_esms_voice/esms/protocol.py",
        ("tests/esms/test_protocol.py", "tests/esms/test_client.py"),
    ),
}


def say(text: str = "", stream: object = None) -> None:
    """Print a line (the runner's output is its purpose)."""
    out = stream if stream is not None else sys.stdout
    out.write(text + "\n")  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def pytest_command(target: Target, tree: Path) -> str:
    """The pytest command of a module: its tests only, first failure stops it."""
    plugins = list(UNUSED_PLUGINS)
    uses_hypothesis = any(
        "hypothesis" in (tree / t).read_text(encoding="utf-8") for t in target.tests
    )
    # Hypothesis draws the same examples for every mutant, so a survivor stays one.
    extra = ["--hypothesis-seed=0"] if uses_hypothesis else []
    if not uses_hypothesis:
        plugins.append("hypothesispytest")
    return " ".join(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", "-q",
            *(f"-p no:{p}" for p in plugins), *extra, *target.tests,
        ]
    )  # fmt: skip


# ----------------------------------------------------------------------------- one module


def run_module(name: str, *, keep: bool) -> int:
    """Mutate one module in a copy of the checkout; the session goes to mutation/out/NAME.sqlite."""
    import cosmic_ray.plugins
    from cosmic_ray.commands import init
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.testing import run_tests
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    sys.path.insert(0, str(Path(__file__).parent))
    from extra_operators import ExtraOperators

    cosmic_ray.plugins.OPERATOR_PROVIDERS["extra"] = ExtraOperators()
    target = MODULES[name]
    err = sys.stderr
    tree = Path(tempfile.mkdtemp(prefix=f"esms-voice-mutate-{name}-"))
    try:
        shutil.copytree(ROOT, tree, ignore=_ignore, dirs_exist_ok=True)
        os.chdir(tree)  # Cosmic Ray runs the tests in the current folder, with os.environ
        os.environ.update(
            PYTHONPATH=str(tree),
            # A cached mutant of the same size and second would be imported for the next one.
            PYTHONDONTWRITEBYTECODE="1",
            ESMS_VOICE_TEST_DB="sqlite",
            ESMS_VOICE_TEST_DB_NAME=f"mutate_{name}",
        )
        imported = subprocess.run(
            [sys.executable, "-c", "import django_esms_voice; print(django_esms_voice.__file__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not imported.startswith(str(tree)):
            say(f"{name}: the tests would import {imported}, not the copy in {tree}", err)
            return 1
        missing = [t for t in target.tests if not (tree / t).exists()]
        if missing:  # an older checkout: run the tests it has
            say(f"{name}: no {', '.join(missing)} here, left out", err)
            target = Target(target.path, tuple(t for t in target.tests if t not in missing))
        if not target.tests:
            say(f"{name}: none of its tests exist", err)
            return 1
        command = pytest_command(target, tree)
        started = time.monotonic()
        outcome, output = run_tests(command, timeout=900)
        baseline = time.monotonic() - started
        if outcome is not TestOutcome.SURVIVED:
            say(f"{name}: the tests fail without any mutation:\n{output[-3000:]}", err)
            return 1
        timeout = max(30.0, 4 * baseline)

        OUT.mkdir(parents=True, exist_ok=True)
        session = OUT / f"{name}.sqlite"
        session.unlink(missing_ok=True)
        with use_db(session, mode=WorkDB.Mode.create) as db:
            init([tree / target.path], db, {})
            _skip_pragma_lines(db, WorkResult, WorkerOutcome)
            invalid = _drop_invalid(db, WorkResult, WorkerOutcome)
            pending = list(db.pending_work_items)
            say(
                f"{name}: {len(pending)} mutants ({invalid} in annotations or not Python "
                f"left out), tests take {baseline:.1f} s unmutated",
                err,
            )
            survived = 0
            for done, item in enumerate(pending, 1):
                result = mutate_and_test(item.mutations, command, timeout)
                db.set_result(item.job_id, result)
                survived += result.test_outcome is TestOutcome.SURVIVED
                if done % 25 == 0 or done == len(pending):
                    elapsed = _duration(time.monotonic() - started)
                    say(f"{name}: {done}/{len(pending)} run, {survived} survived, {elapsed}", err)
        (OUT / f"{name}.json").write_text(
            json.dumps(
                {
                    "tree": str(tree),
                    "command": command.replace(sys.executable, "python"),
                    "baseline": baseline,
                    "seconds": time.monotonic() - started,
                    "commit": _commit(target),
                }
            ),
            encoding="utf-8",
        )
        return 0
    finally:
        os.chdir(ROOT)
        if keep:
            say(f"{name}: the mutated copy stays in {tree}", err)
        else:
            shutil.rmtree(tree, ignore_errors=True)


def _skip_pragma_lines(db: object, work_result: type, worker_outcome: object) -> None:
    """Skip the mutants of a line marked ``# pragma: no mutate`` (an equivalent mutant)."""
    lines: dict[Path, list[str]] = {}
    for item in db.work_items:  # type: ignore[attr-defined]
        for mutation in item.mutations:
            path = mutation.module_path
            text = lines.setdefault(path, path.read_text(encoding="utf-8").splitlines())
            if "pragma: no mutate" in text[mutation.start_pos[0] - 1]:
                skipped = work_result(worker_outcome=worker_outcome.SKIPPED)  # type: ignore[attr-defined]
                db.set_result(item.job_id, skipped)  # type: ignore[attr-defined]


def _annotations(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The spans of a module's type annotations: never evaluated (``from __future__``)."""
    import parso

    spans = []
    nodes = [parso.parse(source)]
    while nodes:
        node = nodes.pop()
        found = getattr(node, "annotation", None) if node.type in ("param", "funcdef") else None
        if node.type == "annassign":
            found = node.children[1]
        if found is not None:
            spans.append((found.start_pos, found.end_pos))
        nodes.extend(getattr(node, "children", ()))
    return spans


def _drop_invalid(db: object, work_result: type, worker_outcome: object) -> int:
    """Leave out the mutants of annotations and those that do not compile.

    An annotation is never evaluated, so changing it changes nothing; and Cosmic Ray turns the
    ``*`` of ``def f(*, a)`` into ``+``.
    """
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    dropped = 0
    sources: dict[Path, str] = {}
    annotations: dict[Path, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    for item in db.pending_work_items:  # type: ignore[attr-defined]
        mutation = item.mutations[0]
        path = mutation.module_path
        source = sources.setdefault(path, path.read_text(encoding="utf-8"))
        spans = annotations.setdefault(path, _annotations(source))
        operator = cosmic_ray.plugins.get_operator(mutation.operator_name)()
        mutant = mutate_code(source, operator, mutation.occurrence)
        try:
            compile(mutant or "", str(path), "exec")
        except SyntaxError:
            mutant = None
        start, end = tuple(mutation.start_pos), tuple(mutation.end_pos)
        if any(lo <= start and end <= hi for lo, hi in spans):
            mutant = None
        if mutant is None:
            dropped += 1
            no_test = work_result(worker_outcome=worker_outcome.NO_TEST)  # type: ignore[attr-defined]
            db.set_result(item.job_id, no_test)  # type: ignore[attr-defined]
    return dropped


def _commit(target: Target) -> str:
    """HEAD's short hash, with a note when the module or its tests differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run(  # noqa: S603 - fixed arguments
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()  # fmt: skip
    changed = subprocess.run(  # noqa: S603 - fixed arguments
        [*git, "status", "--porcelain", "--", target.path, *target.tests],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return f"{head} + uncommitted changes" if changed else head or "(no git)"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


# ----------------------------------------------------------------------------- the report


@dataclass
class Summary:
    """The counts of one module's session and its survivors."""

    name: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeouts: int = 0
    errors: int = 0
    skipped: int = 0
    survivors: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)


def _changed(before: str, after: str, context: int = 25) -> tuple[str, str]:
    """The changed part of a line, with some context, so a one-character change shows."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    lo = max(0, start - context)

    def cut(text: str) -> str:
        hi = len(text) - max(0, end - context)
        return ("…" if lo else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")

    return cut(before), cut(after)


def summarize(name: str) -> Summary:
    """Read one module's session into a Summary."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    summary = Summary(name, meta=json.loads((OUT / f"{name}.json").read_text(encoding="utf-8")))
    tree = str(summary.meta["tree"]) + os.sep
    rows: list[tuple[int, int, str]] = []
    with use_db(OUT / f"{name}.sqlite", mode=WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.NO_TEST:
                continue
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                summary.skipped += 1
                continue
            summary.mutants += 1
            if result.worker_outcome is not WorkerOutcome.NORMAL:
                summary.errors += 1
            elif result.test_outcome is TestOutcome.KILLED:
                if result.output == "timeout":
                    summary.timeouts += 1
                else:
                    summary.killed += 1
            elif result.test_outcome is TestOutcome.SURVIVED:
                summary.survived += 1
                mutation = item.mutations[0]
                diff = (result.diff or "").splitlines()
                minus = [x[1:] for x in diff if x.startswith("-") and not x.startswith("---")]
                plus = [x[1:] for x in diff if x.startswith("+") and not x.startswith("+++")]
                before, after = _changed(minus[0] if minus else "", plus[0] if plus else "")
                if len(minus) > len(plus):
                    after += f"  ({len(minus) - len(plus)} line(s) removed)"
                line, column = mutation.start_pos
                where = f"{str(mutation.module_path).removeprefix(tree)}:{line}"
                operator = mutation.operator_name.split("/")[-1]
                rows.append((line, column, f"{where}  {operator}:  {before}  ->  {after}"))
            else:
                summary.errors += 1
    summary.survivors = [text for _, _, text in sorted(rows)]
    return summary


def report(summaries: list[Summary]) -> str:
    """The table of all modules, then each module's survivors."""
    head = f"{'module':<10} {'mutants':>7} {'killed':>7} {'survived':>8} {'timeouts':>8} "
    head += f"{'errors':>6} {'skipped':>7} {'score':>6} {'time':>7}  commit"
    lines = ["Mutation testing (Cosmic Ray + mutation/extra_operators.py), SQLite, pytest -x", head]
    for s in summaries:
        score = f"{100 * (s.killed + s.timeouts) / s.mutants:.0f}%" if s.mutants else "-"
        lines.append(
            f"{s.name:<10} {s.mutants:>7} {s.killed:>7} {s.survived:>8} {s.timeouts:>8} "
            f"{s.errors:>6} {s.skipped:>7} {score:>6} {_duration(float(s.meta['seconds'])):>7}"  # type: ignore[arg-type]
            f"  {s.meta['commit']}"
        )
    for s in summaries:
        lines += ["", f"{s.name}: {len(s.survivors)} survivors  ({s.meta['command']})"]
        lines += [f"  {text}" for text in s.survivors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--jobs", type=int, default=1, help="modules run at once (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the mutated copies")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_module(args.child, keep=args.keep)
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; known: {', '.join(MODULES)}")

    def child(name: str) -> int:
        command = [sys.executable, __file__, "--child", name, *(["--keep"] if args.keep else [])]
        return subprocess.run(command, check=False).returncode  # noqa: S603 - our interpreter

    OUT.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        codes = dict(zip(names, pool.map(child, names), strict=True))
    finished = [n for n in names if codes[n] == 0]
    text = report([summarize(n) for n in finished])
    (OUT / "report.txt").write_text(text + "\n", encoding="utf-8")
    say(text)
    failed = [n for n in names if codes[n] != 0]
    if failed:
        say(f"\nno result for {', '.join(failed)} (see above)", sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
