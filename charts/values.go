package charts

// PostgresValues are the values of the postgres chart (charts/postgres/values.yaml).
type PostgresValues struct {
	Image       string              `json:"image,omitempty"`
	Apps        []string            `json:"apps"`
	Auth        PostgresAuth        `json:"auth,omitzero"`
	Service     PostgresService     `json:"service,omitzero"`
	Persistence PostgresPersistence `json:"persistence,omitzero"`
}

// PostgresAuth says where the two passwords come from: an existing Secret (keys
// postgres-password and vault-admin-password), or the values themselves.
type PostgresAuth struct {
	ExistingSecret     string `json:"existingSecret,omitempty"`
	SuperuserPassword  string `json:"superuserPassword,omitempty"`
	VaultAdminPassword string `json:"vaultAdminPassword,omitempty"`
}

type PostgresService struct {
	Port     int `json:"port,omitempty"`
	NodePort int `json:"nodePort,omitempty"`
}

type PostgresPersistence struct {
	// Enabled nil keeps the chart's default (a PersistentVolumeClaim).
	Enabled      *bool  `json:"enabled,omitempty"`
	Size         string `json:"size,omitempty"`
	StorageClass string `json:"storageClass,omitempty"`
}

// DemoAppValues are the values of one demo-app release (charts/demo-app/values.yaml).
type DemoAppValues struct {
	App      string          `json:"app"`
	Image    string          `json:"image,omitempty"`
	Postgres DemoAppPostgres `json:"postgres"`
	Vault    DemoAppVault    `json:"vault,omitzero"`
}

type DemoAppPostgres struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Database string `json:"database,omitempty"`
}

type DemoAppVault struct {
	ConnectionRef string   `json:"connectionRef,omitempty"`
	AuthMount     string   `json:"authMount,omitempty"`
	Audiences     []string `json:"audiences,omitempty"`
	DatabaseMount string   `json:"databaseMount,omitempty"`
	KVMount       string   `json:"kvMount,omitempty"`
	RefreshAfter  string   `json:"refreshAfter,omitempty"`
}
