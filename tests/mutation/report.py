"""Per-module kill rates of the last mutation run (``tox -e mutation``), equivalents left out.

Reads mutmut 3's results (``mutants/src/ecs_xrole/<module>.py.meta``) and
``tests/mutation/equivalent.txt`` (one mutant name per line, then `` -- `` and the reason it
cannot change behaviour). Prints, per module: mutants, equivalents, killed (including timeouts:
the tests stopped the wrong code), survived, no tests, not checked, and the kill rate of the
non-equivalent mutants that were checked. Exit status 0; it reports, it does not judge.
``--sample N`` counts only the mutants whose number is a multiple of ``N`` (the sample that
``--sample-names N`` prints, one name per line, for ``mutmut run``).

``--survivor-names`` prints only the survivors' names, for running them again by name.

    python tests/mutation/report.py [--survivors | --survivor-names] [--sample N]
    mutmut run $(python tests/mutation/report.py --sample-names 4)
    mutmut run $(python tests/mutation/report.py --sample 4 --survivor-names)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "_endpoint",
    "_validate",
    "_credentials",
    "_http",
    "_fetch",
    "_status",
    "_refresh",
    "_scheduler",
    "_config/model",
    "_config/ini",
    "_config/files",
    "_config/safe_io",
    "_assume",
)
KILLED = {1, 3, 36, 24, -24, 152, 255}  # a failing test, or a timeout (mutmut counts both)
STATUS = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", None: "not checked"}


def equivalents() -> dict[str, str]:
    """The listed equivalent mutants, by name, with their reasons."""
    listed: dict[str, str] = {}
    path = ROOT / "tests" / "mutation" / "equivalent.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(" -- ")
            if not reason.strip():
                raise SystemExit(f"{path}: {name.strip()} has no reason")
            listed[name.strip()] = reason.strip()
    return listed


def _number(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _option(argv: list[str], flag: str) -> int | None:
    if flag not in argv:
        return None
    return int(argv[argv.index(flag) + 1])


def main(argv: list[str]) -> int:
    names_only = "--survivor-names" in argv

    def show(*args: object) -> None:
        if not names_only:  # with --survivor-names, only the names are printed
            print(*args)

    listed = equivalents()
    names_of = _option(argv, "--sample-names")
    if names_of is not None:
        for module in MODULES:
            meta = ROOT / "mutants" / "src" / "ecs_xrole" / f"{module}.py.meta"
            if meta.exists():
                keys = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
                show("\n".join(k for k in keys if _number(k) % names_of == 0))
        return 0
    sample = _option(argv, "--sample") or 1
    if sample > 1:
        show(f"(the sample of mutants whose number is a multiple of {sample})")
    show(f"{'module':<20}{'mutants':>8}{'equiv':>7}{'killed':>8}{'survived':>9}"
          f"{'no tests':>9}{'unchecked':>10}{'kill rate':>11}")  # fmt: skip
    survivors: list[str] = []
    for module in MODULES:
        meta = ROOT / "mutants" / "src" / "ecs_xrole" / f"{module}.py.meta"
        if not meta.exists():
            show(f"{module + '.py':<20}{'(not run)':>8}")
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        codes = {k: v for k, v in codes.items() if _number(k) % sample == 0}
        counts: Counter[str] = Counter()
        for name, code in codes.items():
            if name in listed:
                counts["equivalent"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            else:
                status = STATUS.get(code, "other")
                counts[status] += 1
                if status in ("survived", "no tests"):
                    survivors.append(name)
        checked = counts["killed"] + counts["survived"] + counts["no tests"] + counts["other"]
        if not checked:
            show(f"{module + '.py':<20}{len(codes):>8}  (not run)")
            continue
        rate = f"{100 * counts['killed'] / checked:.1f}%"
        show(f"{module + '.py':<20}{len(codes):>8}{counts['equivalent']:>7}{counts['killed']:>8}"
              f"{counts['survived']:>9}{counts['no tests']:>9}{counts['not checked']:>10}"
              f"{rate:>11}")  # fmt: skip
    if names_only:
        print("\n".join(survivors))
        return 0
    if "--survivors" in argv:
        print("\nSurvivors (inspect one with `mutmut show NAME`):")
        for name in survivors:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
