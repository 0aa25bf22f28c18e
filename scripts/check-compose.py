#!/usr/bin/env python3
"""Checks what docker-compose.yml runs, as `docker-compose config` resolves it (scripts/test.sh
runs it): exactly five Redis services, each a redis-server that persists with
`--appendonly yes` and `--appendfsync always` (so that a restarted node remembers the locks it
granted, see docs/design.md, "Known limits").

Reads the resolved configuration on stdin, so that anchors and merge keys (`<<: *redis`) are
already expanded and a service that overrides its `command` is seen as it runs:

    docker-compose -f docker-compose.yml config | scripts/check-compose.py

PyYAML comes with Debian's docker-compose package. Exits 1, naming each service that is wrong.
"""

import shlex
import sys

import yaml

SERVICES = 5
REQUIRED = [("--appendonly", "yes"), ("--appendfsync", "always")]


def problems(config):
    services = config.get("services") or {}
    if len(services) != SERVICES:
        yield f"{len(services)} services ({', '.join(sorted(services))}), not {SERVICES}"
    for name, service in sorted(services.items()):
        command = service.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        if not command or command[0] != "redis-server":
            yield f"{name}: runs {command!r}, not redis-server"
            continue
        pairs = list(zip(command, command[1:]))
        for option, value in REQUIRED:
            # The last one wins in redis-server's arguments.
            given = [v for o, v in pairs if o == option]
            if not given or given[-1] != value:
                yield f"{name}: not {option} {value} (command: {shlex.join(command)})"


def main():
    found = list(problems(yaml.safe_load(sys.stdin) or {}))
    for problem in found:
        print(f"check-compose: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
