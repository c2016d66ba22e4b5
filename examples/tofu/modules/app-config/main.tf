# app-config: an app's static config in Vault, kvv2/<app>/config, written and read back
# with the token the job was given (policy <app>-ops). Paths only, never values that
# are secrets: the config is what the app's pods read at runtime (policy <app>).
terraform {
  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = "5.11.0"
    }
  }
}

variable "app" {
  description = "The app slug: kvv2/<app>/config, role gitea_cicd_<app>, policy <app>-ops."
  type        = string
}

variable "settings" {
  description = "The app's static settings, merged over what every app's config holds."
  type        = map(string)
  default     = {}
}

locals {
  # The keys labsbx up seeds, kept so that the app finds them after the first apply.
  config = merge(tomap({
    app             = var.app
    environment     = "sandbox"
    database_schema = var.app
  }), var.settings)
}

# Written whole: this module owns the entry (KV v2 keeps the earlier versions).
resource "vault_kv_secret_v2" "config" {
  mount     = "kvv2"
  name      = "${var.app}/config"
  data_json = jsonencode(local.config)
}

# Read back as the app will read it, at the version this apply wrote. Ephemeral: what
# it reads is checked and never lands in the state.
ephemeral "vault_kv_secret_v2" "config" {
  mount   = "kvv2"
  name    = vault_kv_secret_v2.config.name
  version = tonumber(vault_kv_secret_v2.config.metadata["version"])
}

# The check of what was read, in the apply that writes: each new version is read back.
resource "terraform_data" "read_back" {
  triggers_replace = vault_kv_secret_v2.config.metadata["version"]

  lifecycle {
    postcondition {
      condition     = ephemeral.vault_kv_secret_v2.config.data == local.config
      error_message = "kvv2/${var.app}/config does not read back as written."
    }
  }
}

output "path" {
  description = "The KV v2 API path of the config."
  value       = vault_kv_secret_v2.config.path
}

output "version" {
  description = "The version of the config this apply wrote."
  value       = tonumber(vault_kv_secret_v2.config.metadata["version"])
}
