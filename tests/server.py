"""The launched app for test modules (see genlab.testing: the same settings as production)."""
from genlab.testing import REPO, client, free_port, running_app

__all__ = ["REPO", "client", "free_port", "running_app"]
