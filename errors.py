"""User-facing errors: every one is caught once in ``cli.py``, printed as one line, exit 2."""

#: the longest message a user error prints (one line; longer values are elided in the middle)
MAX_MESSAGE = 300


class ToolkitError(Exception):
    """Base of every error caused by the user's input or environment, not by a bug."""

    def __str__(self) -> str:
        """One line of at most :data:`MAX_MESSAGE` characters, whatever values it quotes."""
        text = " ".join(super().__str__().split())
        if len(text) <= MAX_MESSAGE:
            return text
        half = (MAX_MESSAGE - 5) // 2
        return f"{text[:half]} ... {text[-half:]}"


class UnknownModelError(ToolkitError):
    """A model name that is neither in the registry nor a local directory / hub id."""


class ModelUnavailableError(ToolkitError):
    """A model that exists but cannot be loaded here (offline, gated, missing token)."""


class IncompatibleVariantsError(ToolkitError):
    """Variants (or datasets) that cannot be compared: different tokenizer, shape or method."""


class ProbeError(ToolkitError):
    """A malformed probe file; the message names the file, item and language at fault."""


class StorageError(ToolkitError):
    """A results store that is missing, corrupt or written by a different method."""


class RouterInputError(ToolkitError):
    """Text the router cannot use: empty, binary, invalid UTF-8 or too long."""


class ConfigError(ToolkitError):
    """A job configuration value (CLI flag or config-file key) that is out of range or malformed."""
