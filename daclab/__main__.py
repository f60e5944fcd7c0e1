import sys

from daclab.cli import main

sys.exit(main())
