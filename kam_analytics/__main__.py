import sys

from kam_analytics.cli import main

sys.exit(main())
