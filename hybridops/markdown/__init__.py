"""Markdown runbooks: imported into YAML runbooks (`hybridops import`) and rendered from them (`hybridops render`)."""
