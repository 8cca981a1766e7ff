package cluster

import (
	"fmt"
	"testing"
)

// TestFNV1a checks the hash against the FNV reference vectors, so Bucket is
// the documented FNV-1a 32-bit and not some other variant.
func TestFNV1a(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0x811c9dc5},
		{"a", 0xe40c292c},
		{"foobar", 0xbf9cf968},
	}
	for _, tt := range tests {
		if got := fnv1a(tt.in); got != tt.want {
			t.Errorf("fnv1a(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

// TestBucketVectors pins the tenant-to-bucket mapping. A change here moves
// tenants between buckets, and so between transactional ids and
// checkpoints, on every deployment: it must never change silently.
func TestBucketVectors(t *testing.T) {
	tests := []struct {
		tenant  string
		buckets int
		want    int
	}{
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", 64, 42},
		{"72F988BF-86F1-41AF-91AB-2D7CD011DB47", 64, 42}, // case does not matter
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", 12, 6},
		{"00000000-0000-0000-0000-000000000001", 64, 62},
		{"00000000-0000-0000-0000-000000000001", 12, 10},
		{"contoso.onmicrosoft.com", 64, 30},
		{"tenant-7", 64, 61},
		{"tenant-7", 12, 5},
		{"", 64, 5},
		{"tenant-7", 1, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.tenant, tt.buckets), func(t *testing.T) {
			if got := Bucket(tt.tenant, tt.buckets); got != tt.want {
				t.Errorf("Bucket(%q, %d) = %d, want %d", tt.tenant, tt.buckets, got, tt.want)
			}
		})
	}
}

// TestBucketSpread checks that the hash spreads sequential tenant names over
// every bucket: a hash that left buckets empty would leave replicas idle.
func TestBucketSpread(t *testing.T) {
	const buckets = 64
	counts := make([]int, buckets)
	for i := range 64 * 100 {
		counts[Bucket(fmt.Sprintf("tenant-%d", i), buckets)]++
	}
	for b, n := range counts {
		if n < 50 || n > 150 {
			t.Errorf("bucket %d holds %d of %d tenants, want about 100", b, n, 64*100)
		}
	}
}

func TestBucketPanicsWithoutBuckets(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Bucket(_, 0) did not panic")
		}
	}()
	Bucket("tenant", 0)
}
