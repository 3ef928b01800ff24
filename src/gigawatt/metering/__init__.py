"""metering package."""
