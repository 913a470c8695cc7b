terraform {
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Partial configuration: bucket and region per account, e.g.
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  backend "s3" {
    key          = "vehicle-classifier/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
