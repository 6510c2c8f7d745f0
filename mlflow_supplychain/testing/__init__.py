"""Test support for mlflow-supplychain and for projects that deploy it."""
