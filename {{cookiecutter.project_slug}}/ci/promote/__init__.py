"""Promotion of approved model versions across accounts: ``python -m ci.promote --help``."""
