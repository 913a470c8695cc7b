variable "emulator_endpoint" {
  description = "URL of the AWS emulator (moto server) started by the project, e.g. http://127.0.0.1:5000."
  type        = string

  validation {
    condition     = can(regex("^http://(127\\.0\\.0\\.1|localhost):[0-9]{2,5}$", var.emulator_endpoint))
    error_message = "emulator_endpoint must be a loopback URL such as http://127.0.0.1:5000 (never a real AWS endpoint)."
  }
}
