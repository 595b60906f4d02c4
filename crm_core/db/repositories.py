"""The old import path of the repositories, kept for code outside crm_core that still
uses it; new code imports from `crm_core.db.repos`."""

from crm_core.db.repos import *  # noqa: F403
