import sys

from pievse.cli import main

sys.exit(main())
