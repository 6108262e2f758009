"""The deployment recipes in ``deploy/``: every harvest command a Kubernetes manifest runs is one
the CLI accepts (options that exist, a combination it does not refuse), and an Indexed Job's
shard count matches its completions."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from evenergy_async._cli import SHARDED_CREDENTIALS, UsageError, _harvest_setup, build_parser

ROOT = Path(__file__).resolve().parents[1]
DUMMY_ENV = {
    "EVENERGY_DATABASE_URL": "postgresql://harvester@db.example.internal:5432/telemetry",
    "PGPASSWORD": "pw",
    "EVENERGY_TOKEN": "token1,token2",
    "EVENERGY_CLIENT_ID": "app",
    "EVENERGY_CLIENT_SECRET": "secret",
}


def jobs() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((ROOT / "deploy").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Job":
                found.append((path.name, doc))
    return found


def harvest_argv(job: dict[str, Any], index: int) -> tuple[list[str], dict[str, str]]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["evenergy-async", "harvest"]
    argv = ["harvest", *(a.replace("$(JOB_COMPLETION_INDEX)", str(index)) for a in container["args"])]
    return argv, {e["name"]: DUMMY_ENV[e["name"]] for e in container["env"]}


def test_the_recipes_are_found() -> None:
    assert {name for name, _ in jobs()} == {"harvest-indexed-job.yaml", "harvest-credentials-job.yaml"}


@pytest.mark.parametrize(("name", "job"), jobs(), ids=[name for name, _ in jobs()])
def test_each_pod_runs_a_command_the_cli_accepts(
    name: str, job: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("EVENERGY_")]:
        monkeypatch.delenv(var)
    completions = job["spec"]["completions"]
    for index in range(completions):
        argv, env = harvest_argv(job, index)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        args = build_parser().parse_args(argv)
        assert isinstance(args, argparse.Namespace)
        _harvest_setup(args)  # raises UsageError for a combination the CLI refuses
        assert args.out_db and args.state_db  # every pod writes to the shared database
        if args.shard is not None:
            assert args.shard == (index, completions), "the shard count must equal the Job's completions"
        if args.credentials_file:
            assert re.fullmatch(rf"/credentials/fleet-{index}\.jsonl", args.credentials_file)


@pytest.mark.parametrize(("name", "job"), jobs(), ids=[name for name, _ in jobs()])
def test_no_retry_where_a_retry_would_fail_alike(name: str, job: dict[str, Any]) -> None:
    """Exit codes 2 (usage) and 4 (credentials refused) fail the pod's index at once; the codes
    that a later run can clear (1, 3, 5, 6) are retried."""
    from evenergy_async._cli import EXIT_CREDENTIALS, EXIT_USAGE

    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never" and spec["backoffLimitPerIndex"] > 0
    (rule,) = spec["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailIndex"
    assert rule["onExitCodes"] == {"containerName": "harvest", "operator": "In", "values": [EXIT_USAGE, EXIT_CREDENTIALS]}


def test_a_sharded_credentials_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the credentials recipe must not do: N shards of one file refresh each token N times."""
    monkeypatch.setenv("EVENERGY_DATABASE_URL", DUMMY_ENV["EVENERGY_DATABASE_URL"])
    args = build_parser().parse_args(["harvest", "--credentials", str(tmp_path / "fleet.jsonl"), "--shard", "0/2"])
    with pytest.raises(UsageError) as info:
        _harvest_setup(args)
    assert str(info.value) == SHARDED_CREDENTIALS
