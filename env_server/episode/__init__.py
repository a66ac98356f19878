"""The OpenEnv environment: the episode state machine, its action/observation models, and the SQL reviewer."""
