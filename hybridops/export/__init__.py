"""Runbooks exported to other engines (`hybridops export`): SSM Automation documents."""
