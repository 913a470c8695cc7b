"""Code shared by the workflow Lambdas; deployed once, as the `shared` layer."""
