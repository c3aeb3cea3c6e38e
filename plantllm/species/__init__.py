"""species layer."""
