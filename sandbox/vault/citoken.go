package vault

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/vault/api"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// CISigningKeyFile is the sandbox's CI token signing key, in its secrets dir. Gitea has no
// OIDC issuer yet, so Vault's jwt/ auth validates against this key's public half.
const CISigningKeyFile = "ci-signing-key.pem"

// LoadOrCreateSigningKey reads the sandbox's RSA signing key, creating it on first use.
func LoadOrCreateSigningKey(kp guard.KeyPath) (*rsa.PrivateKey, bool, error) {
	b, err := kp.ReadFile()
	if err == nil {
		k, err := ParseSigningKey(b)
		return k, false, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, false, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := kp.WriteFile(pemBytes); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// ParseSigningKey reads a PEM RSA private key.
func ParseSigningKey(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("CI signing key file holds no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("CI signing key file holds no RSA private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("CI signing key is not RSA")
	}
	return rk, nil
}

// PublicKeyPEM is the PEM form Vault's jwt_validation_pubkeys takes, without the
// trailing newline, as Vault returns it (so that the bootstrap compares equal).
func PublicKeyPEM(k *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))), nil
}

// CIClaims are the claims a Gitea Actions job token carries, as the sandbox mints them.
type CIClaims struct {
	Repository      string `json:"repository"`
	RepositoryOwner string `json:"repository_owner"`
	Ref             string `json:"ref"`
	Workflow        string `json:"workflow,omitempty"`
	EventName       string `json:"event_name,omitempty"`
	jwt.RegisteredClaims
}

// CITokenOptions adjust a minted token; the zero value mints the token the app's CI
// would present.
type CITokenOptions struct {
	TTL      time.Duration // default 5m
	Audience string        // default CIAudience
	Ref      string        // default refs/heads/main
	Now      time.Time     // default time.Now()
}

// MintCIToken signs the JWT a Gitea Actions job of app would present to Vault.
func MintCIToken(k *rsa.PrivateKey, app string, o CITokenOptions) (string, error) {
	if o.TTL == 0 {
		o.TTL = 5 * time.Minute
	}
	if o.Audience == "" {
		o.Audience = CIAudience
	}
	if o.Ref == "" {
		o.Ref = "refs/heads/main"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	repo := CIRepository(app)
	claims := CIClaims{
		Repository: repo, RepositoryOwner: CIOwner, Ref: o.Ref, Workflow: "deploy", EventName: "push",
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    CIIssuer,
			Subject:   "repo:" + repo + ":ref:" + o.Ref,
			Audience:  jwt.ClaimStrings{o.Audience},
			IssuedAt:  jwt.NewNumericDate(o.Now),
			NotBefore: jwt.NewNumericDate(o.Now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(o.Now.Add(o.TTL)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = keyID(k)
	s, err := t.SignedString(k)
	if err != nil {
		return "", fmt.Errorf("sign CI token: %w", err)
	}
	return s, nil
}

// CILogin presents jwt at auth/jwt/login, role gitea_cicd_<app>, as a Gitea Actions
// job of app does; anon must hold no token.
func CILogin(ctx context.Context, anon *api.Client, app, jwt string) (*api.Secret, error) {
	return anon.Logical().WriteWithContext(ctx, "auth/"+AuthJWT+"/login", map[string]any{"role": CIRole(app), "jwt": jwt})
}

func keyID(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}
