"""5. Wall time of writing the profile: ecs-xrole write-config, a bare Python start, and the
equivalent `aws configure set` commands (role_arn and credential_source for one profile).

Each command starts a new process and writes a fresh file; all commands run in interleaved
repetitions and the table shows medians. The timing loop runs in a small child process of its
own: started from the benchmark process (moto, servers and their threads inside), the same
commands took up to twice as long, for reasons that have nothing to do with them. Compiled
bytecode is cached (in a temporary PYTHONPYCACHEPREFIX, warmed by a first round that is not
counted), as it is after a pip install: otherwise an editable checkout would be compiled anew
on every start. Three more commands break write-config's time down: importing the package,
the command-line module, and the command-line module with every subcommand module.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ != "__main__":
    from bench_support import PROFILE, Section, Target, fmt_ratio, fmt_seconds
else:
    PROFILE = "cross-account"

TITLE = "5. Writing the profile: `write-config` against `aws configure set`"
REPETITIONS = 9
PLUGGED = "ecs_xrole.doctor, ecs_xrole.demo, ecs_xrole.policy_command"
#: (key, command as shown, what it does)
SHOWN = [
    ("bare", "`python -c pass`", "process start, nothing else"),
    (
        "ours",
        "`python -m ecs_xrole write-config --role-arn ... --config-file ...`",
        "one profile, checked and written atomically",
    ),
    (
        "aws",
        "`aws configure set role_arn ...` + `aws configure set credential_source ...`",
        "the same profile, two commands",
    ),
    ("package", "`python -c 'import ecs_xrole'`", "breakdown: the package"),
    ("cli", "`python -c 'import ecs_xrole.cli'`", "breakdown: the command-line module"),
    (
        "plugged",
        "`python -c 'import ecs_xrole.cli, <subcommand modules>'`",
        f"breakdown: plus {PLUGGED}",
    ),
]


def _aws() -> str:
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else (shutil.which("aws") or "aws")


def measure(role: str) -> dict[str, list[float]]:
    """Time every command, interleaved; seconds per run for each key. Runs in the child."""
    py, aws = sys.executable, _aws()
    with tempfile.TemporaryDirectory(prefix="ecs-xrole-bench-") as directory:
        base = Path(directory)
        ours_file, aws_file = base / "config", base / "config-aws"
        ours = str(ours_file)
        commands: dict[str, list[list[str]]] = {
            "bare": [[py, "-c", "pass"]],
            "ours": [
                [
                    py,
                    "-m",
                    "ecs_xrole",
                    "write-config",
                    *("--role-arn", role, "--config-file", ours),
                ]
            ],
            "aws": [
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
            "package": [[py, "-c", "import ecs_xrole"]],
            "cli": [[py, "-c", "import ecs_xrole.cli"]],
            "plugged": [[py, "-c", f"import ecs_xrole.cli, {PLUGGED}"]],
        }
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        env["AWS_CONFIG_FILE"] = str(aws_file)
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for i in range(REPETITIONS + 1):  # round 0 fills the bytecode and file system caches
            for key, argvs in commands.items():
                for written in (ours_file, aws_file):
                    written.unlink(missing_ok=True)
                began = time.perf_counter()
                for argv in argvs:
                    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
                if i:
                    samples[key].append(time.perf_counter() - began)
                if key == "ours" and role not in ours_file.read_text(encoding="utf-8"):
                    raise RuntimeError("write-config did not write the profile")
                if key == "aws" and "EcsContainer" not in aws_file.read_text(encoding="utf-8"):
                    raise RuntimeError("aws configure set did not write the profile")
    return samples


def run(stack: Any) -> Section:
    answer = subprocess.run(
        [sys.executable, __file__, stack.aws.destination_role_arn],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    samples: dict[str, list[float]] = json.loads(answer.stdout)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    bare, mine, theirs = medians["bare"], medians["ours"], medians["aws"]
    rows = [
        [
            command,
            does,
            fmt_seconds(medians[key]),
            "" if key == "bare" else f"+{fmt_seconds(medians[key] - bare)}",
            fmt_ratio(medians[key] / mine) if key in ("ours", "aws") else "",
        ]
        for key, command, does in SHOWN
    ]
    over = mine - bare
    return Section(
        title=TITLE,
        what=(
            f"Median wall time of {REPETITIONS} repetitions of each command (interleaved), each "
            "writing a fresh file, timed from a small process of its own."
        ),
        header=["Command", "Does", "Median", "Over bare start", "Time / write-config"],
        rows=rows,
        targets=[
            Target(
                "5. `write-config` within a few tens of ms (here: 50 ms) of a bare Python start",
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


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
