"""Developer tooling: the AWS emulator, the offline-capable Terraform wrapper, the local run."""
