"""The one exception type for mistakes a user can make (bad path, bad file, bad flag, bad upload).

The CLI prints its message as one line and exits non-zero; the apps show it in the page.
"""


class UserError(Exception):
    """A problem the user can fix; the message says what went wrong and what to do."""
