"""Registry adapter: the MLflow registry-store plugin and the facts it gathers."""
