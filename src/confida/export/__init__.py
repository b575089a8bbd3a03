"""Data leaving the vault for secondary purposes: training datasets and bulk redaction."""
