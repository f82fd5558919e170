"""The error every loader in ``minimlp.data`` raises for bad data."""


class DataError(ValueError):
    """A data file or folder exists but cannot be used; the message names it and says why.

    Paths that do not exist raise ``FileNotFoundError`` instead.
    """
