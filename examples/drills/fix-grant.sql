-- Vault's database engine creates each dynamic user as vault_admin: it needs CREATEROLE.
ALTER ROLE vault_admin CREATEROLE;
