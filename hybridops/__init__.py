"""hybridops: incident runbooks as validated, executable, audited automation."""

__version__ = "0.1.0"
