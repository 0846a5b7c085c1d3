"""What every file writer shares: where its files go, that they are writable before any work is
done, and that a file appears only once it is complete.

A writer is a `FileWriter` with a `suffix` and a `render(report) -> str`; the registry in
`coach.writers` names them for the command line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Sequence

from coach.errors import CoachError
from coach.results import Report


@contextlib.contextmanager
def atomic_text(destination: Path, what: str, encoding: str = "utf-8", newline: str | None = None) -> Iterator[IO[str]]:
    """A text file that appears at ``destination`` only once it is complete: a crash or a full
    disk never leaves half a report behind, and no temporary file either."""
    tmp = None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as f:
            yield f
        os.replace(tmp, destination)
    except OSError as exc:
        raise CoachError(f"cannot write the {what} {destination} ({exc.strerror}): choose a writable path") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # only still there when something failed


def check_writable(folder: Path, what: str) -> None:
    """Refuse, before any analysis, a place the reports could not be written to: the nearest
    existing folder must be a folder that takes a new file (tried, not guessed from its mode)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CoachError(f"cannot write the {what} under {folder}: {existing} is a file, not a folder; "
                         "choose another path")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise CoachError(f"cannot write the {what} under {folder} ({exc.strerror}): "
                         "choose a writable folder") from None


class FileWriter:
    """A report format written to files: subclasses give `name`, `suffix`, `what` and `render`."""

    name = ""
    suffix = ""
    what = "report"

    def render(self, report: Report) -> str:
        raise NotImplementedError

    def write(self, report: Report, destination: str | Path) -> None:
        with atomic_text(Path(destination), self.what) as f:
            f.write(self.render(report))

    def destinations(self, calls: Sequence[str], target: str | Path) -> dict[str, Path]:
        """Where each call's report goes: `target` itself for one call (inside it when it is a
        folder), `target/<name><suffix>` for several (numbered when two calls share a name),
        checked writable now so that no analysis is lost to a bad path later."""
        target = Path(target)
        if len(calls) > 1 and target.is_file():
            raise CoachError(f"--{self.name} {target} is a file but {len(calls)} calls were given: pass a folder")
        if len(calls) == 1 and not target.is_dir():
            check_writable(target.parent, self.what)
            return {calls[0]: target}
        check_writable(target, self.what)
        return {call: target / name for call, name in report_names(calls, self.suffix).items()}


def report_names(calls: Sequence[str], suffix: str) -> dict[str, str]:
    """One file name per call: its stem, numbered when two calls share one (a/x.wav, b/x.wav)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for call in dict.fromkeys(calls):
        stem, n = Path(call).stem, 1
        name = f"{stem}{suffix}"
        while name in taken:
            n += 1
            name = f"{stem}-{n}{suffix}"
        names[call] = name
        taken.add(name)
    return names
