import sys

from pievse.app.cli import main

sys.exit(main())
