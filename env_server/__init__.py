"""DataOps-Gym's environment package: SQL tasks on live, sandboxed SQLite databases.

Entry points: ``env_server.episode.environment.DataOpsEnv`` (the OpenEnv environment),
``env_server.grading.grader.Grader`` (the one grader), ``env_server.grading.reward`` (``RewardConfig``,
``compose``), ``env_server.tasks.load_tasks`` (task specs), and ``python -m env_server`` (CLI).
Nothing is imported here, so ``import env_server.tasks`` stays light.
"""
