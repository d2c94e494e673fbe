"""``python -m llama_router.testing.emulator --port 0 --cpu 1 --no-record``"""

from llama_router.testing.emulator.cli import main

raise SystemExit(main())
