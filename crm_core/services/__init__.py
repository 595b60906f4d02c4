"""CRM core services: call logging, rules, callbacks, live figures, reports."""
