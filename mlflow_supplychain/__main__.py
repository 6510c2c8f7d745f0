"""``python -m mlflow_supplychain``: the same as the ``mlflow-supplychain`` command."""

from mlflow_supplychain.cli.main import run

if __name__ == "__main__":
    run()
