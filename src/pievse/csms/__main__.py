"""``python -m pievse.csms``: the bench CSMS on its own (same options as ``pievse csms``)."""

import sys

from pievse.csms.cli import main

sys.exit(main())
