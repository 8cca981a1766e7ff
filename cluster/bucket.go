// Package cluster shares tenants among callstream replicas through Kafka's
// consumer-group protocol.
//
// Tenants are grouped into a fixed number of buckets ([Bucket]); bucket n is
// partition n of an assignment topic that nobody writes to ([EnsureTopic]).
// Every replica joins one consumer group on that topic ([Join]) and the
// group's cooperative-sticky balancer hands each partition, that is each
// bucket, to one live member; the member tells its [Handler] which buckets
// it gained, must give up, or lost.
//
// The group gives liveness only: a member that stalls past its session
// timeout is replaced while it may still be working. Safety is the caller's:
// before a new owner reads a bucket's checkpoints it claims the bucket's
// transactional id, which fences the previous owner. This package neither
// fences nor walks tenants.
package cluster

import (
	"hash/fnv"
	"strings"
)

// Bucket returns the bucket of a tenant: the FNV-1a 32-bit hash of the
// tenant id lowercased (strings.ToLower), modulo buckets. Entra tenant ids
// are GUIDs whose case varies between sources, hence the lowercasing.
//
// The mapping is part of callstream's contract: a tenant's bucket decides
// which transactional id and which checkpoints belong to it, so changing the
// function or the bucket count moves tenants between buckets. Test vectors in
// bucket_test.go pin it.
//
// Bucket panics if buckets < 1; Config validation rules that out.
func Bucket(tenantID string, buckets int) int {
	if buckets < 1 {
		panic("cluster.Bucket: buckets must be at least 1")
	}
	return int(fnv1a(strings.ToLower(tenantID)) % uint32(buckets))
}

// fnv1a is the FNV-1a 32-bit hash of s.
func fnv1a(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s)) // a hash.Hash never fails to write
	return h.Sum32()
}
