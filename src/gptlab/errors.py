"""User-facing errors: each message says what is wrong and what to do.

The CLI prints a GptlabError as one paragraph and exits non-zero with no traceback;
any other exception is a bug and keeps its traceback.
"""


class GptlabError(Exception):
    """A mistake in the user's input or environment, with a message that says how to fix it."""


class ConfigError(GptlabError):
    """An invalid configuration value, file or override."""


class DataError(GptlabError):
    """A missing, unreadable, corrupt or unsuitable dataset, source or shard."""


class CheckpointError(GptlabError):
    """A missing, truncated or corrupt checkpoint or run folder."""


class UnsafeFolderError(GptlabError):
    """A write that could reach outside its folder (a symbolic link) or destroy an input."""
