"""data/tasks layer."""
