"""The one error the on-call commands report to the user: bad input or a server away."""

from __future__ import annotations


class OncallError(Exception):
    """Bad input, a refused request or a server that cannot be reached.

    The message is printed on stderr as it is and the command exits with status 2.
    """
