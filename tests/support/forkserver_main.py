"""A process that imports the certrotor CLI once, then forks one child per request to run it.

Each child is a process of its own (memory, database connections, signals: SIGKILL kills it and
nothing else) running ``certrotor.cli.main.main(args)`` with the environment and output files it was
given; only the one or two seconds of importing certrotor are saved. Protocol, one JSON object per
line: request ``{"args", "env", "stdout", "stderr"}`` on stdin; answers ``{"pid"}`` when the child
started and ``{"status"}`` when it ended (negative: killed by that signal). EOF on stdin ends it.
"""

from __future__ import annotations

import json
import os
import sys

from certrotor.cli.main import main, root_command

root_command().load_all()  # commands are imported lazily: import every one before the first fork


def _child(request: dict[str, object]) -> None:
    code = 1
    try:
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        # The request pipe is the server's, not the child's.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for descriptor, key in ((1, "stdout"), (2, "stderr")):
            target = os.open(str(request[key]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, descriptor)
            os.close(target)
        args = request["args"]
        assert isinstance(args, list)
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _answer(payload: dict[str, object]) -> None:
    sys.__stdout__.write(json.dumps(payload) + "\n")
    sys.__stdout__.flush()


def serve() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _answer({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _answer({"status": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    serve()
