# Region and credentials come from the environment (AWS_REGION / AWS_PROFILE or the CI role).
provider "aws" {
  default_tags {
    tags = {
      Project        = "vehicle-classifier"
      Stage          = "dev"
      ManagedBy      = "terraform"
      ModelVersion   = var.model_version
      ModelFramework = var.model_framework
    }
  }
}
