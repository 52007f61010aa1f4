"""`python -m jaxdae` is the `jaxdae` command."""

import sys

from .cli import main

sys.exit(main())
