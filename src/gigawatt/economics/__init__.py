"""economics package."""
