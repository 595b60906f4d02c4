"""Reports for leads and managers: daily, weekly, quarterly (JSON, CSV, pages)."""
