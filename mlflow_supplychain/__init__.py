"""mlflow-supplychain: the MLflow Model Registry as an enforced AI supply-chain control."""

__version__ = "0.1.0"
