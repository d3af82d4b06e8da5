"""The one exception type the CLI turns into a single friendly line and exit code 1."""


class DistillError(Exception):
    """Bad input or an unusable environment: the message is shown to the user as is.

    Say what is wrong and where (file, line, field, key), and what to do about it.
    """
