"""The mlflow-supplychain command line."""
