// Package auth holds raftchat's credentials: argon2id password hashes, HS256 JWT access and
// refresh tokens, and the gRPC interceptors that authenticate every call.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. They are encoded into every hash, so raising them
// later keeps old hashes verifiable.
type Params struct {
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32
	// Iterations is the time cost (passes over memory).
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
	// SaltBytes and KeyBytes are the salt and derived key lengths.
	SaltBytes, KeyBytes uint32
}

// DefaultParams follow the OWASP password storage recommendation for argon2id (19 MiB,
// 2 iterations, 1 lane): about 20-40 ms per hash on one core, cheap enough that a node on
// 2 cores absorbs sign-up and login bursts, and costly enough to slow offline guessing.
var DefaultParams = Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}

// ErrMismatch is returned by VerifyPassword when the password is wrong.
var ErrMismatch = errors.New("password mismatch")

// HashPassword derives an argon2id hash of password with a fresh salt from rnd (crypto/rand
// when nil) and returns it in the PHC string format
// $argon2id$v=19$m=...,t=...,p=...$salt$key (unpadded standard base64).
func HashPassword(password string, p Params, rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if p.MemoryKiB == 0 || p.Iterations == 0 || p.Parallelism == 0 || p.SaltBytes < 8 || p.KeyBytes < 16 {
		return "", fmt.Errorf("hash password: invalid params %+v", p)
	}
	salt := make([]byte, p.SaltBytes)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyBytes)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports nil when password matches encoded, ErrMismatch when it does not,
// and another error when encoded is malformed. The key comparison is constant-time.
func VerifyPassword(password, encoded string) error {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// maxMemoryKiB bounds the cost a stored hash may demand (1 GiB), so a corrupt or hostile
// hash cannot make verification exhaust memory.
const maxMemoryKiB = 1 << 20

func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("decode hash: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("decode hash: unsupported version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, fmt.Errorf("decode hash: params %q: %w", parts[3], err)
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxMemoryKiB || p.Iterations == 0 || p.Iterations > 64 || p.Parallelism == 0 {
		return p, nil, nil, fmt.Errorf("decode hash: params out of range %q", parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("decode hash: salt: %w", err)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 1024 {
		return p, nil, nil, errors.New("decode hash: bad key")
	}
	return p, salt, key, nil
}
