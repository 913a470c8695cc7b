terraform {
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # State stays on this machine: `devkit.local_stage` passes -backend-config=path=<tmp dir>.
  backend "local" {}
}
