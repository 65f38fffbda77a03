"""``python -m netsieve``: the ``netsieve`` command line (:func:`netsieve.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
