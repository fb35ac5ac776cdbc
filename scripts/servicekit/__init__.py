"""The real servers behind queuedeck's tests, one module per service."""
