// Command go-vectors prints reference renderings of instants by Go's own time package, one per
// line: seconds, nanoseconds, t.UTC().String(), and t.UnixNano() or "overflow" where Go's int64
// cannot hold it. The Rust tests read the committed output, so CI needs no Go.
//
//	cd testdata/go-vectors && go run . > ../go_time_vectors.tsv
package main

import (
	"fmt"
	"math/rand"
	"time"
)

const (
	minSec = -62135596800 // 0001-01-01T00:00:00Z
	maxSec = 253402300799 // 9999-12-31T23:59:59Z
)

func main() {
	var cases [][2]int64
	add := func(sec, nsec int64) { cases = append(cases, [2]int64{sec, nsec}) }

	// Fractions: none, one digit, trailing zeros at every position, all nine digits.
	for _, nsec := range []int64{0, 1, 10, 100, 120000, 5e8, 999999999, 100000000, 123456789, 299894067, 10000000} {
		add(0, nsec)
		add(1795371003, nsec)
	}
	// Calendar edges at midnight, a nanosecond before and half a second after.
	edges := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),  // 1900 is not a leap year
		time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), // 2000 is
		time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),           // past 32-bit time_t
		time.Date(1677, 9, 21, 0, 12, 43, 145224192, time.UTC),  // first UnixNano instant
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC), // last UnixNano instant
		time.Date(2262, 4, 11, 23, 47, 17, 0, time.UTC),
		time.Date(2400, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for year := 1600; year <= 2800; year += 100 {
		edges = append(edges, time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	for _, t := range edges {
		for _, d := range []time.Duration{0, -1, 500 * time.Millisecond} {
			u := t.Add(d)
			if u.Unix() >= minSec && u.Unix() <= maxSec {
				add(u.Unix(), int64(u.Nanosecond()))
			}
		}
	}
	// Random instants: over the whole range, over the UnixNano range, and near now.
	rng := rand.New(rand.NewSource(20261122))
	for i := 0; i < 400; i++ {
		add(minSec+rng.Int63n(maxSec-minSec+1), rng.Int63n(1e9))
		add(-9223372036+rng.Int63n(2*9223372036), rng.Int63n(1e9))
		add(1700000000+rng.Int63n(200000000), rng.Int63n(1e9))
	}
	// Random fractions with many trailing zeros.
	for i := 0; i < 200; i++ {
		add(rng.Int63n(4102444800), rng.Int63n(1000)*int64(1e6)*int64(rng.Intn(2)))
	}

	fmt.Println("# secs\tnanos\tgo_string\tunix_nano")
	for _, c := range cases {
		t := time.Unix(c[0], c[1]).UTC()
		nano := "overflow"
		if time.Unix(0, t.UnixNano()).Equal(t) {
			nano = fmt.Sprint(t.UnixNano())
		}
		fmt.Printf("%d\t%d\t%s\t%s\n", c[0], c[1], t.String(), nano)
	}
}
