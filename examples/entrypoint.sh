#!/bin/sh
# Container entrypoint: write the AWS config profiles the task definition asks for, then run
# the container's command.
#
# `ecs-xrole write-config --from-env` reads ECS_XROLE_ROLE_ARN (and ECS_XROLE_PROFILE,
# ECS_XROLE_EXTERNAL_ID, ... or ECS_XROLE_PROFILES for several profiles; see
# `ecs-xrole write-config --help`) and merges the profiles into AWS_CONFIG_FILE or
# ~/.aws/config. Without those variables it writes nothing and the command runs as usual.
#
# A bad setting stops the container loudly, before the application starts: this script then
# exits with write-config's exit code without running the command, so ECS reports the task as
# stopped with that code, and the log holds write-config's error followed by one line saying
# where to look:
#   2    bad input: an ECS_XROLE_* variable (a malformed role ARN, ...) or the config file
#        (unreadable, unparseable as botocore would, or in a directory that cannot be written)
#   1    the write itself failed: the file system (read-only, full), or another writer held
#        the config file's lock for longer than write-config waits (10 s)
#   127  ecs-xrole is not installed in the image
#
# The command is started with `exec`: it replaces this shell, keeps its PID (PID 1 in the
# container) and receives the signals ECS sends (SIGTERM on stop).
set -eu

write_config() {
    if command -v ecs-xrole >/dev/null 2>&1; then
        ecs-xrole write-config --from-env
    elif command -v python3 >/dev/null 2>&1 \
        && python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("ecs_xrole") is None)'; then
        python3 -m ecs_xrole write-config --from-env
    else
        return 127
    fi
}

status=0
write_config || status=$?
if [ "$status" -ne 0 ]; then
    config="${AWS_CONFIG_FILE:-${HOME:-}/.aws/config}"
    case "$status" in
        2)
            hint="Fix the ECS_XROLE_* variables in the task definition, or the AWS config"
            hint="$hint file $config (or its directory), as the error above says."
            ;;
        1)
            hint="The config file $config could not be written: another process held its"
            hint="$hint lock ($config.lock) too long, or the file system failed (a read-only"
            hint="$hint root file system? a full disk?). AWS_CONFIG_FILE can name a file on a"
            hint="$hint writable volume."
            ;;
        127)
            hint="ecs-xrole is not installed in this image: neither the ecs-xrole command"
            hint="$hint nor python3's ecs_xrole module was found (PATH=$PATH). Install it"
            hint="$hint in the image (see examples/Dockerfile)."
            ;;
        *)
            hint="See the error above."
            ;;
    esac
    echo "entrypoint: 'ecs-xrole write-config --from-env' failed with exit code $status;" \
        "not starting the command. $hint" >&2
    exit "$status"
fi

if [ "$#" -eq 0 ]; then
    echo "entrypoint: no command to run (set CMD in the image or command in the task definition)" >&2
    exit 64
fi

exec "$@"
