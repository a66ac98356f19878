"""Task specs, the registry, and the generators of each task family."""
from env_server.tasks.registry import TaskRegistry, data_dir, filter_tasks, load_tasks
from env_server.tasks.spec import SPLITS, DbSpec, Task, load_jsonl, save_jsonl

__all__ = ["SPLITS", "DbSpec", "Task", "TaskRegistry", "data_dir", "filter_tasks", "load_jsonl", "load_tasks", "save_jsonl"]
