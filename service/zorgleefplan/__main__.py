import sys

from zorgleefplan.cli import main

sys.exit(main())
