"""Errors that mean "the caller asked for something wrong"; the CLI prints them without a traceback."""


class ZooError(Exception):
    """Base class of every error hubzoo raises on purpose, with a message meant for a person."""


class UnknownNameError(ZooError, KeyError):
    """An unknown model, dataset or weights name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RegistrationError(ZooError):
    """A plugin registered something invalid, or a name twice."""


class WeightsError(ZooError):
    """Weights that cannot be found, verified or loaded into the model."""


class DataError(ZooError, ValueError):
    """A data root that is missing or malformed, or input of the wrong shape."""
