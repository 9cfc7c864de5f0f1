import sys

from peerstudy.cli import main

sys.exit(main())
