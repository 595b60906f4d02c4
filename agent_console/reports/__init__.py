"""Reports for leads and managers: daily, weekly, monthly, quarterly, annual (JSON, CSV, pages)."""
