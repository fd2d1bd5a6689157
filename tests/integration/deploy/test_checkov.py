"""checkov over the rendered chart (its defaults and every charts/tickler/ci/*.yaml) and over
the Dockerfile, offline: no failed check that checkov-skips.yaml does not list with its
reason, and no entry there that no longer matches a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.deploy.helm import CHART, ROOT, Helm

SKIPS = ROOT / "checkov-skips.yaml"
PROFILES = sorted((CHART / "ci").glob("*.yaml"))
CHECKOV = Path(sys.executable).with_name("checkov")


@dataclass(frozen=True)
class Failure:
    check: str
    kind: str
    resource: str
    file: str


def run_checkov(*args: str) -> dict:
    """checkov's JSON report; offline: no mapping, guideline or policy download."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [str(CHECKOV), *args, "--output", "json", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # exit 1 means failed checks, which the tests compare with the skip list
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    [report] = report if isinstance(report, list) else [report]
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, summary
    return report


def kind_of(report: dict, resource: str) -> str:
    """The object's kind ("Deployment.tickler.t-tickler"), or the Dockerfile's instruction
    ("/path/Dockerfile.FROM")."""
    if report["check_type"] == "dockerfile":
        return resource.rsplit(".", 1)[-1]
    return resource.split(".")[0]


def failures(report: dict) -> set[Failure]:
    return {
        Failure(
            check=f["check_id"],
            kind=kind_of(report, f["resource"]),
            resource=f["resource"],
            file=Path(f["file_path"]).name,
        )
        for f in report["results"]["failed_checks"]
    }


def skips(framework: str) -> list[dict]:
    return yaml.safe_load(SKIPS.read_text())[framework]


def unlisted(found: set[Failure], listed: list[dict]) -> list[Failure]:
    return sorted(
        (f for f in found if not any(f.check == s["id"] and f.kind in s["kinds"] for s in listed)),
        key=lambda f: (f.check, f.file, f.resource),
    )


def stale(found: set[Failure], listed: list[dict]) -> list[str]:
    return [
        f"{s['id']} on {kind}"
        for s in listed
        for kind in s["kinds"]
        if not any(f.check == s["id"] and f.kind == kind for f in found)
    ]


@pytest.fixture(scope="module")
def chart_report(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict:
    rendered = tmp_path_factory.mktemp("rendered")
    for values in [None, *PROFILES]:
        args = ["--values", str(values)] if values else []
        done = helm.run("template", "t", str(CHART), "--namespace", "tickler", *args)
        assert done.returncode == 0, done.stderr
        name = values.name if values else "defaults.yaml"
        (rendered / name).write_text(done.stdout)
    report = run_checkov("--directory", str(rendered), "--framework", "kubernetes")
    assert report["summary"]["resource_count"] >= 10 * (1 + len(PROFILES))
    return report


@pytest.fixture(scope="module")
def dockerfile_report() -> dict:
    return run_checkov("--file", str(ROOT / "Dockerfile"), "--framework", "dockerfile")


def test_every_skip_names_a_check_the_kinds_it_covers_and_one_line_of_why() -> None:
    for framework in ("kubernetes", "dockerfile"):
        entries = skips(framework)
        ids = [s["id"] for s in entries]
        assert len(ids) == len(set(ids)), f"{framework}: an id listed twice"
        for entry in entries:
            assert set(entry) == {"id", "kinds", "why"}, entry
            assert entry["id"].startswith("CKV_") and entry["kinds"], entry
            assert entry["why"].strip() and "\n" not in entry["why"].strip(), entry["id"]


def test_the_chart_fails_no_check_that_is_not_listed_with_its_reason(chart_report: dict) -> None:
    missed = unlisted(failures(chart_report), skips("kubernetes"))
    assert not missed, "\n".join(f"{f.check} {f.resource} ({f.file})" for f in missed)


def test_no_chart_skip_is_stale(chart_report: dict) -> None:
    old = stale(failures(chart_report), skips("kubernetes"))
    assert not old, f"listed in {SKIPS.name} but passing now, remove them: {old}"


def test_the_dockerfile_fails_no_check_that_is_not_listed(dockerfile_report: dict) -> None:
    missed = unlisted(failures(dockerfile_report), skips("dockerfile"))
    assert not missed, "\n".join(f"{f.check} {f.resource}" for f in missed)


def test_no_dockerfile_skip_is_stale(dockerfile_report: dict) -> None:
    old = stale(failures(dockerfile_report), skips("dockerfile"))
    assert not old, f"listed in {SKIPS.name} but passing now, remove them: {old}"


def test_the_comparison_catches_a_new_failure_and_a_stale_entry() -> None:
    found = {Failure("CKV_K8S_43", "Deployment", "Deployment.tickler.t", "defaults.yaml")}
    listed = [{"id": "CKV_K8S_43", "kinds": ["Job"], "why": "x"}]
    assert unlisted(found, listed) == sorted(found, key=str)
    assert stale(found, listed) == ["CKV_K8S_43 on Job"]
