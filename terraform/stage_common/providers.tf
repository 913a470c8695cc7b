# Shared by the dev and prod roots (linked from their providers.tf); `local.stage` is set in each
# root's main.tf. The local stage has its own (the emulator's endpoints).
# Region and credentials come from the environment (AWS_REGION / AWS_PROFILE or the CI role).
provider "aws" {
  default_tags {
    tags = {
      Project        = "vehicle-classifier"
      Stage          = local.stage
      ManagedBy      = "terraform"
      ModelVersion   = var.model_version
      ModelFramework = var.model_framework
    }
  }
}
