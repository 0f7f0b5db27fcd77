#!/bin/sh
# Container entrypoint: write the AWS config profiles the task definition asks for, then run
# the container's command.
#
# `ecs-xrole write-config --from-env` reads ECS_XROLE_ROLE_ARN (and ECS_XROLE_PROFILE,
# ECS_XROLE_EXTERNAL_ID, ... or ECS_XROLE_PROFILES for several profiles; see
# `ecs-xrole write-config --help`) and merges the profiles into AWS_CONFIG_FILE or
# ~/.aws/config. Without those variables it writes nothing and the command runs as usual.
#
# A bad setting stops the container loudly, before the application starts: write-config
# exits 2 for bad input (a malformed role ARN, an unreadable or unparseable config file) and
# 1 for other failures, and this script exits with the same code without running the command,
# so ECS reports the task as stopped with that exit code and the reason is in the log.
#
# The command is started with `exec`: it replaces this shell, keeps its PID (PID 1 in the
# container) and receives the signals ECS sends (SIGTERM on stop).
set -eu

write_config() {
    if command -v ecs-xrole >/dev/null 2>&1; then
        ecs-xrole write-config --from-env
    elif command -v python3 >/dev/null 2>&1; then
        python3 -m ecs_xrole write-config --from-env
    else
        echo "entrypoint: neither ecs-xrole nor python3 is on PATH ($PATH)" >&2
        return 127
    fi
}

status=0
write_config || status=$?
if [ "$status" -ne 0 ]; then
    echo "entrypoint: 'ecs-xrole write-config --from-env' failed with exit code $status;" \
        "not starting the command. Fix the ECS_XROLE_* variables in the task definition." >&2
    exit "$status"
fi

if [ "$#" -eq 0 ]; then
    echo "entrypoint: no command to run (set CMD in the image or command in the task definition)" >&2
    exit 64
fi

exec "$@"
