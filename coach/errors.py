"""One exception root for everything coach raises on purpose.

Messages name the bad value and say what to do; the CLI prints them as a single
``error: …`` line with no traceback.
"""


class CoachError(Exception):
    """Root of all errors coach raises deliberately."""


class AudioError(CoachError):
    """The input file is missing, unreadable, not audio, corrupt or too short."""


class ModelError(CoachError):
    """The Whisper model directory is missing or incomplete."""


class ConfigError(CoachError):
    """A config file is missing, malformed or holds an invalid value."""


class LexiconError(CoachError):
    """A lexicon file is malformed (the message gives file and line)."""


class ManifestError(CoachError):
    """A batch input (folder or manifest .csv) is missing or malformed."""


class StoreError(CoachError):
    """The results database cannot be opened, written or is of a newer schema."""


class ScorecardError(CoachError):
    """A scorecard file is missing, malformed or inconsistent (the message gives file and line)."""
