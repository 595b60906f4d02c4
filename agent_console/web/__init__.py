"""Shared HTTP plumbing of the console: request helpers, errors, auth, edge checks,
pages, OpenAPI, the dependency bundle. Imports no feature and nothing of `live`."""
