"""mlflow-supplychain demo: the whole story on the embedded default."""
