"""Data staging, training, evaluation, prediction and SageMaker launchers for the classifier."""
