"""5. Wall time of writing the profile: ecs-xrole write-config, a bare Python start, and the
equivalent `aws configure set` commands (role_arn and credential_source for one profile).

Each command starts a new process and writes a fresh file; all commands run in interleaved
repetitions and the table shows medians. Compiled bytecode is cached (in a temporary
PYTHONPYCACHEPREFIX, warmed by a first round that is not counted), as it is after a pip
install: otherwise an editable checkout would be compiled anew on every start. Three more
commands break write-config's time down: importing the package, the command-line module, and
the command-line module with the subcommands it plugs in.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_support import PROFILE, Section, Target, fmt_ratio, fmt_seconds

TITLE = "5. Writing the profile: `write-config` against `aws configure set`"
REPETITIONS = 7
PLUGGED = "ecs_xrole.doctor, ecs_xrole.demo, ecs_xrole.policy_command"


def _aws() -> str:
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else (shutil.which("aws") or "aws")


def _timed(argvs: list[list[str]], env: dict[str, str]) -> float:
    began = time.perf_counter()
    for argv in argvs:
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - began


def run(stack: Any) -> Section:
    role = stack.aws.destination_role_arn
    aws = _aws()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="ecs-xrole-bench-") as directory:
        base = Path(directory)
        ours_file, aws_file = base / "config", base / "config-aws"
        ours = str(ours_file)
        commands: dict[str, tuple[str, str, list[list[str]]]] = {
            "bare": ("`python -c pass`", "process start, nothing else", [[py, "-c", "pass"]]),
            "ours": (
                "`python -m ecs_xrole write-config --role-arn ... --config-file ...`",
                "one profile, checked and written atomically",
                [
                    [
                        py,
                        "-m",
                        "ecs_xrole",
                        "write-config",
                        *("--role-arn", role, "--config-file", ours),
                    ]
                ],
            ),
            "aws": (
                "`aws configure set role_arn ...` + `aws configure set credential_source ...`",
                "the same profile, two commands",
                [
                    [aws, "configure", "set", "role_arn", role, "--profile", PROFILE],
                    [
                        aws,
                        "configure",
                        "set",
                        *("credential_source", "EcsContainer"),
                        "--profile",
                        PROFILE,
                    ],
                ],
            ),
            "package": (
                "`python -c 'import ecs_xrole'`",
                "breakdown: the package",
                [[py, "-c", "import ecs_xrole"]],
            ),
            "cli": (
                "`python -c 'import ecs_xrole.cli'`",
                "breakdown: the command-line module",
                [[py, "-c", "import ecs_xrole.cli"]],
            ),
            "plugged": (
                "`python -c 'import ecs_xrole.cli, <plugged subcommands>'`",
                f"breakdown: plus {PLUGGED}, imported to build the parser",
                [[py, "-c", f"import ecs_xrole.cli, {PLUGGED}"]],
            ),
        }
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        env["AWS_CONFIG_FILE"] = str(aws_file)
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for i in range(REPETITIONS + 1):  # round 0 fills the bytecode and file system caches
            for key, (_, _, argvs) in commands.items():
                {"ours": ours_file, "aws": aws_file}.get(key, base / "none").unlink(missing_ok=True)
                took = _timed(argvs, env)
                if i:
                    samples[key].append(took)
        written = ours_file.read_text(encoding="utf-8")
        by_aws = aws_file.read_text(encoding="utf-8")
    if role not in written or role not in by_aws or "EcsContainer" not in by_aws:
        raise RuntimeError("a command did not write the profile")
    medians = {key: statistics.median(values) for key, values in samples.items()}
    bare, mine, theirs = medians["bare"], medians["ours"], medians["aws"]
    rows = []
    for key, (command, does, _) in commands.items():
        rows.append(
            [
                command,
                does,
                fmt_seconds(medians[key]),
                "" if key == "bare" else f"+{fmt_seconds(medians[key] - bare)}",
                fmt_ratio(medians[key] / mine) if key in ("ours", "aws") else "",
            ]
        )
    over = mine - bare
    return Section(
        title=TITLE,
        what=(
            f"Median wall time of {REPETITIONS} repetitions of each command (interleaved), each "
            "writing a fresh file."
        ),
        header=["Command", "Does", "Median", "Over bare start", "Time / write-config"],
        rows=rows,
        targets=[
            Target(
                "5. `write-config` within a few tens of milliseconds of a bare Python start",
                over <= 0.05,
                f"+{fmt_seconds(over)} over `python -c pass`",
            ),
            Target(
                "5. `write-config` at least 10x faster than `aws configure set`",
                theirs / mine >= 10,
                f"{fmt_ratio(theirs / mine)} faster",
            ),
        ],
    )
