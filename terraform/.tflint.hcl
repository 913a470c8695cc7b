# tflint for every module and stage (`tflint --recursive --config terraform/.tflint.hcl` in
# GitHub Actions: tflint cannot be installed from the registries reachable on dev machines).
config {
  call_module_type = "local"
  force            = false
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.38.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
  # Validates instance types, runtimes, regions etc. against the AWS API model (offline rules).
  deep_check = false
}

# Modules follow terraform-aws-modules conventions: everything typed and documented.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_typed_variables" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
  format  = "snake_case"
}

rule "terraform_standard_module_structure" {
  enabled = true
}

rule "terraform_unused_declarations" {
  enabled = true
}
