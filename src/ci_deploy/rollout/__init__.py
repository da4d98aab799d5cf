"""The rollout engine: a plan of steps made by a strategy, and an executor that runs it."""
