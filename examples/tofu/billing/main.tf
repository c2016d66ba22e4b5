# billing's provisioning, as its Gitea Actions job runs it: logged in at jwt/ role
# gitea_cicd_billing, which holds policy billing-ops, and nothing more.
#
#   labsbx ci exec billing -- sh -c 'tofu init && tofu apply -auto-approve'
#
# (with TF_CLI_CONFIG_FILE=../tofurc; see ../README.md).
terraform {
  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = "5.11.0"
    }
  }
  # State stays out of the checkout: the job gives the path,
  # tofu init -backend-config=path=$RUNNER_TEMP/billing.tfstate.
  backend "local" {}
}

# No address and no token here: the provider reads VAULT_ADDR and VAULT_TOKEN from the
# environment the job runs in (labsbx ci exec sets both, for the sandbox's Vault).
provider "vault" {
  # Policy billing-ops may not create tokens: use the job's own, short-lived token
  # rather than a child of it.
  skip_child_token = true
}

module "config" {
  source = "../modules/app-config"
  app    = "billing"
  settings = {
    currency  = "EUR"
    log_level = "warn"
  }
}

output "config_path" {
  value = module.config.path
}

output "config_version" {
  value = module.config.version
}
