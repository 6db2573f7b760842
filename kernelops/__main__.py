"""`python -m kernelops` runs the command-line interface."""

import sys

from kernelops.cli.main import main

sys.exit(main())
