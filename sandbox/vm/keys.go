package vm

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// KeyPair is an ed25519 SSH key: the private half in OpenSSH PEM form (for a 0600
// file) and the public half as an authorized_keys line.
type KeyPair struct {
	PrivatePEM []byte
	Public     string
}

func (KeyPair) String() string { return "vm.KeyPair{[redacted]}" }

// NewKeyPair generates an ed25519 key with a comment.
func NewKeyPair(comment string) (KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return KeyPair{}, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return KeyPair{}, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	if comment != "" {
		line += " " + comment
	}
	return KeyPair{PrivatePEM: pem.EncodeToMemory(blk), Public: line + "\n"}, nil
}

// loadOrCreateKey reads the private key at kp, creating it first when missing, and
// returns its signer. Errors never carry key material.
func loadOrCreateKey(kp guard.KeyPath, comment string) (ssh.Signer, error) {
	b, err := kp.ReadFile()
	if errors.Is(err, fs.ErrNotExist) {
		kpair, gerr := NewKeyPair(comment)
		if gerr != nil {
			return nil, gerr
		}
		if werr := kp.WriteFile(kpair.PrivatePEM); werr != nil {
			return nil, werr
		}
		b = kpair.PrivatePEM
	} else if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("SSH key %s is not a valid private key", kp.Path())
	}
	return s, nil
}

// authorizedLine is a signer's public key as an authorized_keys line.
func authorizedLine(s ssh.Signer, comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return line + "\n"
}
