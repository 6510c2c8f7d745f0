"""Server adapter: the MLflow app plugin, its routes and the policy holder."""
