"""``python -m plantllm.cli ...``: the same as the ``plantllm`` console script."""

import sys

from plantllm.cli import main

sys.exit(main())
