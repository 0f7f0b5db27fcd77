"""5. Process start of the commands a container runs: `write-config` at container start (against
a bare interpreter and the `aws configure set` commands it replaces), and `credential-process`,
which the AWS CLI and SDKs start on every credential load.

Installed as a container has it: a wheel of this checkout is built (hatchling, offline) and
pip-installed into a new virtual environment, whose pip compiles the bytecode; nothing runs from
the source tree. The dependencies (boto3, botocore, urllib3, cachetools), which only
credential-process loads, come from the running environment through a ``.pth`` line, since
the benchmark runs offline; write-config never reaches them. Every command starts a new
process, all commands run in interleaved repetitions (round 0 warms the file-system cache and
is not counted), and the table shows medians. The timing loop runs in a small child process of
its own: started from the benchmark process (moto, servers and their threads inside), the same
commands took up to twice as long, for reasons that have nothing to do with them.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ != "__main__":
    from bench_support import PROFILE, Section, Target, fmt_ratio, fmt_seconds
else:
    PROFILE = "cross-account"

TITLE = "5. Process start: `write-config` and `credential-process`, installed"
REPETITIONS = 9
ROOT = Path(__file__).resolve().parents[2]
#: (key, command as shown, what it does)
SHOWN = [
    ("bare", "`python -c pass`", "interpreter start, nothing else"),
    (
        "ours",
        "`ecs-xrole write-config --role-arn ... --config-file ...`",
        "one profile, checked and written atomically (the console script an entrypoint runs)",
    ),
    ("ours_m", "`python -m ecs_xrole write-config ...`", "the same, started as a module"),
    (
        "aws",
        "`aws configure set role_arn ...` + `aws configure set credential_source ...`",
        "the same profile, two commands",
    ),
    (
        "process",
        "`ecs-xrole credential-process --role-arn ...`",
        "endpoint fetch + AssumeRole (loopback stand-ins), JSON out",
    ),
    (
        "botocore",
        "`python -c 'import botocore.session'`",
        "floor for credential-process: the library that signs the call",
    ),
]


def _aws() -> str:
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else (shutil.which("aws") or "aws")


def install(base: Path, env: dict[str, str]) -> Path:
    """Build a wheel of this checkout and install it into a new venv under ``base``; return
    the venv's bin directory."""
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels)]
    subprocess.run(
        [*pip, *build, str(ROOT)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (wheel,) = glob.glob(str(wheels / "ecs_xrole-*.whl"))
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", wheel],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # The dependencies, for credential-process: the running environment's, after the venv's own.
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(found.stdout.strip(), "zz-running-environment.pth").write_text("\n".join(sorted(ours)))
    return venv / "bin"


def measure(role: str) -> dict[str, list[float]]:
    """Time every command, interleaved; seconds per run for each key. Runs in the child."""
    with tempfile.TemporaryDirectory(prefix="ecs-xrole-bench-") as directory:
        base = Path(directory)
        env = dict(os.environ)
        for name in ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        bin_dir = install(base, env)
        py, ecs_xrole, aws = str(bin_dir / "python"), str(bin_dir / "ecs-xrole"), _aws()
        source = ("credential_source", "EcsContainer")
        ours_file, aws_file = base / "config", base / "config-aws"
        write = ["write-config", "--role-arn", role, "--config-file", str(ours_file)]
        commands: dict[str, list[list[str]]] = {
            "bare": [[py, "-c", "pass"]],
            "ours": [[ecs_xrole, *write]],
            "ours_m": [[py, "-m", "ecs_xrole", *write]],
            "aws": [
                [aws, "configure", "set", "role_arn", role, "--profile", PROFILE],
                [aws, "configure", "set", *source, "--profile", PROFILE],
            ],
            "process": [[ecs_xrole, "credential-process", "--role-arn", role]],
            "botocore": [[py, "-c", "import botocore.session"]],
        }
        aws_env = {**env, "AWS_CONFIG_FILE": str(aws_file)}
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for i in range(REPETITIONS + 1):  # round 0 warms the file-system cache
            for key, argvs in commands.items():
                for written in (ours_file, aws_file):
                    written.unlink(missing_ok=True)
                began = time.perf_counter()
                for argv in argvs:
                    subprocess.run(
                        argv,
                        env=aws_env if key == "aws" else env,
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                if i:
                    samples[key].append(time.perf_counter() - began)
                if key.startswith("ours") and role not in ours_file.read_text(encoding="utf-8"):
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
        timeout=600,
    )
    samples: dict[str, list[float]] = json.loads(answer.stdout)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    bare, mine, theirs = medians["bare"], medians["ours"], medians["aws"]
    rows = [
        [
            command,
            does,
            fmt_seconds(medians[key]),
            fmt_ratio(medians[key] / bare) if key != "bare" else "1.0x",
            fmt_ratio(theirs / medians[key]) if key in ("ours", "ours_m") else "",
        ]
        for key, command, does in SHOWN
    ]
    return Section(
        title=TITLE,
        what=(
            f"Median wall time of {REPETITIONS} repetitions of each command (interleaved), each "
            "write-config writing a fresh file, from an installed wheel with compiled bytecode, "
            "timed from a small process of its own."
        ),
        header=["Command", "Does", "Median", "/ bare start", "`aws configure set` / this"],
        rows=rows,
        targets=[
            Target(
                "5. `write-config` (console script) at most 2.5x a bare interpreter start",
                mine / bare <= 2.5,
                f"{fmt_ratio(mine / bare)} (`python -m`: {fmt_ratio(medians['ours_m'] / bare)})",
            ),
            Target(
                "5. `write-config` at least 20x faster than `aws configure set`",
                theirs / mine >= 20,
                f"{fmt_ratio(theirs / mine)} faster",
            ),
            Target(
                "5. `credential-process` as light as the work allows (no number set)",
                None,
                f"{fmt_ratio(medians['process'] / bare)} a bare start; importing botocore "
                f"alone is {fmt_ratio(medians['botocore'] / bare)}",
            ),
        ],
    )


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
