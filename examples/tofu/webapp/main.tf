# webapp's provisioning, as its Gitea Actions job runs it: logged in at jwt/ role
# gitea_cicd_webapp, which holds policy webapp-ops, and nothing more.
#
#   labsbx ci exec webapp -- sh -c 'tofu init && tofu apply -auto-approve'
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
  # tofu init -backend-config=path=$RUNNER_TEMP/webapp.tfstate.
  backend "local" {}
}

# No address and no token here: the provider reads VAULT_ADDR and VAULT_TOKEN from the
# environment the job runs in (labsbx ci exec sets both, for the sandbox's Vault).
provider "vault" {
  # Policy webapp-ops may not create tokens: use the job's own, short-lived token
  # rather than a child of it.
  skip_child_token = true
}

module "config" {
  source = "../modules/app-config"
  app    = "webapp"
  settings = {
    color     = "blue"
    log_level = "info"
  }
}

output "config_path" {
  value = module.config.path
}

output "config_version" {
  value = module.config.version
}
