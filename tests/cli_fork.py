"""Run many CLI invocations as real child processes without paying the import each time.

``python tests/cli_fork.py < cases.json`` imports the CLI once, then forks one child per case
(a few at a time). Each child gets its own environment, argv, stdout and stderr files and
calls the same ``main()`` as ``python -m evenergy_async``, then exits with its return code
the way the interpreter would. Prints ``{name: {code, out, err, seconds}}`` as JSON.
No event loop runs in the parent before it forks.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def _child(argv: list[str], env: dict[str, str], out_path: str, err_path: str) -> None:
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.environ.clear()
    os.environ.update(env)
    code: object = 0
    try:
        from evenergy_async._cli import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # what the interpreter would print: the test then sees the traceback
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        os._exit(code)


def main() -> None:
    import evenergy_async._cli  # noqa: F401 - the import the children share

    cases: dict[str, dict[str, object]] = json.load(sys.stdin)
    parallel = int(os.environ.get("CLI_FORK_PARALLEL", "4"))
    tmp = tempfile.mkdtemp(prefix="cli-fork-")
    pending = list(cases.items())
    running: dict[int, tuple[str, float]] = {}
    results: dict[str, dict[str, object]] = {}
    started = 0
    while pending or running:
        while pending and len(running) < parallel:
            name, case = pending.pop(0)
            started += 1
            index = started
            out_path, err_path = os.path.join(tmp, f"{index}.out"), os.path.join(tmp, f"{index}.err")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(list(case["argv"]), dict(case["env"]), out_path, err_path)  # type: ignore[call-overload]
            running[pid] = (name, time.monotonic())
            cases[name]["paths"] = [out_path, err_path]
        pid, status = os.wait()
        name, t0 = running.pop(pid)
        out_path, err_path = cases[name]["paths"]  # type: ignore[misc]
        with open(out_path, encoding="utf-8", errors="replace") as o, open(err_path, encoding="utf-8", errors="replace") as e:
            results[name] = {
                "code": os.waitstatus_to_exitcode(status),
                "out": o.read(),
                "err": e.read(),
                "seconds": time.monotonic() - t0,
            }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
