"""The inference code shipped inside `model.tar.gz` (`code/`), run by the SageMaker PyTorch
serving container and, unchanged, by `training.predict`. Only torch, numpy and Pillow here."""
