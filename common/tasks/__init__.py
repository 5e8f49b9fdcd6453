"""The framework-free half of each STEMDL task: one package per task (see common/task.py)."""
