"""classify_image: ask the SageMaker endpoint whether the image shows a bicycle or a motorcycle."""
