"""``python -m genlab {train,eval,import,data}``."""
from genlab.cli import main

raise SystemExit(main())
